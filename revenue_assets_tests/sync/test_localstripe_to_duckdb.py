"""A third-party fake Stripe (localstripe) delivers its own signed webhooks, in its older API
shape (2017-08-15), to our receiver; the webhook sensors' runs apply them to DuckDB, re-fetching
from localstripe where the order of same-second events is unknowable."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
from revenue_assets.defs.stripe.definitions import WEBHOOK_SENSORS, stripe_tables
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.state.store import StateStore
from revenue_assets.webhooks.receiver import ReceiverConfig
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets_tests.helpers import warehouse_rows
from revenue_assets_tests.webhooks.helpers import SECRET, wait_until
from revenue_assets_tests.webhooks.test_localstripe import (  # the fixture and its helpers
    customer_with_card,
    localstripe,  # noqa: F401
    monthly_plan,
)


def test_localstripe_webhooks_in_an_older_shape_reach_duckdb(localstripe, tmp_path: Path) -> None:  # noqa: F811
    state, database = tmp_path / "state.sqlite", tmp_path / "w.duckdb"
    with BackgroundReceiver(ReceiverConfig(state_path=state, env_secrets=(SECRET,))) as rx:
        localstripe.post(
            "/_config/webhooks/ours", data={"url": f"{rx.url}/hook", "secret": SECRET}
        ).raise_for_status()
        customer = customer_with_card(localstripe, "ada@example.com")
        monthly_plan(localstripe, "pro", 900)
        subscription = localstripe.post(
            "/v1/subscriptions", data={"customer": customer["id"], "items[0][plan]": "pro"}
        ).json()
        localstripe.post(f"/v1/customers/{customer['id']}", data={"name": "Ada Lovelace"})
        with StateStore(state) as inbox:
            assert wait_until(lambda: inbox.count() >= 9, timeout=30)

    resources = {
        "stripe": StripeResource(
            api_key="sk_test_localstripe",
            api_base=str(localstripe.base_url).rstrip("/"),
            rate_limit=100.0,
        ),
        "warehouse": WarehouseResource(database=str(database)),
        "state": StateResource(path=str(state)),
    }
    with dg.instance_for_test() as instance:
        requests = []
        for sensor in WEBHOOK_SENSORS:
            result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
            requests.extend(result.run_requests or [])
        assert {r.tags["stripe_table"] for r in requests} >= {
            "customer",
            "subscription",
            "invoice",
            "product",
            "event",
        }
        # localstripe serves no customer's payment methods (a 404): that table is left out.
        unserved = table_key("payment_method")
        for request in requests:
            assert dg.materialize(
                [stripe_tables],
                instance=instance,
                resources=resources,
                partition_key=request.partition_key,
                selection=[key for key in request.asset_selection if key != unserved],
                run_config=request.run_config,
            ).success

    row = warehouse_rows(database, "customer")[customer["id"]]
    assert row["name"] == "Ada Lovelace" and row["email"] == "ada@example.com"
    sub = warehouse_rows(database, "subscription")[subscription["id"]]
    assert sub["status"] == "active" and sub["plan"] is not None  # the legacy top-level plan
    assert sub["customer"] == customer["id"]
    [invoice] = [
        i for i in warehouse_rows(database, "invoice").values() if i["customer"] == customer["id"]
    ]
    assert invoice["status"] == "paid"
    assert invoice["charge"].startswith("ch_")  # the 2017 invoice's charge (expanded: its id)
    assert invoice["created"] is not None  # from the older `date`
    assert invoice["_raw"]["subscription"] == subscription["id"]
    events = warehouse_rows(database, "event")
    assert len(events) >= 9 and {e["api_version"] for e in events.values()} == {"2017-08-15"}
