"""Checkout sessions: the hosted payment page a customer completes, or abandons until it
expires."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import NULL_ADDRESS, Obj, from_template, template


def checkout_session(
    id: str,
    created: int,
    *,
    mode: str,
    currency: str,
    amount: int,
    customer_id: str | None,
    customer_email: str | None,
    expires_at: int,
    client_secret: str,
    metadata: Obj | None = None,
) -> Obj:
    """An open session: a page waiting for the customer (completion and expiry change it)."""
    page = template("checkout.session")["url"].rsplit("/", 1)[0]
    return from_template(
        "checkout.session",
        id=id,
        created=created,
        mode=mode,
        currency=currency,
        amount_subtotal=amount,
        amount_total=amount,
        customer=customer_id,
        customer_email=customer_email,
        customer_creation=None if customer_id else "if_required",
        expires_at=expires_at,
        client_secret=None,
        url=f"{page}/{id}#{client_secret}",
        metadata=metadata or {},
        payment_intent=None,
        status="open",
        payment_status="unpaid",
        submit_type="subscribe" if mode == "subscription" else None,
    )


def customer_details(email: str | None, name: str | None, country: str | None) -> Obj:
    """What the customer entered on the page (email, name, billing country)."""
    return {
        "address": dict(NULL_ADDRESS, country=country),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }
