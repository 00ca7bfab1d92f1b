"""What Stripe keeps under a customer, through the official SDK over HTTP: balance transactions,
tax ids, payment methods, and the setup attempts behind saved cards. Each list is nested under
its parent, pages newest first, takes Stripe's filters, emits Stripe's events and asks for
Stripe's restricted-key permission; the generated company holds every case a sync meets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from revenue_assets.sandbox.runner import Sandbox
from revenue_assets_tests.sandbox.sdk_types import Checker


def objects(sandbox: Sandbox, kind: str) -> list[dict[str, Any]]:
    return list(sandbox.world.store.iter_objects(kind, sandbox.account_id, include_deleted=True))


def events_since(client: Any, created_gte: int) -> list[Any]:
    found = client.v1.events.list({"limit": 100, "created": {"gte": created_gte}})
    return list(found.auto_paging_iter())


def valid(obj: Any) -> bool:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    found = Checker().check(json.loads(json.dumps(data)))
    assert [str(v) for v in found] == []
    return True


def new_customer(client: Any, **params: Any) -> Any:
    return client.v1.customers.create({"email": "nest@example.com", "name": "Ada Nest", **params})


def raw_error(client: Any, method: str, path: str, **params: Any) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as caught:
        client.raw_request(method, path, **params)
    return caught.value


# -- customer balance transactions -------------------------------------------------------------


def test_balance_adjustments_move_the_balance_and_list_newest_first(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = new_customer(client)
    txns = client.v1.customers.balance_transactions
    credit = txns.create(
        customer.id,
        {"amount": -2_500, "currency": "usd", "description": "Goodwill", "metadata": {"k": "v"}},
    )
    assert credit.object == "customer_balance_transaction" and credit.type == "adjustment"
    assert (credit.amount, credit.ending_balance, credit.customer) == (-2_500, -2_500, customer.id)
    assert credit.description == "Goodwill" and credit.metadata["k"] == "v" and valid(credit)
    sandbox.advance(10)
    debit = txns.create(customer.id, {"amount": 1_000, "currency": "usd"})
    assert debit.ending_balance == -1_500
    assert client.v1.customers.retrieve(customer.id).balance == -1_500

    listed = txns.list(customer.id)
    assert [t.id for t in listed.data] == [debit.id, credit.id] and not listed.has_more
    assert listed.url == f"/v1/customers/{customer.id}/balance_transactions"
    assert txns.retrieve(customer.id, credit.id).amount == -2_500
    first = txns.list(customer.id, {"limit": 1})
    assert [t.id for t in first.data] == [debit.id] and first.has_more
    after = txns.list(customer.id, {"limit": 1, "starting_after": debit.id})
    assert [t.id for t in after.data] == [credit.id] and not after.has_more
    assert [t.id for t in txns.list(customer.id, {"created": {"lt": debit.created}}).data] == [
        credit.id
    ]
    updated = txns.update(customer.id, credit.id, {"description": "Goodwill credit"})
    assert updated.description == "Goodwill credit" and updated.metadata["k"] == "v"

    changes = [
        e.data.previous_attributes.to_dict()
        for e in events_since(client, now)
        if e.type == "customer.updated" and e.data.object.id == customer.id
    ]
    assert {"balance": -2_500} in changes and any(c.get("balance") == 0 for c in changes)


def test_balance_transaction_errors(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = new_customer(client)
    other = new_customer(client)
    txns = client.v1.customers.balance_transactions
    with pytest.raises(stripe.InvalidRequestError) as caught:
        txns.create(customer.id, {"currency": "usd"})  # type: ignore[typeddict-item]
    assert caught.value.code == "parameter_missing" and caught.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        txns.list("cus_missing")
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"
    mine = txns.create(customer.id, {"amount": -100, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        txns.retrieve(other.id, mine.id)  # another customer's transaction
    assert caught.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as caught:
        txns.list(customer.id, {"type": "adjustment"})  # type: ignore[typeddict-unknown-key]
    assert caught.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError):
        txns.create(customer.id, {"amount": -100, "currency": "eur"})  # not its currency
    error = raw_error(
        client, "delete", f"/v1/customers/{customer.id}/balance_transactions/{mine.id}"
    )
    assert error.http_status == 404


def test_invoices_spending_credit_book_it_so_the_balance_is_the_sum(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = new_customer(client)
    txns = client.v1.customers.balance_transactions
    txns.create(customer.id, {"amount": -3_000, "currency": "usd"})
    client.v1.invoice_items.create({"customer": customer.id, "amount": 1_200, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    assert (invoice.starting_balance, invoice.ending_balance, invoice.amount_due) == (
        -3_000,
        -1_800,
        0,
    )
    applied = txns.list(customer.id, {"invoice": invoice.id}).data
    assert [(t.type, t.amount, t.ending_balance) for t in applied] == [
        ("applied_to_invoice", 1_200, -1_800)
    ]
    client.v1.invoices.void_invoice(invoice.id)
    latest = txns.list(customer.id, {"limit": 1}).data[0]
    assert (latest.type, latest.amount, latest.invoice) == (
        "unapplied_from_invoice",
        -1_200,
        invoice.id,
    )
    every = list(txns.list(customer.id).auto_paging_iter())
    balance = client.v1.customers.retrieve(customer.id).balance
    assert balance == sum(t.amount for t in every) == every[0].ending_balance == -3_000


# -- setup attempts -----------------------------------------------------------------------------


def test_each_setup_confirmation_is_an_attempt(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = new_customer(client, payment_method="")
    intent = client.v1.setup_intents.create({"customer": customer.id})
    declined = client.v1.setup_intents.confirm(
        intent.id, {"payment_method": "pm_card_chargeCustomerFail"}
    )
    saved = client.v1.setup_intents.confirm(
        intent.id, {"payment_method": f"pm_{customer.id[4:]}Card"}
    )
    assert saved.status == "succeeded"
    attempts = client.v1.setup_attempts.list({"setup_intent": intent.id})
    assert len(attempts.data) == 2 and all(valid(a) for a in attempts.data)
    newest, oldest = attempts.data
    assert saved.latest_attempt == newest.id != declined.latest_attempt == oldest.id
    assert (newest.status, newest.setup_error) == ("succeeded", None)
    assert newest.payment_method == f"pm_{customer.id[4:]}Card"
    # The sandbox declines this test card at confirmation.
    assert oldest.status == "failed" and oldest.setup_error.code == "card_declined"
    assert oldest.setup_intent == intent.id and oldest.customer == customer.id
    later = client.v1.setup_attempts.list(
        {"setup_intent": intent.id, "created": {"gt": oldest.created - 1}, "limit": 1}
    )
    assert [a.id for a in later.data] == [newest.id] and later.has_more
    # The saved card is now a payment method of the customer.
    methods = client.v1.customers.payment_methods.list(customer.id)
    assert [m.id for m in methods.data] == [newest.payment_method]


def test_setup_attempts_need_their_setup_intent(stripe_client: Any) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.setup_attempts.list({})  # type: ignore[typeddict-item]
    assert caught.value.http_status == 400 and caught.value.param == "setup_intent"
    assert "setup_intent" in str(caught.value.user_message)
    error = raw_error(stripe_client, "get", "/v1/setup_attempts/setatt_1")
    assert error.http_status == 404  # Stripe only lists them


# -- tax ids -----------------------------------------------------------------------------------


def test_tax_ids_are_created_verified_listed_and_deleted(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    customer = new_customer(client)
    tax_ids = client.v1.customers.tax_ids
    vat = tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
    assert (vat.object, vat.customer, vat.country, vat.value) == (
        "tax_id",
        customer.id,
        "DE",
        "DE123456789",
    )
    assert vat.owner.type == "customer" and vat.owner.customer == customer.id
    assert vat.verification.status == "pending" and valid(vat)
    sandbox.advance(5)
    ein = tax_ids.create(customer.id, {"type": "us_ein", "value": "12-3456789"})
    assert ein.verification.status == "unavailable"  # Stripe checks no registry for these
    assert [t.id for t in tax_ids.list(customer.id).data] == [ein.id, vat.id]
    assert [
        t.id for t in tax_ids.list(customer.id, {"limit": 1, "starting_after": ein.id}).data
    ] == [vat.id]
    sandbox.advance(120)
    assert tax_ids.retrieve(customer.id, vat.id).verification.status == "verified"

    expanded = client.v1.customers.retrieve(customer.id, {"expand": ["tax_ids"]})
    assert expanded.tax_ids.object == "list" and expanded.tax_ids.total_count == 2
    assert [t.id for t in expanded.tax_ids.data] == [ein.id, vat.id]
    assert expanded.tax_ids.url == f"/v1/customers/{customer.id}/tax_ids" and valid(expanded)
    assert "tax_ids" not in client.v1.customers.retrieve(customer.id)

    deleted = tax_ids.delete(customer.id, vat.id)
    assert deleted.to_dict() == {"id": vat.id, "object": "tax_id", "deleted": True}
    assert [t.id for t in tax_ids.list(customer.id).data] == [ein.id]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        tax_ids.retrieve(customer.id, vat.id)
    assert caught.value.http_status == 404

    types = [
        e.type for e in events_since(client, now) if e.data.object.to_dict().get("id") == vat.id
    ]
    assert sorted(types) == [
        "customer.tax_id.created",
        "customer.tax_id.deleted",
        "customer.tax_id.updated",
    ]


def test_tax_id_errors(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = new_customer(client)
    tax_ids = client.v1.customers.tax_ids
    with pytest.raises(stripe.InvalidRequestError) as caught:
        tax_ids.create(customer.id, {"type": "eu_vat", "value": "ZZ1"})
    assert caught.value.code == "tax_id_invalid"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        tax_ids.create(customer.id, {"type": "xx_nope", "value": "1"})  # type: ignore[typeddict-item]
    assert caught.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        tax_ids.list(customer.id, {"created": {"gt": 1}})  # type: ignore[typeddict-unknown-key]
    assert caught.value.code == "parameter_unknown"
    error = raw_error(client, "post", f"/v1/customers/{customer.id}/tax_ids/txi_1")
    assert error.http_status == 404  # tax ids are not updated


def test_customers_list_expands_their_tax_ids(stripe_client: Any) -> None:
    page = stripe_client.v1.customers.list({"limit": 100, "expand": ["data.tax_ids"]})
    assert all(c.tax_ids.object == "list" for c in page.data)
    assert any(c.tax_ids.data for c in page.data)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.list({"expand": ["data.sources"]})  # still not built


# -- payment methods ---------------------------------------------------------------------------


def test_a_customers_card_is_a_payment_method(sandbox: Sandbox) -> None:
    client = sandbox.client()
    customer = new_customer(client)
    method_id = customer.invoice_settings.default_payment_method
    method = client.v1.payment_methods.retrieve(method_id)
    assert (method.object, method.type, method.customer) == ("payment_method", "card", customer.id)
    assert method.card.last4 and method.card.brand and method.card.exp_year > 2000
    assert method.billing_details.email == "nest@example.com" and valid(method)
    listed = client.v1.customers.payment_methods.list(customer.id)
    assert [m.id for m in listed.data] == [method_id]
    assert client.v1.customers.payment_methods.retrieve(customer.id, method_id).id == method_id
    assert [
        m.id for m in client.v1.customers.payment_methods.list(customer.id, {"type": "card"}).data
    ] == [method_id]
    assert client.v1.customers.payment_methods.list(customer.id, {"type": "sepa_debit"}).data == []
    assert (
        client.v1.customers.payment_methods.list(customer.id, {"allow_redisplay": "always"}).data
        == []
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.payment_methods.list(customer.id, {"allow_redisplay": "sometimes"})  # type: ignore[typeddict-item]
    # The charges of the customer show the same card.
    charge = client.v1.charges.create({"customer": customer.id, "amount": 500, "currency": "usd"})
    card = charge.payment_method_details.card
    assert (card.last4, card.brand) == (method.card.last4, method.card.brand)


def test_attach_detach_and_update_a_payment_method(sandbox: Sandbox) -> None:
    client = sandbox.client()
    now = sandbox.world.now
    first = new_customer(client)
    second = new_customer(client, payment_method="")
    method_id = first.invoice_settings.default_payment_method
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.attach(method_id, {"customer": second.id})  # already attached
    detached = client.v1.payment_methods.detach(method_id)
    assert detached.customer is None
    assert client.v1.customers.payment_methods.list(first.id).data == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.payment_methods.retrieve(first.id, method_id)
    assert caught.value.http_status == 404
    assert client.v1.payment_methods.retrieve(method_id).customer is None  # still retrievable
    # It was the customer's default: it is not any more.
    assert client.v1.customers.retrieve(first.id).invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_methods.detach(method_id)  # not attached

    attached = client.v1.payment_methods.attach(method_id, {"customer": second.id})
    assert attached.customer == second.id
    assert [m.id for m in client.v1.customers.payment_methods.list(second.id).data] == [method_id]
    updated = client.v1.payment_methods.update(
        method_id, {"billing_details": {"name": "Grace"}, "metadata": {"k": "v"}}
    )
    assert updated.billing_details.name == "Grace" and updated.metadata["k"] == "v"

    mine = [e for e in events_since(client, now) if e.data.object.to_dict().get("id") == method_id]
    assert sorted(e.type for e in mine) == [
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
    ]
    [gone] = [e for e in mine if e.type == "payment_method.detached"]
    assert gone.data.previous_attributes.customer == first.id
    listed = client.v1.payment_methods.list({"customer": second.id})
    assert [m.id for m in listed.data] == [method_id]


# -- restricted keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "permission"),
    [
        ("/v1/customers/{customer}/balance_transactions", "rak_customer_read"),
        ("/v1/customers/{customer}/tax_ids", "rak_tax_id_read"),
        ("/v1/customers/{customer}/payment_methods", "rak_payment_method_read"),
        ("/v1/payment_methods/{method}", "rak_payment_method_read"),
        ("/v1/setup_attempts?setup_intent=seti_1", "rak_setup_intent_read"),
    ],
)
def test_restricted_keys_need_stripes_permission(
    sandbox_session: Sandbox, path: str, permission: str
) -> None:
    customer = next(
        c
        for c in objects(sandbox_session, "customer")
        if not c.get("deleted") and c["invoice_settings"]["default_payment_method"]
    )
    path = path.format(
        customer=customer["id"], method=customer["invoice_settings"]["default_payment_method"]
    )
    url, _, query = path.partition("?")
    params = dict(part.split("=") for part in query.split("&")) if query else {}
    without = sandbox_session.client(sandbox_session.restricted_key(["rak_charge_read"]))
    with pytest.raises(stripe.PermissionError) as caught:
        without.raw_request("get", url, **params)
    assert f"Having the '{permission}' permission would allow" in str(caught.value.user_message)
    allowed = sandbox_session.client(sandbox_session.restricted_key([permission]))
    assert allowed.raw_request("get", url, **params).data
    # The default read key holds every read permission.
    assert sandbox_session.client(sandbox_session.read_key).raw_request("get", url, **params).data


def test_writes_need_the_write_permission(sandbox_session: Sandbox) -> None:
    customer = next(c for c in objects(sandbox_session, "customer") if not c.get("deleted"))
    reader = sandbox_session.client(sandbox_session.read_key)
    with pytest.raises(stripe.PermissionError) as caught:
        reader.v1.customers.tax_ids.create(customer["id"], {"type": "eu_vat", "value": "DE1234"})
    assert "rak_tax_id_write" in str(caught.value.user_message)
    with pytest.raises(stripe.PermissionError) as caught:
        reader.v1.customers.balance_transactions.create(
            customer["id"], {"amount": -1, "currency": "usd"}
        )
    assert "rak_customer_write" in str(caught.value.user_message)


# -- the generated company ---------------------------------------------------------------------


def test_the_generated_company_has_every_case(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    store = sandbox_session.world.store
    txns = objects(sandbox_session, "customer_balance_transaction")
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for txn in txns:
        by_customer.setdefault(txn["customer"], []).append(txn)
    balances = {}
    for customer_id, booked in by_customer.items():
        customer = store.get(customer_id)
        if customer.get("deleted"):
            continue
        balances[customer_id] = customer["balance"]
        assert (
            customer["balance"] == sum(t["amount"] for t in booked) == booked[-1]["ending_balance"]
        )
    assert any(b < 0 for b in balances.values()) and any(b == 0 for b in balances.values())
    assert {"adjustment", "applied_to_invoice"} <= {t["type"] for t in txns}
    spent = next(t for t in txns if t["type"] == "applied_to_invoice" and t["amount"] > 0)
    listed = client.v1.customers.balance_transactions.list(
        spent["customer"], {"invoice": spent["invoice"]}
    )
    assert [t.id for t in listed.data] == [spent["id"]]

    tax_ids = objects(sandbox_session, "tax_id")
    assert {t["type"] for t in tax_ids if not t.get("deleted")} >= {"eu_vat", "gb_vat"}
    assert any(t.get("deleted") for t in tax_ids)
    assert any(t.get("verification", {}).get("status") == "verified" for t in tax_ids)

    methods = objects(sandbox_session, "payment_method")
    for customer in objects(sandbox_session, "customer"):
        card = (customer.get("invoice_settings") or {}).get("default_payment_method")
        if card and not card.startswith("pm_card_"):
            found = store.get(card)
            assert found is not None and found["customer"] == customer["id"]
    owners = [m["customer"] for m in methods if m["customer"]]
    assert any(owners.count(owner) == 2 for owner in owners)  # customers with two cards
    assert any(m["id"].endswith("Card2") and m["customer"] is None for m in methods)  # detached

    attempts = objects(sandbox_session, "setup_attempt")
    assert {"succeeded", "failed"} <= {a["status"] for a in attempts}
    failed = next(a for a in attempts if a["status"] == "failed")
    assert failed["setup_error"]["code"] == "card_declined"
    intent = store.get(failed["setup_intent"])
    newest = client.v1.setup_attempts.list({"setup_intent": intent["id"], "limit": 1}).data[0]
    assert intent["latest_attempt"] == newest.id


def test_objects_made_aside_leave_the_story_stream_as_it_was() -> None:
    """While history is generated, ids of these objects (and of their events) come from a
    stream of their own: the customer's stream, which is also its story's random generator,
    draws the same values as if they did not exist."""
    import random

    from revenue_assets.sandbox.ids import Ids
    from revenue_assets.sandbox.ledger import MemoryLedger

    def ledger() -> MemoryLedger:
        ids = Ids(random.Random("story"))
        return MemoryLedger(
            "acct_1",
            ids,
            {},
            horizon=0,
            platform="acct_1",
            api_version="",
            balance={},
            event_ids=ids,
        )

    plain, busy = ledger(), ledger()
    with busy.aside("cus_1") as side:
        side.new("txi")
        busy.emit("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"})
    assert busy.ids.new("in") == plain.ids.new("in")
