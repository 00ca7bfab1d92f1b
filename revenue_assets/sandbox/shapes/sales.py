"""Sales outside the self-serve checkout: quotes a salesperson sends a customer, and the billing
credits (credit grants) a customer is given or buys to spend on metered usage, with the credit
balance transactions that record what each grant adds to or takes from the balance."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, from_template


def _no_details() -> Obj:
    """Totals' details of a quote without discounts, tax or shipping (a new dict each time:
    the billing engine never mutates what it shares)."""
    return {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}


def _totals(amount: int) -> Obj:
    return {"amount_subtotal": amount, "amount_total": amount, "total_details": _no_details()}


def quote(
    id: str,
    created: int,
    *,
    customer: str,
    currency: str,
    upfront: int,
    recurring: int | None,
    interval: tuple[str, int] | None,
    expires_at: int,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    description: str | None = None,
    header: str | None = None,
    footer: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A draft quote. `upfront` is what its first invoice would total (one-time items and the
    first period of recurring ones), `recurring` what each later period costs (None when it
    sells nothing recurring), in minor units; no discounts or tax."""
    computed_recurring = None
    if recurring is not None and interval is not None:
        computed_recurring = {
            **_totals(recurring),
            "interval": interval[0],
            "interval_count": interval[1],
        }
    return from_template(
        "quote",
        id=id,
        created=created,
        customer=customer,
        currency=currency,
        amount_subtotal=upfront,
        amount_total=upfront,
        total_details=_no_details(),
        computed={"recurring": computed_recurring, "upfront": _totals(upfront)},
        expires_at=expires_at,
        collection_method=collection_method,
        invoice_settings={
            "custom_fields": None,
            "days_until_due": days_until_due,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        description=description,
        header=header,
        footer=footer,
        status="draft",
        status_transitions={"accepted_at": None, "canceled_at": None, "finalized_at": None},
        number=None,
        invoice=None,
        subscription=None,
        subscription_schedule=None,
        metadata=metadata or {},
    )


def credit_grant(
    id: str,
    created: int,
    *,
    customer: str,
    amount: int,
    currency: str,
    category: str = "paid",
    name: str | None = None,
    effective_at: int | None = None,
    expires_at: int | None = None,
    priority: int = 50,
    metadata: Obj | None = None,
) -> Obj:
    """Billing credits of `amount` minor units for a customer's metered prices (the only scope
    Stripe offers), usable from `effective_at` (now, by default) until `expires_at`, if any."""
    return from_template(
        "billing.credit_grant",
        id=id,
        created=created,
        updated=created,
        customer=customer,
        amount={"monetary": {"currency": currency, "value": amount}, "type": "monetary"},
        applicability_config={"scope": {"price_type": "metered"}},
        category=category,
        name=name,
        effective_at=created if effective_at is None else effective_at,
        expires_at=expires_at,
        priority=priority,
        voided_at=None,
        metadata=metadata or {},
    )


def credit_balance_transaction(
    id: str,
    created: int,
    *,
    credit_grant: str,
    type: str,
    reason: str,
    amount: int,
    currency: str,
    effective_at: int,
) -> Obj:
    """One movement of a customer's credit balance: a `credit` (`reason`: `credits_granted`)
    or a `debit` (`credits_expired`, `credits_voided`) of `amount` minor units. The details
    of invoice applications stay null: the sandbox's invoices never draw on credits."""
    value = {"monetary": {"currency": currency, "value": amount}, "type": "monetary"}
    if type == "credit":
        credit = {"amount": value, "credits_application_invoice_voided": None, "type": reason}
        debit = None
    else:
        credit = None
        debit = {"amount": value, "credits_applied": None, "type": reason}
    return from_template(
        "billing.credit_balance_transaction",
        id=id,
        created=created,
        credit_grant=credit_grant,
        type=type,
        credit=credit,
        debit=debit,
        effective_at=effective_at,
        test_clock=None,
    )
