"""Stripe's example objects (fixtures3.json) as cleaned templates, and the small pieces every
builder shares.

Each kind has one template: the fixture object with its placeholder values replaced by sensible
defaults (`stripe_fixtures.json` is the subset of `fixtures3.json` the sandbox uses). Builders take
a *shallow* copy of the template with the variable fields set (`from_template`), which keeps the
generator's hot loop cheap (no deepcopy). The price of that speed is a rule the billing engine follows: nested values
that came from a template are never mutated in place, only replaced.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

Obj = dict[str, Any]

ACCOUNT_NAME = "Acme Cloud"
STATEMENT_DESCRIPTOR = "ACME CLOUD"

NULL_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}

# Placeholders of the fixtures replaced by what a real object of a plain SaaS account carries.
_OVERRIDES: dict[str, Obj] = {
    "account": {"business_profile": None, "email": None, "metadata": {}},
    "charge": {
        "transfer_data": None,
        "source": None,
        "shipping": None,
        "captured": True,
        "calculated_statement_descriptor": STATEMENT_DESCRIPTOR,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
    },
    "coupon": {"redeem_by": None, "max_redemptions": None},
    "credit_note": {
        "shipping_cost": None,
        "pretax_credit_amounts": [],
        "total_taxes": [],
        "voided_at": None,
        "out_of_band_amount": None,
    },
    "credit_note_line_item": {"pretax_credit_amounts": [], "taxes": [], "metadata": {}},
    "customer": {"discount": None, "shipping": None, "address": None},
    "dispute": {"enhanced_eligibility_types": [], "balance_transactions": []},
    "invoice": {
        "from_invoice": None,
        "last_finalization_error": None,
        "amount_overpaid": 0,
        "shipping_cost": None,
        "shipping_details": None,
        "customer_shipping": None,
        "due_date": None,
        "next_payment_attempt": None,
        "webhooks_delivered_at": None,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "account_name": ACCOUNT_NAME,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
    },
    "invoiceitem": {"quantity_decimal": "1", "tax_rates": []},
    "line_item": {"pretax_credit_amounts": [], "taxes": []},
    "payment_intent": {
        "amount_details": {"tip": {}},
        "automatic_payment_methods": None,
        "canceled_at": None,
        "capture_method": "automatic_async",
        "last_payment_error": None,
        "managed_payments": {"enabled": False},
        "next_action": None,
        "payment_method_configuration_details": None,
        "processing": None,
        "shipping": None,
        "transfer_data": None,
        "status": "succeeded",
    },
    "payout": {
        "trace_id": {"status": "supported", "value": None},
        "reconciliation_status": "completed",
    },
    "price": {"transform_quantity": None, "custom_unit_amount": None},
    "plan": {"transform_usage": None},
    "product": {"package_dimensions": None, "type": "service", "description": None},
    "refund": {
        "destination_details": {
            "card": {"reference_status": "available", "type": "refund"},
            "type": "card",
        }
    },
    "subscription": {
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "ended_at": None,
        "managed_payments": {"enabled": False},
        "next_pending_invoice_item_invoice": None,
        "pause_collection": None,
        "pending_invoice_item_interval": None,
        "pending_update": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_start": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
    },
    "subscription_item": {"billing_thresholds": None},
    "tax_rate": {"flat_amount": None, "rate_type": "percentage"},
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "promotion_code": {"active": True, "expires_at": None},
    # -- payments: intents, checkout, setup, radar, platform money movements ----------------
    "checkout.session": {
        "after_expiration": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "currency_conversion": None,
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer_details": None,
        "invoice_creation": None,
        "managed_payments": {"enabled": False},
        "adaptive_pricing": {"enabled": False},
        "payment_method_configuration_details": None,
        "payment_method_collection": "always",
        "permissions": None,
        "saved_payment_method_options": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "wallet_options": None,
    },
    "setup_intent": {
        "automatic_payment_methods": None,
        "last_setup_error": None,
        "next_action": None,
        "payment_method_configuration_details": None,
    },
    "review": {"ip_address_location": None, "session": None},
    # -- lists without a creation-time filter ------------------------------------------------
    "payment_link": {
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "invoice_creation": None,
        "payment_intent_data": None,
        "restrictions": None,
        "shipping_address_collection": None,
        "subscription_data": None,
        "transfer_data": None,
    },
    "quote": {
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "from_quote": None,
        "transfer_data": None,
        "subscription_data": {
            "billing_mode": {"type": "classic"},
            "description": None,
            "effective_date": None,
            "metadata": None,
            "trial_period_days": None,
        },
    },
    "billing.credit_grant": {"metadata": {}, "customer_account": None},
    # The example fills both sides and every detail; a transaction is a credit or a debit.
    "billing.credit_balance_transaction": {"credit": None, "debit": None, "type": None},
}

# Fields of the fixtures that the pinned API version no longer has (the fixture file lags).
_DROP: dict[str, tuple[str, ...]] = {"invoice": ("subscription",)}

# Fields the pinned API version has that the fixtures lack (their defaults; builders set them).
_ADD: dict[str, Obj] = {
    "invoiceitem": {"proration_details": {"credited_items": None, "discount_amounts": []}},
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "subscription_schedule": {"pause_schedules": []},
    # payments: intents, checkout, setup, radar, platform money movements
    "setup_intent": {"attach_to_self": False},
    "review": {"payment_intent": None},
    "radar.early_fraud_warning": {"payment_intent": None},
}


@cache
def fixtures() -> dict[str, Obj]:
    """Stripe's example objects, by resource name."""
    raw = resources.files("revenue_assets.sandbox").joinpath("stripe_fixtures.json").read_bytes()
    return orjson.loads(raw)["resources"]


@cache
def template(kind: str) -> Obj:
    """The cleaned template of a kind. Shared: callers copy it (`from_template` does)."""
    base = dict(fixtures()[kind])
    for field in _DROP.get(kind, ()):
        base.pop(field, None)
    base.update(_OVERRIDES.get(kind, {}))
    base.update(_ADD.get(kind, {}))
    if "livemode" in base:  # balance transactions, refunds, items, discounts carry none
        base["livemode"] = False
    return base


def from_template(kind: str, /, **fields: Any) -> Obj:
    """A shallow copy of a kind's template with `fields` set. Only fields the template has: a
    name it lacks is a typo or a field the pinned version does not send (add it to `_ADD`)."""
    obj = dict(template(kind))
    if not fields.keys() <= obj.keys():
        unknown = ", ".join(sorted(fields.keys() - obj.keys()))
        raise KeyError(f"the {kind} template has no field {unknown}")
    obj.update(fields)
    return obj


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (a serializer round trip: much faster than `deepcopy`)."""
    return orjson.loads(orjson.dumps(value))


def embedded_list(data: list[Obj], url: str) -> Obj:
    """An embedded list as Stripe renders it: the first 10 entries, `has_more` beyond that."""
    return {"object": "list", "data": data[:10], "has_more": len(data) > 10, "url": url}


def deleted_stub(object_id: str, kind: str) -> Obj:
    """What Stripe answers for a deleted object, and what lists hide."""
    return {"id": object_id, "object": kind, "deleted": True}
