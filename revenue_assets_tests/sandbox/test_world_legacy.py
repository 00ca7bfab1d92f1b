"""Rendering in API versions before 2025-03-31: where old payloads carry the moved fields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from revenue_assets.sandbox import legacy
from revenue_assets.sandbox.world import CompanySpec, World

NOW = 1_780_000_000
DAY = 86_400
OLD = "2024-06-20"
CURRENT = "2026-10-28.endive"

Obj = dict[str, Any]


@pytest.fixture
def world() -> Iterator[World]:
    world = World.generate(CompanySpec(seed=5, customers=10, months=2, now=NOW))
    yield world
    world.close()


def _price(world: World, nickname: str) -> Obj:
    return next(
        p
        for p in world.store.iter_objects("price", world.account_id, include_deleted=False)
        if p["nickname"] == nickname and p["currency"] == "usd"
    )


def _subscribed(world: World) -> tuple[Obj, Obj, Obj]:
    customer = world.create("customers", {"email": "old@example.com"})
    subscription = world.create(
        "subscriptions",
        {"customer": customer["id"], "items": [{"price": _price(world, "Pro monthly")["id"]}]},
    )
    invoice = world.store.get(subscription["latest_invoice"])
    assert invoice is not None
    return customer, subscription, invoice


def test_invoice_and_lines_in_a_legacy_version(world: World) -> None:
    _, subscription, invoice = _subscribed(world)
    charge_id = world.store.ids("charge", parent=invoice["id"])[0]
    intent_id = world.store.ids("payment_intent", parent=invoice["id"])[0]
    old = legacy.render(invoice, OLD, world._ledger(None))
    assert old is not invoice and "parent" in invoice  # the stored object is untouched
    assert old["subscription"] == subscription["id"]
    assert old["paid"] is True and old["charge"] == charge_id and old["payment_intent"] == intent_id
    assert "parent" not in old and "total_taxes" not in old
    line = old["lines"]["data"][0]
    assert line["type"] == "subscription" and line["proration"] is False
    assert line["subscription"] == subscription["id"]
    assert line["subscription_item"] == subscription["items"]["data"][0]["id"]
    assert line["price"]["object"] == "price" and line["price"]["unit_amount"] == 4_900
    assert line["plan"]["id"] == line["price"]["id"] and "pricing" not in line
    assert legacy.render(invoice, CURRENT, world._ledger(None)) is invoice


def test_proration_lines_render_as_invoice_items(world: World) -> None:
    _, subscription, _ = _subscribed(world)
    world.advance(5 * DAY)
    item = subscription["items"]["data"][0]
    world.update(
        "subscriptions",
        subscription["id"],
        {
            "items": [{"id": item["id"], "price": _price(world, "Business monthly")["id"]}],
            "proration_behavior": "always_invoice",
        },
    )
    latest = world.store.get(world.store.get(subscription["id"])["latest_invoice"])  # type: ignore[index]
    assert latest is not None
    old = legacy.render(latest, OLD, world._ledger(None))
    kinds = {(line["type"], line["proration"], line["amount"] < 0) for line in old["lines"]["data"]}
    assert kinds == {("invoiceitem", True, True), ("invoiceitem", True, False)}
    assert all(line["invoice_item"].startswith("ii_") for line in old["lines"]["data"])


def test_subscription_and_charge_in_a_legacy_version(world: World) -> None:
    _, subscription, invoice = _subscribed(world)
    old = legacy.render(subscription, OLD, world._ledger(None))
    item = subscription["items"]["data"][0]
    assert old["plan"]["id"] == item["price"]["id"] and old["plan"]["object"] == "plan"
    assert old["quantity"] == 1
    assert (old["current_period_start"], old["current_period_end"]) == (
        item["current_period_start"],
        item["current_period_end"],
    )
    charge = world.store.get(world.store.ids("charge", parent=invoice["id"])[0])
    assert charge is not None
    assert legacy.render(charge, OLD, world._ledger(None))["invoice"] == invoice["id"]
    one_off = world.create("charges", {"amount": 700, "currency": "usd"})
    assert legacy.render(one_off, OLD, world._ledger(None))["invoice"] is None


def test_events_are_created_in_the_worlds_event_version(world: World) -> None:
    seen: list[Obj] = []
    world.add_listener(lambda event, account: seen.append(event))
    world.event_api_version = OLD
    _, subscription, _invoice = _subscribed(world)
    paid = next(e for e in seen if e["type"] == "invoice.paid")
    assert paid["api_version"] == OLD
    assert paid["data"]["object"]["subscription"] == subscription["id"]
    assert paid["data"]["object"]["paid"] is True and "parent" not in paid["data"]["object"]
    assert world.store.get(paid["id"]) == paid  # stored as created: events keep their version
    current = world.render_event(paid, CURRENT)
    assert current["api_version"] == CURRENT
    assert (
        current["data"]["object"]["parent"]["subscription_details"]["subscription"]
        == subscription["id"]
    )
    assert "paid" not in current["data"]["object"]

    world.event_api_version = CURRENT
    world.advance(31 * DAY)
    renewal = next(
        e
        for e in seen
        if e["type"] == "invoice.paid"
        and e["api_version"] == CURRENT
        and (e["data"]["object"]["parent"] or {})
        .get("subscription_details", {})
        .get("subscription")
        == subscription["id"]
    )
    assert "subscription" not in renewal["data"]["object"]
    old = world.render_event(renewal, OLD)
    assert old["api_version"] == OLD and old["data"]["object"]["subscription"] == subscription["id"]
    assert renewal["data"]["object"].get("subscription") is None  # the original is not modified


def test_generated_history_in_a_legacy_event_version() -> None:
    world = World.generate(
        CompanySpec(seed=5, customers=40, months=2, now=NOW, event_api_version=OLD)
    )
    try:
        events = list(world.store.iter_objects("event"))
        invoices = [e for e in events if e["type"] == "invoice.paid"]
        assert invoices and all(e["api_version"] == OLD for e in events)
        assert all(
            "paid" in e["data"]["object"] and "parent" not in e["data"]["object"] for e in invoices
        )
        stored = world.store.get(invoices[0]["data"]["object"]["id"])
        assert stored is not None and "parent" in stored  # objects themselves stay current
    finally:
        world.close()
