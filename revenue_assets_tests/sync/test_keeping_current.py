"""Keeping tables current, end to end: the sandbox's signed deliveries reach
our receiver, the webhook sensors turn the inbox into partition runs, and the runs bring DuckDB
to Stripe's newest state. Also: the Events API pull, the cursor sensors, the 30-day gap and the
webhook health check."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import stripe

from revenue_assets.catalog.months import key_of_timestamp
from revenue_assets.catalog.tables import TABLES_BY_NAME
from revenue_assets.definitions import defs
from revenue_assets.defs.stripe import sensors
from revenue_assets.defs.stripe.checks import WEBHOOK_HEALTH
from revenue_assets.defs.stripe.definitions import (
    WEBHOOK_SENSORS,
    stripe_table_checks,
    stripe_tables,
)
from revenue_assets.defs.stripe.sensors import new_records_sensor, stripe_events_pull
from revenue_assets.sandbox.delivery import DeliveryOptions
from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.state.store import StateStore
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.webhooks.receiver import ReceiverConfig
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets.webhooks.sockets import bind
from revenue_assets_tests.helpers import company_range, sandbox_receiver, warehouse_rows
from revenue_assets_tests.sync.daemon import run_request, sync_resources

# A small company over a few months, synced once through Dagster: every scenario starts from it.
COMPANY = {"customers": 150, "months": 2}
pytestmark = pytest.mark.sandbox(**COMPANY)


@dataclass
class Live:
    """A synced warehouse next to a running sandbox, with a Dagster instance for the sensors."""

    sandbox: Any
    database: Path
    state: Path
    instance: dg.DagsterInstance
    cursors: dict[str, str | None]

    @property
    def world(self) -> Any:
        return self.sandbox.world

    def resources(self) -> dict[str, Any]:
        return sync_resources(self.sandbox, self.database, self.state)

    def tick(self, sensors: list[dg.SensorDefinition]) -> list[dg.RunRequest]:
        """One evaluation of each sensor, as the daemon would do; cursors carried over."""
        requests = []
        for sensor in sensors:
            context = dg.build_sensor_context(
                instance=self.instance,
                cursor=self.cursors.get(sensor.name),
                resources=self.resources(),
            )
            result = sensor(context)
            if result.cursor is not None:
                self.cursors[sensor.name] = result.cursor
            requests.extend(result.run_requests or [])
        return requests

    def run(self, requests: list[dg.RunRequest]) -> None:
        """Execute run requests as the daemon would (same partition, selection, config)."""
        for request in requests:
            run_request(request, self.instance, self.resources())

    def row(self, table: str, object_id: str) -> dict[str, Any]:
        return warehouse_rows(self.database, table)[object_id]

    def wait_for_inbox(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with StateStore(self.state) as inbox:
            while inbox.count() < count:
                assert time.monotonic() < deadline, f"only {inbox.count()} of {count} events"
                time.sleep(0.05)


@pytest.fixture(scope="module")
def synced_company(sandbox_session_factory, tmp_path_factory) -> tuple[Path, Path]:
    """The company synced once through Dagster (warehouse and state file). Every test's sandbox
    is a fresh copy of the same generated company, so each starts from a copy of these files
    instead of a sync of its own (12-18 s each)."""
    sandbox = sandbox_session_factory(**COMPANY)
    directory = tmp_path_factory.mktemp("synced")
    database, state = directory / "w.duckdb", directory / "state.sqlite"
    first, last = company_range(sandbox)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [stripe_tables],
            instance=instance,
            resources=sync_resources(sandbox, database, state),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
    assert result.success
    return database, state


@pytest.fixture
def live(sandbox, synced_company: tuple[Path, Path], tmp_path: Path):
    database, state = tmp_path / "w.duckdb", tmp_path / "state.sqlite"
    for source, copy in zip(synced_company, (database, state), strict=True):
        if source.exists():  # (the sync may leave no state file)
            shutil.copyfile(source, copy)
    with dg.instance_for_test() as instance:
        yield Live(sandbox, database, state, instance, {})


@pytest.fixture
def receiver(live: Live):
    """Our webhook receiver, registered as an endpoint of the sandbox for every event type."""
    with sandbox_receiver(live.world, live.state) as rx:
        yield rx


def world_client(live: Live) -> Any:
    """An HTTP client on the sandbox, authenticated (raw JSON, as Stripe sends it)."""
    import httpx

    return httpx.Client(
        base_url=live.sandbox.base_url,
        headers={"Authorization": f"Bearer {live.sandbox.secret_key}"},
        trust_env=False,
    )


def store_objects(world: Any, kind: str) -> list[dict[str, Any]]:
    return list(world.store.iter_objects(kind, world.account_id, include_deleted=False))


def refund_some(world: Any, charges: list[dict[str, Any]]) -> dict[str, Any]:
    """Refund the first charge that can be refunded (disputed ones cannot)."""
    for charge in charges:
        try:
            world.create("refunds", {"charge": charge["id"]})
        except SandboxError:
            continue
        return charge
    raise AssertionError("no refundable charge in the sandbox company")


def test_cancel_refund_payment_and_delete_reach_duckdb_within_one_tick(
    live: Live, receiver
) -> None:
    world = live.world
    subscription = next(s for s in store_objects(world, "subscription") if s["status"] == "active")
    charges = [
        c
        for c in store_objects(world, "charge")
        if c["status"] == "succeeded" and not c["refunded"]
    ]
    customer = next(
        c for c in store_objects(world, "customer") if c["id"] != subscription["customer"]
    )
    # An invoice paid now: a one-off item on a new draft, finalized and paid.
    payer = subscription["customer"]
    world.create(
        "invoiceitems", {"customer": payer, "amount": "2500", "currency": subscription["currency"]}
    )
    invoice = world.create(
        "invoices", {"customer": payer, "pending_invoice_items_behavior": "include"}
    )
    world.action("invoices", invoice["id"], "finalize", {})
    world.action("invoices", invoice["id"], "pay", {})
    world.delete("subscriptions", subscription["id"])
    charge = refund_some(world, charges)
    world.delete("customers", customer["id"])

    assert live.sandbox.wait_for_deliveries(timeout=30)
    requests = live.tick(WEBHOOK_SENSORS)
    assert requests, "the sensors requested no run"
    # One run per (table, partition): never one per event.
    keys = [(r.tags["stripe_table"], r.partition_key) for r in requests]
    assert len(keys) == len(set(keys))
    live.run(requests)

    canceled = live.row("subscription", subscription["id"])
    # `customer.subscription.deleted` announces a cancellation: Stripe still lists the
    # subscription (status=all), so the row stays, canceled, not deleted.
    assert canceled["status"] == "canceled" and canceled["_deleted"] is False
    assert live.row("charge", charge["id"])["refunded"] is True
    refunds = warehouse_rows(live.database, "refund")
    assert any(r["charge"] == charge["id"] for r in refunds.values())
    assert live.row("invoice", invoice["id"])["status"] == "paid"
    deleted = live.row("customer", customer["id"])
    assert deleted["_deleted"] is True and deleted["email"] == customer["email"]
    new_refunds = [r for r in refunds.values() if r["charge"] == charge["id"] and r["amount"] > 0]
    assert "webhook" in {r["_source"] for r in new_refunds}
    # Every event is kept in the change history.
    with StateStore(live.state) as inbox:
        event_ids = {e.event_id for e in inbox.read_after(0, limit=10_000, with_payload=False)}
    assert event_ids <= set(warehouse_rows(live.database, "event"))
    # A second tick has nothing left to do.
    assert live.tick(WEBHOOK_SENSORS) == []


@pytest.mark.sandbox(
    webhooks=DeliveryOptions(duplicates=1.0, reorder_ms=300, retry_base_s=0.05), **COMPANY
)
def test_duplicates_and_reordered_deliveries_end_with_the_newest_state(
    live: Live, receiver
) -> None:
    world = live.world
    customer = store_objects(world, "customer")[0]
    for step in range(4):
        world.update("customers", customer["id"], {"metadata": {"step": str(step)}})
        world.advance(7)  # distinct event `created` seconds: an order exists
    # Two updates in the same second: their order is unknowable, so the run re-fetches.
    world.update("customers", customer["id"], {"name": "Same Second A"})
    world.update("customers", customer["id"], {"name": "Same Second B"})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    live.run(live.tick(WEBHOOK_SENSORS))

    row = live.row("customer", customer["id"])
    assert row["name"] == "Same Second B"
    assert row["_raw"]["metadata"]["step"] == "3"
    events = [
        e
        for e in warehouse_rows(live.database, "event").values()
        if e["type"] == "customer.updated" and e["object_id"] == customer["id"]
    ]
    assert len(events) == 6  # delivered twice each, stored once each


def test_older_api_version_payloads_are_applied(live: Live, receiver) -> None:
    world = live.world
    world.event_api_version = "2024-06-20"
    subscription = next(s for s in store_objects(world, "subscription") if s["status"] == "active")
    world.update("subscriptions", subscription["id"], {"metadata": {"plan": "legacy"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    live.run(live.tick(WEBHOOK_SENSORS))
    row = live.row("subscription", subscription["id"])
    assert row["_raw"]["metadata"]["plan"] == "legacy"
    assert row["plan"] is not None  # the legacy `subscription.plan`
    assert row["current_period_end"] is not None  # legacy top-level period
    assert row["_source"] == "webhook"


def test_events_whose_run_failed_are_requested_again(
    live: Live, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor cannot see its runs fail; the inbox can: events still unapplied a while after
    their run was requested get a run of their own again, and only once per period."""
    monkeypatch.setattr(sensors, "RETRY_AFTER_S", 1)
    customer = store_objects(live.world, "customer")[0]
    live.world.update("customers", customer["id"], {"metadata": {"retried": "yes"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    customer_webhooks = [s for s in WEBHOOK_SENSORS if s.name == "customer_webhooks"]
    lost = live.tick(customer_webhooks)  # requested, but the run fails (never runs)
    assert [r.tags["stripe_table"] for r in lost] == ["customer"]
    assert live.tick(customer_webhooks) == []  # too early to call it failed
    time.sleep(1.1)
    retry = live.tick(customer_webhooks)
    assert [r.partition_key for r in retry] == [lost[0].partition_key]
    assert retry[0].run_key != lost[0].run_key
    live.run(retry)
    assert live.row("customer", customer["id"])["_raw"]["metadata"]["retried"] == "yes"
    time.sleep(1.1)
    assert live.tick(customer_webhooks) == []  # applied: nothing to retry


def test_truncated_and_partial_payloads_are_completed_from_stripe(live: Live) -> None:
    """An event's invoice lists 10 of its lines (`has_more`): the rest are paged from Stripe.
    An event whose invoice lacks its lines cannot stand for the invoice: it is re-fetched."""
    world = live.world
    long = next(i for i in store_objects(world, "invoice") if i["lines"]["has_more"])
    lines = set(world.store.ids("line_item", parent=long["id"]))
    client = world_client(live)
    invoice = client.get(f"/v1/invoices/{long['id']}").json()
    assert invoice["lines"]["has_more"] and len(invoice["lines"]["data"]) == 10
    with warehouse_connection(live.database) as connection:
        connection.execute(
            "DELETE FROM stripe.invoice_line_item WHERE invoice_id = ?", [long["id"]]
        )
    invoice_webhooks = [s for s in WEBHOOK_SENSORS if s.name == "invoice_webhooks"]

    def deliver(event_id: str, obj: dict[str, Any], created: int) -> None:
        event = {
            "id": event_id, "object": "event", "type": "invoice.updated", "created": created,
            "api_version": stripe.api_version, "data": {"object": obj}, "livemode": False,
        }  # fmt: skip
        with StateStore(live.state) as inbox:
            assert inbox.add(json.dumps(event).encode(), "webhook")
        live.run(live.tick(invoice_webhooks))

    deliver("evt_truncated", invoice, world.now)
    rows = warehouse_rows(live.database, "invoice_line_item")
    assert {key.split("/")[-1] for key in rows if key.startswith(long["id"])} == lines

    partial = {k: v for k, v in invoice.items() if k != "lines"}
    partial["metadata"] = {"from": "a partial payload"}
    deliver("evt_partial", partial, world.now + 1)
    row = live.row("invoice", long["id"])
    assert row["_source"] == "event"  # re-fetched: Stripe's state, not the partial payload
    assert len(row["_raw"]["lines"]["data"]) == 10 and row["_raw"]["lines"]["has_more"]
    assert row["_raw"]["metadata"] == invoice["metadata"]


def test_events_api_pull_keeps_tables_current_without_a_webhook(live: Live) -> None:
    pull = [stripe_events_pull]
    assert live.tick(pull) == []  # the first tick only sets the cursor
    customer = store_objects(live.world, "customer")[1]
    live.world.update("customers", customer["id"], {"email": "pulled@example.com"})
    assert live.tick(pull) == []
    with StateStore(live.state) as inbox:
        pulled = inbox.read_after(0, with_payload=False)
    assert pulled and {e.source for e in pulled} == {"events_api"}
    live.run(live.tick(WEBHOOK_SENSORS))
    row = live.row("customer", customer["id"])
    assert row["email"] == "pulled@example.com" and row["_source"] == "event"


def test_the_pull_goes_on_when_its_cursor_event_is_gone(live: Live) -> None:
    """A quiet account: the last event pulled is older than Stripe keeps (30 days), so
    `ending_before` it fails; the events created since are listed by time instead."""
    since = live.world.now
    customer = store_objects(live.world, "customer")[2]
    live.world.update("customers", customer["id"], {"email": "after-a-quiet-month@example.com"})
    live.cursors["stripe_events_pull"] = json.dumps(
        {"id": "evt_expired_long_ago", "created": since, "pulled_at": time.time()}
    )
    assert live.tick([stripe_events_pull]) == []
    with StateStore(live.state) as inbox:
        pulled = inbox.read_after(0, with_payload=False)
    assert [e.object_id for e in pulled] == [customer["id"]]
    cursor = json.loads(live.cursors["stripe_events_pull"])
    assert cursor["id"] == pulled[0].event_id  # back to walking by id
    live.run(live.tick(WEBHOOK_SENSORS))
    assert live.row("customer", customer["id"])["email"] == "after-a-quiet-month@example.com"


def test_a_pull_gap_longer_than_stripe_keeps_events_requests_a_full_relist(live: Live) -> None:
    live.tick([stripe_events_pull])
    cursor = json.loads(live.cursors["stripe_events_pull"])
    cursor["pulled_at"] = time.time() - 31 * 86_400
    live.cursors["stripe_events_pull"] = json.dumps(cursor)
    [request] = live.tick([stripe_events_pull])
    assert request.tags["trigger"] == "stripe_events_gap"
    assert request.tags["dagster/asset_partition_range_start"] == "2011-01-01"
    assert json.loads(live.cursors["stripe_events_pull"]) == {}


def test_cursor_sensor_syncs_only_new_records(live: Live) -> None:
    sensor = [new_records_sensor(TABLES_BY_NAME["customer"])]
    assert live.tick(sensor) == []  # the watermark starts at the newest customer
    before = warehouse_rows(live.database, "customer")
    live.world.advance(5)
    created = live.world.create("customers", {"email": "new@example.com"})
    [request] = live.tick(sensor)
    assert request.run_config["ops"]["stripe_tables"]["config"]["mode"] == "new"
    assert live.tick(sensor) == []  # same watermark: nothing requested twice
    live.run([request])
    after = warehouse_rows(live.database, "customer")
    assert set(after) - set(before) == {created["id"]}


def test_an_object_created_in_the_watermarks_second_is_synced(live: Live) -> None:
    """Stripe's `created` counts seconds: an object created in the second of the newest one a
    tick saw, after that tick, is new though not later, and must be synced by the next tick."""
    sensor = [new_records_sensor(TABLES_BY_NAME["customer"])]
    assert live.tick(sensor) == []
    live.world.advance(5)
    first = live.world.create("customers", {"email": "first@example.com"})
    live.run(live.tick(sensor))
    second = live.world.create("customers", {"email": "second@example.com"})  # same second
    assert second["created"] == first["created"]
    requests = live.tick(sensor)
    assert len(requests) == 1
    live.run(requests)
    assert {first["id"], second["id"]} <= set(warehouse_rows(live.database, "customer"))
    assert live.tick(sensor) == []  # both seen: nothing more


def test_new_objects_already_received_as_events_are_left_to_the_inbox(live: Live, receiver) -> None:
    """Webhooks bring a new customer and a new charge before the minute's probe: the cursor
    sensors move on without a run (the inbox sensors apply them). A charge's balance
    transaction has no event of its own: its cursor sensor still lists it."""
    names = ("customer", "charge", "balance_transaction")
    probes = {name: new_records_sensor(TABLES_BY_NAME[name]) for name in names}
    assert live.tick(list(probes.values())) == []  # watermarks set
    live.world.advance(5)
    customer = live.world.create("customers", {"email": "webhooked@example.com"})
    charge = live.world.create(
        "charges", {"amount": "4200", "currency": "usd", "customer": customer["id"]}
    )
    assert live.sandbox.wait_for_deliveries(timeout=30)
    assert live.tick([probes["customer"], probes["charge"]]) == []
    [listing] = live.tick([probes["balance_transaction"]])
    live.run([listing, *live.tick(WEBHOOK_SENSORS)])
    assert customer["id"] in warehouse_rows(live.database, "customer")
    assert charge["id"] in warehouse_rows(live.database, "charge")
    assert charge["balance_transaction"] in warehouse_rows(live.database, "balance_transaction")
    assert live.tick(list(probes.values())) == []


def test_webhook_health_check_fails_when_deliveries_do_not_verify(live: Live) -> None:
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/stripe/webhooks"
    live.world.create("webhook_endpoints", {"url": url, "enabled_events": ["*"]})
    wrong = ReceiverConfig(state_path=live.state, env_secrets=("whsec_notTheEndpointSecret1",))
    with BackgroundReceiver(wrong, sock=sock):
        for step in range(4):
            live.world.update(
                "customers",
                store_objects(live.world, "customer")[0]["id"],
                {"metadata": {"n": str(step)}},
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with StateStore(live.state) as inbox:
                if inbox.health().signature_failures_since_success >= 3:
                    break
            time.sleep(0.05)
    assert live.tick(WEBHOOK_SENSORS) == []  # nothing reached the inbox...
    result = dg.materialize(
        [stripe_tables, stripe_table_checks],
        instance=live.instance,
        resources=live.resources(),
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey(["stripe", "event"]), WEBHOOK_HEALTH)
        ),
        raise_on_error=False,
    )
    [evaluation] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert not evaluation.passed  # ...and the check says so, instead of "0 rows, success"
    assert "STRIPE_WEBHOOK_SECRET" in evaluation.metadata["problems"].value


def test_events_for_a_partition_whose_run_has_not_started_go_in_that_run(
    live: Live, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady stream, a run per partition per tick would be launched faster than runs
    start (each is a process that takes seconds to boot). A partition whose webhook run is
    queued or still starting gets no second run: that run applies what is pending when its
    step starts, newer events included. Other partitions of the table are requested at once."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for customer in store_objects(live.world, "customer"):
        by_partition.setdefault(key_of_timestamp(customer["created"]), []).append(customer)
    crowded = next(group for group in by_partition.values() if len(group) >= 2)
    held, joining = crowded[:2]
    elsewhere = next(g for k, g in by_partition.items() if k != key_of_timestamp(held["created"]))
    other = elsewhere[0]
    customer_webhooks = [s for s in WEBHOOK_SENSORS if s.name == "customer_webhooks"]
    live.world.update("customers", held["id"], {"metadata": {"batch": "first"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    [first] = live.tick(customer_webhooks)
    monkeypatch.setenv("STRIPE_API_KEY", live.sandbox.secret_key)  # the job's resources
    job = defs.resolve_implicit_global_asset_job_def()
    starting = live.instance.create_run_for_job(
        job,
        asset_selection=frozenset(first.asset_selection),
        tags={**first.tags, "dagster/partition": first.partition_key},
        status=dg.DagsterRunStatus.STARTING,  # launched, its process still booting
    )
    for customer in (joining, other):
        live.world.update("customers", customer["id"], {"metadata": {"batch": "second"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    [second] = live.tick(customer_webhooks)  # only the partition without a run on its way
    assert second.partition_key == key_of_timestamp(other["created"]) != first.partition_key
    live.instance.report_run_canceled(starting)  # (stands in for it below)
    live.run([first, second])  # the first partition's run applies the later change too
    for customer, batch in ((held, "first"), (joining, "second"), (other, "second")):
        assert live.row("customer", customer["id"])["_raw"]["metadata"]["batch"] == batch
    assert live.tick(customer_webhooks) == []  # and nothing is requested twice


def test_event_history_waits_for_its_starting_run(
    live: Live, receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event table's runs append a fixed range of the inbox: while one is queued or
    starting, newer events wait for the next tick after it, then go in one run."""
    [customer] = store_objects(live.world, "customer")[:1]
    event_webhooks = [s for s in WEBHOOK_SENSORS if s.name == "event_webhooks"]
    live.world.update("customers", customer["id"], {"metadata": {"batch": "first"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    [first] = live.tick(event_webhooks)
    monkeypatch.setenv("STRIPE_API_KEY", live.sandbox.secret_key)  # the job's resources
    starting = live.instance.create_run_for_job(
        defs.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset(first.asset_selection),
        tags={**first.tags, "dagster/partition": first.partition_key},
        status=dg.DagsterRunStatus.STARTING,
    )
    live.world.update("customers", customer["id"], {"metadata": {"batch": "second"}})
    assert live.sandbox.wait_for_deliveries(timeout=30)
    assert live.tick(event_webhooks) == []
    live.instance.report_run_canceled(starting)
    assert len(live.tick(event_webhooks)) == 1
