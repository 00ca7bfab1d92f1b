"""Payment and setup intents, charges, balance transactions, invoice payments, refunds,
disputes and payouts."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import (
    NULL_ADDRESS,
    Obj,
    embedded_list,
    fixtures,
    from_template,
)


def payment_intent(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    customer_id: str | None,
    charge_id: str | None,
    payment_method: str | None,
    description: str | None,
    secret: str,
) -> Obj:
    return from_template(
        "payment_intent",
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
    return from_template(
        "charge",
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
            "address": NULL_ADDRESS,
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
    return from_template(
        "balance_transaction",
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


def invoice_payment(
    id: str, invoice_id: str, amount: int, currency: str, created: int, *, payment_intent_id: str
) -> Obj:
    return from_template(
        "invoice_payment",
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
    return from_template(
        "refund",
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
    return from_template(
        "dispute",
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
    return from_template(
        "payout",
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


def setup_intent(
    id: str,
    created: int,
    *,
    customer_id: str | None,
    payment_method: str | None,
    secret: str,
    description: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A setup intent waiting for its card (confirmation sets `payment_method` and `status`)."""
    return from_template(
        "setup_intent",
        id=id,
        created=created,
        customer=customer_id,
        payment_method=payment_method,
        client_secret=f"{id}_secret_{secret}",
        description=description,
        metadata=metadata or {},
        status="requires_payment_method",
    )
