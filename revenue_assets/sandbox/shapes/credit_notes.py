"""Credit notes and their lines."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, embedded_list, from_template


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
    return from_template(
        "credit_note",
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


def credit_note_line(
    id: str,
    amount: int,
    *,
    description: str,
    invoice_line_item: str | None,
    quantity: int,
    taxes: list[Obj],
) -> Obj:
    return from_template(
        "credit_note_line_item",
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
