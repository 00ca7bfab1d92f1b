"""List filters as the SDK's `ListParams` document them: every documented filter of every list
the sandbox serves is accepted, filters select what they say, and an undocumented parameter or
an enum value Stripe does not know is a 400, as on Stripe.

Expected selections are computed from the World's store, never from the server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests

from revenue_assets.sandbox.runner import Sandbox
from revenue_assets_tests.sandbox.sdk_params import LIST_PARAMS, Param, documented

Obj = dict[str, Any]


def _get(sandbox: Sandbox, endpoint: str, params: dict[str, Any]) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}/v1/{endpoint}",
        params=_form(params),
        auth=(sandbox.secret_key, ""),
        timeout=10,
    )


def _form(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: `a[b]=1`, `a[]=x`."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs.extend(_form(value, name))
        elif isinstance(value, list):
            pairs.extend((f"{name}[]", str(item)) for item in value)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def _sample(param: Param) -> Any:
    """A well-formed value for a documented parameter."""
    return {
        "str": "xx_none",
        "bool": True,
        "int": 1,
        "range": {"gte": 0},
        "list": ["xx_none"],
    }.get(param.shape) or (
        param.values[0]
        if param.shape == "enum"
        else {name: _sample(part) for name, part in param.parts.items()}
    )


# What a list requires before any filter is judged.
REQUIRED: dict[str, dict[str, Any]] = {
    "subscription_items": {"subscription": "sub_none"},
    "billing/credit_balance_transactions": {"customer": "cus_none"},
}


def _base(endpoint: str) -> dict[str, Any]:
    return REQUIRED.get(endpoint, {})


def test_every_documented_filter_is_accepted(sandbox_session: Sandbox) -> None:
    refused: dict[str, str] = {}
    total = 0
    for endpoint in LIST_PARAMS:
        for name, param in documented(endpoint).items():
            total += 1
            response = _get(sandbox_session, endpoint, {**_base(endpoint), name: _sample(param)})
            if response.status_code != 200:
                refused[f"{endpoint}.{name}"] = response.json()["error"]["message"]
    print(f"\ndocumented list filters accepted: {total - len(refused)} of {total}")
    assert total > 60
    assert refused == {}


@pytest.mark.parametrize("endpoint", sorted(LIST_PARAMS))
def test_an_undocumented_parameter_is_refused(sandbox_session: Sandbox, endpoint: str) -> None:
    response = _get(sandbox_session, endpoint, {**_base(endpoint), "colour": "red"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameter_unknown",
        "colour",
    )


def _takes_created(endpoint: str) -> bool:
    """Whether the SDK documents `created` for this list (billing meters' has none)."""
    return "created" in documented(endpoint)


@pytest.mark.parametrize("endpoint", sorted(LIST_PARAMS))
def test_created_is_refused_where_stripe_does_not_document_it(
    sandbox_session: Sandbox, endpoint: str
) -> None:
    response = _get(sandbox_session, endpoint, {**_base(endpoint), "created": {"gte": 0}})
    if _takes_created(endpoint):
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Received unknown parameter: created"
    assert (error["code"], error["param"]) == ("parameter_unknown", "created")


def test_some_list_takes_no_created_filter() -> None:
    assert [endpoint for endpoint in LIST_PARAMS if not _takes_created(endpoint)]


def _enums() -> list[tuple[str, str, dict[str, Any]]]:
    """(endpoint, parameter, a request with an unknown value) for every documented enum."""
    found = []
    for endpoint in LIST_PARAMS:
        for name, param in documented(endpoint).items():
            if param.shape == "enum":
                found.append((endpoint, name, {name: "not_a_value"}))
            for part_name, part in param.parts.items():
                if part.shape == "enum":
                    found.append((endpoint, f"{name}[{part_name}]", {name: {part_name: "nope"}}))
    return found


@pytest.mark.parametrize(("endpoint", "param", "params"), _enums(), ids=lambda v: str(v))
def test_an_unknown_enum_value_is_refused(
    sandbox_session: Sandbox, endpoint: str, param: str, params: dict[str, Any]
) -> None:
    response = _get(sandbox_session, endpoint, {**_base(endpoint), **params})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert "must be one of" in error["message"]


def test_an_unknown_key_of_a_hash_filter_is_refused(sandbox_session: Sandbox) -> None:
    response = _get(sandbox_session, "prices", {"recurring": {"colour": "red"}})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "recurring[colour]"
    bad_bool = _get(sandbox_session, "prices", {"active": "maybe"})
    assert bad_bool.status_code == 400 and bad_bool.json()["error"]["param"] == "active"


# -- filters select what they say -------------------------------------------------------------


def _items(obj: Obj) -> list[Obj]:
    return (obj.get("items") or {}).get("data") or []


# endpoint, stored kind, filter name, the stored object's value(s) for that filter, and how the
# request value is made from a stored value ("eq": as is, "gte": a lower bound, "true"/"false").
SELECTIONS: list[tuple[str, str, str, Callable[[Obj], Any], str]] = [
    ("charges", "charge", "customer", lambda o: o["customer"], "eq"),
    ("charges", "charge", "payment_intent", lambda o: o["payment_intent"], "eq"),
    ("customers", "customer", "email", lambda o: o["email"], "eq"),
    ("invoices", "invoice", "collection_method", lambda o: o["collection_method"], "eq"),
    ("invoices", "invoice", "status", lambda o: o["status"], "eq"),
    (
        "invoices",
        "invoice",
        "subscription",
        lambda o: ((o.get("parent") or {}).get("subscription_details") or {}).get("subscription"),
        "eq",
    ),
    ("invoiceitems", "invoiceitem", "pending", lambda o: o["invoice"] is None, "bool"),
    ("invoiceitems", "invoiceitem", "customer", lambda o: o["customer"], "eq"),
    ("prices", "price", "active", lambda o: o["active"], "bool"),
    ("prices", "price", "currency", lambda o: o["currency"], "eq"),
    ("prices", "price", "type", lambda o: o["type"], "eq"),
    ("prices", "price", "product", lambda o: o["product"], "eq"),
    (
        "prices",
        "price",
        "recurring.interval",
        lambda o: (o.get("recurring") or {}).get("interval"),
        "eq",
    ),
    ("products", "product", "active", lambda o: o["active"], "bool"),
    ("products", "product", "ids", lambda o: o["id"], "list"),
    ("products", "product", "type", lambda o: o["type"], "eq"),
    (
        "subscriptions",
        "subscription",
        "price",
        lambda o: {i["price"]["id"] for i in _items(o)},
        "eq",
    ),
    (
        "subscriptions",
        "subscription",
        "current_period_end",
        lambda o: {i["current_period_end"] for i in _items(o)},
        "gte",
    ),
    ("subscriptions", "subscription", "collection_method", lambda o: o["collection_method"], "eq"),
    (
        "subscriptions",
        "subscription",
        "automatic_tax.enabled",
        lambda o: o["automatic_tax"]["enabled"],
        "bool",
    ),
    ("balance_transactions", "balance_transaction", "type", lambda o: o["type"], "eq"),
    ("balance_transactions", "balance_transaction", "currency", lambda o: o["currency"], "eq"),
    ("balance_transactions", "balance_transaction", "source", lambda o: o["source"], "eq"),
    ("disputes", "dispute", "charge", lambda o: o["charge"], "eq"),
    ("payouts", "payout", "status", lambda o: o["status"], "eq"),
    ("payouts", "payout", "arrival_date", lambda o: o["arrival_date"], "gte"),
    ("payouts", "payout", "destination", lambda o: o["destination"], "eq"),
    ("credit_notes", "credit_note", "customer", lambda o: o["customer"], "eq"),
    ("credit_notes", "credit_note", "invoice", lambda o: o["invoice"], "eq"),
    ("refunds", "refund", "charge", lambda o: o["charge"], "eq"),
    ("events", "event", "delivery_success", lambda o: o["pending_webhooks"] == 0, "bool"),
    ("invoice_payments", "invoice_payment", "status", lambda o: o["status"], "eq"),
    ("invoice_payments", "invoice_payment", "invoice", lambda o: o["invoice"], "eq"),
    (
        "invoice_payments",
        "invoice_payment",
        "payment.payment_intent",
        lambda o: o["payment"].get("payment_intent"),
        "eq",
    ),
    ("invoice_payments", "invoice_payment", "payment.type", lambda o: o["payment"]["type"], "eq"),
    # payments: intents, checkout, setup, radar, platform money movements
    ("payment_intents", "payment_intent", "customer", lambda o: o["customer"], "eq"),
    ("checkout/sessions", "checkout.session", "status", lambda o: o["status"], "eq"),
    ("checkout/sessions", "checkout.session", "customer", lambda o: o["customer"], "eq"),
    (
        "checkout/sessions",
        "checkout.session",
        "subscription",
        lambda o: o["subscription"],
        "eq",
    ),
    (
        "checkout/sessions",
        "checkout.session",
        "customer_details.email",
        lambda o: (o["customer_details"] or {}).get("email"),
        "eq",
    ),
    ("setup_intents", "setup_intent", "customer", lambda o: o["customer"], "eq"),
    ("setup_intents", "setup_intent", "payment_method", lambda o: o["payment_method"], "eq"),
    (
        "radar/early_fraud_warnings",
        "radar.early_fraud_warning",
        "charge",
        lambda o: o["charge"],
        "eq",
    ),
    ("transfers", "transfer", "destination", lambda o: o["destination"], "eq"),
    ("transfers", "transfer", "transfer_group", lambda o: o["transfer_group"], "eq"),
    ("application_fees", "application_fee", "charge", lambda o: o["charge"], "eq"),
    ("topups", "topup", "status", lambda o: o["status"], "eq"),
    ("topups", "topup", "amount", lambda o: o["amount"], "gte"),
    ("billing/meters", "billing.meter", "status", lambda o: o["status"], "eq"),
    ("payment_links", "payment_link", "active", lambda o: o["active"], "eq"),
    ("entitlements/features", "entitlements.feature", "archived", lambda o: not o["active"], "eq"),
    (
        "entitlements/features",
        "entitlements.feature",
        "lookup_key",
        lambda o: o["lookup_key"],
        "eq",
    ),
    ("quotes", "quote", "customer", lambda o: o["customer"], "eq"),
    ("quotes", "quote", "status", lambda o: o["status"], "eq"),
    ("billing/credit_grants", "billing.credit_grant", "customer", lambda o: o["customer"], "eq"),
]


def _all_ids(sandbox: Sandbox, endpoint: str, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    cursor: dict[str, str] = {}
    while True:
        response = _get(sandbox, endpoint, {**params, **cursor, "limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        ids.extend(obj["id"] for obj in page["data"])
        if not page["has_more"]:
            return ids
        cursor = {"starting_after": ids[-1]}


def _as_set(value: Any) -> set[Any]:
    return set(value) if isinstance(value, set) else {value}


@pytest.mark.parametrize(
    ("endpoint", "kind", "name", "value_of", "how"),
    SELECTIONS,
    ids=[f"{s[0]}.{s[2]}" for s in SELECTIONS],
)
def test_a_filter_selects_what_it_says(
    sandbox_session: Sandbox,
    endpoint: str,
    kind: str,
    name: str,
    value_of: Callable[[Obj], Any],
    how: str,
) -> None:
    stored = list(
        sandbox_session.world.store.iter_objects(
            kind, sandbox_session.account_id, include_deleted=False
        )
    )
    counts = Counter(v for obj in stored for v in _as_set(value_of(obj)) if v is not None)
    assert counts, f"the company has no {kind} with a {name}"
    if how == "gte":
        ordered = sorted(counts)
        bound = ordered[len(ordered) // 2]
        request_value: Any = {"gte": bound}
        wanted = {
            o["id"]
            for o in stored
            if any(v is not None and v >= bound for v in _as_set(value_of(o)))
        }
    else:
        # The rarest value: a filter that is ignored would answer many more objects.
        value = min(counts, key=lambda v: (counts[v], str(v)))
        request_value = [value] if how == "list" else value
        wanted = {o["id"] for o in stored if value in _as_set(value_of(o))}
    params: dict[str, Any] = {"status": "all"} if kind == "subscription" else {}
    outer, _, inner = name.partition(".")
    params[outer] = {inner: request_value} if inner else request_value
    got = _all_ids(sandbox_session, endpoint, params)
    assert len(got) == len(set(got))
    assert set(got) == wanted and wanted
    if len(counts) > 1 or how == "gte":
        assert len(wanted) < len(stored)  # the filter left some out
    elif how == "eq":
        # Every object has the same value: a value none has must select nothing.
        param = documented(endpoint)[outer]
        param = param.parts[inner] if inner else param
        others = [v for v in param.values if v not in counts] or ["xx_none"]
        params[outer] = {inner: others[0]} if inner else others[0]
        assert _all_ids(sandbox_session, endpoint, params) == []
