"""Credit notes: partial or full credits of finalized invoices (refunded, or out of band)."""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import invoicing, money, payments, shapes
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]


def create(
    ledger: Ledger,
    invoice: Obj,
    *,
    lines: list[tuple[str, int]] | None = None,
    amount: int | None = None,
    reason: str | None = None,
    memo: str | None = None,
    refund: bool = True,
    metadata: Obj | None = None,
) -> Obj:
    """Credit an open or paid invoice.

    `lines` credits (invoice line id, amount excluding tax); `amount` credits the invoice's first
    lines up to that amount. Tax is credited in proportion. On a paid invoice the credit is
    refunded on the invoice's charge (or recorded out of band with `refund=False`); on an open
    invoice it reduces the amount due.
    """
    if invoice["status"] not in ("open", "paid"):
        raise SandboxError(
            400,
            f"Invoice {invoice['id']} must be finalized (open or paid) to create a credit note.",
            code="invoice_not_finalized" if invoice["status"] == "draft" else None,
            param="invoice",
        )
    invoice_lines = {line["id"]: line for line in invoicing.lines_of(ledger, invoice)}
    credited = _already_credited(ledger, invoice)
    if lines is None:
        if amount is None or amount <= 0:
            raise invalid("Provide lines or a positive amount to credit.", "amount")
        lines = []
        left = amount
        for line in invoice_lines.values():
            room = _net(line) - credited.get(line["id"], 0)
            if room > 0 and left > 0:
                take = min(room, left)
                lines.append((line["id"], take))
                left -= take
        if left > 0:
            raise invalid("The credit amount exceeds what the invoice can credit.", "amount")
    number = len(ledger.children(invoice["id"], "credit_note")) + 1
    note_id = ledger.ids.new("cn")
    built = []
    tax_by_rate: dict[str, list[int]] = {}
    subtotal = tax_total = 0
    for line_id, line_amount in lines:
        line = invoice_lines.get(line_id)
        if line is None:
            raise invalid(f"Invoice line {line_id} is not on invoice {invoice['id']}.", "lines")
        room = _net(line) - credited.get(line_id, 0)
        if line_amount <= 0 or line_amount > room:
            raise invalid(
                f"The credit amount for line {line_id} must be between 1 and {room}.", "lines"
            )
        taxes = []
        for tax in line["taxes"]:
            share = money.round_half_up(tax["amount"] * line_amount, max(1, _net(line)))
            taxes.append(dict(tax, amount=share, taxable_amount=line_amount))
            bucket = tax_by_rate.setdefault(tax["tax_rate_details"]["tax_rate"], [0, 0])
            bucket[0] += share
            bucket[1] += line_amount
            tax_total += share
        built.append(
            shapes.credit_note_line(
                ledger.ids.new("cnli"),
                line_amount,
                description=line["description"],
                invoice_line_item=line_id,
                quantity=line["quantity"] or 1,
                taxes=taxes,
            )
        )
        subtotal += line_amount
    total = subtotal + tax_total
    paid = invoice["status"] == "paid"
    if paid and total > invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]:
        raise invalid("The credit note total exceeds the amount paid on the invoice.", "amount")
    note = shapes.credit_note(
        note_id,
        invoice,
        ledger.now,
        number=f"{invoice['number']}-CN-{number:02d}",
        type="post_payment" if paid else "pre_payment",
        reason=reason,
        memo=memo,
        metadata=metadata,
    )
    for line in built:
        ledger.put(line, parent=note_id)
    note.update(
        amount=total,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=subtotal,
        total_taxes=[
            {
                "amount": values[0],
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": rate},
                "taxability_reason": "standard_rated",
                "taxable_amount": values[1],
                "type": "tax_rate_details",
            }
            for rate, values in tax_by_rate.items()
        ],
        pre_payment_amount=0 if paid else total,
        post_payment_amount=total if paid else 0,
        lines=shapes.embedded_list(built, f"/v1/credit_notes/{note_id}/lines"),
    )
    previous = {
        "post_payment_credit_notes_amount": invoice["post_payment_credit_notes_amount"],
        "pre_payment_credit_notes_amount": invoice["pre_payment_credit_notes_amount"],
    }
    if paid:
        charge = _charge_of(ledger, invoice)
        if refund and charge is not None:
            made = payments.refund_charge(ledger, charge, total, reason="requested_by_customer")
            note["refunds"] = [
                {
                    "amount_refunded": total,
                    "payment_record_refund": None,
                    "refund": made["id"],
                    "type": "refund",
                }
            ]
        else:
            note["out_of_band_amount"] = total
        invoice["post_payment_credit_notes_amount"] += total
    else:
        invoice["pre_payment_credit_notes_amount"] += total
        invoice["amount_due"] = max(0, invoice["amount_due"] - total)
        invoice["amount_remaining"] = max(0, invoice["amount_remaining"] - total)
    ledger.put(note, parent=invoice["id"])
    ledger.put(invoice)
    ledger.emit("credit_note.created", note)
    ledger.emit("invoice.updated", invoice, previous)
    return note


def void(ledger: Ledger, note: Obj) -> Obj:
    """Void a credit note that moved no money (pre-payment or out of band)."""
    if note["status"] == "void":
        raise invalid(f"Credit note {note['id']} is already void.", "id")
    if note["refunds"]:
        raise invalid("A credit note with refunds cannot be voided.", "id")
    invoice = ledger.get(note["invoice"])
    note["status"] = "void"
    note["voided_at"] = ledger.now
    ledger.put(note)
    if invoice is not None:
        previous = {
            "post_payment_credit_notes_amount": invoice["post_payment_credit_notes_amount"],
            "pre_payment_credit_notes_amount": invoice["pre_payment_credit_notes_amount"],
        }
        if note["type"] == "pre_payment":
            invoice["pre_payment_credit_notes_amount"] -= note["total"]
            if invoice["status"] == "open":
                invoice["amount_due"] += note["total"]
                invoice["amount_remaining"] += note["total"]
        else:
            invoice["post_payment_credit_notes_amount"] -= note["total"]
        ledger.put(invoice)
        ledger.emit("invoice.updated", invoice, previous)
    ledger.emit("credit_note.voided", note, {"status": "issued", "voided_at": None})
    return note


def _net(line: Obj) -> int:
    return line["amount"] - sum(entry["amount"] for entry in line["discount_amounts"])


def _already_credited(ledger: Ledger, invoice: Obj) -> dict[str, int]:
    credited: dict[str, int] = {}
    for note in ledger.children(invoice["id"], "credit_note"):
        if note.get("status") == "void":
            continue
        for line in ledger.children(note["id"], "credit_note_line_item"):
            key = line.get("invoice_line_item")
            if key:
                credited[key] = credited.get(key, 0) + line["amount"]
    return credited


def _charge_of(ledger: Ledger, invoice: Obj) -> Obj | None:
    charges = ledger.children(invoice["id"], "charge")
    return charges[-1] if charges else None
