"""Objects Stripe keeps under a customer, or next to one: customer balance transactions, tax
ids, payment methods (cards), and the setup attempts that saved those cards.

Every field is set here rather than left to the example object: Stripe's examples carry
placeholders (a wallet of type `link`, an `idempotency_error` as a setup error) that a plain card
saved by a SaaS customer never has.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox.shapes.templates import NULL_ADDRESS, from_template

Obj = dict[str, Any]

# Tax id types whose numbers Stripe checks against a government registry (the others stay
# `unavailable`), and the country each names.
VERIFIED_TYPES = {"eu_vat": None, "gb_vat": "GB", "au_abn": "AU", "ch_vat": "CH", "no_vat": "NO"}


def customer_balance_transaction(
    id: str,
    created: int,
    *,
    customer: str,
    amount: int,
    currency: str,
    ending_balance: int,
    type: str = "adjustment",
    description: str | None = None,
    invoice: str | None = None,
    credit_note: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    return from_template(
        "customer_balance_transaction",
        id=id,
        created=created,
        customer=customer,
        amount=amount,
        currency=currency,
        ending_balance=ending_balance,
        type=type,
        description=description,
        invoice=invoice,
        credit_note=credit_note,
        checkout_session=None,
        customer_account=None,
        metadata=metadata if metadata is not None else {},
    )


def tax_id(
    id: str, created: int, *, customer: str, type: str, value: str, country: str | None
) -> Obj:
    """A customer's tax id, `pending` while Stripe checks a registry, `unavailable` where
    Stripe checks none."""
    status = "pending" if type in VERIFIED_TYPES else "unavailable"
    return from_template(
        "tax_id",
        id=id,
        created=created,
        customer=customer,
        country=country,
        type=type,
        value=value,
        owner={"customer": customer, "type": "customer", "customer_account": None},
        verification={"status": status, "verified_address": None, "verified_name": None},
        customer_account=None,
    )


def card(
    brand: str, last4: str, fingerprint: str, exp_month: int, exp_year: int, country: str | None
) -> Obj:
    """The `card` hash of a card payment method (shared by no one: built fresh each time)."""
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": country,
        "display_brand": brand,
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": fingerprint,
        "funding": "credit",
        "generated_from": None,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def payment_method(
    id: str,
    created: int,
    *,
    customer: str | None,
    card: Obj,
    name: str | None,
    email: str | None,
    country: str | None,
    allow_redisplay: str = "unspecified",
    metadata: Obj | None = None,
) -> Obj:
    return from_template(
        "payment_method",
        id=id,
        created=created,
        customer=customer,
        customer_account=None,
        type="card",
        card=card,
        allow_redisplay=allow_redisplay,
        billing_details={
            "address": dict(NULL_ADDRESS, country=country) if country else dict(NULL_ADDRESS),
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        metadata=metadata if metadata is not None else {},
    )


def setup_attempt(
    id: str,
    created: int,
    *,
    setup_intent: str,
    customer: str | None,
    payment_method: str,
    card: Obj,
    usage: str,
    error: Obj | None,
) -> Obj:
    """One confirmation of a setup intent: `succeeded`, or `failed` with the issuer's error."""
    return from_template(
        "setup_attempt",
        id=id,
        created=created,
        setup_intent=setup_intent,
        customer=customer,
        customer_account=None,
        application=None,
        on_behalf_of=None,
        flow_directions=None,
        payment_method=payment_method,
        payment_method_details={
            "card": {
                "brand": card["brand"],
                "checks": dict(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "last4": card["last4"],
                "network": card["brand"],
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        setup_error=error,
        status="failed" if error else "succeeded",
        usage=usage,
    )
