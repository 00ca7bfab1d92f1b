"""Everything a sandbox serves, fetched over HTTP with the official SDK's raw requests: every page
of every list, a retrieve of each object kind, child lists, expansions and event payloads.

The expansions to ask for are read from the SDK's classes (a field typed `Union[str, X]` holding
an id is expandable), so the sandbox is asked what Stripe would be asked, not what it knows.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, Union

from stripe._stripe_object import StripeObject

from revenue_assets_tests.sandbox.sdk_types import _resolve, class_for, fields_of

# Every list endpoint the sandbox serves -> the parameters it needs to list everything.
LISTS: dict[str, dict[str, Any]] = {
    "charges": {},
    "customers": {},
    "invoices": {},
    "invoiceitems": {},
    "prices": {},
    "products": {},
    "subscriptions": {"status": "all"},
    "balance_transactions": {},
    "disputes": {},
    "payouts": {},
    "credit_notes": {},
    "refunds": {},
    "coupons": {},
    "events": {},
    "invoice_payments": {},
    "webhook_endpoints": {},
    "accounts": {},
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": {},
    "plans": {},
    "promotion_codes": {},
    "subscription_schedules": {},
    "shipping_rates": {},
    # payments: intents, checkout, setup, radar, platform money movements
    "payment_intents": {},
    "checkout/sessions": {},
    "setup_intents": {},
    "reviews": {},
    "radar/early_fraud_warnings": {},
    "transfers": {},
    "application_fees": {},
    "topups": {},
    "billing/meters": {},
    "payment_links": {},
    "entitlements/features": {},
    "payment_methods": {},
    "quotes": {},
    "billing/credit_grants": {},
}
# Parent list -> its child lists (`/v1/<parent>/<id>/<child>`), sampled on a few parents.
CHILD_LISTS: dict[str, str] = {"invoices": "lines", "credit_notes": "lines"}
# What Stripe keeps under a customer (`/v1/customers/{id}/<list>`), asked of every customer: few
# customers have balance transactions or tax ids, and no other list says which.
CUSTOMER_LISTS = ("balance_transactions", "tax_ids", "payment_methods")
# Lists Stripe serves only for one customer (`customer` required), asked of every customer that
# has one of the objects named: credit balance transactions of the customers with credit grants.
PER_CUSTOMER_LISTS: dict[str, str] = {
    "billing/credit_balance_transactions": "billing/credit_grants"
}
SAMPLE = 25  # parents / objects per kind asked for child lists, retrieves and expansions
# Deeper expansions the product or its users ask for: through lists, includable fields.
DEEP_EXPANSIONS: dict[str, list[str]] = {
    "invoices": ["payments", "lines.data.discounts", "customer.default_source"],
    "subscriptions": ["items.data.price.product", "latest_invoice.payments", "discounts"],
    "charges": ["balance_transaction", "refunds", "customer"],
    "credit_notes": ["lines.data.discount_amounts.discount", "invoice.customer"],
    "refunds": ["charge.balance_transaction", "balance_transaction"],
    "invoice_payments": ["invoice.customer", "payment.payment_intent"],
    "customers": ["tax_ids"],
}


def pages(client: Any, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a list (the list object itself, which is validated too)."""
    cursor: dict[str, str] = {}
    while True:
        page = client.raw_request("get", path, **params, **cursor, limit=100).data
        yield page
        if not page["has_more"] or not page["data"]:
            return
        cursor = {"starting_after": page["data"][-1]["id"]}


def expandable(obj: dict[str, Any]) -> list[str]:
    """Top-level fields of `obj` holding an id where its SDK class allows the expanded object."""
    cls = class_for(str(obj.get("object")))
    if cls is None:
        return []
    found = []
    for name, annotation in fields_of(cls).items():
        value = obj.get(name)
        ids = isinstance(value, str) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
        )
        if ids and _takes_object(annotation, cls):
            found.append(name)
    return found


def _takes_object(annotation: Any, owner: type) -> bool:
    annotation = _resolve(annotation, owner)
    if typing.get_origin(annotation) in (Union, list, list):
        return any(_takes_object(arg, owner) for arg in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, StripeObject)


def served(client: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was asked, the object served) for everything the sandbox serves."""
    samples: dict[str, list[dict[str, Any]]] = {}
    customers: list[str] = []
    owners: dict[str, set[str]] = {}  # listed resource -> the customers its objects name
    for resource, params in LISTS.items():
        for page in pages(client, f"/v1/{resource}", params):
            yield f"GET /v1/{resource} (page)", page
            for obj in page["data"]:
                yield f"GET /v1/{resource}", obj
                if resource == "customers":
                    customers.append(obj["id"])
                if isinstance(obj.get("customer"), str):
                    owners.setdefault(resource, set()).add(obj["customer"])
                if len(samples.setdefault(resource, [])) < SAMPLE:
                    samples[resource].append(obj)
        fields = sorted({f for obj in samples.get(resource, []) for f in expandable(obj)})
        if fields:
            expand = [f"data.{f}" for f in fields]
            page = client.raw_request("get", f"/v1/{resource}", **params, expand=expand).data
            yield f"GET /v1/{resource}?expand[]={','.join(expand)} (page)", page
        for path in DEEP_EXPANSIONS.get(resource, []):
            page = client.raw_request("get", f"/v1/{resource}", **params, expand=[f"data.{path}"])
            yield f"GET /v1/{resource}?expand[]=data.{path} (page)", page.data
    for resource, objects in samples.items():
        for obj in objects:
            if resource == "accounts":
                path = f"/v1/accounts/{obj['id']}"
            else:
                path = f"/v1/{resource}/{obj['id']}"
            yield from _retrieved(client, f"GET {resource}/:id", path, obj)
        child = CHILD_LISTS.get(resource)
        if child:
            for obj in objects:
                for page in pages(client, f"/v1/{resource}/{obj['id']}/{child}", {}):
                    yield f"GET {resource}/:id/{child} (page)", page
    for resource, owned in PER_CUSTOMER_LISTS.items():
        yield from _per_customer(client, resource, sorted(owners.get(owned, ())))
    yield from _customer_children(client, customers)
    for intent in samples.get("setup_intents", []):
        path = "/v1/setup_attempts"
        for page in pages(client, path, {"setup_intent": intent["id"]}):
            yield "GET /v1/setup_attempts (page)", page
        expand = [f"data.{f}" for f in ("customer", "payment_method", "setup_intent")]
        page = client.raw_request("get", path, setup_intent=intent["id"], expand=expand).data
        yield f"GET /v1/setup_attempts?expand[]={','.join(expand)} (page)", page
    for subscription in samples.get("subscriptions", []):
        items = client.raw_request(
            "get", "/v1/subscription_items", subscription=subscription["id"]
        ).data
        yield "GET /v1/subscription_items (page)", items
        for item in items["data"][:2]:
            yield (
                "GET subscription_items/:id",
                client.raw_request("get", f"/v1/subscription_items/{item['id']}").data,
            )
    yield "GET /v1/account", client.raw_request("get", "/v1/account").data


def _retrieved(
    client: Any, label: str, path: str, obj: dict[str, Any]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One object retrieved as it is, and with every field it lets `expand[]` reach."""
    yield label, client.raw_request("get", path).data
    fields = expandable(obj)
    if fields:
        expanded = client.raw_request("get", path, expand=fields).data
        yield f"{label}?expand[]={','.join(fields)}", expanded


def _customer_children(client: Any, customers: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every customer's nested lists, and a retrieve (plain and expanded) of a few of each."""
    retrieved: dict[str, int] = {}
    for customer in customers:
        for child in CUSTOMER_LISTS:
            base = f"/v1/customers/{customer}/{child}"
            for page in pages(client, base, {}):
                yield f"GET customers/:id/{child} (page)", page
                for obj in page["data"]:
                    if retrieved.get(child, 0) >= SAMPLE:
                        continue
                    retrieved[child] = retrieved.get(child, 0) + 1
                    label = f"GET customers/:id/{child}/:id"
                    yield from _retrieved(client, label, f"{base}/{obj['id']}", obj)


def _per_customer(
    client: Any, resource: str, customers: list[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every page of a list for each of these customers, its objects, and a retrieve (plain and
    expanded) of a few of them."""
    retrieved = 0
    for customer in customers:
        for page in pages(client, f"/v1/{resource}", {"customer": customer}):
            yield f"GET /v1/{resource} (page)", page
            for obj in page["data"]:
                yield f"GET /v1/{resource}", obj
                if retrieved >= SAMPLE:
                    continue
                retrieved += 1
                path = f"/v1/{resource}/{obj['id']}"
                yield f"GET {resource}/:id", client.raw_request("get", path).data
                fields = expandable(obj)
                if fields:
                    expanded = client.raw_request("get", path, expand=fields).data
                    yield f"GET {resource}/:id?expand[]={','.join(fields)}", expanded
