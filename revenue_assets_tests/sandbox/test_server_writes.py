"""POST and DELETE through the SDK: the World changes and emits Stripe's events, listable at
/v1/events. Each test gets a fresh sandbox (a copy of the cached small company)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from revenue_assets.sandbox.runner import Sandbox


def event_types_since(client: Any, created_gte: int) -> list[str]:
    events = client.v1.events.list({"limit": 100, "created": {"gte": created_gte}})
    return [e.type for e in events.auto_paging_iter()]


def a_recurring_price(sandbox: Sandbox) -> str:
    prices = sandbox.world.store.iter_objects("price", sandbox.account_id, include_deleted=False)
    return next(
        p["id"] for p in prices if p.get("recurring") and p.get("active") and p["currency"] == "usd"
    )


def test_customer_create_update_delete(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = client.v1.customers.create(
        {
            "email": "ada@example.com",
            "name": "Ada",
            "metadata": {"posthog_person_distinct_id": "p1"},
        }
    )
    assert customer.id.startswith("cus_") and customer.email == "ada@example.com"
    assert customer.metadata["posthog_person_distinct_id"] == "p1"
    assert client.v1.customers.list({"limit": 1}).data[0].id == customer.id

    updated = client.v1.customers.update(customer.id, {"name": "Ada Lovelace"})
    assert updated.name == "Ada Lovelace"
    assert client.v1.customers.retrieve(customer.id).name == "Ada Lovelace"

    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).to_dict() == {
        "id": customer.id,
        "object": "customer",
        "deleted": True,
    }
    listed = {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()}
    assert customer.id not in listed

    types = event_types_since(client, now)
    for expected in ("customer.created", "customer.updated", "customer.deleted"):
        assert expected in types
    created_event = client.v1.events.list({"type": "customer.created", "limit": 1}).data[0]
    assert created_event.data.object.id == customer.id


def test_subscription_create_and_cancel(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = client.v1.customers.create({"email": "sub@example.com"})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": a_recurring_price(sandbox), "quantity": 2}]}
    )
    assert subscription.status in ("active", "trialing", "incomplete")
    assert subscription.items.data[0].quantity == 2
    items = client.v1.subscription_items.list({"subscription": subscription.id})
    assert [i.id for i in items.data] == [i.id for i in subscription.items.data]

    canceled = client.v1.subscriptions.cancel(subscription.id)
    assert canceled.status == "canceled"
    default = {s.id for s in client.v1.subscriptions.list({"customer": customer.id}).data}
    everything = {
        s.id for s in client.v1.subscriptions.list({"customer": customer.id, "status": "all"}).data
    }
    assert subscription.id not in default and subscription.id in everything

    types = event_types_since(client, now)
    assert "customer.subscription.created" in types
    assert "customer.subscription.deleted" in types


def test_refund_a_charge(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    charges = sandbox.world.store.iter_objects("charge", sandbox.account_id)
    charge = next(
        c
        for c in charges
        if c["status"] == "succeeded" and not c["refunded"] and not c.get("disputed")
    )
    refund = client.v1.refunds.create({"charge": charge["id"], "amount": 1})
    assert refund.charge == charge["id"] and refund.amount == 1
    listed = [r.id for r in client.v1.refunds.list({"charge": charge["id"]}).data]
    assert listed[0] == refund.id
    assert client.v1.charges.retrieve(charge["id"]).amount_refunded >= 1
    assert "charge.refunded" in event_types_since(client, now)


def test_write_errors_have_stripes_shape(sandbox: Sandbox) -> None:
    client = sandbox.client()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.update("cus_doesnotexist", {"name": "x"})
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.create({"customer": "cus_doesnotexist", "items": []})
    assert raised.value.http_status in (400, 404)


def test_idempotency_key_replays_the_first_answer(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url}/v1/customers"
    headers = {"Idempotency-Key": "create-ada-once"}
    auth = (sandbox.secret_key, "")
    first = requests.post(
        url, data={"email": "once@example.com"}, headers=headers, auth=auth, timeout=5
    )
    again = requests.post(
        url, data={"email": "once@example.com"}, headers=headers, auth=auth, timeout=5
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = requests.post(
        url, data={"email": "twice@example.com"}, headers=headers, auth=auth, timeout=5
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"


def test_clock_route_advances_the_world_and_produces_events(sandbox: Sandbox) -> None:
    before = sandbox.world.now
    response = requests.post(
        f"{sandbox.base_url}/_sandbox/clock",
        json={"seconds": 40 * 86_400},
        auth=(sandbox.secret_key, ""),
        timeout=120,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["now"] == before + 40 * 86_400 and body["events"] > 0
    client = sandbox.client()
    assert client.v1.events.list({"created": {"gt": before}, "limit": 1}).data
    restricted = requests.post(
        f"{sandbox.base_url}/_sandbox/clock",
        json={"seconds": 1},
        auth=(sandbox.read_key, ""),
        timeout=5,
    )
    assert restricted.status_code == 403


def test_writes_on_a_connected_account_stay_there(sandbox: Sandbox) -> None:
    connected = sandbox.connected_account_ids[0]
    client = sandbox.client(stripe_account=connected)
    customer = client.v1.customers.create({"email": "partner@example.com"})
    assert client.v1.customers.retrieve(customer.id).id == customer.id
    with pytest.raises(stripe.InvalidRequestError):
        sandbox.client().v1.customers.retrieve(customer.id)


def test_oversized_body_is_refused_in_stripes_shape(sandbox: Sandbox) -> None:
    response = requests.post(
        f"{sandbox.base_url}/v1/customers",
        data={"description": "x" * (2 << 20)},
        auth=(sandbox.secret_key, ""),
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_declined_renewal_leaves_the_invoice_open_and_the_subscription_past_due(
    sandbox: Sandbox,
) -> None:
    """Stripe's `pm_card_chargeCustomerFail` test card attaches, then every charge fails: the
    renewal invoice stays open with a failed charge, the subscription goes past_due, paying it
    through the API answers 402 card_declined, and it can be written off (uncollectible)."""
    client = sandbox.client()
    customer = client.v1.customers.create({"email": "late@example.com"})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": a_recurring_price(sandbox)}]}
    )
    assert subscription.status == "active"
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}}
    )
    before = sandbox.world.now
    sandbox.world.advance(40 * 86_400)
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.status == "past_due"
    invoice = client.v1.invoices.retrieve(renewed.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.status_transitions.finalized_at is not None
    assert invoice.status_transitions.paid_at is None
    failed = [c for c in client.v1.charges.list({"customer": customer.id}).data if not c.paid]
    assert failed and failed[0].status == "failed" and failed[0].failure_code == "card_declined"
    assert failed[0].balance_transaction is None
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id)
    assert declined.value.code == "card_declined"
    written_off = client.v1.invoices.mark_uncollectible(invoice.id)
    assert written_off.status == "uncollectible"
    assert written_off.status_transitions.marked_uncollectible_at >= invoice.created
    types = event_types_since(client, before)
    for expected in ("charge.failed", "invoice.payment_failed", "invoice.marked_uncollectible"):
        assert expected in types
