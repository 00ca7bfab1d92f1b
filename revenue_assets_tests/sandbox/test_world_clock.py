"""The live world: API changes and the clock run the billing engine and emit Stripe's events.

Driven through the World's Python API with form-style string parameters, as the server passes
what the stripe SDK sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.world import CompanySpec, World

NOW = 1_780_000_000
DAY = 86_400

Obj = dict[str, Any]


class Recorder:
    """A listener that keeps (event, account) pairs, as the webhook delivery receives them."""

    def __init__(self) -> None:
        self.calls: list[tuple[Obj, str]] = []

    def __call__(self, event: Obj, account: str) -> None:
        self.calls.append((event, account))

    def types(self, object_ids: set[str] | None = None) -> list[str]:
        return [
            event["type"]
            for event, _ in self.calls
            if object_ids is None or event["data"]["object"]["id"] in object_ids
        ]


@pytest.fixture
def world() -> Iterator[World]:
    world = World.generate(CompanySpec(seed=11, customers=12, months=3, now=NOW))
    yield world
    world.close()


@pytest.fixture
def recorder(world: World) -> Recorder:
    recorder = Recorder()
    world.add_listener(recorder)
    return recorder


def price(world: World, nickname: str, currency: str = "usd") -> Obj:
    for obj in world.store.iter_objects("price", world.account_id, include_deleted=False):
        if obj["nickname"] == nickname and obj["currency"] == currency:
            return obj
    raise AssertionError(nickname)


def subscribe(world: World, nickname: str = "Pro monthly", **params: Any) -> tuple[Obj, Obj]:
    customer = world.create("customers", {"email": "jo@example.com", "name": "Jo"})
    subscription = world.create(
        "subscriptions",
        {
            "customer": customer["id"],
            "items": {"0": {"price": price(world, nickname)["id"]}},
            **params,
        },
    )
    return customer, subscription


def lines(world: World, invoice_id: str) -> list[Obj]:
    return [world.store.get(i) for i in world.store.ids("line_item", parent=invoice_id)]  # type: ignore[misc]


def test_create_subscription_invoices_and_charges_at_once(world: World, recorder: Recorder) -> None:
    _customer, subscription = subscribe(world)
    assert subscription["status"] == "active"
    invoice = world.store.get(subscription["latest_invoice"])
    assert invoice is not None and invoice["status"] == "paid" and invoice["amount_paid"] == 4_900
    assert invoice["billing_reason"] == "subscription_create"
    assert recorder.types() == [
        "customer.created",
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    created = next(e for e, _ in recorder.calls if e["type"] == "invoice.created")
    assert created["data"]["object"]["status"] == "draft"  # a snapshot, not the final state
    assert created["request"]["id"].startswith("req_")
    assert all(account == world.account_id for _, account in recorder.calls)
    stored = world.store.get(created["id"])
    assert stored == created


def test_advancing_a_month_renews_a_monthly_subscription(world: World, recorder: Recorder) -> None:
    _customer, subscription = subscribe(world)
    first_invoice = subscription["latest_invoice"]
    recorder.calls.clear()
    events = world.advance(31 * DAY)
    assert world.now == NOW + 31 * DAY
    renewed = world.store.get(subscription["id"])
    assert renewed is not None and renewed["latest_invoice"] != first_invoice
    item = renewed["items"]["data"][0]
    assert item["current_period_start"] == subscription["items"]["data"][0]["current_period_end"]
    invoice = world.store.get(renewed["latest_invoice"])
    assert invoice is not None
    assert (invoice["status"], invoice["billing_reason"], invoice["amount_paid"]) == (
        "paid",
        "subscription_cycle",
        4_900,
    )
    assert (invoice["period_start"], invoice["period_end"]) == (
        subscription["items"]["data"][0]["current_period_start"],
        item["current_period_start"],
    )  # Stripe: the invoice period is the previous one; lines carry the billed period
    assert invoice["lines"]["data"][0]["period"]["start"] == item["current_period_start"]
    charges = world.store.ids("charge", parent=invoice["id"])
    assert len(charges) == 1
    charge = world.store.get(charges[0])
    assert charge is not None and charge["amount"] == 4_900 and charge["payment_intent"]
    mine = {subscription["id"], invoice["id"], charges[0]}
    mine |= set(world.store.ids("invoice_payment", parent=invoice["id"]))
    assert recorder.types(mine) == [
        "customer.subscription.updated",
        "invoice.created",
        "invoice.finalized",
        "charge.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert [e["id"] for e in events] == [e["id"] for e, _ in recorder.calls]
    updated = next(
        e
        for e in events
        if e["type"] == "customer.subscription.updated"
        and e["data"]["object"]["id"] == subscription["id"]
    )
    assert updated["data"]["previous_attributes"]["latest_invoice"] == first_invoice
    assert updated["request"]["id"] is None  # made by the clock, not by a request
    assert all(e["created"] >= NOW for e in events)
    assert [e["created"] for e in events] == sorted(e["created"] for e in events)


def test_cancel_at_period_end(world: World, recorder: Recorder) -> None:
    _, subscription = subscribe(world)
    period_end = subscription["items"]["data"][0]["current_period_end"]
    updated = world.update("subscriptions", subscription["id"], {"cancel_at_period_end": "true"})
    assert updated["cancel_at_period_end"] is True and updated["cancel_at"] == period_end
    assert updated["status"] == "active"
    invoices_before = world.store.ids("invoice", customer=subscription["customer"])
    world.advance(period_end - world.now + 60)
    ended = world.store.get(subscription["id"])
    assert ended is not None and ended["status"] == "canceled" and ended["ended_at"] == period_end
    assert world.store.ids("invoice", customer=subscription["customer"]) == invoices_before
    assert "customer.subscription.deleted" in recorder.types({subscription["id"]})
    page = world.store.list_page(world.account_id, "subscription", statuses=["canceled"], limit=100)
    assert any(subscription["id"].encode() in body for body in page.bodies)


def test_upgrade_mid_period_prorates_with_a_negative_credit(
    world: World, recorder: Recorder
) -> None:
    _, subscription = subscribe(world)
    world.advance(10 * DAY)
    item = subscription["items"]["data"][0]
    business = price(world, "Business monthly")
    world.update(
        "subscriptions",
        subscription["id"],
        {
            "items": {"0": {"id": item["id"], "price": business["id"]}},
            "proration_behavior": "always_invoice",
        },
    )
    updated = world.store.get(subscription["id"])
    assert updated is not None and updated["items"]["data"][0]["price"]["id"] == business["id"]
    invoice = world.store.get(updated["latest_invoice"])
    assert invoice is not None and invoice["billing_reason"] == "subscription_update"
    found = lines(world, invoice["id"])
    credit = [line for line in found if line["amount"] < 0]
    debit = [line for line in found if line["amount"] > 0]
    assert len(credit) == 1 and len(debit) == 1
    remaining = (item["current_period_end"] - world.now) / (
        item["current_period_end"] - item["current_period_start"]
    )
    assert credit[0]["amount"] == -round(4_900 * remaining)
    assert debit[0]["amount"] == round(19_900 * remaining)
    details = credit[0]["parent"]["subscription_item_details"]
    assert details["proration"] is True and details["invoice_item"].startswith("ii_")
    assert (
        details["proration_details"]["credited_items"]["invoice"] == subscription["latest_invoice"]
    )
    assert invoice["total"] == invoice["subtotal"] == credit[0]["amount"] + debit[0]["amount"]
    assert invoice["status"] == "paid" and invoice["amount_paid"] == invoice["total"]
    types = recorder.types()
    assert types.count("invoiceitem.created") == 2 and "customer.subscription.updated" in types


def test_prorations_wait_for_the_next_renewal_by_default(world: World) -> None:
    _, subscription = subscribe(world)
    world.advance(15 * DAY)
    item = subscription["items"]["data"][0]
    world.update(
        "subscriptions",
        subscription["id"],
        {"items": [{"id": item["id"], "quantity": "3"}]},
    )
    pending = [
        world.store.get(i)
        for i in world.store.ids("invoiceitem", customer=subscription["customer"])
    ]
    assert len(pending) == 2 and all(p is not None and p["invoice"] is None for p in pending)
    world.advance(20 * DAY)
    renewed = world.store.get(subscription["id"])
    assert renewed is not None
    invoice = world.store.get(renewed["latest_invoice"])
    assert invoice is not None and invoice["billing_reason"] == "subscription_cycle"
    amounts = sorted(line["amount"] for line in lines(world, invoice["id"]))
    assert amounts[0] < 0 and amounts[-1] == 3 * 4_900  # credit, debit, then the new period
    assert len(amounts) == 3
    assert invoice["subtotal"] == sum(amounts)


def test_trial_ends_into_a_paid_period(world: World, recorder: Recorder) -> None:
    _, subscription = subscribe(world, trial_period_days="14")
    assert subscription["status"] == "trialing"
    trial_invoice = world.store.get(subscription["latest_invoice"])
    assert trial_invoice is not None and trial_invoice["total"] == 0
    assert trial_invoice["status"] == "paid" and not world.store.ids(
        "charge", parent=trial_invoice["id"]
    )
    world.advance(15 * DAY)
    active = world.store.get(subscription["id"])
    assert active is not None and active["status"] == "active"
    invoice = world.store.get(active["latest_invoice"])
    assert invoice is not None and invoice["amount_paid"] == 4_900
    updated = [e for e, _ in recorder.calls if e["type"] == "customer.subscription.updated"]
    assert any(
        e["data"].get("previous_attributes", {}).get("status") == "trialing" for e in updated
    )


def test_pause_collection_voids_renewal_invoices_until_it_resumes(world: World) -> None:
    _, subscription = subscribe(world)
    resumes = world.now + 45 * DAY
    world.update(
        "subscriptions",
        subscription["id"],
        {"pause_collection": {"behavior": "void", "resumes_at": str(resumes)}},
    )
    world.advance(31 * DAY)
    paused = world.store.get(subscription["id"])
    assert paused is not None and paused["pause_collection"]["behavior"] == "void"
    invoice = world.store.get(paused["latest_invoice"])
    assert invoice is not None and invoice["status"] == "void"
    world.advance(31 * DAY)
    resumed = world.store.get(subscription["id"])
    assert resumed is not None and resumed["pause_collection"] is None
    invoice = world.store.get(resumed["latest_invoice"])
    assert invoice is not None and invoice["status"] == "paid"


def test_paused_subscription_resumes(world: World, recorder: Recorder) -> None:
    customer = world.create("customers", {"email": "nocard@example.com", "payment_method": "none"})
    subscription = world.create(
        "subscriptions",
        {
            "customer": customer["id"],
            "items": [{"price": price(world, "Starter monthly")["id"]}],
            "trial_period_days": 7,
            "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
        },
    )
    world.advance(8 * DAY)
    paused = world.store.get(subscription["id"])
    assert paused is not None and paused["status"] == "paused"
    assert "customer.subscription.paused" in recorder.types({subscription["id"]})
    resumed = world.action("subscriptions", subscription["id"], "resume", {})
    assert resumed["status"] == "active"
    assert "customer.subscription.resumed" in recorder.types({subscription["id"]})
    invoice = world.store.get(resumed["latest_invoice"])
    assert invoice is not None and invoice["status"] == "paid"


def test_cancel_now_and_status_all(world: World, recorder: Recorder) -> None:
    _, subscription = subscribe(world)
    canceled = world.delete("subscriptions", subscription["id"])
    assert canceled["status"] == "canceled" and canceled["ended_at"] == world.now
    assert recorder.types({subscription["id"]})[-1] == "customer.subscription.deleted"
    with pytest.raises(SandboxError) as raised:
        world.delete("subscriptions", subscription["id"])
    assert raised.value.status == 404


def test_refund_creates_refund_balance_transaction_and_events(
    world: World, recorder: Recorder
) -> None:
    _customer, subscription = subscribe(world)
    invoice_id = subscription["latest_invoice"]
    charge_id = world.store.ids("charge", parent=invoice_id)[0]
    recorder.calls.clear()
    refund = world.create(
        "refunds", {"charge": charge_id, "amount": "1000", "reason": "requested_by_customer"}
    )
    assert refund["amount"] == 1_000 and refund["status"] == "succeeded"
    txn = world.store.get(refund["balance_transaction"])
    assert txn is not None and txn["amount"] == -1_000 and txn["type"] == "refund"
    charge = world.store.get(charge_id)
    assert charge is not None and charge["amount_refunded"] == 1_000 and charge["refunded"] is False
    assert charge["refunds"]["data"][0]["id"] == refund["id"]
    assert recorder.types() == ["charge.refunded", "refund.created"]
    assert recorder.calls[0][0]["data"]["previous_attributes"] == {
        "amount_refunded": 0,
        "refunded": False,
    }
    world.create("refunds", {"charge": charge_id})
    charge = world.store.get(charge_id)
    assert charge is not None and charge["refunded"] is True and charge["amount_refunded"] == 4_900
    with pytest.raises(SandboxError) as raised:
        world.create("refunds", {"charge": charge_id, "amount": 1})
    assert raised.value.status == 400


def test_delete_customer(world: World, recorder: Recorder) -> None:
    customer, _subscription = subscribe(world)
    stub = world.delete("customers", customer["id"])
    assert stub == {"id": customer["id"], "object": "customer", "deleted": True}
    assert recorder.types()[-2:] == ["customer.subscription.deleted", "customer.deleted"]
    deleted_event = recorder.calls[-1][0]
    assert deleted_event["data"]["object"]["email"] == "jo@example.com"  # the customer as it was
    assert world.store.get(customer["id"]) == stub
    page = world.store.list_page(world.account_id, "customer", limit=100)
    assert all(customer["id"].encode() not in body for body in page.bodies)
    with pytest.raises(SandboxError):
        world.update("customers", customer["id"], {"name": "x"})


def test_customer_update_names_previous_attributes(world: World, recorder: Recorder) -> None:
    customer = world.create(
        "customers", {"email": "a@example.com", "metadata": {"a": "1", "b": "2"}}
    )
    updated = world.update(
        "customers", customer["id"], {"name": "Ann", "metadata": {"b": "", "c": "3"}}
    )
    assert updated["metadata"] == {"a": "1", "c": "3"} and updated["name"] == "Ann"
    event = recorder.calls[-1][0]
    assert event["type"] == "customer.updated"
    assert event["data"]["previous_attributes"] == {"name": None, "metadata": {"a": "1", "b": "2"}}


def test_validation_errors_have_stripe_codes(world: World) -> None:
    with pytest.raises(SandboxError) as raised:
        world.create("subscriptions", {"customer": "cus_missing", "items": [{"price": "price_x"}]})
    assert (raised.value.status, raised.value.code, raised.value.param) == (
        404,
        "resource_missing",
        "customer",
    )
    customer = world.create("customers", {})
    with pytest.raises(SandboxError) as raised:
        world.create(
            "subscriptions", {"customer": customer["id"], "items": [{"price": "price_nope"}]}
        )
    assert raised.value.status == 404 and raised.value.code == "resource_missing"
    with pytest.raises(SandboxError) as raised:
        world.create("charges", {"amount": "-5", "currency": "usd"})
    assert raised.value.status == 400
    with pytest.raises(SandboxError) as raised:
        world.create("charges", {"amount": "abc", "currency": "usd"})
    assert raised.value.status == 400 and raised.value.param == "amount"
    with pytest.raises(SandboxError) as raised:
        world.create("customers", {}, account="acct_unknown")
    assert raised.value.status == 403
    with pytest.raises(SandboxError) as raised:
        world.create("teleporters", {})
    assert raised.value.status == 404
    body = raised.value.body()
    assert body["error"]["type"] == "invalid_request_error"


def test_charges_disputes_credit_notes_payouts(world: World, recorder: Recorder) -> None:
    charge = world.create(
        "charges", {"amount": "2500", "currency": "eur", "description": "one-off"}
    )
    assert charge["payment_intent"] is None and charge["status"] == "succeeded"
    txn = world.store.get(charge["balance_transaction"])
    assert txn is not None and txn["net"] == 2_500 - txn["fee"]
    dispute = world.create("disputes", {"charge": charge["id"]})
    assert (
        dispute["status"] == "needs_response"
        and dispute["balance_transactions"][0]["amount"] == -2_500
    )
    closed = world.action("disputes", dispute["id"], "close", {})
    assert closed["status"] == "lost"
    assert {"charge.dispute.created", "charge.dispute.closed"} <= set(recorder.types())

    _, subscription = subscribe(world)
    invoice = world.store.get(subscription["latest_invoice"])
    assert invoice is not None
    line = invoice["lines"]["data"][0]
    note = world.create(
        "credit_notes",
        {
            "invoice": invoice["id"],
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": line["id"], "amount": "900"}
            ],
        },
    )
    assert note["total"] == 900 and note["type"] == "post_payment"
    assert note["refunds"][0]["amount_refunded"] == 900
    assert world.store.get(invoice["id"])["post_payment_credit_notes_amount"] == 900  # type: ignore[index]
    assert "credit_note.created" in recorder.types()

    payout = world.create("payouts", {"amount": "1000", "currency": "usd"})
    assert payout["status"] == "in_transit" and payout["automatic"] is False
    world.advance(3 * DAY)
    assert world.store.get(payout["id"])["status"] == "paid"  # type: ignore[index]
    assert "payout.paid" in recorder.types({payout["id"]})


def test_automatic_weekly_payouts_continue_live(world: World, recorder: Recorder) -> None:
    for _ in range(3):
        subscribe(world)
    recorder.calls.clear()
    world.advance(14 * DAY)
    created = [e["data"]["object"] for e, _ in recorder.calls if e["type"] == "payout.created"]
    assert created and all(p["automatic"] for p in created)
    assert any(p["currency"] == "usd" and p["amount"] > 4_900 for p in created)


def test_invoices_drafts_items_and_actions(world: World, recorder: Recorder) -> None:
    customer = world.create("customers", {"email": "b@example.com"})
    world.create(
        "invoiceitems",
        {"customer": customer["id"], "amount": "1500", "currency": "usd", "description": "Setup"},
    )
    draft = world.create(
        "invoices", {"customer": customer["id"], "pending_invoice_items_behavior": "include"}
    )
    assert draft["status"] == "draft" and draft["total"] == 1_500
    item = world.create(
        "invoiceitems",
        {
            "customer": customer["id"],
            "invoice": draft["id"],
            "price": price(world, "Pro monthly")["id"],
        },
    )
    assert item["invoice"] == draft["id"]
    finalized = world.action("invoices", draft["id"], "finalize", {})
    assert finalized["status"] == "open" and finalized["number"] and finalized["total"] == 6_400
    paid = world.action("invoices", draft["id"], "pay", {})
    assert paid["status"] == "paid" and paid["amount_paid"] == 6_400
    updated = world.update("invoices", draft["id"], {"metadata": {"order": "42"}})
    assert updated["metadata"] == {"order": "42"}
    other = world.create("invoices", {"customer": customer["id"]})
    assert world.delete("invoices", other["id"])["deleted"] is True
    voidable = world.create("invoices", {"customer": customer["id"]})
    world.action("invoices", voidable["id"], "finalize", {})
    assert world.action("invoices", voidable["id"], "void", {})["status"] == "void"
    with pytest.raises(SandboxError):
        world.action("invoices", draft["id"], "void", {})
    assert {
        "invoice.finalized",
        "invoice.paid",
        "invoice.updated",
        "invoice.voided",
        "invoice.deleted",
        "invoiceitem.created",
    } <= set(recorder.types())


def test_catalog_writes_and_deletes(world: World, recorder: Recorder) -> None:
    product = world.create("products", {"name": "Widget"})
    created = world.create(
        "prices",
        {
            "product": product["id"],
            "currency": "jpy",
            "unit_amount": "500",
            "recurring": {"interval": "week"},
        },
    )
    assert created["recurring"]["interval"] == "week" and created["unit_amount"] == 500
    coupon = world.create(
        "coupons", {"percent_off": "12.5", "duration": "repeating", "duration_in_months": "2"}
    )
    world.update("coupons", coupon["id"], {"name": "Twelve and a half"})
    world.update("products", product["id"], {"description": "A widget"})
    world.update("prices", created["id"], {"nickname": "weekly widget"})
    for resource, obj in (("coupons", coupon), ("prices", created), ("products", product)):
        stub = world.delete(resource, obj["id"])
        assert stub["deleted"] is True and world.store.get(obj["id"]) == stub
    assert {
        "product.created",
        "price.created",
        "coupon.created",
        "coupon.updated",
        "product.updated",
        "price.updated",
        "coupon.deleted",
        "price.deleted",
        "product.deleted",
        "plan.created",  # the recurring price, announced as a plan too
        "plan.updated",
        "plan.deleted",
    } <= set(recorder.types())


def test_coupon_discounts_the_renewal(world: World) -> None:
    customer = world.create("customers", {"email": "d@example.com"})
    coupon = world.create(
        "coupons", {"percent_off": "50", "duration": "repeating", "duration_in_months": "3"}
    )
    subscription = world.create(
        "subscriptions",
        {
            "customer": customer["id"],
            "items": [{"price": price(world, "Pro monthly")["id"]}],
            "discounts": [{"coupon": coupon["id"]}],
        },
    )
    invoice = world.store.get(subscription["latest_invoice"])
    assert invoice is not None and invoice["total"] == 2_450
    assert invoice["total_discount_amounts"][0]["discount"] == subscription["discounts"][0]
    assert invoice["lines"]["data"][0]["discount_amounts"] == invoice["total_discount_amounts"]
    expanded = world.expand(
        dict(invoice), ["discounts", "lines.data.discounts", "customer"], world.account_id
    )
    assert expanded["discounts"][0]["object"] == "discount"
    assert expanded["discounts"][0]["source"]["coupon"] == coupon["id"]
    assert expanded["customer"]["email"] == "d@example.com"


def test_webhook_endpoint_secret_is_shown_once(world: World) -> None:
    endpoint = world.create(
        "webhook_endpoints",
        {"url": "http://127.0.0.1:9/hook", "enabled_events": ["invoice.paid", "charge.succeeded"]},
    )
    assert endpoint["secret"].startswith("whsec_")
    assert world.webhook_secret(endpoint["id"]) == endpoint["secret"]
    stored = world.store.get(endpoint["id"])
    assert stored is not None and "secret" not in stored
    _, _subscription = subscribe(world)
    event = world.store.list_page(
        world.account_id, "event", limit=1, statuses=["invoice.paid"]
    ).bodies[0]
    assert b'"pending_webhooks":1' in event
    updated = world.update(
        "webhook_endpoints", endpoint["id"], {"disabled": "true", "enabled_events": ["*"]}
    )
    assert updated["status"] == "disabled" and updated["enabled_events"] == ["*"]
    assert world.delete("webhook_endpoints", endpoint["id"])["deleted"] is True


def test_events_older_than_30_days_are_dropped(world: World) -> None:
    subscribe(world)
    first = world.store.list_page(world.account_id, "event", limit=100).bodies
    assert first
    world.advance(40 * DAY)
    oldest = world.now - 30 * DAY
    assert all(event["created"] >= oldest for event in world.store.iter_objects("event"))
    assert world.store.count("event") > 0


def test_connected_account_changes_carry_the_account(world: World, recorder: Recorder) -> None:
    account = world.connected_account_ids[0]
    customer = world.create("customers", {"email": "c@example.com"}, account=account)
    assert world.store.get_body(customer["id"], account) is not None
    assert world.store.get_body(customer["id"], world.account_id) is None
    event, delivered_to = recorder.calls[-1]
    assert delivered_to == account and event["account"] == account


def test_once_coupon_discounts_only_the_first_invoice(world: World) -> None:
    customer = world.create("customers", {"email": "once@example.com"})
    coupon = world.create("coupons", {"amount_off": "1000", "currency": "usd", "duration": "once"})
    subscription = world.create(
        "subscriptions",
        {
            "customer": customer["id"],
            "items": [{"price": price(world, "Pro monthly")["id"]}],
            "coupon": coupon["id"],
        },
    )
    first = world.store.get(subscription["latest_invoice"])
    assert first is not None and first["total"] == 3_900 and first["amount_paid"] == 3_900
    assert world.store.get(subscription["id"])["discounts"] == []  # type: ignore[index]
    world.advance(32 * DAY)
    renewed = world.store.get(subscription["id"])
    assert renewed is not None
    second = world.store.get(renewed["latest_invoice"])
    assert second is not None and second["id"] != first["id"]
    assert second["total"] == 4_900 and second["total_discount_amounts"] == []


def test_a_failed_change_leaves_nothing_behind(world: World, recorder: Recorder) -> None:
    _, subscription = subscribe(world)
    world.advance(10 * DAY)
    recorder.calls.clear()
    before = world.store.count()
    item = subscription["items"]["data"][0]
    with pytest.raises(SandboxError) as raised:
        world.update(
            "subscriptions",
            subscription["id"],
            {
                "items": [
                    {"id": item["id"], "price": price(world, "Business monthly")["id"]},
                    {"id": "si_missing", "quantity": "2"},
                ]
            },
        )
    assert raised.value.status == 404
    assert world.store.count() == before  # the first item's prorations were rolled back
    assert recorder.calls == []  # and their events never went out
    unchanged = world.store.get(subscription["id"])
    assert unchanged is not None
    assert unchanged["items"]["data"][0]["price"]["id"] == item["price"]["id"]


def test_balance_transactions_become_available(world: World) -> None:
    _, subscription = subscribe(world)
    charge = world.store.get(world.store.ids("charge", parent=subscription["latest_invoice"])[0])
    assert charge is not None
    txn = world.store.get(charge["balance_transaction"])
    assert txn is not None and txn["status"] == "pending" and txn["available_on"] > world.now
    world.advance(10 * DAY)
    txn = world.store.get(charge["balance_transaction"])
    assert txn is not None and txn["status"] == "available"


# -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --


def test_a_promotion_code_applies_its_coupon_and_is_named_by_the_discount(
    world: World, recorder: Recorder
) -> None:
    customer = world.create("customers", {"email": "promo@example.com"})
    coupon = world.create("coupons", {"percent_off": "50", "duration": "forever"})
    code = world.create("promotion_codes", {"promotion": {"coupon": coupon["id"]}, "code": "HALF"})
    assert (code["code"], code["promotion"]["coupon"], code["active"]) == (
        "HALF",
        coupon["id"],
        True,
    )
    subscription = world.create(
        "subscriptions",
        {
            "customer": customer["id"],
            "items": [{"price": price(world, "Pro monthly")["id"]}],
            "discounts": [{"promotion_code": code["id"]}],
        },
    )
    discount = world.store.get(subscription["discounts"][0])
    assert discount is not None
    assert (discount["promotion_code"], discount["source"]["coupon"]) == (code["id"], coupon["id"])
    invoice = world.store.get(subscription["latest_invoice"])
    assert invoice is not None and invoice["total"] == 2_450
    world.update("promotion_codes", code["id"], {"active": "false"})
    with pytest.raises(SandboxError) as raised:
        world.create(
            "subscriptions",
            {
                "customer": customer["id"],
                "items": [{"price": price(world, "Pro monthly")["id"]}],
                "discounts": [{"promotion_code": code["id"]}],
            },
        )
    assert raised.value.status == 400
    rate = world.create(
        "tax_rates",
        {"display_name": "GST", "percentage": "5", "inclusive": "true", "country": "ca"},
    )
    assert (rate["country"], rate["inclusive"], rate["percentage"]) == ("CA", True, 5.0)
    world.update("tax_rates", rate["id"], {"active": "false"})
    assert {
        "promotion_code.created",
        "promotion_code.updated",
        "tax_rate.created",
        "tax_rate.updated",
    } <= set(recorder.types())


def test_a_schedule_from_a_subscription_releases_or_cancels_it(
    world: World, recorder: Recorder
) -> None:
    customer = world.create("customers", {"email": "sched@example.com"})
    items = [{"price": price(world, "Pro monthly")["id"]}]
    first = world.create("subscriptions", {"customer": customer["id"], "items": items})
    schedule = world.create("subscription_schedules", {"from_subscription": first["id"]})
    assert (schedule["status"], schedule["subscription"], schedule["end_behavior"]) == (
        "active",
        first["id"],
        "release",
    )
    assert schedule["phases"][0]["items"][0]["price"] == items[0]["price"]
    assert world.store.get(first["id"])["schedule"] == schedule["id"]
    with pytest.raises(SandboxError):  # one schedule per subscription
        world.create("subscription_schedules", {"from_subscription": first["id"]})
    released = world.action("subscription_schedules", schedule["id"], "release", {})
    assert (released["status"], released["released_subscription"]) == ("released", first["id"])
    assert world.store.get(first["id"])["schedule"] is None
    assert world.store.get(first["id"])["status"] == "active"

    second = world.create("subscriptions", {"customer": customer["id"], "items": items})
    other = world.create("subscription_schedules", {"from_subscription": second["id"]})
    canceled = world.action("subscription_schedules", other["id"], "cancel", {})
    assert canceled["status"] == "canceled" and canceled["canceled_at"] == world.now
    assert world.store.get(second["id"])["status"] == "canceled"  # Stripe ends both
    assert {
        "subscription_schedule.created",
        "subscription_schedule.released",
        "subscription_schedule.canceled",
    } <= set(recorder.types())

    third = world.create("subscriptions", {"customer": customer["id"], "items": items})
    booked = world.create("subscription_schedules", {"from_subscription": third["id"]})
    world.advance(32 * 86_400)  # past the period: the last phase ended, the renewal released it
    ended = world.store.get(booked["id"])
    assert ended is not None and ended["status"] == "released"
    assert ended["released_at"] == booked["phases"][-1]["end_date"]
    assert world.store.get(third["id"])["status"] == "active"


def test_an_open_checkout_session_expires_when_the_clock_reaches_it(
    world: World, recorder: Recorder
) -> None:
    customer = world.create("customers", {"email": "cart@example.com"})
    params = {
        "mode": "subscription",
        "customer": customer["id"],
        "line_items": {"0": {"price": price(world, "Pro monthly")["id"], "quantity": "1"}},
    }
    lapsing = world.create("checkout/sessions", params)
    expired = world.create("checkout/sessions", params)
    assert (lapsing["status"], lapsing["expires_at"]) == ("open", NOW + DAY)
    assert lapsing["amount_total"] == 4_900 and lapsing["url"]
    world.action("checkout/sessions", expired["id"], "expire", {})
    with pytest.raises(SandboxError) as raised:
        world.action("checkout/sessions", expired["id"], "expire", {})
    assert raised.value.status == 400
    world.advance(DAY - 1)
    assert world.store.get(lapsing["id"])["status"] == "open"
    world.advance(1)
    assert world.store.get(lapsing["id"])["status"] == "expired"
    # Stripe sends no event when a session opens; one each when it expires.
    assert recorder.types({lapsing["id"], expired["id"]}) == ["checkout.session.expired"] * 2


def test_payment_intents_decline_and_cancel(world: World, recorder: Recorder) -> None:
    card = world.create("customers", {"email": "card@example.com"})
    declining = world.create("customers", {"email": "fail@example.com"})
    world.update(
        "customers",
        declining["id"],
        {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}},
    )
    params = {"amount": "2500", "currency": "usd", "confirm": "true"}
    paid = world.create("payment_intents", {**params, "customer": card["id"]})
    failed = world.create("payment_intents", {**params, "customer": declining["id"]})
    assert (paid["status"], paid["amount_received"]) == ("succeeded", 2_500)
    assert world.store.get(paid["latest_charge"])["status"] == "succeeded"
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "card_declined"
    charge = world.store.get(failed["latest_charge"])
    assert (charge["status"], charge["payment_intent"]) == ("failed", failed["id"])
    canceled = world.action("payment_intents", failed["id"], "cancel", {})
    assert (canceled["status"], canceled["canceled_at"]) == ("canceled", NOW)
    with pytest.raises(SandboxError):
        world.action("payment_intents", paid["id"], "cancel", {})
    assert recorder.types({paid["id"]}) == ["payment_intent.created", "payment_intent.succeeded"]
    assert recorder.types({failed["id"]}) == [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ]
