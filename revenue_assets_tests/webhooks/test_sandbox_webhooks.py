"""Registration and real signed deliveries, against the Stripe sandbox."""

from __future__ import annotations

import json
import os
import stat
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from click.testing import CliRunner, Result

from revenue_assets.catalog.months import key_of_timestamp
from revenue_assets.cli.webhooks import webhooks
from revenue_assets.sandbox.delivery import DeliveryOptions, sign
from revenue_assets.state.store import StateStore
from revenue_assets.webhooks.health import webhook_health
from revenue_assets.webhooks.receiver import ReceiverConfig
from revenue_assets.webhooks.registration import required_event_types
from revenue_assets.webhooks.secrets import store_secret, stored_secrets
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets.webhooks.sockets import bind, url_of
from revenue_assets_tests.webhooks.helpers import OTHER_SECRET, wait_until

# Stripe's backoff, shortened so that a failing delivery is retried within the test.
FAST_RETRIES = DeliveryOptions(retry_base_s=0.05, retry_max_s=0.2, max_attempts=40)


@pytest.fixture
def sb(sandbox_factory: Any) -> Any:
    return sandbox_factory(customers=20, months=3, webhooks=FAST_RETRIES)


def cli(sb: Any, state: Path, *args: str, key: str | None = None) -> Result:
    env = {
        "STRIPE_API_KEY": key or sb.secret_key,
        "STRIPE_API_BASE": sb.base_url,
        "STRIPE_ACCOUNT_ID": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "REVENUE_ASSETS_STATE": str(state),
    }
    return CliRunner().invoke(webhooks, list(args), env=env, catch_exceptions=False)


def modes(state: Path) -> dict[str, int]:
    return {
        name: stat.S_IMODE(os.stat(name).st_mode)
        for name in (str(state), f"{state}-wal", f"{state}-shm")
        if os.path.exists(name)
    }


def test_register_then_real_deliveries_land_once_with_table_and_partition(
    sb: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    sock = bind("127.0.0.1", 0)  # the URL must exist before registering it
    url = url_of(sock) + "/stripe/webhooks"
    registered = cli(sb, state, "register", "--url", url)
    assert registered.exit_code == 0, registered.output
    assert "created" in registered.output and "signing secret stored" in registered.output
    assert set(modes(state).values()) == {0o600} and str(state) in modes(state)

    client = sb.client()
    [endpoint] = [e for e in client.v1.webhook_endpoints.list().data if e.url == url]
    assert sorted(endpoint.enabled_events) == required_event_types()
    assert endpoint.api_version == stripe.api_version
    with StateStore(state) as inbox:
        assert stored_secrets(inbox) == [sb.world.webhook_secret(endpoint.id)]

    sb.set_webhooks(duplicates=1.0)  # every delivery twice: at-least-once, for real
    with BackgroundReceiver(ReceiverConfig(state_path=state), sock=sock) as rx:
        assert rx.receiver.verifier.source.origin == "state file"
        active = client.v1.subscriptions.list(params={"status": "active", "limit": 100})
        subscription = min(active.data, key=lambda sub: sub.created)  # from an earlier month
        customer = client.v1.customers.create(params={"email": "ada@example.com"})
        client.v1.customers.update(customer.id, params={"name": "Ada"})
        client.v1.subscriptions.cancel(subscription.id)
        client.v1.customers.delete(customer.id)
        assert sb.wait_for_deliveries(20)
        status = rx.receiver.writer.status
        assert status.duplicates >= status.stored > 0

    log = [entry for entry in sb.app.delivery.log if entry["endpoint"] == endpoint.id]
    delivered = Counter(entry["event"] for entry in log if entry["status"] == 200)
    assert delivered and set(delivered.values()) == {2}
    with StateStore(state) as inbox:
        rows = inbox.read_after(0)
    assert sorted(row.event_id for row in rows) == sorted(delivered)  # one row per event
    by_type = {row.type: row for row in rows}
    canceled = by_type["customer.subscription.deleted"]
    assert (canceled.table, canceled.object_id) == ("subscription", subscription.id)
    assert canceled.partition_key == key_of_timestamp(subscription.created)
    assert canceled.partition_key != key_of_timestamp(canceled.created)  # the object's month
    deleted = by_type["customer.deleted"]
    assert (deleted.table, deleted.object_id, deleted.is_deleted) == ("customer", customer.id, True)
    assert deleted.partition_key == key_of_timestamp(customer.created)
    assert {row.source for row in rows} == {"webhook"}
    assert {row.api_version for row in rows} == {stripe.api_version}
    assert all(row.event()["id"] == row.event_id for row in rows)


def test_wrong_secret_fails_health_until_the_right_one_is_stored(sb: Any, tmp_path: Path) -> None:
    """An endpoint created outside our command, a receiver holding another secret: every
    delivery fails verification, nothing is stored, health says so; storing the endpoint's
    secret heals it without a restart (Stripe's retries then land)."""
    state = tmp_path / "state.sqlite"
    with StateStore(state) as inbox:
        store_secret(inbox, OTHER_SECRET)
    client = sb.client()
    old_event = client.v1.events.list(params={"limit": 1}).data[0]
    with BackgroundReceiver(ReceiverConfig(state_path=state, secret_refresh_s=0.1)) as rx:
        url = rx.url + "/hook"
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": url, "enabled_events": ["customer.created", "customer.updated"]}
        )
        customer = client.v1.customers.create(params={"email": "bob@example.com"})
        with StateStore(state) as inbox:
            assert wait_until(lambda: inbox.health().signature_failures >= 3)
            assert inbox.count() == 0
            report = webhook_health(inbox)
        assert not report.passed and "failed signature verification" in report.reasons[0]

        secret = sb.world.webhook_secret(endpoint.id)
        needs = cli(sb, state, "register", "--url", url)
        assert needs.exit_code == 1
        assert "only once" in needs.output and "--secret" in needs.output
        assert "another endpoint" in needs.output
        stored = cli(sb, state, "register", "--url", url, "--secret", secret)
        assert stored.exit_code == 0, stored.output
        assert sb.wait_for_deliveries(20)

        # A replay of a genuine event, correctly signed but 301 s ago: refused as stale.
        raw = httpx.get(
            f"{sb.base_url}/v1/events/{old_event.id}",
            headers={"Authorization": f"Bearer {sb.secret_key}"},
        ).content
        stale = httpx.post(
            url,
            content=raw,
            headers={"Stripe-Signature": sign(raw, secret, int(time.time()) - 301)},
        )
        assert stale.status_code == 400 and "tolerance" in stale.json()["error"]

    with StateStore(state) as inbox:
        [row] = inbox.read_after(0)
        assert (row.type, row.object_id) == ("customer.created", customer.id)
        assert inbox.get(old_event.id) is None
        assert webhook_health(inbox).passed
    assert secret not in stored.output + needs.output


def test_reconcile_keeps_extra_types_enables_and_reports_status(sb: Any, tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    url = "https://hooks.example.com/stripe"
    client = sb.client()
    extras = ["account.updated", "payment_method.attached"]  # types of no synced table
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": [*extras, "customer.created"]}
    )
    client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})

    first = cli(sb, state, "register", "--url", url)
    assert first.exit_code == 1  # reconciled, but no secret for this endpoint
    assert "updated" in first.output and "disabled" in first.output
    assert "Stripe shows an endpoint's signing secret only once" in first.output
    after = client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert after.status == "disabled"  # not re-enabled unless asked
    assert set(after.enabled_events) == {*extras, *required_event_types()}
    assert after.enabled_events[:3] == [*extras, "customer.created"]  # user's kept first

    secret = sb.world.webhook_secret(endpoint.id)
    second = cli(sb, state, "register", "--url", url, "--enable", "--secret", secret)
    assert second.exit_code == 0, second.output
    assert "re-enabled" in second.output
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"
    assert "unchanged" in cli(sb, state, "register", "--url", url).output
    assert set(modes(state).values()) == {0o600}

    healthy = cli(sb, state, "status")
    assert healthy.exit_code == 0, healthy.output
    for text in (endpoint.id, url, "enabled", "payment_intent.succeeded", "missing: none"):
        assert text in healthy.output
    assert "backlog: 0" in healthy.output and "signature failures: 0" in healthy.output
    assert "1 signing secret from state file" in healthy.output

    # Someone removes types by hand: status names them and exits 1.
    client.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": extras})
    missing = cli(sb, state, "status", "--json")
    assert missing.exit_code == 1
    report = json.loads(missing.output)
    [shown] = report["stripe"]["endpoints"]
    assert set(shown["missing"]) == set(required_event_types())
    assert report["inbox"]["backlog"] == 0 and report["health"]["passed"]

    recreated = cli(sb, state, "register", "--url", url, "--recreate")
    assert recreated.exit_code == 0, recreated.output
    [new] = [e for e in client.v1.webhook_endpoints.list().data if e.url == url]
    assert new.id != endpoint.id and set(extras) <= set(new.enabled_events)
    with StateStore(state) as inbox:  # the new secret, and the old one for a grace period
        assert stored_secrets(inbox) == [sb.world.webhook_secret(new.id), secret]


def test_a_read_only_key_cannot_register_and_is_told_why(sb: Any, tmp_path: Path) -> None:
    key = sb.restricted_key(["rak_customer_read", "rak_charge_read"])
    result = cli(sb, tmp_path / "state.sqlite", "register", "--url", "https://x.test/h", key=key)
    assert result.exit_code == 1
    assert "Webhook Endpoints: Write" in result.output
    assert key not in result.output
    status = cli(sb, tmp_path / "state.sqlite", "status", key=key)
    assert status.exit_code == 1 and "may not manage webhook endpoints" in status.output
