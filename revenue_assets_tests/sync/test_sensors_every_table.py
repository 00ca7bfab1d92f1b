"""Every table's two sensors, ticked against a sandbox where the table has objects and a new one
appears: `<table>_new_records` (probing Stripe's list) and `<table>_webhooks` (reading the inbox
our receiver fills from the sandbox's signed deliveries). Each must request a run for the
partition of the new object, without an error, and that run must bring the object into DuckDB.

The partition expected is the month of the sandbox's clock when the object was made (every
object is made "now"), not one derived from the product's own table registry: a table whose
timestamp is not `created` (invoice items carry `date`) must still land in the right month.
A full-refresh table (its list has no creation-time filter) gets unpartitioned runs instead,
and so does an events-only one (discounts: Stripe cannot list them), whose new-records sensor
watches `stripe.event`, which the event table's own sensor fills.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revenue_assets.catalog.tables import TABLES, StripeTable
from revenue_assets.definitions import defs
from revenue_assets_tests.helpers import sandbox_receiver, warehouse_rows
from revenue_assets_tests.sync.daemon import run_request, sync_resources

World = Any
REPOSITORY = defs.get_repository_def()  # the sensors as the daemon loads them
Maker = Callable[[World], str]  # makes a new object of a table "now", returns its id


def _customer(world: World) -> dict[str, Any]:
    """A customer of the company that can pay (has a default payment method)."""
    return next(
        c
        for c in world.store.iter_objects("customer", world.account_id, include_deleted=False)
        if c["invoice_settings"]["default_payment_method"] or c.get("default_source")
    )


def _recurring_price(world: World) -> dict[str, Any]:
    return next(
        p
        for p in world.store.iter_objects("price", world.account_id, include_deleted=False)
        if p["active"] and p["recurring"] and p["currency"] == "usd"
    )


def _unscheduled_subscription(world: World) -> dict[str, Any]:
    return next(
        s
        for s in world.store.iter_objects("subscription", world.account_id, include_deleted=False)
        if s["status"] == "active" and not s["schedule"]
    )


def _charge(world: World) -> dict[str, Any]:
    return world.create(
        "charges", {"amount": "4200", "currency": "usd", "customer": _customer(world)["id"]}
    )


def _paid_invoice(world: World) -> dict[str, Any]:
    customer = _customer(world)["id"]
    world.create("invoiceitems", {"customer": customer, "amount": "3100", "currency": "usd"})
    invoice = world.create(
        "invoices", {"customer": customer, "pending_invoice_items_behavior": "include"}
    )
    world.action("invoices", invoice["id"], "finalize", {})
    return world.action("invoices", invoice["id"], "pay", {})


def _newest(world: World, kind: str) -> dict[str, Any]:
    return max(
        world.store.iter_objects(kind, world.account_id, include_deleted=False),
        key=lambda obj: (obj.get("created") or obj.get("date"), obj["id"]),
    )


def _invoice_payment(world: World) -> str:
    invoice = _paid_invoice(world)
    payments = [
        p
        for p in world.store.iter_objects("invoice_payment", world.account_id)
        if p["invoice"] == invoice["id"]
    ]
    assert payments, "paying an invoice made no invoice payment"
    return payments[0]["id"]


def _balance_transaction(world: World) -> str:
    return _charge(world)["balance_transaction"]


def _dispute(world: World) -> str:
    return world.create("disputes", {"charge": _charge(world)["id"]})["id"]


def _refund(world: World) -> str:
    return world.create("refunds", {"charge": _charge(world)["id"], "amount": "1000"})["id"]


def _expired_checkout_session(world: World) -> str:
    """A Checkout page opened and expired (Stripe sends no event when one opens)."""
    session = world.create(
        "checkout/sessions",
        {
            "mode": "subscription",
            "customer": _customer(world)["id"],
            "line_items": [{"price": _recurring_price(world)["id"], "quantity": "1"}],
        },
    )
    return world.action("checkout/sessions", session["id"], "expire", {})["id"]


def _radar_charge(world: World, method: str) -> dict[str, Any]:
    """A charge paid with one of the sandbox's Radar test payment methods."""
    return world.create(
        "charges",
        {
            "amount": "4200",
            "currency": "usd",
            "customer": _customer(world)["id"],
            "payment_method": method,
        },
    )


def _review(world: World) -> str:
    return _radar_charge(world, "pm_card_riskLevelElevated")["review"]


def _early_fraud_warning(world: World) -> str:
    charge = _radar_charge(world, "pm_card_createEarlyFraudWarning")
    warning = _newest(world, "radar.early_fraud_warning")
    assert warning["charge"] == charge["id"]
    return warning["id"]


def _application_fee(world: World) -> str:
    """A connected account's charge with the platform's cut: a fee on the platform."""
    charge = world.create(
        "charges",
        {"amount": "5000", "currency": "usd", "application_fee_amount": "500"},
        account=world.connected_account_ids[0],
    )
    return charge["application_fee"]


def _credit_note(world: World) -> str:
    return world.create("credit_notes", {"invoice": _paid_invoice(world)["id"], "amount": "500"})[
        "id"
    ]


def _sent_quote(world: World) -> str:
    """A quote drafted and sent to a customer (`quote.created`, then `quote.finalized`)."""
    quote = world.create(
        "quotes",
        {
            "customer": _customer(world)["id"],
            "line_items": [{"price": _recurring_price(world)["id"], "quantity": "2"}],
        },
    )
    return world.action("quotes", quote["id"], "finalize", {})["id"]


def _credit_grant(world: World) -> str:
    """Promotional credits for a customer's metered usage."""
    return world.create(
        "billing/credit_grants",
        {
            "customer": _customer(world)["id"],
            "category": "promotional",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": "1500"}},
            "applicability_config": {"scope": {"price_type": "metered"}},
        },
    )["id"]


def _discount(world: World) -> str:
    """A coupon applied to a customer (`customer.discount.created`)."""
    customer = next(
        c
        for c in world.store.iter_objects("customer", world.account_id, include_deleted=False)
        if not c.get("discount")
    )
    coupon = _newest(world, "coupon")["id"]
    return world.update("customers", customer["id"], {"coupon": coupon})["discount"]["id"]


def _event(world: World) -> str:
    world.update("customers", _customer(world)["id"], {"metadata": {"touched": "yes"}})
    return _newest(world, "event")["id"]


MAKERS: dict[str, Maker] = {
    "charge": lambda world: _charge(world)["id"],
    "customer": lambda world: world.create("customers", {"email": "new@example.com"})["id"],
    "invoice": lambda world: _paid_invoice(world)["id"],
    "invoice_payment": _invoice_payment,
    "price": lambda world: world.create(
        "prices",
        {"currency": "usd", "unit_amount": "900", "product_data": {"name": "Add-on"}},
    )["id"],
    "product": lambda world: world.create("products", {"name": "New product"})["id"],
    "subscription": lambda world: world.create(
        "subscriptions",
        {"customer": _customer(world)["id"], "items": [{"price": _recurring_price(world)["id"]}]},
    )["id"],
    "balance_transaction": _balance_transaction,
    "dispute": _dispute,
    "payout": lambda world: world.create("payouts", {"amount": "1500", "currency": "usd"})["id"],
    "credit_note": _credit_note,
    "refund": _refund,
    "invoiceitem": lambda world: world.create(
        "invoiceitems",
        {"customer": _customer(world)["id"], "amount": "700", "currency": "usd"},
    )["id"],
    "coupon": lambda world: world.create("coupons", {"percent_off": "15", "duration": "once"})[
        "id"
    ],
    "event": _event,
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rate": lambda world: world.create(
        "tax_rates", {"display_name": "GST", "percentage": "5", "inclusive": "false"}
    )["id"],
    "plan": lambda world: world.create(
        "prices",
        {
            "currency": "usd",
            "unit_amount": "1200",
            "recurring": {"interval": "month"},
            "product_data": {"name": "Monthly add-on"},
        },
    )["id"],
    "promotion_code": lambda world: world.create(
        "promotion_codes",
        {"promotion": {"coupon": _newest(world, "coupon")["id"]}, "code": "SPRING25"},
    )["id"],
    "subscription_schedule": lambda world: world.create(
        "subscription_schedules", {"from_subscription": _unscheduled_subscription(world)["id"]}
    )["id"],
    "shipping_rate": lambda world: world.create(
        "shipping_rates",
        {"display_name": "Overnight", "fixed_amount": {"amount": "2500", "currency": "usd"}},
    )["id"],
    # payments: intents, checkout, setup, radar, platform money movements
    "payment_intent": lambda world: world.create(
        "payment_intents",
        {
            "amount": "2500",
            "currency": "usd",
            "customer": _customer(world)["id"],
            "confirm": "true",
        },
    )["id"],
    "checkout_session": _expired_checkout_session,
    "setup_intent": lambda world: world.create(
        "setup_intents", {"customer": _customer(world)["id"], "confirm": "true"}
    )["id"],
    "review": _review,
    "early_fraud_warning": _early_fraud_warning,
    "transfer": lambda world: world.create(
        "transfers",
        {"amount": "1500", "currency": "usd", "destination": world.connected_account_ids[0]},
    )["id"],
    "application_fee": _application_fee,
    "topup": lambda world: world.create("topups", {"amount": "20000", "currency": "usd"})["id"],
    # full refreshes: lists without a creation-time filter
    "billing_meter": lambda world: world.create(
        "billing/meters",
        {
            "display_name": "Seats used",
            "event_name": "seat_used",
            "default_aggregation": {"formula": "last"},
        },
    )["id"],
    "entitlement_feature": lambda world: world.create(
        "entitlements/features", {"name": "Data residency", "lookup_key": "data_residency"}
    )["id"],
    "payment_link": lambda world: world.create(
        "payment_links", {"line_items": [{"price": _recurring_price(world)["id"], "quantity": "1"}]}
    )["id"],
    "quote": _sent_quote,
    "credit_grant": _credit_grant,
    # events only: Stripe has no list of them
    "discount": _discount,
}
# Stripe sends no event whose object is a balance transaction, a shipping rate or an entitlement
# feature: those tables follow only by listing.
WITHOUT_EVENTS = {table.name for table in TABLES if not table.event_types and table.name != "event"}


def test_every_table_has_a_maker() -> None:
    assert set(MAKERS) == {table.name for table in TABLES}
    assert {"balance_transaction", "shipping_rate", "entitlement_feature"} == WITHOUT_EVENTS


@dataclass
class Ticker:
    """Sensors evaluated as the daemon does (`evaluate_tick`), cursors carried over, and their
    run requests executed as the daemon would (same partition, selection and config)."""

    sandbox: Any
    database: Path
    state: Path
    instance: dg.DagsterInstance
    cursors: dict[str, str | None] = field(default_factory=dict)

    def resources(self) -> dict[str, Any]:
        return sync_resources(self.sandbox, self.database, self.state)

    def tick(self, sensor: dg.SensorDefinition) -> dg.SensorResult | Any:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor.name),
            resources=self.resources(),
            sensor_name=sensor.name,
            definitions=defs,
        )
        data = sensor.evaluate_tick(context)  # raises what the daemon would record as an error
        if data.cursor is not None:
            self.cursors[sensor.name] = data.cursor
        return data

    def run(self, request: dg.RunRequest) -> None:
        run_request(request, self.instance, self.resources())


@pytest.fixture
def ticker(sandbox: Any, tmp_path: Path) -> Iterator[Ticker]:
    with dg.instance_for_test() as instance:
        yield Ticker(sandbox, tmp_path / "w.duckdb", tmp_path / "state.sqlite", instance)


def month_of(moment: int) -> str:
    day = datetime.fromtimestamp(moment, UTC)
    return f"{day.year:04d}-{day.month:02d}-01"


def expected_partition(table: StripeTable, made_at: int) -> str | None:
    """The partition a run for an object made at `made_at` is requested in: its month, or none
    for a full-refresh table (unpartitioned: its list has no creation-time filter) or an
    events-only one (no list at all)."""
    return None if table.unpartitioned else month_of(made_at)


def kind_of(table: StripeTable) -> str:
    """The stored kind behind a table (Stripe's `object`; the sandbox serves recurring prices as plans)."""
    return "price" if table.name == "plan" else table.object


@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
def test_new_records_sensor_requests_the_new_objects_partition(
    table: StripeTable, ticker: Ticker
) -> None:
    world = ticker.sandbox.world
    assert any(world.store.iter_objects(kind_of(table), world.account_id)), "no objects"
    sensor = REPOSITORY.get_sensor_def(f"{table.name}_new_records")
    # An events-only table's sensor watches stripe.event, which the event table's sensor fills.
    history = REPOSITORY.get_sensor_def("event_new_records") if table.events_only else None
    if history is not None:
        ticker.tick(history)
    first = ticker.tick(sensor)
    noted = "Noted the newest" if table.unpartitioned else "Watermark set"
    assert not first.run_requests and noted in (first.skip_message or "")

    world.advance(5)  # a later second than every existing object
    made_at = world.now
    object_id = MAKERS[table.name](world)
    if history is not None:
        assert ticker.tick(sensor).run_requests == []  # not in stripe.event yet
        for request in ticker.tick(history).run_requests:
            ticker.run(request)

    data = ticker.tick(sensor)
    partitions = [request.partition_key for request in data.run_requests]
    assert expected_partition(table, made_at) in partitions, data.skip_message
    assert len(partitions) == len(set(partitions))
    assert ticker.tick(sensor).run_requests == []  # same watermark: nothing twice
    for request in data.run_requests:
        ticker.run(request)
    assert object_id in warehouse_rows(ticker.database, table.name)


@pytest.mark.parametrize(
    "table",
    [table for table in TABLES if table.name not in WITHOUT_EVENTS],
    ids=[table.name for table in TABLES if table.name not in WITHOUT_EVENTS],
)
def test_webhook_sensor_requests_the_changed_objects_partition(
    table: StripeTable, ticker: Ticker
) -> None:
    world = ticker.sandbox.world
    assert any(world.store.iter_objects(kind_of(table), world.account_id)), "no objects"
    sensor = REPOSITORY.get_sensor_def(f"{table.name}_webhooks")
    with sandbox_receiver(world, ticker.state):
        world.advance(5)
        made_at = world.now
        object_id = MAKERS[table.name](world)
        assert ticker.sandbox.wait_for_deliveries(timeout=30)

    data = ticker.tick(sensor)
    partitions = [request.partition_key for request in data.run_requests]
    assert expected_partition(table, made_at) in partitions, data.skip_message
    assert len(partitions) == len(set(partitions))
    assert ticker.tick(sensor).run_requests == []  # the cursor moved past these events
    for request in data.run_requests:
        ticker.run(request)
    assert object_id in warehouse_rows(ticker.database, table.name)
