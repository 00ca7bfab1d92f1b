"""Invoices: lines, discounts, tax, totals, and the invoice lifecycle (finalize, pay, void).

Totals are always recomputed from the stored lines, so that `subtotal = Σ line.amount`,
discounts appear per line in `discount_amounts` and per invoice in `total_discount_amounts`,
`total = subtotal − discounts + tax`, whatever path (history, API, renewal) built the invoice.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import customer_children, money, payments, shapes
from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]


def product_name(ledger: Ledger, product_id: str | None) -> str:
    product = ledger.get(product_id) if product_id else None
    if product is not None and product.get("deleted"):
        product = ledger.tombstone(product_id) or product
    return (product or {}).get("name") or "Item"


def coupon_of(ledger: Ledger, discount_id: str) -> tuple[Obj, Obj] | None:
    """A discount and its coupon (deleted coupons keep applying to existing discounts)."""
    found = ledger.get(discount_id)
    if found is None:
        return None
    coupon_id = found["source"]["coupon"]
    coupon = ledger.get(coupon_id)
    if coupon is None or coupon.get("deleted"):
        coupon = ledger.tombstone(coupon_id)
    return (found, coupon) if coupon else None


def discount_active(found: Obj, at: int) -> bool:
    return found["start"] <= at and (found["end"] is None or at < found["end"])


def new_discount(
    ledger: Ledger,
    coupon: Obj,
    *,
    customer: str,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice: str | None = None,
    invoice_item: str | None = None,
    promotion_code: str | None = None,
) -> Obj:
    """Apply a coupon (directly or through one of its promotion codes): a `discount` object
    whose end follows the coupon's duration."""
    start = ledger.now
    end = None
    if coupon["duration"] == "repeating":
        months = coupon.get("duration_in_months") or 1
        end = money.add_interval(start, "month", months, start)
    found = shapes.discount(
        ledger.ids.new("di"),
        coupon["id"],
        start,
        end,
        customer=customer,
        subscription=subscription,
        subscription_item=subscription_item,
        invoice=invoice,
        invoice_item=invoice_item,
        promotion_code=promotion_code,
    )
    ledger.put(found)
    if _announced(found):
        # Stripe announces coupons applied to customers and subscriptions (the only place where
        # current API versions show which coupon a discount id stands for, besides `expand`).
        ledger.emit("customer.discount.created", found)
    return found


def end_discount(ledger: Ledger, found: Obj) -> None:
    """A discount stops applying (a once coupon was used, a repeating one ran out)."""
    previous = {"end": found["end"]}
    found["end"] = ledger.now
    ledger.put(found)
    if _announced(found):
        ledger.emit("customer.discount.deleted", found, previous)


def _announced(found: Obj) -> bool:
    """Stripe announces discounts of customers and subscriptions, not those of one invoice."""
    return found["invoice"] is None and found["invoice_item"] is None


def switch_discount(
    ledger: Ledger, found: Obj, coupon: Obj, *, promotion_code: str | None = None
) -> Obj:
    """A customer or subscription switched from one coupon to another: its discount keeps its
    id and starts again under the new coupon (`customer.discount.updated`, naming what it
    was)."""
    previous = {
        "source": dict(found["source"]),
        "start": found["start"],
        "end": found["end"],
        "promotion_code": found["promotion_code"],
    }
    found["source"] = {**found["source"], "coupon": coupon["id"]}
    found["start"] = ledger.now
    found["end"] = None
    if coupon["duration"] == "repeating":
        months = coupon.get("duration_in_months") or 1
        found["end"] = money.add_interval(ledger.now, "month", months, ledger.now)
    found["promotion_code"] = promotion_code
    changed = {key: value for key, value in previous.items() if found[key] != value}
    ledger.put(found)
    if _announced(found):
        ledger.emit("customer.discount.updated", found, changed)
    return found


def remove_discount(ledger: Ledger, found: Obj) -> Obj:
    """A discount taken off its customer or subscription (`customer.discount.deleted`, the
    discount as it was). The object stays stored: invoices it applied to still name it.
    Returns Stripe's answer to the removal, the deleted discount."""
    if _announced(found):
        ledger.emit("customer.discount.deleted", found)
    return shapes.deleted_discount(found)


# -- building ---------------------------------------------------------------------------------------


def new_invoice(
    ledger: Ledger,
    customer: Obj,
    currency: str,
    *,
    billing_reason: str,
    subscription: Obj | None = None,
    invoice_id: str | None = None,
    period_start: int | None = None,
    period_end: int | None = None,
    discounts: list[str] | None = None,
    tax_rates: list[Obj] | None = None,
    description: str | None = None,
    metadata: Obj | None = None,
    auto_advance: bool = True,
) -> Obj:
    """A draft invoice (stored, no event yet: `open_draft` emits `invoice.created`)."""
    now = ledger.now
    invoice = shapes.invoice(
        invoice_id or ledger.ids.new("in"),
        customer,
        currency,
        now,
        billing_reason=billing_reason,
        subscription_id=subscription["id"] if subscription else None,
        subscription_metadata=subscription["metadata"] if subscription else None,
        period_start=now if period_start is None else period_start,
        period_end=now if period_end is None else period_end,
        discounts=discounts,
        description=description,
        metadata=metadata,
        auto_advance=auto_advance,
    )
    if tax_rates:
        invoice["default_tax_rates"] = tax_rates
    ledger.put(invoice)
    return invoice


def subscription_line(
    ledger: Ledger,
    invoice: Obj,
    subscription: Obj,
    item: Obj,
    start: int,
    end: int,
    *,
    trial: bool = False,
) -> Obj:
    price = item["price"]
    quantity = item["quantity"]
    name = product_name(ledger, price["product"])
    recurring = price["recurring"]
    if trial:
        amount = 0
        description = f"Trial period for {name}"
    else:
        amount = price["unit_amount"] * quantity
        every = recurring["interval"]
        if recurring["interval_count"] > 1:
            every = f"{recurring['interval_count']} {every}s"
        at = money.format_amount(price["unit_amount"], price["currency"])
        description = f"{quantity} × {name} (at {at} / {every})"
    line = shapes.line_item(
        ledger.ids.new("il"),
        invoice["id"],
        invoice["currency"],
        amount,
        description=description,
        parent=shapes.line_parent_subscription(subscription["id"], item["id"]),
        period_start=start,
        period_end=end,
        price_id=price["id"],
        product_id=price["product"],
        quantity=quantity,
        unit_amount=price["unit_amount"],
        subscription_id=subscription["id"],
        discounts=list(item.get("discounts") or []),
    )
    ledger.put(line, parent=invoice["id"])
    return line


def invoice_item_line(ledger: Ledger, invoice: Obj, item: Obj) -> Obj:
    """Invoice a pending invoice item (one-off amount or proration) on a draft invoice."""
    parent_details = item.get("parent") or {}
    sub_details = parent_details.get("subscription_details") or {}
    subscription_id = sub_details.get("subscription")
    if item["proration"] and sub_details.get("subscription_item"):
        parent = shapes.line_parent_subscription(
            subscription_id,
            sub_details["subscription_item"],
            invoice_item=item["id"],
            proration=True,
            credited=shapes.credited_lines(item),
        )
    else:
        parent = shapes.line_parent_invoice_item(item["id"], subscription_id)
    details = (item.get("pricing") or {}).get("price_details") or {}
    unit = (item.get("pricing") or {}).get("unit_amount_decimal")
    line = shapes.line_item(
        ledger.ids.new("il"),
        invoice["id"],
        item["currency"],
        item["amount"],
        description=item["description"] or "Invoice item",
        parent=parent,
        period_start=item["period"]["start"],
        period_end=item["period"]["end"],
        price_id=details.get("price"),
        product_id=details.get("product"),
        quantity=item["quantity"],
        unit_amount=int(unit) if unit is not None else None,
        subscription_id=subscription_id,
        discounts=list(item.get("discounts") or []),
        discountable=item.get("discountable", True),
        metadata=dict(item.get("metadata") or {}),
    )
    ledger.put(line, parent=invoice["id"])
    item["invoice"] = invoice["id"]
    ledger.put(item, parent=invoice["id"])
    return line


def lines_of(ledger: Ledger, invoice: Obj) -> list[Obj]:
    return [line for line in ledger.children(invoice["id"], "line_item") if not line.get("deleted")]


def compute(ledger: Ledger, invoice: Obj) -> Obj:
    """Recompute discounts, tax and totals from the invoice's lines (see module docstring)."""
    lines = lines_of(ledger, invoice)
    at = ledger.now
    currency = invoice["currency"]
    bases = []
    for line in lines:
        base = line["amount"] if line["amount"] > 0 and line["discountable"] else 0
        amounts = []
        for discount_id in line["discounts"]:
            found = coupon_of(ledger, discount_id)
            if found is None or not discount_active(found[0], at) or base <= 0:
                continue
            off = _coupon_amount(found[1], base, currency)
            if off:
                amounts.append({"amount": off, "discount": discount_id})
                base -= off
        line["discount_amounts"] = amounts
        bases.append(base)
    for discount_id in invoice["discounts"]:
        found = coupon_of(ledger, discount_id)
        if found is None or not discount_active(found[0], at):
            continue
        coupon = found[1]
        if coupon.get("percent_off") is not None:
            parts = [money.percent_of(base, coupon["percent_off"]) for base in bases]
        else:
            if (coupon.get("currency") or "").lower() != currency:
                continue
            parts = money.allocate(min(coupon["amount_off"], sum(bases)), bases)
        for index, part in enumerate(parts):
            if part > 0:
                lines[index]["discount_amounts"].append({"amount": part, "discount": discount_id})
                bases[index] -= part

    rates = invoice.get("default_tax_rates") or []
    totals_by_discount: dict[str, int] = {}
    totals_by_rate: dict[str, list[int]] = {}
    subtotal = discount_total = tax_total = 0
    for line in lines:
        discounted = sum(entry["amount"] for entry in line["discount_amounts"])
        for entry in line["discount_amounts"]:
            key = entry["discount"]
            totals_by_discount[key] = totals_by_discount.get(key, 0) + entry["amount"]
        taxable = line["amount"] - discounted
        taxes = []
        for rate in rates:
            tax = money.percent_of(taxable, rate["percentage"])
            taxes.append(_tax_entry(rate["id"], tax, taxable))
            bucket = totals_by_rate.setdefault(rate["id"], [0, 0])
            bucket[0] += tax
            bucket[1] += taxable
            tax_total += tax
        line["taxes"] = taxes
        subtotal += line["amount"]
        discount_total += discounted
        ledger.put(line)

    invoice["subtotal"] = subtotal
    invoice["subtotal_excluding_tax"] = subtotal
    invoice["total_discount_amounts"] = [
        {"amount": amount, "discount": key} for key, amount in totals_by_discount.items()
    ]
    invoice["total_taxes"] = [
        _tax_entry(key, amounts[0], amounts[1]) for key, amounts in totals_by_rate.items()
    ]
    invoice["total_excluding_tax"] = subtotal - discount_total
    invoice["total"] = subtotal - discount_total + tax_total
    if invoice["status"] == "draft":
        invoice["amount_due"] = max(0, invoice["total"] + invoice["starting_balance"])
        invoice["amount_remaining"] = invoice["amount_due"]
    invoice["lines"] = shapes.embedded_list(lines, f"/v1/invoices/{invoice['id']}/lines")
    ledger.put(invoice)
    return invoice


def _coupon_amount(coupon: Obj, base: int, currency: str) -> int:
    if coupon.get("percent_off") is not None:
        return money.percent_of(base, coupon["percent_off"])
    if (coupon.get("currency") or "").lower() != currency:
        return 0
    return min(coupon["amount_off"], base)


def _tax_entry(rate_id: str, amount: int, taxable: int) -> Obj:
    return {
        "amount": amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": rate_id},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }


# -- lifecycle --------------------------------------------------------------------------------------


def open_draft(ledger: Ledger, invoice: Obj) -> Obj:
    """Totals computed, `invoice.created` sent: the draft exists for the outside world."""
    compute(ledger, invoice)
    ledger.emit("invoice.created", invoice)
    return invoice


def finalize(ledger: Ledger, invoice: Obj, *, recompute: bool = True) -> Obj:
    """Number the invoice, apply the customer's balance, open it (`invoice.finalized`).

    `recompute=False` when the caller just computed the draft and nothing changed since.
    """
    if invoice["status"] != "draft":
        raise _state_error(invoice, "finalize")
    customer = ledger.get(invoice["customer"])
    assert customer is not None
    if recompute:
        compute(ledger, invoice)
    now = ledger.now
    sequence = customer.get("next_invoice_sequence") or 1
    invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
    customer["next_invoice_sequence"] = sequence + 1
    starting = customer.get("balance") or 0
    invoice["starting_balance"] = starting
    after = invoice["total"] + starting
    invoice["amount_due"] = max(0, after)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(0, after)
    customer["balance"] = min(0, after)
    customer_children.balance_moved_by_invoice(
        ledger, customer, invoice, starting, "applied_to_invoice"
    )
    ledger.put(customer)
    invoice["status"] = "open"
    invoice["status_transitions"] = dict(invoice["status_transitions"], finalized_at=now)
    invoice["effective_at"] = now
    invoice["webhooks_delivered_at"] = now
    invoice["hosted_invoice_url"] = f"https://invoice.stripe.com/i/{invoice['id']}"
    invoice["invoice_pdf"] = f"https://pay.stripe.com/invoice/{invoice['id']}/pdf"
    ledger.put(invoice)
    ledger.emit("invoice.finalized", invoice)
    return invoice


def pay(
    ledger: Ledger,
    invoice: Obj,
    *,
    charge_metadata: Obj | None = None,
    automatic: bool = False,
) -> Obj:
    """Collect an open invoice: payment intent, charge, balance transaction, invoice payment.

    A declined card leaves the invoice open. Automatic collection (a subscription's own
    invoices) records the failed attempt and puts the subscription past_due, as Stripe does;
    paying through the API answers Stripe's 402 `card_declined` instead.
    """
    if invoice["status"] != "open":
        raise _state_error(invoice, "pay")
    now = ledger.now
    amount = invoice["amount_remaining"]
    if amount > 0 and payments.declines(ledger.get(invoice["customer"])):
        if not automatic:
            raise SandboxError(
                402, "Your card was declined.", type="card_error", code="card_declined"
            )
        return _payment_failed(ledger, invoice, amount)
    if amount > 0:
        customer = ledger.get(invoice["customer"])
        description = {
            "subscription_create": "Subscription creation",
            "subscription_cycle": "Subscription update",
            "subscription_update": "Subscription update",
        }.get(invoice["billing_reason"], f"Invoice {invoice['number']}")
        _charge, intent = payments.create_charge(
            ledger,
            customer,
            amount,
            invoice["currency"],
            description=description,
            metadata=charge_metadata,
            invoice_id=invoice["id"],
            with_intent=True,
        )
        assert intent is not None
        payment = shapes.invoice_payment(
            ledger.ids.new("inpay"),
            invoice["id"],
            amount,
            invoice["currency"],
            now,
            payment_intent_id=intent["id"],
        )
        ledger.put(payment, parent=invoice["id"])
        ledger.emit("invoice_payment.paid", payment)
        invoice["attempted"] = True
        invoice["attempt_count"] = invoice["attempt_count"] + 1
    invoice["amount_paid"] = invoice["amount_paid"] + amount
    invoice["amount_remaining"] = 0
    invoice["status"] = "paid"
    invoice["status_transitions"] = dict(invoice["status_transitions"], paid_at=now)
    invoice["receipt_number"] = None
    ledger.put(invoice)
    ledger.emit("invoice.paid", invoice)
    ledger.emit("invoice.payment_succeeded", invoice)
    subscription = _subscription_of(ledger, invoice)
    if (
        subscription is not None
        and subscription["status"] in ("past_due", "incomplete")
        and subscription.get("latest_invoice") == invoice["id"]
    ):
        _set_subscription_status(ledger, subscription, "active")
    return invoice


def _payment_failed(ledger: Ledger, invoice: Obj, amount: int) -> Obj:
    """A declined automatic attempt: a failed charge, the invoice still open, the subscription
    past_due (incomplete when its first invoice fails)."""
    customer = ledger.get(invoice["customer"])
    assert customer is not None
    payments.failed_charge(
        ledger,
        customer,
        amount,
        invoice["currency"],
        description=f"Invoice {invoice['number']}",
        invoice_id=invoice["id"],
    )
    invoice["attempted"] = True
    invoice["attempt_count"] = invoice["attempt_count"] + 1
    ledger.put(invoice)
    ledger.emit("invoice.payment_failed", invoice)
    subscription = _subscription_of(ledger, invoice)
    if subscription is not None and subscription["status"] in ("active", "trialing"):
        first = invoice.get("billing_reason") == "subscription_create"
        _set_subscription_status(ledger, subscription, "incomplete" if first else "past_due")
    return invoice


def _subscription_of(ledger: Ledger, invoice: Obj) -> Obj | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription_id = details.get("subscription")
    return ledger.get(subscription_id) if subscription_id else None


def _set_subscription_status(ledger: Ledger, subscription: Obj, status: str) -> None:
    previous = {"status": subscription["status"]}
    subscription["status"] = status
    ledger.put(subscription)
    ledger.emit("customer.subscription.updated", subscription, previous)


def void(ledger: Ledger, invoice: Obj) -> Obj:
    if invoice["status"] not in ("open", "uncollectible"):
        raise _state_error(invoice, "void")
    _release_balance(ledger, invoice)
    invoice["status"] = "void"
    invoice["amount_remaining"] = 0
    invoice["status_transitions"] = dict(invoice["status_transitions"], voided_at=ledger.now)
    ledger.put(invoice)
    ledger.emit("invoice.voided", invoice)
    return invoice


def mark_uncollectible(ledger: Ledger, invoice: Obj) -> Obj:
    if invoice["status"] != "open":
        raise _state_error(invoice, "mark_uncollectible")
    invoice["status"] = "uncollectible"
    invoice["status_transitions"] = dict(
        invoice["status_transitions"], marked_uncollectible_at=ledger.now
    )
    ledger.put(invoice)
    ledger.emit("invoice.marked_uncollectible", invoice)
    return invoice


def delete_draft(ledger: Ledger, invoice: Obj) -> Obj:
    """Delete a draft: its invoice items become pending again."""
    if invoice["status"] != "draft":
        raise SandboxError(
            400,
            "You can only delete draft invoices.",
            code="invoice_not_editable",
        )
    for line in lines_of(ledger, invoice):
        details = (line.get("parent") or {}).get("invoice_item_details") or (
            (line.get("parent") or {}).get("subscription_item_details") or {}
        )
        item_id = details.get("invoice_item")
        item = ledger.get(item_id) if item_id else None
        if item is not None:
            item["invoice"] = None
            ledger.put(item)
    ledger.emit("invoice.deleted", invoice)
    ledger.put(shapes.deleted_stub(invoice["id"], "invoice"))
    return shapes.deleted_stub(invoice["id"], "invoice")


def _release_balance(ledger: Ledger, invoice: Obj) -> None:
    """Voiding gives back the customer credit the invoice consumed."""
    consumed = (
        invoice["ending_balance"] - invoice["starting_balance"]
        if invoice["ending_balance"] is not None
        else 0
    )
    if consumed:
        customer = ledger.get(invoice["customer"])
        if customer is not None and not customer.get("deleted"):
            before = customer.get("balance") or 0
            customer["balance"] = before - consumed
            customer_children.balance_moved_by_invoice(
                ledger, customer, invoice, before, "unapplied_from_invoice"
            )
            ledger.put(customer)


def _state_error(invoice: Obj, action: str) -> SandboxError:
    return SandboxError(
        400,
        f"You cannot {action.replace('_', ' ')} invoice {invoice['id']} with status {invoice['status']}.",
        code="invoice_unexpected_state" if action != "pay" else "invoice_not_open",
    )


# -- invoice items ----------------------------------------------------------------------------------


def create_invoiceitem(
    ledger: Ledger,
    customer: Obj,
    *,
    currency: str,
    amount: int | None = None,
    price: Obj | None = None,
    quantity: int = 1,
    unit_amount: int | None = None,
    description: str | None = None,
    coupons: tuple[Obj, ...] = (),
    subscription: Obj | None = None,
    invoice: Obj | None = None,
    period: tuple[int, int] | None = None,
    metadata: Obj | None = None,
    discountable: bool = True,
) -> Obj:
    """A one-off amount for the customer's next invoice (or for a given draft invoice)."""
    if price is not None:
        unit_amount = price["unit_amount"]
        currency = price["currency"]
    if unit_amount is not None:
        amount = unit_amount * quantity
    if amount is None:
        raise SandboxError(
            400, "Missing required param: amount.", param="amount", code="parameter_missing"
        )
    if invoice is not None and invoice["status"] != "draft":
        raise SandboxError(
            400,
            f"Invoice {invoice['id']} is not a draft: items can only be added to drafts.",
            code="invoice_not_editable",
            param="invoice",
        )
    item_id = ledger.ids.new("ii")
    discounts = [
        new_discount(ledger, coupon, customer=customer["id"], invoice_item=item_id)["id"]
        for coupon in coupons
    ]
    start, end = period or (ledger.now, ledger.now)
    name = product_name(ledger, price["product"]) if price is not None else None
    item = shapes.invoiceitem(
        item_id,
        customer["id"],
        currency,
        amount,
        ledger.now,
        description=description or name or "Invoice item",
        period_start=start,
        period_end=end,
        price_id=price["id"] if price else None,
        product_id=price["product"] if price else None,
        quantity=quantity,
        unit_amount=unit_amount,
        subscription_id=subscription["id"] if subscription else None,
        discounts=discounts,
        discountable=discountable,
        metadata=metadata,
    )
    ledger.put(item)
    ledger.emit("invoiceitem.created", item)
    if invoice is not None:
        previous = {"total": invoice["total"], "subtotal": invoice["subtotal"]}
        invoice_item_line(ledger, invoice, item)
        compute(ledger, invoice)
        ledger.emit("invoice.updated", invoice, previous)
    return item


def standalone(
    ledger: Ledger,
    customer: Obj,
    *,
    currency: str | None = None,
    include_pending: bool = False,
    description: str | None = None,
    metadata: Obj | None = None,
    coupons: tuple[Obj, ...] = (),
    tax_rates: list[Obj] | None = None,
    auto_advance: bool = False,
    subscription: Obj | None = None,
) -> Obj:
    """A manual invoice (`billing_reason=manual`), draft, optionally sweeping pending items."""
    pending = ledger.pending_items(customer["id"]) if include_pending else []
    currency = (
        currency or customer.get("currency") or (pending[0]["currency"] if pending else "usd")
    )
    invoice_id = ledger.ids.new("in")
    discounts = [
        new_discount(ledger, coupon, customer=customer["id"], invoice=invoice_id)["id"]
        for coupon in coupons
    ]
    invoice = new_invoice(
        ledger,
        customer,
        currency,
        billing_reason="manual",
        subscription=subscription,
        invoice_id=invoice_id,
        discounts=discounts,
        tax_rates=tax_rates,
        description=description,
        metadata=metadata,
        auto_advance=auto_advance,
    )
    for item in pending:
        if item["currency"] == currency:
            invoice_item_line(ledger, invoice, item)
    return open_draft(ledger, invoice)
