"""The list filters Stripe documents, read from the `ListParams` TypedDicts the pinned SDK
generates from Stripe's spec (`stripe.params.ChargeListParams`...).

A filter's shape is one of: `str`, `bool`, `int`, `range` (`created`-style: an integer or a
hash of `gt/gte/lt/lte`), `list` (of strings), `enum` (its literal values), `object` (a hash of
further filters). Paging and `expand` are common to every list and left out.
"""

from __future__ import annotations

import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ForwardRef, Literal, NotRequired, Required, Union

import stripe.params
from stripe._request_options import RequestOptions
from typing_extensions import is_typeddict

COMMON = {"limit", "starting_after", "ending_before", "expand"}

# List endpoint the sandbox serves -> the SDK's parameters of that list.
LIST_PARAMS: dict[str, str] = {
    "charges": "ChargeListParams",
    "customers": "CustomerListParams",
    "invoices": "InvoiceListParams",
    "invoiceitems": "InvoiceItemListParams",
    "prices": "PriceListParams",
    "products": "ProductListParams",
    "subscriptions": "SubscriptionListParams",
    "subscription_items": "SubscriptionItemListParams",
    "balance_transactions": "BalanceTransactionListParams",
    "disputes": "DisputeListParams",
    "payouts": "PayoutListParams",
    "credit_notes": "CreditNoteListParams",
    "refunds": "RefundListParams",
    "coupons": "CouponListParams",
    "events": "EventListParams",
    "invoice_payments": "InvoicePaymentListParams",
    "webhook_endpoints": "WebhookEndpointListParams",
    "accounts": "AccountListParams",
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": "TaxRateListParams",
    "plans": "PlanListParams",
    "promotion_codes": "PromotionCodeListParams",
    "subscription_schedules": "SubscriptionScheduleListParams",
    "shipping_rates": "ShippingRateListParams",
    # payments: intents, checkout, setup, radar, platform money movements
    "payment_intents": "PaymentIntentListParams",
    "checkout/sessions": "checkout.SessionListParams",
    "setup_intents": "SetupIntentListParams",
    "reviews": "ReviewListParams",
    "radar/early_fraud_warnings": "radar.EarlyFraudWarningListParams",
    "transfers": "TransferListParams",
    "application_fees": "ApplicationFeeListParams",
    "topups": "TopupListParams",
    # lists without a creation-time filter
    "billing/meters": "billing.MeterListParams",
    "payment_links": "PaymentLinkListParams",
    "entitlements/features": "entitlements.FeatureListParams",
    "quotes": "QuoteListParams",
    "billing/credit_grants": "billing.CreditGrantListParams",
    "billing/credit_balance_transactions": "billing.CreditBalanceTransactionListParams",
}


@dataclass(frozen=True)
class Param:
    """One documented list parameter."""

    name: str
    shape: str  # str | bool | int | range | list | enum | object
    values: tuple[str, ...] = ()  # an enum's literals
    parts: dict[str, Param] = field(default_factory=dict)  # an object's fields
    required: bool = False


def documented(endpoint: str) -> dict[str, Param]:
    """The filters `GET /v1/<endpoint>` documents (paging and `expand` left out)."""
    cls: Any = stripe.params
    for name in LIST_PARAMS[endpoint].split("."):  # `checkout.SessionListParams`
        cls = getattr(cls, name)
    return _params(cls, skip=COMMON | set(RequestOptions.__annotations__))


def _params(cls: type, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, Param]:
    namespace = vars(sys.modules[cls.__module__])
    required_keys = getattr(cls, "__required_keys__", frozenset())
    found = {}
    for name, annotation in cls.__annotations__.items():
        if name not in skip:
            found[name] = _param(name, annotation, namespace, name in required_keys)
    return found


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        return eval(annotation.__forward_arg__, dict(namespace))
    return annotation


def _param(name: str, annotation: Any, namespace: dict[str, Any], required: bool) -> Param:
    annotation = _resolve(annotation, namespace)
    origin = typing.get_origin(annotation)
    if origin in (typing.NotRequired, typing.Required, NotRequired, Required):
        return _param(name, typing.get_args(annotation)[0], namespace, required)
    if origin in (Union, types.UnionType):
        options = [_resolve(a, namespace) for a in typing.get_args(annotation)]
        literals = [
            v for a in options if typing.get_origin(a) is Literal for v in typing.get_args(a)
        ]
        if literals:
            return Param(name, "enum", tuple(literals), required=required)
        if int in options and any(is_typeddict(a) for a in options):
            return Param(name, "range", required=required)
        raise TypeError(f"sdk_params: unhandled union {annotation!r} for {name}")
    if origin is Literal:
        return Param(name, "enum", typing.get_args(annotation), required=required)
    if origin in (list, list):
        return Param(name, "list", required=required)
    if is_typeddict(annotation):
        return Param(name, "object", parts=_params(annotation), required=required)
    if annotation in (str, bool, int):
        return Param(name, annotation.__name__, required=required)
    raise TypeError(f"sdk_params: unhandled annotation {annotation!r} for {name}")
