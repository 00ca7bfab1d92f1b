"""The list endpoints and the filters each takes, as Stripe documents them, turned into store
queries.

Stripe refuses a parameter a list does not document (`parameter_unknown`) and an enum value it
does not know (`parameter_invalid`), so a client sending a misspelt filter fails against the
sandbox as it would against Stripe, instead of silently reading everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from revenue_assets.sandbox import shapes
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.forms import Params, as_list
from revenue_assets.sandbox.store import Match

CREATED_OPERATORS = ("gt", "gte", "lt", "lte")
COMMON_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})
SUBSCRIPTION_STATUSES = (
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "paused",
)


@dataclass(frozen=True)
class Filter:
    """How a list query parameter selects objects.

    how:
    - `customer`, `status`, `parent`: an indexed column (`parent`: the object a child is
      stored under: a refund's charge, an invoice item's invoice...);
    - `field`: a string at the JSON path `path`; `bool`: a boolean there; `not_bool`: its
      negation (`archived=true` selects features whose `active` is false);
    - `range`: an integer there, compared like `created` (`{gt, gte, lt, lte}` or equal);
    - `any_of`: one of a list of strings (`ids[]`, `lookup_keys[]`);
    - `null`: `true` selects objects whose `path` is null, `false` the others;
    - `zero`: `true` selects objects whose `path` is 0, `false` those above;
    - `is`: `true` selects objects whose `path` is `enum[0]`, `false` the others;
    - `object`: a hash of further filters (`recurring[interval]`), in `parts`;
    - `sub_status`, `event_type`, `event_types`: the lists with rules of their own.
    `enum` lists the values Stripe accepts; `each` makes the condition hold for any element of
    the array at that path (a subscription's items).
    """

    how: str
    path: str = ""
    enum: tuple[str, ...] = ()
    each: str | None = None
    parts: Mapping[str, Filter] = field(default_factory=dict)


@dataclass(frozen=True)
class View:
    """A kind served from objects stored as another kind, never stored itself: Stripe answers
    every recurring price as a plan too (same id, the older field names), so a second copy
    would only drift from the price."""

    source: str  # the stored kind
    matches: tuple[Match, ...]  # which stored objects have a view
    render: Callable[[dict[str, Any]], dict[str, Any] | None]


@dataclass(frozen=True)
class Resource:
    """One `/v1/<segment>` resource: the stored object kind and the list filters Stripe takes."""

    kind: str
    filters: Mapping[str, Filter] = field(default_factory=dict)
    stub_when_deleted: bool = False  # retrieve answers {id, object, deleted: true}
    children: Mapping[str, str] = field(default_factory=dict)  # sub-path -> child kind
    required: tuple[str, ...] = ()  # list parameters Stripe requires
    view: View | None = None  # served from another stored kind
    # Listed in the order of the parent's embedded list (a subscription's items), not newest first.
    oldest_first: bool = False
    # Whether the list takes `created[...]`: those of billing meters, subscription items and
    # webhook endpoints do not (Stripe answers 400).
    created_filter: bool = True

    @property
    def stored_kind(self) -> str:
        return self.view.source if self.view else self.kind


CUSTOMER = Filter("customer")
# The World stores children under their parent: a refund under its charge, an invoice payment,
# credit note or invoiced item under its invoice, a subscription item under its subscription.
PARENT = Filter("parent")
COLLECTION_METHODS = ("charge_automatically", "send_invoice")


def _field(path: str, *enum: str) -> Filter:
    return Filter("field", path, enum=enum)


def _flag(path: str) -> Filter:
    return Filter("bool", path)


def _items(path: str, how: str = "field") -> Filter:
    """A condition on any item of a subscription."""
    return Filter(how, path, each="items.data")


RESOURCES: dict[str, Resource] = {
    "charges": Resource(
        "charge",
        {
            "customer": CUSTOMER,
            "payment_intent": _field("payment_intent"),
            "transfer_group": _field("transfer_group"),
        },
    ),
    "customers": Resource(
        "customer",
        {"email": _field("email"), "test_clock": _field("test_clock")},
        stub_when_deleted=True,
    ),
    "invoices": Resource(
        "invoice",
        {
            "collection_method": _field("collection_method", *COLLECTION_METHODS),
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "due_date": Filter("range", "due_date"),
            "status": Filter("status", enum=("draft", "open", "paid", "uncollectible", "void")),
            "subscription": _field("parent.subscription_details.subscription"),
        },
        children={"lines": "line_item"},
    ),
    "invoiceitems": Resource(
        "invoiceitem",
        {
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "invoice": PARENT,
            "pending": Filter("null", "invoice"),
        },
    ),
    "prices": Resource(
        "price",
        {
            "active": _flag("active"),
            "currency": _field("currency"),
            "lookup_keys": Filter("any_of", "lookup_key"),
            "product": _field("product"),
            "recurring": Filter(
                "object",
                parts={
                    "interval": _field("recurring.interval", "day", "month", "week", "year"),
                    "meter": _field("recurring.meter"),
                    "usage_type": _field("recurring.usage_type", "licensed", "metered"),
                },
            ),
            "type": _field("type", "one_time", "recurring"),
        },
        stub_when_deleted=True,
    ),
    "products": Resource(
        "product",
        {
            "active": _flag("active"),
            "ids": Filter("any_of", "id"),
            "shippable": _flag("shippable"),
            "type": _field("type", "good", "service"),
            "url": _field("url"),
        },
        stub_when_deleted=True,
    ),
    "subscriptions": Resource(
        "subscription",
        {
            "automatic_tax": Filter("object", parts={"enabled": _flag("automatic_tax.enabled")}),
            "collection_method": _field("collection_method", *COLLECTION_METHODS),
            "current_period_end": _items("current_period_end", "range"),
            "current_period_start": _items("current_period_start", "range"),
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "plan": _items("plan.id"),
            "price": _items("price.id"),
            "status": Filter("sub_status"),
            "test_clock": _field("test_clock"),
        },
    ),
    "subscription_items": Resource(
        "subscription_item",
        {"subscription": PARENT},
        required=("subscription",),
        oldest_first=True,
        created_filter=False,
    ),
    "balance_transactions": Resource(
        "balance_transaction",
        {
            "currency": _field("currency"),
            # The sandbox links a payout to its own transaction only, not to the charges an
            # automatic payout swept (which Stripe also lists under it).
            "payout": _field("source"),
            "source": _field("source"),
            "type": _field("type"),
        },
    ),
    "disputes": Resource(
        "dispute", {"charge": _field("charge"), "payment_intent": _field("payment_intent")}
    ),
    "payouts": Resource(
        "payout",
        {
            "arrival_date": Filter("range", "arrival_date"),
            "destination": _field("destination"),
            "status": Filter("status"),
        },
    ),
    "credit_notes": Resource(
        "credit_note",
        {"customer": CUSTOMER, "customer_account": _field("customer_account"), "invoice": PARENT},
        children={"lines": "credit_note_line_item"},
    ),
    "refunds": Resource("refund", {"charge": PARENT, "payment_intent": _field("payment_intent")}),
    "coupons": Resource("coupon", stub_when_deleted=True),
    "events": Resource(
        "event",
        {
            "delivery_success": Filter("zero", "pending_webhooks"),
            "type": Filter("event_type"),
            "types": Filter("event_types"),
        },
    ),
    "webhook_endpoints": Resource("webhook_endpoint", created_filter=False),
    "invoice_payments": Resource(
        "invoice_payment",
        {
            "invoice": PARENT,
            "payment": Filter(
                "object",
                parts={
                    "payment_intent": _field("payment.payment_intent"),
                    "payment_record": _field("payment.payment_record"),
                    "type": _field("payment.type", "payment_intent", "payment_record"),
                },
            ),
            "status": Filter("status", enum=("canceled", "open", "paid")),
        },
    ),
    "accounts": Resource("account"),
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": Resource("tax_rate", {"active": _flag("active"), "inclusive": _flag("inclusive")}),
    "plans": Resource(
        "plan",
        {"active": _flag("active"), "product": _field("product")},
        stub_when_deleted=True,
        view=View("price", (Match("type", "in", ("recurring",)),), shapes.plan_of),
    ),
    "promotion_codes": Resource(
        "promotion_code",
        {
            "active": _flag("active"),
            "code": _field("code"),
            "coupon": _field("promotion.coupon"),
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
        },
    ),
    "subscription_schedules": Resource(
        "subscription_schedule",
        {
            "canceled_at": Filter("range", "canceled_at"),
            "completed_at": Filter("range", "completed_at"),
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "released_at": Filter("range", "released_at"),
            # Schedules that have not started yet (the sandbox's all start at once).
            "scheduled": Filter("is", "status", enum=("not_started",)),
        },
    ),
    "shipping_rates": Resource(
        "shipping_rate", {"active": _flag("active"), "currency": _field("fixed_amount.currency")}
    ),
    # -- payments: intents, checkout, setup, radar, platform money movements ----------------
    "payment_intents": Resource(
        "payment_intent", {"customer": CUSTOMER, "customer_account": _field("customer_account")}
    ),
    "checkout/sessions": Resource(
        "checkout.session",
        {
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "customer_details": Filter("object", parts={"email": _field("customer_details.email")}),
            "payment_intent": _field("payment_intent"),
            "payment_link": _field("payment_link"),
            "status": Filter("status", enum=("complete", "expired", "open")),
            "subscription": _field("subscription"),
        },
    ),
    "setup_intents": Resource(
        "setup_intent",
        {
            "attach_to_self": _flag("attach_to_self"),
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "payment_method": _field("payment_method"),
        },
    ),
    "reviews": Resource("review"),
    # A customer's cards are listed under it (customer_children.py); this list is Stripe's
    # top-level one, which takes the customer as a filter.
    "payment_methods": Resource(
        "payment_method", {"customer": CUSTOMER, "type": _field("type")}, created_filter=False
    ),
    # Listed per setup intent only (Stripe has no retrieve of one attempt: the server refuses it).
    "setup_attempts": Resource(
        "setup_attempt", {"setup_intent": PARENT}, required=("setup_intent",)
    ),
    "radar/early_fraud_warnings": Resource(
        "radar.early_fraud_warning",
        {"charge": _field("charge"), "payment_intent": _field("payment_intent")},
    ),
    "transfers": Resource(
        "transfer",
        {"destination": _field("destination"), "transfer_group": _field("transfer_group")},
    ),
    "application_fees": Resource("application_fee", {"charge": _field("charge")}),
    "topups": Resource(
        "topup",
        {
            "amount": Filter("range", "amount"),
            "status": Filter("status", enum=("canceled", "failed", "pending", "succeeded")),
        },
    ),
    # -- lists without a creation-time filter ------------------------------------------------
    "billing/meters": Resource(
        "billing.meter",
        {"status": Filter("status", enum=("active", "inactive"))},
        created_filter=False,
    ),
    "payment_links": Resource("payment_link", {"active": _flag("active")}, created_filter=False),
    "entitlements/features": Resource(
        "entitlements.feature",
        {"archived": Filter("not_bool", "active"), "lookup_key": _field("lookup_key")},
        created_filter=False,
    ),
    "quotes": Resource(
        "quote",
        {
            "customer": CUSTOMER,
            "customer_account": _field("customer_account"),
            "status": Filter("status", enum=("accepted", "canceled", "draft", "open")),
            "test_clock": _field("test_clock"),
        },
        created_filter=False,
    ),
    "billing/credit_grants": Resource(
        "billing.credit_grant",
        {"customer": CUSTOMER, "customer_account": _field("customer_account")},
        created_filter=False,
    ),
    # Stored under their customer (the object names only its grant); Stripe requires the
    # customer. No grant of the sandbox has a `customer_account`, so that filter finds nothing.
    "billing/credit_balance_transactions": Resource(
        "billing.credit_balance_transaction",
        {
            "customer": PARENT,
            "credit_grant": _field("credit_grant"),
            "customer_account": _field("customer_account"),
        },
        required=("customer",),
        created_filter=False,
    ),
}

# Resources Stripe serves under a namespace (`/v1/checkout/sessions`) are one key of
# `RESOURCES` (`checkout/sessions`): the URL's first two segments.
NAMESPACES = frozenset({"billing", "checkout", "entitlements", "radar"})


def resource_parts(path: str) -> list[str]:
    """The segments of a `/v1/...` path after `/v1`, a namespace joined to its resource:
    `/v1/checkout/sessions/cs_1` -> ["checkout/sessions", "cs_1"]."""
    parts = path.split("/")[2:]
    if len(parts) >= 2 and parts[0] in NAMESPACES and parts[1]:
        parts = [f"{parts[0]}/{parts[1]}", *parts[2:]]
    return parts


def unknown_parameter(name: str) -> SandboxError:
    return SandboxError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )


def integer(value: Any, param: str) -> int:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise SandboxError(
        400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
    )


def boolean(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise SandboxError(
        400, f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=param
    )


def string(value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    raise invalid(f"Invalid string: {orjson.dumps(value).decode()}", param=param)


def one_of(value: str, allowed: tuple[str, ...], param: str) -> str:
    """Stripe's 400 for an enum value it does not know."""
    if not allowed or value in allowed:
        return value
    listed = ", ".join(allowed[:-1]) + f", or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
    raise invalid(f"Invalid {param}: must be one of {listed}", param=param)


def comparison(value: Any, param: str) -> dict[str, int]:
    """`created`-style bounds: `{gt, gte, lt, lte}` or one integer (equal)."""
    if isinstance(value, dict):
        bounds: dict[str, int] = {}
        for operator, bound in value.items():
            if operator not in CREATED_OPERATORS:
                raise unknown_parameter(f"{param}[{operator}]")
            bounds[operator] = integer(bound, f"{param}[{operator}]")
        return bounds
    return {"eq": integer(value, param)}


def compare(value: int, operator: str, bound: int) -> bool:
    return {
        "gt": value > bound,
        "gte": value >= bound,
        "lt": value < bound,
        "lte": value <= bound,
        "eq": value == bound,
    }[operator]


def only(params: Params, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)


def list_options(resource: Resource, params: Params) -> dict[str, Any]:
    """Validate list parameters as Stripe does and turn them into `Store.list_page` options."""
    options: dict[str, Any] = {"limit": limit(params.get("limit"))}
    for name in ("starting_after", "ending_before"):
        if name in params:
            value = string(params[name], name)
            if value:
                options[name] = value
    if "starting_after" in options and "ending_before" in options:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after.",
            param="ending_before",
        )
    if "created" in params:
        if not resource.created_filter:
            raise unknown_parameter("created")
        options["created"] = comparison(params["created"], "created")
    for name in resource.required:
        if not params.get(name):
            raise SandboxError(
                400, f"Missing required param: {name}.", code="parameter_missing", param=name
            )
    matches: list[Match] = []
    for name, value in params.items():
        if name in COMMON_LIST_PARAMS:
            continue
        how = resource.filters.get(name)
        if how is None:
            raise unknown_parameter(name)
        _apply(how, name, value, options, matches)
    if resource.kind == "subscription" and "status" not in params:
        options["statuses"] = [s for s in SUBSCRIPTION_STATUSES if s != "canceled"]
    if resource.view is not None:
        matches = [*resource.view.matches, *matches]
    if matches:
        options["matches"] = matches
    return options


def limit(value: Any) -> int:
    if value is None:
        return 10
    count = integer(value, "limit")
    if not 1 <= count <= 100:
        raise SandboxError(
            400,
            "Invalid limit: must be between 1 and 100",
            code="parameter_invalid_integer",
            param="limit",
        )
    return count


def _apply(
    how: Filter, name: str, value: Any, options: dict[str, Any], matches: list[Match]
) -> None:
    kind = how.how
    if kind == "customer":
        options["customer"] = string(value, name)
    elif kind == "status":
        options["statuses"] = [one_of(string(value, name), how.enum, name)]
    elif kind == "parent":
        options["parent"] = string(value, name)
    elif kind == "field":
        text = one_of(string(value, name), how.enum, name)
        matches.append(Match(how.path, "in", (text,), how.each))
    elif kind == "bool":
        matches.append(Match(how.path, "in", (1 if boolean(value, name) else 0,), how.each))
    elif kind == "not_bool":
        matches.append(Match(how.path, "in", (0 if boolean(value, name) else 1,), how.each))
    elif kind == "range":
        for operator, bound in comparison(value, name).items():
            matches.append(Match(how.path, operator, (bound,), how.each))
    elif kind == "any_of":
        values = tuple(string(item, name) for item in as_list(value))
        matches.append(Match(how.path, "in", values, how.each))
    elif kind == "null":
        matches.append(Match(how.path, "null" if boolean(value, name) else "not_null"))
    elif kind == "zero":
        matches.append(Match(how.path, "eq" if boolean(value, name) else "gt", (0,)))
    elif kind == "is":
        matches.append(Match(how.path, "in" if boolean(value, name) else "ne", how.enum[:1]))
    elif kind == "object":
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {name} takes a hash of filters.", param=name)
        for key, item in value.items():
            part = how.parts.get(key)
            if part is None:
                raise unknown_parameter(f"{name}[{key}]")
            _apply(part, f"{name}[{key}]", item, options, matches)
    elif kind == "sub_status":
        _subscription_status(string(value, name), options)
    elif kind == "event_type":
        _event_type(string(value, name), options)
    elif kind == "event_types":
        if "statuses" in options or "status_prefix" in options:
            raise invalid("You may only specify one of these parameters: type, types.", "types")
        types = [string(item, name) for item in as_list(value)]
        if not types or len(types) > 20:
            raise invalid("`types` takes between 1 and 20 event types.", param="types")
        options["statuses"] = types
    else:  # pragma: no cover - the table above names only the kinds handled here
        raise AssertionError(f"unknown filter kind {kind}")


def _subscription_status(status: str, options: dict[str, Any]) -> None:
    if status == "all":
        return
    if status == "ended":
        options["statuses"] = ["canceled", "incomplete_expired"]
    elif status in SUBSCRIPTION_STATUSES:
        options["statuses"] = [status]
    else:
        one_of(status, (*SUBSCRIPTION_STATUSES, "ended", "all"), "status")


def _event_type(event_type: str, options: dict[str, Any]) -> None:
    if "statuses" in options:
        raise invalid("You may only specify one of these parameters: type, types.", "type")
    if event_type.endswith("*") and "*" not in event_type[:-1]:
        options["status_prefix"] = event_type[:-1]
    elif "*" in event_type:
        raise invalid("Wildcards are only supported at the end of `type`.", param="type")
    else:
        options["statuses"] = [event_type]
