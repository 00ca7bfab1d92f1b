"""Quotes, credit grants and the metered price through the SDK, and what the generated company
holds of them: each write changes the World and emits Stripe's event, an unanswered quote is
canceled when the clock passes its expiry, and the company has a quote of every status and
credit grants scoped to metered prices."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from revenue_assets.sandbox.runner import Sandbox


def event_types_since(client: Any, created_gte: int) -> list[str]:
    events = client.v1.events.list({"limit": 100, "created": {"gte": created_gte}})
    return [e.type for e in events.auto_paging_iter()]


def _usd_prices(sandbox: Sandbox) -> tuple[dict[str, Any], dict[str, Any]]:
    """A recurring USD price (licensed) and a one-time one."""
    prices = list(
        sandbox.world.store.iter_objects("price", sandbox.account_id, include_deleted=False)
    )
    usd = [p for p in prices if p["active"] and p["currency"] == "usd"]
    recurring = next(
        p for p in usd if p["recurring"] and p["recurring"]["usage_type"] == "licensed"
    )
    return recurring, next(p for p in usd if not p["recurring"])


def _customer(sandbox: Sandbox) -> str:
    customers = sandbox.world.store.iter_objects("customer", sandbox.account_id, False)
    return next(c["id"] for c in customers)


def test_a_quote_drafted_sent_and_accepted_or_canceled(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    recurring, one_time = _usd_prices(sandbox)
    quote = client.v1.quotes.create(
        {
            "customer": _customer(sandbox),
            "line_items": [
                {"price": recurring["id"], "quantity": 3},
                {"price": one_time["id"]},
            ],
            "description": "Annual renewal",
        }
    )
    assert quote.status == "draft" and quote.number is None
    upfront = recurring["unit_amount"] * 3 + one_time["unit_amount"]
    assert quote.amount_total == upfront == quote.computed.upfront.amount_total
    assert quote.computed.recurring.amount_total == recurring["unit_amount"] * 3
    assert quote.computed.recurring.interval == recurring["recurring"]["interval"]
    assert quote.expires_at == now + 30 * 86_400

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.quotes.accept(quote.id)  # a draft cannot be accepted: send it first
    sent = client.v1.quotes.finalize_quote(quote.id)
    assert sent.status == "open" and sent.number and sent.status_transitions.finalized_at
    accepted = client.v1.quotes.accept(quote.id)
    assert accepted.status == "accepted" and accepted.status_transitions.accepted_at == now
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.quotes.cancel(quote.id)

    declined = client.v1.quotes.create(
        {"customer": _customer(sandbox), "line_items": [{"price": one_time["id"]}]}
    )
    assert client.v1.quotes.cancel(declined.id).status == "canceled"
    assert declined.computed.recurring is None

    listed = {q.id: q.status for q in client.v1.quotes.list({"status": "accepted"}).data}
    assert listed[quote.id] == "accepted" and declined.id not in listed
    types = event_types_since(client, now)
    for expected in ("quote.created", "quote.finalized", "quote.accepted", "quote.canceled"):
        assert expected in types


def test_an_unanswered_quote_is_canceled_when_it_expires(sandbox: Sandbox) -> None:
    client = sandbox.client()
    _, one_time = _usd_prices(sandbox)
    expires_at = sandbox.world.now + 3 * 86_400
    quote = client.v1.quotes.create(
        {
            "customer": _customer(sandbox),
            "line_items": [{"price": one_time["id"]}],
            "expires_at": expires_at,
        }
    )
    client.v1.quotes.finalize_quote(quote.id)
    sandbox.world.advance(2 * 86_400)
    assert client.v1.quotes.retrieve(quote.id).status == "open"
    sandbox.world.advance(2 * 86_400)
    expired = client.v1.quotes.retrieve(quote.id)
    assert expired.status == "canceled" and expired.status_transitions.canceled_at == expires_at


def test_a_credit_grant_created_updated_expired_and_voided(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = _customer(sandbox)
    params: dict[str, Any] = {
        "customer": customer,
        "category": "paid",
        "name": "Prepaid usage",
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 12_500}},
        "applicability_config": {"scope": {"price_type": "metered"}},
    }
    grant = client.v1.billing.credit_grants.create(params)
    assert grant.id.startswith("credgr_") and grant.customer == customer
    assert grant.amount.monetary.value == 12_500 and grant.amount.monetary.currency == "usd"
    assert grant.applicability_config.scope.price_type == "metered"
    assert grant.effective_at == now and grant.expires_at is None and grant.priority == 50

    later = now + 90 * 86_400
    updated = client.v1.billing.credit_grants.update(grant.id, {"expires_at": later})
    assert updated.expires_at == later
    assert client.v1.billing.credit_grants.expire(grant.id).expires_at == now
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.credit_grants.void_grant(grant.id)  # already over
    other = client.v1.billing.credit_grants.create({**params, "category": "promotional"})
    assert client.v1.billing.credit_grants.void_grant(other.id).voided_at == now

    mine = client.v1.billing.credit_grants.list({"customer": customer}).data
    assert {grant.id, other.id} <= {g.id for g in mine}
    types = event_types_since(client, now)
    assert "billing.credit_grant.created" in types and "billing.credit_grant.updated" in types

    with pytest.raises(stripe.InvalidRequestError):  # credits apply to metered prices only
        client.v1.billing.credit_grants.create({**params, "applicability_config": {}})


def test_a_metered_price_bills_an_existing_meter(sandbox: Sandbox) -> None:
    client = sandbox.client()
    meter = next(iter(client.v1.billing.meters.list({"status": "active"}).data))
    product = client.v1.products.create({"name": "Webhook usage"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    assert price.recurring.usage_type == "metered" and price.recurring.meter == meter.id
    assert client.v1.plans.retrieve(price.id).usage_type == "metered"
    with pytest.raises(stripe.InvalidRequestError):  # a metered price needs its meter
        client.v1.prices.create(
            {
                "product": product.id,
                "currency": "usd",
                "unit_amount": 2,
                "recurring": {"interval": "month", "usage_type": "metered"},
            }
        )


def test_the_company_has_quotes_of_every_status_and_metered_credits(
    sandbox_session: Sandbox,
) -> None:
    world = sandbox_session.world
    account = sandbox_session.account_id
    quotes = list(world.store.iter_objects("quote", account))
    assert {q["status"] for q in quotes} == {"draft", "open", "accepted", "canceled"}
    accepted = next(q for q in quotes if q["status"] == "accepted")
    assert accepted["subscription"], "the accepted quote names the subscription it sold"
    grants = list(world.store.iter_objects("billing.credit_grant", account))
    assert {g["category"] for g in grants} == {"paid", "promotional"}
    assert any(g["voided_at"] for g in grants)
    assert all(g["applicability_config"]["scope"]["price_type"] == "metered" for g in grants)
    meters = {m["id"] for m in world.store.iter_objects("billing.meter", account)}
    metered = [
        p
        for p in world.store.iter_objects("price", account, include_deleted=False)
        if p["recurring"] and p["recurring"]["usage_type"] == "metered"
    ]
    assert metered and all(p["recurring"]["meter"] in meters for p in metered)
    subscribed = {
        item["price"]["id"]
        for s in world.store.iter_objects("subscription", account, include_deleted=False)
        for item in s["items"]["data"]
    }
    assert not subscribed & {p["id"] for p in metered}  # nobody pays for usage yet
