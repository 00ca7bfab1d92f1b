"""A third-party fake Stripe (localstripe, pinned in setup.py) delivering its own signed
webhooks, in its own older API shape (2017-08-15), to our receiver."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revenue_assets.catalog.months import key_of_timestamp
from revenue_assets.state.store import StateStore
from revenue_assets.webhooks.receiver import ReceiverConfig
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets.webhooks.sockets import bind
from revenue_assets_tests.webhooks.helpers import OTHER_SECRET, SECRET, wait_until


@pytest.fixture
def localstripe(tmp_path: Path) -> Iterator[httpx.Client]:
    probe = bind("127.0.0.1", 0)
    port = probe.getsockname()[1]
    probe.close()
    executable = shutil.which("localstripe", path=str(Path(sys.executable).parent))
    assert executable, "localstripe is a dev dependency (pip install -e '.[dev]')"
    # --from-scratch: never load the pickle another run left in /tmp.
    process = subprocess.Popen(
        [executable, "--port", str(port), "--from-scratch"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": "Bearer sk_test_localstripe"},
        timeout=10,
        trust_env=False,
    )

    def up() -> bool:
        try:
            return client.get("/v1/customers").status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert wait_until(up, timeout=30), "localstripe did not start"
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def customer_with_card(localstripe: httpx.Client, email: str) -> dict:
    """A localstripe customer with a test card (subscriptions need one)."""
    token = localstripe.post(
        "/v1/tokens",
        data={
            "card[number]": "4242424242424242",
            "card[exp_month]": "12",
            "card[exp_year]": "2030",
            "card[cvc]": "123",
        },
    ).json()
    return localstripe.post("/v1/customers", data={"email": email, "source": token["id"]}).json()


def monthly_plan(localstripe: httpx.Client, plan_id: str, amount: int) -> None:
    """A product and its monthly EUR plan (localstripe's shape of a price)."""
    product = localstripe.post("/v1/products", data={"name": plan_id}).json()
    localstripe.post(
        "/v1/plans",
        data={
            "id": plan_id,
            "amount": amount,
            "currency": "eur",
            "interval": "month",
            "product": product["id"],
        },
    ).raise_for_status()


def test_localstripe_deliveries_in_an_older_shape_are_stored_and_mapped(
    localstripe: httpx.Client, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite"
    with BackgroundReceiver(ReceiverConfig(state_path=state, env_secrets=(SECRET,))) as rx:
        for name, secret in (("ours", SECRET), ("forged", OTHER_SECRET)):
            response = localstripe.post(
                f"/_config/webhooks/{name}", data={"url": f"{rx.url}/hook", "secret": secret}
            )
            assert response.status_code == 200

        customer = customer_with_card(localstripe, "ada@example.com")
        charge = localstripe.post(
            "/v1/charges", data={"amount": 1500, "currency": "eur", "customer": customer["id"]}
        ).json()
        assert charge["object"] == "charge"  # localstripe sends no charge.* events
        monthly_plan(localstripe, "pro-monthly", 900)
        subscription = localstripe.post(
            "/v1/subscriptions",
            data={"customer": customer["id"], "items[0][plan]": "pro-monthly"},
        ).json()
        localstripe.post(f"/v1/customers/{customer['id']}", data={"name": "Ada"})

        expected = {
            "customer.created": ("customer", "customer"),
            "customer.source.created": ("card", None),
            "customer.updated": ("customer", "customer"),
            "product.created": ("product", "product"),
            "plan.created": ("plan", "plan"),
            "invoice.created": ("invoice", "invoice"),
            "invoice.payment_succeeded": ("invoice", "invoice"),
            "payment_intent.succeeded": ("payment_intent", "payment_intent"),
            "customer.subscription.created": ("subscription", "subscription"),
        }
        with StateStore(state) as inbox:
            assert wait_until(lambda: inbox.count() >= len(expected), timeout=30)
            # the forged copies were refused (one per event); give the last ones a moment
            assert wait_until(lambda: inbox.health().signature_failures >= len(expected))
            rows = inbox.read_after(0)
            health = inbox.health()

    assert sorted(row.type for row in rows) == sorted(expected)  # one row each
    assert health.signature_failures == len(expected)
    for row in rows:
        event = row.event()
        obj = event["data"]["object"]
        assert (row.object_type, row.table) == expected[row.type], row.type
        assert row.api_version == "2017-08-15" and event["api_version"] == "2017-08-15"
        assert "request" not in event and "pending_webhooks" not in event  # the older envelope
        assert (row.account, row.livemode, row.source) == (None, False, "webhook")
        assert row.object_id == obj["id"]
        expected_partition = key_of_timestamp(obj["created"]) if row.table else None
        assert row.partition_key == expected_partition
    by_type = {row.type: row for row in rows}
    assert by_type["customer.created"].object_id == customer["id"]
    assert by_type["customer.subscription.created"].object_id == subscription["id"]
    old_invoice = by_type["invoice.payment_succeeded"].event()["data"]["object"]
    assert "date" in old_invoice and old_invoice["charge"]  # fields of the older invoice shape
