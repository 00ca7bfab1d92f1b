"""Customers in the billing engine: create, update (with `previous_attributes`), delete, and
the customer's own discount (applied, switched to another coupon, removed)."""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import billing, customer_children, invoicing, shapes
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]


def create(
    ledger: Ledger,
    *,
    email: str | None = None,
    name: str | None = None,
    description: str | None = None,
    phone: str | None = None,
    country: str | None = None,
    currency: str | None = None,
    metadata: Obj | None = None,
    payment_method: str | None = "default",
) -> Obj:
    """A new customer. Sandbox customers get a test card unless `payment_method=None`: a
    payment method attached to them from the start, as a card saved at sign-up is."""
    customer_id = ledger.ids.new("cus")
    method = f"pm_{customer_id[4:]}Card" if payment_method == "default" else payment_method
    customer = shapes.customer(
        customer_id,
        ledger.now,
        email=email,
        name=name,
        description=description,
        phone=phone,
        invoice_prefix=ledger.ids.token(8).upper(),
        country=country,
        currency=currency,
        payment_method=method,
        metadata=metadata,
    )
    ledger.put(customer)
    ledger.emit("customer.created", customer)
    if method is not None:
        customer_children.save_card(ledger, customer, method, announce=False)
    return customer


def update(ledger: Ledger, customer: Obj, fields: Obj) -> Obj:
    """Set fields (metadata included, as its complete new value); `customer.updated` names
    the previous values of what changed."""
    previous: Obj = {}
    for key, value in fields.items():
        if customer.get(key) != value:
            previous[key] = customer.get(key)
            customer[key] = value
    ledger.put(customer)
    ledger.emit("customer.updated", customer, previous)
    return customer


def delete(ledger: Ledger, customer: Obj, subscriptions: list[Obj]) -> Obj:
    """Delete a customer: its live subscriptions end now, then `customer.deleted`.

    The stored body becomes Stripe's deleted stub (lists hide it, retrieve answers it); the event
    carries the customer as it was.
    """
    for subscription in subscriptions:
        if subscription["status"] not in billing.ENDED:
            billing.cancel(ledger, subscription, reason=None)
    ledger.emit("customer.deleted", customer)
    stub = shapes.deleted_stub(customer["id"], "customer")
    ledger.put(stub)
    return stub


def apply_coupon(
    ledger: Ledger, customer: Obj, coupon: Obj, *, promotion_code: str | None = None
) -> Obj:
    """Give the customer a coupon (directly or through a promotion code). A customer holds one
    discount: a second coupon switches it (`customer.discount.updated`) instead of adding one."""
    current = customer.get("discount")
    found = ledger.get(current["id"]) if current else None
    if found is not None and found["source"]["coupon"] == coupon["id"]:
        return customer
    if found is not None:
        invoicing.switch_discount(ledger, found, coupon, promotion_code=promotion_code)
    else:
        found = invoicing.new_discount(
            ledger, coupon, customer=customer["id"], promotion_code=promotion_code
        )
    return update(ledger, customer, {"discount": shapes.clone(found)})


def remove_discount(ledger: Ledger, customer: Obj) -> Obj | None:
    """Take the customer's discount off (`customer.discount.deleted`); the deleted discount, or
    None if it had none."""
    current = customer.get("discount")
    found = ledger.get(current["id"]) if current else None
    if found is None:
        return None
    removed = invoicing.remove_discount(ledger, found)
    update(ledger, customer, {"discount": None})
    return removed
