"""Credit balance transactions through the SDK over HTTP: each grant credits its customer's
balance once, a void or an expiry (early, or by the clock) debits what was left, the list is
per customer (required), filtered by grant and paged like every Stripe list, and the generated
company holds credits and debits of both kinds."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from revenue_assets.sandbox.runner import Sandbox

Obj = dict[str, Any]
DAY = 86_400


def _first(sandbox: Sandbox, kind: str, count: int = 1) -> list[Obj]:
    """The first objects of a kind in the store. The store's iterator is closed at once: left
    open, it would hold this thread's read snapshot, blind to the server's later writes."""
    found = sandbox.world.store.iter_objects(kind, sandbox.account_id, False)
    try:
        return [obj for _, obj in zip(range(count), found, strict=False)]
    finally:
        found.close()


def _customer(sandbox: Sandbox) -> str:
    return _first(sandbox, "customer")[0]["id"]


def _grant(client: Any, customer: str, value: int, **extra: Any) -> Any:
    return client.v1.billing.credit_grants.create(
        {
            "customer": customer,
            "category": "promotional",
            "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": value}},
            "applicability_config": {"scope": {"price_type": "metered"}},
            **extra,
        }
    )


def _of_grant(client: Any, customer: str, grant: str) -> list[Any]:
    params = {"customer": customer, "credit_grant": grant}
    return client.v1.billing.credit_balance_transactions.list(params).data


def test_the_list_requires_the_customer_and_refuses_other_filters(
    sandbox_session: Sandbox,
) -> None:
    client = sandbox_session.client()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.credit_balance_transactions.list({})
    error = caught.value.error
    assert (error.code, error.param) == ("parameter_missing", "customer")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.credit_balance_transactions.list({"customer": "cus_x", "type": "debit"})
    assert (caught.value.error.code, caught.value.error.param) == ("parameter_unknown", "type")
    with pytest.raises(stripe.InvalidRequestError) as caught:  # the SDK documents no `created`
        client.v1.billing.credit_balance_transactions.list(
            {"customer": "cus_x", "created": {"gte": 0}}
        )
    assert caught.value.error.param == "created"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.billing.credit_balance_transactions.retrieve("cbtxn_missing")
    assert caught.value.http_status == 404


def test_a_grant_credits_the_balance_and_a_void_debits_what_was_left(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = _customer(sandbox)
    later = now + 5 * DAY
    grant = _grant(client, customer, 7_500, effective_at=later)
    [credit] = _of_grant(client, customer, grant.id)
    assert credit.id.startswith("cbtxn_") and credit.object == "billing.credit_balance_transaction"
    assert (credit.type, credit.credit.type, credit.debit) == ("credit", "credits_granted", None)
    assert credit.credit.amount.monetary.value == 7_500
    assert credit.credit.amount.monetary.currency == "usd"
    assert credit.credit.credits_application_invoice_voided is None
    assert credit.credit_grant == grant.id and credit.test_clock is None
    assert credit.effective_at == later and credit.created == now
    assert credit.livemode is False

    client.v1.billing.credit_grants.void_grant(grant.id)
    debit, again = _of_grant(client, customer, grant.id)  # newest first
    assert again.id == credit.id
    assert (debit.type, debit.debit.type, debit.credit) == ("debit", "credits_voided", None)
    assert debit.debit.amount.monetary.value == 7_500 and debit.debit.credits_applied is None
    assert debit.effective_at == now
    retrieved = client.v1.billing.credit_balance_transactions.retrieve(debit.id)
    assert retrieved.to_dict() == debit.to_dict()
    expanded = client.v1.billing.credit_balance_transactions.retrieve(
        debit.id, {"expand": ["credit_grant"]}
    )
    assert expanded.credit_grant.id == grant.id and expanded.credit_grant.voided_at == now

    # Stripe announces every transaction (an event type of the pinned SDK).
    events = client.v1.events.list({"type": "billing.credit_balance_transaction.created"})
    announced = {e.data.object["id"] for e in events.auto_paging_iter()}
    assert {credit.id, debit.id} <= announced


def test_an_expiry_debits_the_rest_early_or_when_the_clock_passes_it(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = _customer(sandbox)
    early = _grant(client, customer, 3_000)
    client.v1.billing.credit_grants.expire(early.id)
    debit, _ = _of_grant(client, customer, early.id)
    assert (debit.debit.type, debit.debit.amount.monetary.value) == ("credits_expired", 3_000)

    expires_at = sandbox.world.now + 2 * DAY
    lapsing = _grant(client, customer, 4_000, expires_at=expires_at)
    sandbox.advance(DAY)
    assert [t.type for t in _of_grant(client, customer, lapsing.id)] == ["credit"]
    moved = expires_at + DAY  # a new expiry: the clock waits for it
    client.v1.billing.credit_grants.update(lapsing.id, {"expires_at": moved})
    sandbox.advance(DAY + DAY // 2)
    assert [t.type for t in _of_grant(client, customer, lapsing.id)] == ["credit"]
    since = sandbox.world.now
    sandbox.advance(DAY)
    debit, _ = _of_grant(client, customer, lapsing.id)
    assert (debit.debit.type, debit.debit.amount.monetary.value) == ("credits_expired", 4_000)
    assert debit.effective_at == debit.created == moved
    # The grant's object did not change, so Stripe sends no grant event then.
    recent = client.v1.events.list({"created": {"gte": since}, "limit": 100})
    types = [e.type for e in recent.auto_paging_iter()]
    assert "billing.credit_grant.updated" not in types
    assert "billing.credit_balance_transaction.created" in types

    voided = _grant(client, customer, 1_000, expires_at=sandbox.world.now + DAY)
    client.v1.billing.credit_grants.void_grant(voided.id)
    sandbox.advance(2 * DAY)  # already voided: nothing more expires
    assert [t.debit.type for t in _of_grant(client, customer, voided.id)[:1]] == ["credits_voided"]
    assert len(_of_grant(client, customer, voided.id)) == 2


def test_the_list_is_per_customer_newest_first_and_paged(sandbox: Sandbox) -> None:
    client = sandbox.client()
    mine, other = (c["id"] for c in _first(sandbox, "customer", 2))
    grants = [_grant(client, mine, value) for value in (1_000, 2_000, 3_000)]
    client.v1.billing.credit_grants.void_grant(grants[0].id)
    _grant(client, other, 9_000)

    service = client.v1.billing.credit_balance_transactions
    every = [t.id for t in service.list({"customer": mine, "limit": 100}).data]
    stored = {
        t["id"]: t
        for t in sandbox.world.store.iter_objects(
            "billing.credit_balance_transaction", sandbox.account_id
        )
    }
    expected = sorted(
        (t for t in stored.values() if sandbox.world.store.parent_of(t["id"]) == mine),
        key=lambda t: t["created"],
    )
    assert set(every) == {t["id"] for t in expected} and len(every) >= 4
    assert every[0] == _of_grant(client, mine, grants[0].id)[0].id  # the void, made last
    assert [stored[i]["created"] for i in every] == sorted(
        (stored[i]["created"] for i in every), reverse=True
    )
    assert not {stored[i]["credit_grant"] for i in every} & {
        g["id"]
        for g in sandbox.world.store.iter_objects("billing.credit_grant", sandbox.account_id)
        if g["customer"] != mine
    }

    first = service.list({"customer": mine, "limit": 2})
    assert [t.id for t in first.data] == every[:2] and first.has_more
    second = service.list({"customer": mine, "limit": 2, "starting_after": every[1]})
    assert [t.id for t in second.data] == every[2:4]
    back = service.list({"customer": mine, "limit": 2, "ending_before": every[3]})
    assert [t.id for t in back.data] == every[1:3]
    paged = [t.id for t in service.list({"customer": mine, "limit": 1}).auto_paging_iter()]
    assert paged == every
    with pytest.raises(stripe.InvalidRequestError) as caught:
        service.list({"customer": mine, "starting_after": "cbtxn_missing"})
    assert caught.value.http_status == 404

    only = _of_grant(client, mine, grants[1].id)
    assert [t.credit_grant for t in only] == [grants[1].id]
    assert _of_grant(client, other, grants[1].id) == []  # another customer's grant
    assert service.list({"customer": mine, "customer_account": "acct_none"}).data == []


def test_restricted_keys_read_them_with_the_credit_grants_permission(
    sandbox_session: Sandbox,
) -> None:
    [grant] = _first(sandbox_session, "billing.credit_grant")
    params = {"customer": grant["customer"]}
    without = sandbox_session.client(sandbox_session.restricted_key(["rak_charge_read"]))
    with pytest.raises(stripe.PermissionError) as caught:
        without.v1.billing.credit_balance_transactions.list(params)
    assert "Having the 'rak_billing_credit_grant_read' permission" in str(caught.value.user_message)
    allowed = sandbox_session.client(
        sandbox_session.restricted_key(["rak_billing_credit_grant_read"])
    )
    listed = allowed.v1.billing.credit_balance_transactions.list(params).data
    assert listed and allowed.v1.billing.credit_balance_transactions.retrieve(listed[0].id)
    reader = sandbox_session.client(sandbox_session.read_key)
    assert reader.v1.billing.credit_balance_transactions.list(params).data


def test_the_company_grants_have_their_transactions(sandbox_session: Sandbox) -> None:
    store, account = sandbox_session.world.store, sandbox_session.account_id
    grants = {g["id"]: g for g in store.iter_objects("billing.credit_grant", account)}
    transactions = list(store.iter_objects("billing.credit_balance_transaction", account))
    by_grant: dict[str, list[Obj]] = {}
    for txn in transactions:
        by_grant.setdefault(txn["credit_grant"], []).append(txn)
        assert store.parent_of(txn["id"]) == grants[txn["credit_grant"]]["customer"]
    assert set(by_grant) == set(grants)
    for grant_id, grant in grants.items():
        credit, *debits = by_grant[grant_id]
        assert credit["credit"]["type"] == "credits_granted"
        assert credit["credit"]["amount"] == grant["amount"]
        assert credit["effective_at"] == grant["effective_at"]
        assert len(debits) <= 1
        if grant["voided_at"]:
            assert [d["debit"]["type"] for d in debits] == ["credits_voided"]
        elif debits:
            assert debits[0]["debit"]["type"] == "credits_expired"
            assert grant["expires_at"] is not None
    kinds = {t["debit"]["type"] for t in transactions if t["type"] == "debit"}
    assert kinds == {"credits_expired", "credits_voided"}

    client = sandbox_session.client()
    some = next(iter(grants.values()))
    listed = client.v1.billing.credit_balance_transactions.list({"customer": some["customer"]})
    assert {t.credit_grant for t in listed.data} == {
        g["id"] for g in grants.values() if g["customer"] == some["customer"]
    }
