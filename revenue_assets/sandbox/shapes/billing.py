"""Subscriptions and their items, invoices, their lines and invoice items."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, embedded_list, from_template


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
    return from_template(
        "subscription_item",
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
    return from_template(
        "subscription",
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
    return from_template(
        "invoice",
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
    return from_template(
        "line_item",
        id=id,
        invoice=invoice_id,
        currency=currency,
        amount=amount,
        subtotal=amount,
        description=description,
        parent=parent,
        period={"end": period_end, "start": period_start},
        pricing=_pricing(price_id, product_id, None if unit_amount is None else str(unit_amount)),
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
    parent = None
    if subscription_id is not None:
        parent = {
            "subscription_details": {
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
            "type": "subscription_details",
        }
    return from_template(
        "invoiceitem",
        id=id,
        customer=customer_id,
        currency=currency,
        amount=amount,
        net_amount=amount,
        date=created,
        description=description,
        period={"end": period_end, "start": period_start},
        pricing=_pricing(price_id, product_id, str(amount if unit_amount is None else unit_amount)),
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


def _pricing(price_id: str | None, product_id: str | None, unit_amount_decimal: str | None) -> Obj:
    """The `pricing` of a line or an invoice item: the price it bills, if one does."""
    return {
        "price_details": {"price": price_id, "product": product_id} if price_id else None,
        "type": "price_details",
        "unit_amount_decimal": unit_amount_decimal,
    }


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


# -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --

_NO_INVOICE_SETTINGS = {
    "account_tax_ids": None,
    "custom_fields": None,
    "days_until_due": None,
    "description": None,
    "footer": None,
}


def schedule_phase(
    currency: str, start: int, end: int, items: list[tuple[str, int]], *, discounts: list[str]
) -> Obj:
    """One phase of a subscription schedule: its dates and the (price id, quantity) it bills."""
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": None,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": currency,
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [
            {"coupon": None, "discount": discount, "promotion_code": None} for discount in discounts
        ],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            {
                "billing_thresholds": None,
                "discounts": [],
                "metadata": {},
                "plan": price_id,
                "price": price_id,
                "quantity": quantity,
                "tax_rates": [],
            }
            for price_id, quantity in items
        ],
        "metadata": {},
        "on_behalf_of": None,
        "proration_behavior": "create_prorations",
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def subscription_schedule(
    id: str,
    subscription: Obj,
    created: int,
    *,
    phases: list[Obj],
    end_behavior: str,
    metadata: Obj | None = None,
) -> Obj:
    """A schedule made from a live subscription (`from_subscription`): active at once, its
    first phase the current period."""
    first = phases[0]
    return from_template(
        "subscription_schedule",
        id=id,
        created=created,
        customer=subscription["customer"],
        subscription=subscription["id"],
        phases=phases,
        current_phase={"start_date": first["start_date"], "end_date": first["end_date"]},
        end_behavior=end_behavior,
        status="active",
        canceled_at=None,
        completed_at=None,
        released_at=None,
        released_subscription=None,
        metadata=metadata or {},
        default_settings={
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": subscription["collection_method"],
            "default_payment_method": None,
            "description": None,
            "invoice_settings": dict(_NO_INVOICE_SETTINGS, issuer={"type": "self"}),
            "on_behalf_of": None,
            "transfer_data": None,
        },
        billing_mode={"flexible": None, "type": "classic", "updated_at": None},
    )
