"""The receiver over real HTTP: what is stored, what is refused, with which status."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revenue_assets.state.store import StateStore
from revenue_assets.webhooks.health import webhook_health
from revenue_assets.webhooks.receiver import ReceiverConfig, ReceiverError
from revenue_assets.webhooks.secrets import store_secret
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets_tests.webhooks.helpers import (
    OTHER_SECRET,
    SECRET,
    payload,
    signed,
    wait_until,
)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite"


@contextlib.contextmanager
def receiver(state: Path, **options: object) -> Iterator[tuple[BackgroundReceiver, httpx.Client]]:
    options.setdefault("env_secrets", (SECRET,))
    with (
        BackgroundReceiver(ReceiverConfig(state_path=state, **options)) as rx,  # type: ignore[arg-type]
        httpx.Client(base_url=rx.url, timeout=30, trust_env=False) as client,
    ):
        yield rx, client


def rows(state: Path) -> list[str]:
    with StateStore(state) as inbox:
        return [row.event_id for row in inbox.read_after(0, limit=100_000)]


def test_signed_delivery_is_stored_once_and_duplicates_are_acknowledged(state: Path) -> None:
    body = payload("evt_1", object_type="invoice", event_type="invoice.paid")
    with receiver(state) as (_, client):
        first = client.post("/stripe/webhooks", content=body, headers=signed(body))
        again = client.post("/", content=body, headers=signed(body))
    assert (first.status_code, first.headers["x-inbox"], first.content) == (200, "stored", b"")
    assert (again.status_code, again.headers["x-inbox"]) == (200, "duplicate")
    with StateStore(state) as inbox:
        [row] = inbox.read_after(0)
        assert (row.event_id, row.table, row.source, row.payload) == (
            "evt_1",
            "invoice",
            "webhook",
            body,
        )


def test_forged_stale_oversized_and_malformed_store_nothing(state: Path) -> None:
    body = payload("evt_x")
    other = payload("evt_other")
    now = int(time.time())
    with receiver(state, max_body_bytes=4096) as (_, client):
        cases = {
            "wrong secret": client.post("/", content=body, headers=signed(body, OTHER_SECRET)),
            "no header": client.post("/", content=body),
            "garbage header": client.post("/", content=body, headers={"Stripe-Signature": "x"}),
            # a valid signature of another body
            "tampered": client.post("/", content=body, headers=signed(other)),
            "stale": client.post("/", content=body, headers=signed(body, timestamp=now - 301)),
        }
        big = payload("evt_big", description="x" * 5000)
        oversized = client.post("/", content=big, headers=signed(big))
        # no Content-Length: the cap holds while streaming too
        chunked = client.post("/", content=iter([big[:3000], big[3000:]]), headers=signed(big))
        malformed = client.post("/", content=b"{not json", headers=signed(b"{not json"))
        not_event = client.post("/", content=b"[1]", headers=signed(b"[1]"))
        latin1 = '{"id": "é"}'.encode("latin-1")
        undecodable = client.post(
            "/", content=latin1, headers={"Stripe-Signature": f"t={now},v1=00"}
        )
        # 290 s old is still inside the tolerance
        old = int(time.time()) - 290
        fresh = client.post("/", content=body, headers=signed(body, timestamp=old))
    assert {name: r.status_code for name, r in cases.items()} == dict.fromkeys(cases, 400)
    assert cases["stale"].json()["error"] == "signature timestamp outside the tolerance"
    assert cases["wrong secret"].json()["error"] == "signature verification failed"
    assert (oversized.status_code, chunked.status_code) == (413, 413)
    assert (malformed.status_code, not_event.status_code, undecodable.status_code) == (400,) * 3
    assert fresh.status_code == 200
    assert rows(state) == ["evt_x"]  # only the fresh one
    with StateStore(state) as inbox:
        health = inbox.health()
    assert health.signature_failures == 5 and health.last_signature_failure_at is not None
    assert health.signature_failures_since_success == 0  # the fresh delivery verified
    assert (health.oversized_payloads, health.malformed_payloads) == (2, 3)


def test_rolling_secrets(state: Path) -> None:
    body = payload("evt_roll")
    # Stripe signs with both secrets during a roll: the header carries two v1 signatures.
    old = signed(body, OTHER_SECRET)["Stripe-Signature"]
    new_sig = signed(body, SECRET)["Stripe-Signature"].split(",")[1]
    both = {"Stripe-Signature": f"{old},{new_sig}"}
    with receiver(state, env_secrets=(SECRET,)) as (_, client):
        assert client.post("/", content=body, headers=both).status_code == 200
    # Several configured secrets: a delivery signed with any of them verifies.
    second = payload("evt_second")
    with receiver(state, env_secrets=(SECRET, OTHER_SECRET)) as (_, client):
        response = client.post("/", content=second, headers=signed(second, OTHER_SECRET))
        assert response.status_code == 200
    assert sorted(rows(state)) == ["evt_roll", "evt_second"]


def test_stored_secret_and_a_new_one_without_restart(state: Path) -> None:
    with StateStore(state) as inbox:
        store_secret(inbox, SECRET, endpoint_id="we_1")
    with receiver(state, env_secrets=(), secret_refresh_s=0.0) as (rx, client):
        assert rx.receiver.verifier.source.origin == "state file"
        body = payload("evt_a")
        assert client.post("/", content=body, headers=signed(body)).status_code == 200
        with StateStore(state) as inbox:  # `register --recreate` stores a new secret meanwhile
            store_secret(inbox, OTHER_SECRET, endpoint_id="we_2", grace_s=0)
        body = payload("evt_b")
        response = client.post("/", content=body, headers=signed(body, OTHER_SECRET))
        assert response.status_code == 200
        assert client.post("/", content=body, headers=signed(body, SECRET)).status_code == 400


def test_the_environment_secret_overrides_the_stored_one(state: Path) -> None:
    with StateStore(state) as inbox:
        store_secret(inbox, OTHER_SECRET, endpoint_id="we_1")
    with receiver(state, env_secrets=(SECRET,), secret_refresh_s=0.0) as (rx, client):
        assert rx.receiver.verifier.source.origin == "STRIPE_WEBHOOK_SECRET"
        body = payload("evt_env")
        assert client.post("/", content=body, headers=signed(body, OTHER_SECRET)).status_code == 400
        assert client.post("/", content=body, headers=signed(body)).status_code == 200
    assert rows(state) == ["evt_env"]


def test_without_any_secret_the_receiver_refuses_to_start(state: Path) -> None:
    with pytest.raises(ReceiverError, match="STRIPE_WEBHOOK_SECRET"):
        BackgroundReceiver(ReceiverConfig(state_path=state))


def test_locked_inbox_answers_503_then_recovers(state: Path) -> None:
    StateStore(state).close()
    body = payload("evt_locked")
    with receiver(state, lock_timeout_s=0.2) as (_, client):
        holder = sqlite3.connect(state, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        try:
            locked = client.post("/", content=body, headers=signed(body))
            health = client.get("/healthz")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert locked.status_code == 503 and locked.headers["retry-after"]
        assert health.status_code == 503 and "locked" in health.json()["last_error"]
        assert rows(state) == []
        retried = client.post("/", content=body, headers=signed(body))  # Stripe's retry
        assert retried.status_code == 200
        assert client.get("/healthz").status_code == 200
    assert rows(state) == ["evt_locked"]


def _make_unwritable(path: Path) -> None:
    if os.geteuid() == 0:  # root ignores modes: make the file immutable instead
        subprocess.run([shutil.which("chattr") or "chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o400)


def _make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run([shutil.which("chattr") or "chattr", "-i", str(path)], check=True)
    path.chmod(0o600)


def test_unwritable_inbox_answers_503_and_heals_without_restart(state: Path) -> None:
    StateStore(state).close()  # schema in place, WAL checkpointed away on close
    _make_unwritable(state)
    body = payload("evt_ro")
    try:
        with receiver(state, lock_timeout_s=0.2) as (_, client):
            refused = client.post("/", content=body, headers=signed(body))
            assert refused.status_code == 503
            assert client.get("/healthz").status_code == 503
            _make_writable(state)
            assert client.post("/", content=body, headers=signed(body)).status_code == 200
    finally:
        _make_writable(state)
    assert rows(state) == ["evt_ro"]


def test_secrets_never_reach_responses_or_logs(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = payload("evt_s")
    with receiver(state) as (_, client):
        responses = [
            client.post("/", content=body, headers=signed(body, OTHER_SECRET)),
            client.post("/", content=body, headers=signed(body)),
            client.get("/healthz"),
        ]
    text = caplog.text + "".join(r.text for r in responses)
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in text and secret[6:] not in text


def test_health_fails_on_a_wrong_secret_and_recovers(state: Path) -> None:
    body = payload("evt_h")
    with receiver(state) as (_, client):
        for n in range(3):  # Stripe retrying a delivery the secret cannot verify
            bad = payload(f"evt_bad{n}")
            response = client.post("/", content=bad, headers=signed(bad, OTHER_SECRET))
            assert response.status_code == 400
        with StateStore(state) as inbox:
            # Failures are counted by the writer thread, after the 400 went out.
            assert wait_until(lambda: inbox.health().signature_failures == 3)
            failing = webhook_health(inbox)
            assert not failing.passed
            assert "3 webhook deliveries in a row failed" in failing.reasons[0]
            assert failing.metrics["signature_failures"] == 3
        assert client.post("/", content=body, headers=signed(body)).status_code == 200
    with StateStore(state) as inbox:
        assert webhook_health(inbox).passed
        # A backlog nobody applies is the other failure.
        stuck = webhook_health(inbox, now=time.time() + 3600)
        assert not stuck.passed and "wait to be applied" in stuck.reasons[0]
        inbox.mark_applied([inbox.last_seq()])
        assert webhook_health(inbox, now=time.time() + 3600).passed
