"""Object builders in the pinned API version, from Stripe's own example objects (fixtures3.json).

Each kind has one template: the fixture object with its placeholder values replaced by sensible
defaults (`stripe_fixtures.json` is the subset of `fixtures3.json` the sandbox uses). Builders make
a *shallow* copy of the template and set the variable fields, which keeps the generator's hot loop
cheap (no deepcopy). The price of that speed is a rule the billing engine follows: nested values
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

_NULL_ADDRESS = {
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
}

# Fields of the fixtures that the pinned API version no longer has (the fixture file lags).
_DROP: dict[str, tuple[str, ...]] = {"invoice": ("subscription",)}


@cache
def fixtures() -> dict[str, Obj]:
    """Stripe's example objects, by resource name."""
    raw = resources.files("revenue_assets.sandbox").joinpath("stripe_fixtures.json").read_bytes()
    return orjson.loads(raw)["resources"]


@cache
def template(kind: str) -> Obj:
    """The cleaned template of a kind. Shared: callers copy it (`dict(template(kind))`)."""
    base = dict(fixtures()[kind])
    for field in _DROP.get(kind, ()):
        base.pop(field, None)
    base.update(_OVERRIDES.get(kind, {}))
    if "livemode" in base:  # balance transactions, refunds, items, discounts carry none
        base["livemode"] = False
    return base


def clone(value: Any) -> Any:
    """A deep copy of JSON-like data (a serializer round trip: much faster than `deepcopy`)."""
    return orjson.loads(orjson.dumps(value))


def embedded_list(data: list[Obj], url: str) -> Obj:
    """An embedded list as Stripe renders it: the first 10 entries, `has_more` beyond that."""
    return {"object": "list", "data": data[:10], "has_more": len(data) > 10, "url": url}


def deleted_stub(object_id: str, kind: str) -> Obj:
    """What Stripe answers for a deleted object, and what lists hide."""
    return {"id": object_id, "object": kind, "deleted": True}


# -- catalog --------------------------------------------------------------------------------------


def product(
    id: str, name: str, created: int, *, description: str | None = None, metadata: Obj | None = None
) -> Obj:
    obj = dict(template("product"))
    obj.update(
        id=id,
        name=name,
        created=created,
        updated=created,
        default_price=None,
        description=description,
        images=[],
        marketing_features=[],
        metadata=metadata or {},
        url=None,
        shippable=None,
        statement_descriptor=None,
        unit_label=None,
        tax_code=None,
    )
    return obj


def price(
    id: str,
    product_id: str,
    currency: str,
    unit_amount: int,
    created: int,
    *,
    interval: str | None = None,
    interval_count: int = 1,
    nickname: str | None = None,
    lookup_key: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("price"))
    recurring = None
    if interval is not None:
        recurring = {
            "interval": interval,
            "interval_count": interval_count,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    obj.update(
        id=id,
        product=product_id,
        currency=currency,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        created=created,
        recurring=recurring,
        type="recurring" if recurring else "one_time",
        nickname=nickname,
        lookup_key=lookup_key,
        metadata=metadata or {},
        tax_behavior="exclusive",
        active=True,
    )
    return obj


def plan_of(price_obj: Obj) -> Obj | None:
    """The legacy `plan` view of a recurring price (still carried by subscription items)."""
    recurring = price_obj.get("recurring")
    if not recurring:
        return None
    obj = dict(template("plan"))
    obj.update(
        id=price_obj["id"],
        active=price_obj["active"],
        amount=price_obj["unit_amount"],
        amount_decimal=price_obj["unit_amount_decimal"],
        created=price_obj["created"],
        currency=price_obj["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        metadata=price_obj["metadata"],
        nickname=price_obj["nickname"],
        product=price_obj["product"],
        usage_type="licensed",
        trial_period_days=None,
    )
    return obj


def coupon(
    id: str,
    created: int,
    *,
    duration: str,
    percent_off: float | None = None,
    amount_off: int | None = None,
    currency: str | None = None,
    duration_in_months: int | None = None,
    name: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("coupon"))
    obj.update(
        id=id,
        created=created,
        duration=duration,
        duration_in_months=duration_in_months if duration == "repeating" else None,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency if amount_off is not None else None,
        name=name,
        metadata=metadata or {},
        times_redeemed=0,
        valid=True,
    )
    return obj


def tax_rate(id: str, created: int, *, percentage: float, country: str, display_name: str) -> Obj:
    obj = dict(template("tax_rate"))
    obj.update(
        id=id,
        created=created,
        percentage=percentage,
        effective_percentage=percentage,
        country=country,
        jurisdiction=country,
        description=f"{display_name} {country}",
        display_name=display_name,
        inclusive=False,
        tax_type="vat" if display_name == "VAT" else "jct",
        metadata={},
    )
    return obj


def discount(
    id: str,
    coupon_id: str,
    start: int,
    end: int | None,
    *,
    customer: str | None,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice: str | None = None,
    invoice_item: str | None = None,
) -> Obj:
    obj = dict(template("discount"))
    obj.update(
        id=id,
        source={"coupon": coupon_id, "type": "coupon"},
        start=start,
        end=end,
        customer=customer,
        subscription=subscription,
        subscription_item=subscription_item,
        invoice=invoice,
        invoice_item=invoice_item,
        checkout_session=None,
        promotion_code=None,
    )
    return obj


# -- customers and subscriptions ------------------------------------------------------------------


def customer(
    id: str,
    created: int,
    *,
    email: str | None,
    name: str | None,
    invoice_prefix: str,
    country: str | None = None,
    currency: str | None = None,
    payment_method: str | None = None,
    metadata: Obj | None = None,
    description: str | None = None,
    phone: str | None = None,
) -> Obj:
    obj = dict(template("customer"))
    address = dict(_NULL_ADDRESS, country=country) if country else None
    obj.update(
        id=id,
        created=created,
        email=email,
        name=name,
        description=description,
        phone=phone,
        address=address,
        currency=currency,
        invoice_prefix=invoice_prefix,
        next_invoice_sequence=1,
        balance=0,
        delinquent=False,
        metadata=metadata or {},
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": payment_method,
            "footer": None,
            "rendering_options": None,
        },
        preferred_locales=[],
    )
    return obj


def subscription_item(
    id: str,
    subscription_id: str,
    price_obj: Obj,
    plan: Obj | None,
    quantity: int,
    created: int,
    period_start: int,
    period_end: int,
    *,
    discounts: list[str] | None = None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("subscription_item"))
    obj.update(
        id=id,
        subscription=subscription_id,
        price=price_obj,
        plan=plan,
        quantity=quantity,
        created=created,
        current_period_start=period_start,
        current_period_end=period_end,
        discounts=discounts or [],
        metadata=metadata or {},
        tax_rates=[],
    )
    return obj


def subscription(
    id: str,
    customer_id: str,
    currency: str,
    created: int,
    *,
    status: str,
    anchor: int,
    items: list[Obj],
    metadata: Obj | None = None,
    trial_start: int | None = None,
    trial_end: int | None = None,
    missing_payment_method: str = "create_invoice",
    discounts: list[str] | None = None,
    default_payment_method: str | None = None,
    description: str | None = None,
) -> Obj:
    obj = dict(template("subscription"))
    obj.update(
        id=id,
        customer=customer_id,
        currency=currency,
        created=created,
        start_date=created,
        status=status,
        billing_cycle_anchor=anchor,
        items=embedded_list(items, f"/v1/subscription_items?subscription={id}"),
        metadata=metadata or {},
        trial_start=trial_start,
        trial_end=trial_end,
        trial_settings={"end_behavior": {"missing_payment_method": missing_payment_method}},
        discounts=discounts or [],
        default_payment_method=default_payment_method,
        default_source=None,
        default_tax_rates=[],
        description=description,
        latest_invoice=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}},
        schedule=None,
        test_clock=None,
        application=None,
        application_fee_percent=None,
        on_behalf_of=None,
        days_until_due=None,
        collection_method="charge_automatically",
    )
    return obj


# -- invoices --------------------------------------------------------------------------------------


def invoice(
    id: str,
    customer_obj: Obj,
    currency: str,
    created: int,
    *,
    billing_reason: str,
    subscription_id: str | None,
    subscription_metadata: Obj | None,
    period_start: int,
    period_end: int,
    discounts: list[str] | None = None,
    description: str | None = None,
    metadata: Obj | None = None,
    auto_advance: bool = True,
) -> Obj:
    obj = dict(template("invoice"))
    parent = None
    if subscription_id is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": subscription_metadata or {},
                "subscription": subscription_id,
                "subscription_proration_date": None,
            },
            "type": "subscription_details",
        }
    address = customer_obj.get("address")
    obj.update(
        id=id,
        customer=customer_obj["id"],
        customer_email=customer_obj.get("email"),
        customer_name=customer_obj.get("name"),
        customer_phone=customer_obj.get("phone"),
        customer_address=address,
        customer_tax_exempt="none",
        customer_tax_ids=[],
        currency=currency,
        created=created,
        billing_reason=billing_reason,
        parent=parent,
        period_start=period_start,
        period_end=period_end,
        discounts=discounts or [],
        description=description,
        metadata=metadata or {},
        auto_advance=auto_advance,
        status="draft",
        status_transitions={
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        number=None,
        receipt_number=None,
        effective_at=None,
        attempted=False,
        attempt_count=0,
        amount_due=0,
        amount_paid=0,
        amount_remaining=0,
        amount_shipping=0,
        starting_balance=0,
        ending_balance=None,
        subtotal=0,
        subtotal_excluding_tax=0,
        total=0,
        total_excluding_tax=0,
        total_discount_amounts=[],
        total_taxes=[],
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        lines=embedded_list([], f"/v1/invoices/{id}/lines"),
        hosted_invoice_url=None,
        invoice_pdf=None,
        default_payment_method=None,
        default_source=None,
        default_tax_rates=[],
        collection_method="charge_automatically",
        application=None,
        on_behalf_of=None,
        latest_revision=None,
        footer=None,
        statement_descriptor=None,
        custom_fields=None,
        account_tax_ids=None,
        test_clock=None,
        automatically_finalizes_at=None,
    )
    return obj


def line_parent_subscription(
    subscription_id: str,
    subscription_item_id: str,
    *,
    invoice_item: str | None = None,
    proration: bool = False,
    credited: Obj | None = None,
) -> Obj:
    return {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": invoice_item,
            "proration": proration,
            "proration_details": {"credited_items": credited},
            "subscription": subscription_id,
            "subscription_item": subscription_item_id,
        },
        "type": "subscription_item_details",
    }


def line_parent_invoice_item(invoice_item: str, subscription_id: str | None = None) -> Obj:
    return {
        "invoice_item_details": {
            "invoice_item": invoice_item,
            "proration": False,
            "proration_details": {"credited_items": None},
            "subscription": subscription_id,
        },
        "subscription_item_details": None,
        "type": "invoice_item_details",
    }


def line_item(
    id: str,
    invoice_id: str,
    currency: str,
    amount: int,
    *,
    description: str,
    parent: Obj,
    period_start: int,
    period_end: int,
    price_id: str | None,
    product_id: str | None,
    quantity: int,
    unit_amount: int | None,
    subscription_id: str | None,
    discounts: list[str] | None = None,
    discountable: bool = True,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("line_item"))
    obj.update(
        id=id,
        invoice=invoice_id,
        currency=currency,
        amount=amount,
        subtotal=amount,
        description=description,
        parent=parent,
        period={"end": period_end, "start": period_start},
        pricing={
            "price_details": {"price": price_id, "product": product_id} if price_id else None,
            "type": "price_details",
            "unit_amount_decimal": str(unit_amount) if unit_amount is not None else None,
        },
        quantity=quantity,
        quantity_decimal=str(quantity),
        subscription=subscription_id,
        discounts=discounts or [],
        discount_amounts=[],
        discountable=discountable,
        metadata=metadata or {},
        taxes=[],
        pretax_credit_amounts=[],
    )
    return obj


def invoiceitem(
    id: str,
    customer_id: str,
    currency: str,
    amount: int,
    created: int,
    *,
    description: str,
    period_start: int,
    period_end: int,
    price_id: str | None,
    product_id: str | None,
    quantity: int = 1,
    unit_amount: int | None = None,
    proration: bool = False,
    subscription_id: str | None = None,
    subscription_item_id: str | None = None,
    discounts: list[str] | None = None,
    discountable: bool = True,
    metadata: Obj | None = None,
    credited: Obj | None = None,
) -> Obj:
    obj = dict(template("invoiceitem"))
    parent = None
    if subscription_id is not None:
        parent = {
            "subscription_details": {
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
            "type": "subscription_details",
        }
    obj.update(
        id=id,
        customer=customer_id,
        currency=currency,
        amount=amount,
        net_amount=amount,
        date=created,
        description=description,
        period={"end": period_end, "start": period_start},
        pricing={
            "price_details": {"price": price_id, "product": product_id} if price_id else None,
            "type": "price_details",
            "unit_amount_decimal": str(unit_amount if unit_amount is not None else amount),
        },
        quantity=quantity,
        quantity_decimal=str(quantity),
        proration=proration,
        proration_details={
            "credited_items": _item_credit(credited),
            "discount_amounts": [],
        },
        parent=parent,
        discounts=discounts or [],
        discountable=discountable,
        invoice=None,
        metadata=metadata or {},
    )
    return obj


def _item_credit(credited: Obj | None) -> Obj | None:
    """An invoice item's `credited_items` from the invoice lines it credits (a line's own
    `credited_items` is the bare `{invoice, invoice_line_items}`; an item's wraps it by type)."""
    if credited is None:
        return None
    return {
        "invoice_item": None,
        "invoice_line_item_details": credited,
        "type": "invoice_line_items",
    }


def credited_lines(invoice_item: Obj) -> Obj | None:
    """The `{invoice, invoice_line_items}` an invoice item credits, for the line that bills it."""
    credited = (invoice_item.get("proration_details") or {}).get("credited_items") or {}
    return credited.get("invoice_line_item_details")


# -- payments --------------------------------------------------------------------------------------


def payment_intent(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    customer_id: str | None,
    charge_id: str,
    payment_method: str,
    description: str | None,
    secret: str,
) -> Obj:
    obj = dict(template("payment_intent"))
    obj.update(
        id=id,
        amount=amount,
        amount_received=amount,
        amount_capturable=0,
        currency=currency,
        created=created,
        customer=customer_id,
        latest_charge=charge_id,
        payment_method=payment_method,
        description=description,
        client_secret=f"{id}_secret_{secret}",
        metadata={},
        payment_method_types=["card"],
        payment_method_options={},
    )
    return obj


def card_details(brand: str, last4: str, fingerprint: str, exp_year: int) -> Obj:
    """`payment_method_details` of a card charge (shared per customer: never mutated)."""
    card = dict(fixtures()["charge"]["payment_method_details"]["card"])
    card.update(
        brand=brand,
        last4=last4,
        fingerprint=fingerprint,
        exp_year=exp_year,
        network=brand,
        amount_authorized=None,
        wallet=None,
        overcapture={"maximum_amount_capturable": 0, "status": "unavailable"},
    )
    return {"card": card, "type": "card"}


def charge(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    customer_id: str | None,
    balance_transaction: str | None,
    payment_intent_id: str | None,
    payment_method: str,
    method_details: Obj,
    billing_name: str | None,
    billing_email: str | None,
    description: str | None,
    receipt: str,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("charge"))
    obj.update(
        id=id,
        amount=amount,
        amount_captured=amount,
        amount_refunded=0,
        currency=currency,
        created=created,
        customer=customer_id,
        balance_transaction=balance_transaction,
        payment_intent=payment_intent_id,
        payment_method=payment_method,
        payment_method_details=method_details,
        billing_details={
            "address": _NULL_ADDRESS,
            "email": billing_email,
            "name": billing_name,
            "phone": None,
            "tax_id": None,
        },
        description=description,
        disputed=False,
        refunded=False,
        paid=True,
        status="succeeded",
        receipt_email=billing_email,
        receipt_url=f"https://pay.stripe.com/receipts/payment/{receipt}",
        refunds=embedded_list([], f"/v1/charges/{id}/refunds"),
        metadata=metadata or {},
        fraud_details={},
        review=None,
    )
    return obj


def balance_transaction(
    id: str,
    amount: int,
    fee: int,
    currency: str,
    created: int,
    *,
    source: str,
    type: str,
    reporting_category: str,
    description: str | None,
    available_on: int,
    status: str,
) -> Obj:
    obj = dict(template("balance_transaction"))
    fee_details = []
    if fee:
        fee_details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
    obj.update(
        id=id,
        amount=amount,
        fee=fee,
        fee_details=fee_details,
        net=amount - fee,
        currency=currency,
        created=created,
        available_on=available_on,
        source=source,
        type=type,
        reporting_category=reporting_category,
        description=description,
        status=status,
        exchange_rate=None,
    )
    return obj


def invoice_payment(
    id: str, invoice_id: str, amount: int, currency: str, created: int, *, payment_intent_id: str
) -> Obj:
    obj = dict(template("invoice_payment"))
    obj.update(
        id=id,
        invoice=invoice_id,
        amount_paid=amount,
        amount_requested=amount,
        currency=currency,
        created=created,
        is_default=True,
        payment={"payment_intent": payment_intent_id, "type": "payment_intent"},
        status="paid",
        status_transitions={"canceled_at": None, "paid_at": created},
    )
    return obj


def refund(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    charge_id: str,
    payment_intent_id: str | None,
    balance_transaction: str,
    reason: str | None,
    customer_id: str | None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("refund"))
    obj.update(
        id=id,
        amount=amount,
        currency=currency,
        created=created,
        charge=charge_id,
        payment_intent=payment_intent_id,
        balance_transaction=balance_transaction,
        reason=reason,
        status="succeeded",
        customer=customer_id,
        metadata=metadata or {},
        receipt_number=None,
    )
    return obj


def dispute(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    charge_id: str,
    payment_intent_id: str | None,
    reason: str,
    transactions: list[Obj],
) -> Obj:
    obj = dict(template("dispute"))
    obj.update(
        id=id,
        amount=amount,
        currency=currency,
        created=created,
        charge=charge_id,
        payment_intent=payment_intent_id,
        reason=reason,
        status="needs_response",
        balance_transactions=transactions,
        is_charge_refundable=False,
        metadata={},
        evidence_details={
            "due_by": created + 7 * 86_400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
    )
    return obj


def payout(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    balance_transaction: str,
    arrival_date: int,
    automatic: bool,
    destination: str,
    trace: str,
    description: str | None = "STRIPE PAYOUT",
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("payout"))
    obj.update(
        id=id,
        amount=amount,
        currency=currency,
        created=created,
        balance_transaction=balance_transaction,
        arrival_date=arrival_date,
        automatic=automatic,
        destination=destination,
        description=description,
        status="in_transit",
        reconciliation_status="in_progress",
        trace_id={"status": "supported", "value": trace},
        metadata=metadata or {},
    )
    return obj


def credit_note(
    id: str,
    invoice_obj: Obj,
    created: int,
    *,
    number: str,
    type: str,
    reason: str | None,
    memo: str | None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("credit_note"))
    obj.update(
        id=id,
        invoice=invoice_obj["id"],
        customer=invoice_obj["customer"],
        currency=invoice_obj["currency"],
        created=created,
        effective_at=created,
        number=number,
        type=type,
        reason=reason,
        memo=memo,
        metadata=metadata or {},
        status="issued",
        pdf=f"https://pay.stripe.com/credit_notes/{id}/pdf",
        refunds=[],
        customer_balance_transaction=None,
        discount_amount=0,
        discount_amounts=[],
        lines=embedded_list([], f"/v1/credit_notes/{id}/lines"),
    )
    return obj


def credit_note_line(
    id: str,
    amount: int,
    *,
    description: str,
    invoice_line_item: str | None,
    quantity: int,
    taxes: list[Obj],
) -> Obj:
    obj = dict(template("credit_note_line_item"))
    obj.update(
        id=id,
        amount=amount,
        description=description,
        discount_amount=0,
        discount_amounts=[],
        invoice_line_item=invoice_line_item,
        quantity=quantity,
        type="invoice_line_item" if invoice_line_item else "custom_line_item",
        unit_amount=None if invoice_line_item else amount,
        unit_amount_decimal=None if invoice_line_item else str(amount),
        taxes=taxes,
        tax_rates=[],
        metadata={},
    )
    return obj


# -- platform -------------------------------------------------------------------------------------


def event(
    id: str,
    type: str,
    created: int,
    obj: Obj,
    *,
    api_version: str,
    previous: Obj | None = None,
    request_id: str | None = None,
    account: str | None = None,
    pending_webhooks: int = 0,
) -> Obj:
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    body: Obj = {"id": id, "object": "event"}
    if account is not None:
        body["account"] = account
    body.update(
        api_version=api_version,
        created=created,
        data=data,
        livemode=False,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": None},
        type=type,
    )
    return body


def webhook_endpoint(
    id: str,
    url: str,
    created: int,
    *,
    enabled_events: list[str],
    api_version: str | None,
    description: str | None,
    metadata: Obj | None = None,
) -> Obj:
    obj = dict(template("webhook_endpoint"))
    obj.update(
        id=id,
        url=url,
        created=created,
        enabled_events=enabled_events,
        api_version=api_version,
        description=description,
        metadata=metadata or {},
        status="enabled",
    )
    return obj


def account(id: str, created: int, *, name: str, country: str, currency: str, email: str) -> Obj:
    obj = dict(template("account"))
    obj.update(
        id=id,
        created=created,
        country=country,
        default_currency=currency,
        email=email,
        business_profile={
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": "5734",
            "minority_owned_business_designation": None,
            "name": name,
            "product_description": "Software as a service",
            "support_address": None,
            "support_email": email,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        external_accounts={
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/accounts/{id}/external_accounts",
        },
        metadata={},
    )
    return obj
