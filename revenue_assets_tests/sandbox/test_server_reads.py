"""Stripe list and retrieve semantics of the sandbox, driven through the official SDK over HTTP.

These tests only read, so they share the session sandbox (the default small company). Expected
answers come from the World's store, never from the server.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import requests
import stripe

from revenue_assets.sandbox.runner import Sandbox

# URL segment -> (SDK service on client.v1, stored object kind, extra list params)
LISTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "charges": ("charges", "charge", {}),
    "customers": ("customers", "customer", {}),
    "invoices": ("invoices", "invoice", {}),
    "invoiceitems": ("invoice_items", "invoiceitem", {}),
    "prices": ("prices", "price", {}),
    "products": ("products", "product", {}),
    "subscriptions": ("subscriptions", "subscription", {"status": "all"}),
    "balance_transactions": ("balance_transactions", "balance_transaction", {}),
    "disputes": ("disputes", "dispute", {}),
    "payouts": ("payouts", "payout", {}),
    "credit_notes": ("credit_notes", "credit_note", {}),
    "refunds": ("refunds", "refund", {}),
    "coupons": ("coupons", "coupon", {}),
    "events": ("events", "event", {}),
    "invoice_payments": ("invoice_payments", "invoice_payment", {}),
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": ("tax_rates", "tax_rate", {}),
    "promotion_codes": ("promotion_codes", "promotion_code", {}),
    "subscription_schedules": ("subscription_schedules", "subscription_schedule", {}),
    "shipping_rates": ("shipping_rates", "shipping_rate", {}),
    # lists without a creation-time filter
    "billing/meters": ("billing.meters", "billing.meter", {}),
    "payment_links": ("payment_links", "payment_link", {}),
    "entitlements/features": ("entitlements.features", "entitlements.feature", {}),
    "quotes": ("quotes", "quote", {}),
    "billing/credit_grants": ("billing.credit_grants", "billing.credit_grant", {}),
}


def stored(sandbox: Sandbox, kind: str, account: str | None = None) -> list[dict[str, Any]]:
    """Live (not deleted) objects of a kind in the store, oldest first."""
    return list(
        sandbox.world.store.iter_objects(kind, account or sandbox.account_id, include_deleted=False)
    )


def newest_first(objects: list[dict[str, Any]]) -> list[str]:
    """Stripe's list order: created descending, insertion order (newest first) within a second."""
    indexed = list(enumerate(objects))
    indexed.sort(key=lambda item: (_created(item[1]), item[0]), reverse=True)
    return [obj["id"] for _, obj in indexed]


def service_of(client: Any, service: str) -> Any:
    """The SDK's service on `client.v1`, namespaced ones by a dotted name (`billing.meters`)."""
    found = client.v1
    for name in service.split("."):
        found = getattr(found, name)
    return found


def page_ids(client: Any, service: str, params: dict[str, Any]) -> list[str]:
    """Every id of a list through the SDK's auto-pagination."""
    return [obj.id for obj in service_of(client, service).list(params).auto_paging_iter()]


def raw_page_ids(client: Any, resource: str, params: dict[str, Any]) -> list[str]:
    """Every id of a list, paged by hand with the SDK's raw requests (no StripeObject
    conversion, which costs far more than the request for big objects such as events)."""
    ids: list[str] = []
    cursor: dict[str, str] = {}
    while True:
        response = client.raw_request("get", f"/v1/{resource}", **params, **cursor)
        page = response.data
        assert page["object"] == "list" and page["url"] == f"/v1/{resource}"
        ids.extend(obj["id"] for obj in page["data"])
        if not page["has_more"]:
            return ids
        cursor = {"starting_after": ids[-1]}


@pytest.mark.parametrize("resource", sorted(LISTS))
def test_every_list_pages_all_live_objects_newest_first(
    sandbox_session: Sandbox, resource: str
) -> None:
    service, kind, extra = LISTS[resource]
    client = sandbox_session.client()
    expected = newest_first(stored(sandbox_session, kind))
    assert raw_page_ids(client, resource, {"limit": 100, **extra}) == expected
    # The SDK's auto-pagination with a small page size: the cursor moves many times.
    pages = service_of(client, service).list({"limit": 3, **extra}).auto_paging_iter()
    assert [obj.id for obj in itertools.islice(pages, 30)] == expected[:30]


def test_created_windows_return_exact_sets(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    charges = stored(sandbox_session, "charge")
    times = sorted({c["created"] for c in charges})
    low, middle, high = times[len(times) // 4], times[len(times) // 2], times[3 * len(times) // 4]
    cases = {
        "gte/lt": ({"gte": low, "lt": high}, lambda t: low <= t < high),
        "gt/lte": ({"gt": low, "lte": high}, lambda t: low < t <= high),
        "gte": ({"gte": middle}, lambda t: t >= middle),
        "lt": ({"lt": middle}, lambda t: t < middle),
    }
    for name, (window, keep) in cases.items():
        got = raw_page_ids(client, "charges", {"limit": 100, "created": window})
        assert got == newest_first([c for c in charges if keep(c["created"])]), name
    exact = page_ids(client, "charges", {"created": middle})
    assert exact == newest_first([c for c in charges if c["created"] == middle])
    assert exact


def test_subscription_status_filters(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    subscriptions = stored(sandbox_session, "subscription")
    canceled = {s["id"] for s in subscriptions if s["status"] == "canceled"}
    assert canceled, "the company should have canceled subscriptions"
    default = set(raw_page_ids(client, "subscriptions", {"limit": 100}))
    everything = set(raw_page_ids(client, "subscriptions", {"limit": 100, "status": "all"}))
    only_canceled = set(raw_page_ids(client, "subscriptions", {"limit": 100, "status": "canceled"}))
    assert everything == {s["id"] for s in subscriptions}
    assert default == everything - canceled
    assert only_canceled == canceled
    active = set(raw_page_ids(client, "subscriptions", {"limit": 100, "status": "active"}))
    assert active == {s["id"] for s in subscriptions if s["status"] == "active"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscriptions.list({"status": "sleeping"})
    assert raised.value.param == "status"


def test_customer_filter(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    invoices = stored(sandbox_session, "invoice")
    customer = max(
        {i["customer"] for i in invoices}, key=lambda c: sum(i["customer"] == c for i in invoices)
    )
    got = page_ids(client, "invoices", {"customer": customer, "limit": 2})
    assert got == newest_first([i for i in invoices if i["customer"] == customer])
    assert len(got) > 2


def test_invoice_lines_endpoint_pages_beyond_the_embedded_ten(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    lines = stored(sandbox_session, "line_item")
    by_invoice: dict[str, list[str]] = {}
    for line in lines:
        by_invoice.setdefault(sandbox_session.world.store.parent_of(line["id"]), []).append(
            line["id"]
        )
    invoice_id, expected = max(by_invoice.items(), key=lambda item: len(item[1]))
    assert len(expected) > 10, "the company should have an invoice with more than 10 lines"
    invoice = client.v1.invoices.retrieve(invoice_id)
    assert len(invoice.lines.data) == 10 and invoice.lines.has_more
    got = [
        line.id
        for line in client.v1.invoices.line_items.list(invoice_id, {"limit": 4}).auto_paging_iter()
    ]
    assert got == expected  # lines keep their order, oldest first
    page = client.v1.invoices.line_items.list(invoice_id, {"limit": 100})
    assert page.url == f"/v1/invoices/{invoice_id}/lines" and not page.has_more


def test_child_lists_subscription_items_and_credit_note_lines(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    store = sandbox_session.world.store
    subscription = stored(sandbox_session, "subscription")[-1]
    items = [
        i["id"]
        for i in stored(sandbox_session, "subscription_item")
        if store.parent_of(i["id"]) == subscription["id"]
    ]
    got = page_ids(client, "subscription_items", {"subscription": subscription["id"]})
    assert got == items and items
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]
    assert raised.value.code == "parameter_missing"
    for note in stored(sandbox_session, "credit_note"):
        lines = [
            line.id
            for line in client.v1.credit_notes.line_items.list(note["id"]).auto_paging_iter()
        ]
        assert lines == [line["id"] for line in note["lines"]["data"]]


def test_parent_filters_refunds_by_charge_and_payments_by_invoice(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    refunds = stored(sandbox_session, "refund")
    assert refunds
    for refund in refunds[:5]:
        got = page_ids(client, "refunds", {"charge": refund["charge"]})
        assert got == newest_first([r for r in refunds if r["charge"] == refund["charge"]])
    payments = stored(sandbox_session, "invoice_payment")
    invoice = payments[0]["invoice"]
    got = page_ids(client, "invoice_payments", {"invoice": invoice})
    assert got == newest_first([p for p in payments if p["invoice"] == invoice])


def test_events_filter_by_type_wildcard_and_types(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    events = stored(sandbox_session, "event")
    assert raw_page_ids(client, "events", {"type": "invoice.paid", "limit": 100}) == newest_first(
        [e for e in events if e["type"] == "invoice.paid"]
    )
    assert raw_page_ids(client, "events", {"type": "invoice.*", "limit": 100}) == newest_first(
        [e for e in events if e["type"].startswith("invoice.")]
    )
    wanted = {"invoice.paid", "charge.succeeded"}
    assert raw_page_ids(client, "events", {"types": sorted(wanted), "limit": 100}) == newest_first(
        [e for e in events if e["type"] in wanted]
    )


def test_ending_before_pages_backwards(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    expected = newest_first(stored(sandbox_session, "charge"))
    anchor = expected[25]
    page = client.v1.charges.list({"ending_before": anchor, "limit": 10})
    assert [c.id for c in page.data] == expected[15:25] and page.has_more
    # The SDK pages backwards from an ending_before cursor until the start of the list.
    backwards = [
        c.id
        for c in client.v1.charges.list({"ending_before": anchor, "limit": 7}).auto_paging_iter()
    ]
    assert sorted(backwards) == sorted(expected[:25])
    last_page = client.v1.charges.list({"ending_before": expected[3], "limit": 10})
    assert [c.id for c in last_page.data] == expected[:3] and not last_page.has_more


def test_limit_bounds_and_default(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    assert len(client.v1.charges.list().data) == 10
    assert len(client.v1.charges.list({"limit": 1}).data) == 1
    assert len(client.v1.charges.list({"limit": 100}).data) == 100
    for bad in (0, 101, -1):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.charges.list({"limit": bad})
        assert raised.value.http_status == 400 and raised.value.param == "limit"
        assert "between 1 and 100" in str(raised.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.list({"limit": "ten"})  # type: ignore[typeddict-item]
    assert raised.value.param == "limit"


def test_unknown_cursor_and_unknown_parameter(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list({"starting_after": "cus_doesnotexist"})
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    assert raised.value.param == "starting_after"
    charge = stored(sandbox_session, "charge")[0]["id"]
    with pytest.raises(stripe.InvalidRequestError):  # a cursor of another kind is unknown too
        client.v1.customers.list({"ending_before": charge})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.list({"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert raised.value.param == "colour" and raised.value.code == "parameter_unknown"


def test_retrieve_wrong_kind_and_unknown_url(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    charge = stored(sandbox_session, "charge")[0]["id"]
    assert client.v1.charges.retrieve(charge).id == charge
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve(charge)
    assert raised.value.http_status == 404 and raised.value.code == "resource_missing"
    response = requests.get(
        f"{sandbox_session.base_url}/v1/bananas", auth=(sandbox_session.secret_key, ""), timeout=5
    )
    assert response.status_code == 404
    assert "Unrecognized request URL" in response.json()["error"]["message"]


def test_expand_on_retrieve_and_list(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    invoice = next(i for i in stored(sandbox_session, "invoice") if i.get("customer"))
    expanded = client.v1.invoices.retrieve(invoice["id"], {"expand": ["customer"]})
    assert expanded.customer.id == invoice["customer"]
    assert expanded.customer.object == "customer"
    page = client.v1.charges.list({"limit": 5, "expand": ["data.customer"]})
    assert all(c.customer is None or c.customer.object == "customer" for c in page.data)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.list({"expand": ["customer"]})  # lists need data.customer
    assert raised.value.param == "expand"


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        ("customers", "customer"),
        ("products", "product"),
        ("prices", "price"),
        ("coupons", "coupon"),
    ],
)
def test_deleted_objects_vanish_from_lists_and_retrieve_as_stubs(
    sandbox_session: Sandbox, service: str, kind: str
) -> None:
    client = sandbox_session.client()
    store = sandbox_session.world.store
    deleted = [
        obj["id"]
        for obj in store.iter_objects(kind, sandbox_session.account_id, include_deleted=True)
        if store.get_body(obj["id"])[1]
    ]
    assert deleted, f"the company should have a deleted {kind}"
    listed = set(page_ids(client, service, {"limit": 100}))
    assert not listed & set(deleted)
    stub = service_of(client, service).retrieve(deleted[0])
    assert stub.to_dict() == {"id": deleted[0], "object": kind, "deleted": True}


def test_wrong_or_missing_key_gets_stripes_401_with_the_key_masked(
    sandbox_session: Sandbox,
) -> None:
    wrong = "sk_test_" + "x" * 20 + "abcd"
    client = stripe.StripeClient(
        wrong, base_addresses={"api": sandbox_session.base_url}, max_network_retries=0
    )
    with pytest.raises(stripe.AuthenticationError) as raised:
        client.v1.customers.list()
    error = raised.value.json_body["error"]
    assert raised.value.http_status == 401
    assert error == {
        "type": "invalid_request_error",
        "message": "Invalid API Key provided: sk_test_" + "*" * 20 + "abcd",
    }
    assert wrong not in str(raised.value)
    response = requests.get(f"{sandbox_session.base_url}/v1/customers", timeout=5)
    assert response.status_code == 401
    assert "You did not provide an API key" in response.json()["error"]["message"]


def test_basic_auth_is_accepted(sandbox_session: Sandbox) -> None:
    response = requests.get(
        f"{sandbox_session.base_url}/v1/customers?limit=1",
        auth=(sandbox_session.secret_key, ""),
        timeout=5,
    )
    assert response.status_code == 200 and response.json()["object"] == "list"
    assert response.headers["Request-Id"].startswith("req_")
    assert response.headers["Stripe-Version"] == stripe.api_version


def test_restricted_key_403_names_the_missing_permission(sandbox_session: Sandbox) -> None:
    key = sandbox_session.restricted_key(["rak_customer_read"])
    client = sandbox_session.client(key)
    assert client.v1.customers.list({"limit": 1}).data
    with pytest.raises(stripe.PermissionError) as raised:
        client.v1.charges.list()
    assert raised.value.http_status == 403
    assert raised.value.json_body["error"]["type"] == "invalid_request_error"
    message = raised.value.json_body["error"]["message"]
    assert message.startswith(f"The provided key '{key[:8]}")
    assert key not in message and key[-4:] in message
    assert (
        f"does not have the required permissions for this endpoint on account "
        f"'{sandbox_session.account_id}'. Having the 'rak_charge_read' permission would allow "
        "this request to continue." in message
    )
    with pytest.raises(stripe.PermissionError) as raised:  # writes need the _write variant
        client.v1.customers.create({"email": "x@example.com"})
    assert "'rak_customer_write'" in raised.value.json_body["error"]["message"]


def test_default_read_key_reads_every_list_but_cannot_write(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client(sandbox_session.read_key)
    assert sandbox_session.read_key.startswith("rk_test_")
    for service, _, extra in LISTS.values():
        service_of(client, service).list({"limit": 1, **extra})
    with pytest.raises(stripe.PermissionError):
        client.v1.customers.create({"email": "x@example.com"})


def test_stripe_account_header_selects_a_connected_account(sandbox_session: Sandbox) -> None:
    connected = sandbox_session.connected_account_ids[0]
    client = sandbox_session.client(stripe_account=connected)
    expected = newest_first(stored(sandbox_session, "customer", connected))
    assert page_ids(client, "customers", {"limit": 100}) == expected
    platform_ids = {c["id"] for c in stored(sandbox_session, "customer")}
    assert not platform_ids & set(expected)
    with pytest.raises(stripe.InvalidRequestError):  # a platform object is not visible there
        client.v1.customers.retrieve(next(iter(platform_ids)))
    assert client.v1.accounts.retrieve_current().id == connected
    stranger = sandbox_session.client(stripe_account="acct_1NotConnectedAtAll")
    with pytest.raises(stripe.PermissionError) as raised:
        stranger.v1.customers.list()
    assert raised.value.json_body["error"]["code"] == "account_invalid"


def test_account_endpoints(sandbox_session: Sandbox) -> None:
    client = sandbox_session.client()
    assert client.v1.accounts.retrieve_current().id == sandbox_session.account_id
    connected = sandbox_session.connected_account_ids
    assert client.v1.accounts.retrieve(connected[0]).id == connected[0]
    assert [a.id for a in client.v1.accounts.list().auto_paging_iter()] == sorted(
        connected,
        key=lambda a: sandbox_session.world.store.get(a)["created"],
        reverse=True,
    )


def _created(obj: dict[str, Any]) -> int:
    """The creation time lists order by (invoice items carry `date` instead of `created`)."""
    return int(obj.get("created") or obj.get("date") or 0)


def test_stripe_version_header_is_accepted_and_echoed(sandbox_session: Sandbox) -> None:
    url = f"{sandbox_session.base_url}/v1/customers?limit=1"
    auth = (sandbox_session.secret_key, "")
    older = requests.get(url, auth=auth, headers={"Stripe-Version": "2024-06-20"}, timeout=5)
    assert older.status_code == 200 and older.headers["Stripe-Version"] == "2024-06-20"
    bad = requests.get(url, auth=auth, headers={"Stripe-Version": "banana"}, timeout=5)
    assert bad.status_code == 400 and "Invalid Stripe API version" in bad.json()["error"]["message"]


def test_invoice_items_filter_and_order_by_their_date(sandbox_session: Sandbox) -> None:
    """Invoice items have `date`, not `created`; Stripe's `created` filter applies to it."""
    client = sandbox_session.client()
    items = stored(sandbox_session, "invoiceitem")
    dates = sorted(item["date"] for item in items)
    middle = dates[len(dates) // 2]
    got = raw_page_ids(client, "invoiceitems", {"limit": 100, "created": {"gte": middle}})
    assert got == newest_first([item for item in items if item["date"] >= middle])
    assert 0 < len(got) < len(items)


# -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --


def test_plans_are_the_recurring_prices(sandbox_session: Sandbox) -> None:
    """Stripe serves every recurring price as a plan too: same id, amount and interval."""
    client = sandbox_session.client()
    prices = stored(sandbox_session, "price")
    recurring = [p for p in prices if p["recurring"]]
    assert recurring and len(recurring) < len(prices)
    assert raw_page_ids(client, "plans", {"limit": 100}) == newest_first(recurring)
    price = recurring[-1]
    plan = client.v1.plans.retrieve(price["id"])
    assert (plan.object, plan.amount, plan.currency, plan.product) == (
        "plan",
        price["unit_amount"],
        price["currency"],
        price["product"],
    )
    assert (plan.interval, plan.interval_count) == (
        price["recurring"]["interval"],
        price["recurring"]["interval_count"],
    )
    product = price["product"]
    assert raw_page_ids(client, "plans", {"limit": 100, "product": product}) == newest_first(
        [p for p in recurring if p["product"] == product]
    )
    one_time = next(p for p in prices if not p["recurring"])
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.plans.retrieve(one_time["id"])
    assert raised.value.http_status == 404
    store = sandbox_session.world.store
    deleted = [
        obj["id"]
        for obj in store.iter_objects("price", sandbox_session.account_id, include_deleted=True)
        if store.get_body(obj["id"])[1]
    ]
    assert deleted, "the company should have a deleted price"
    stub = client.v1.plans.retrieve(deleted[0])
    assert stub.to_dict() == {"id": deleted[0], "object": "plan", "deleted": True}
