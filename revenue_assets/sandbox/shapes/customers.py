"""Customers."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import NULL_ADDRESS, Obj, from_template


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
    address = dict(NULL_ADDRESS, country=country) if country else None
    return from_template(
        "customer",
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
