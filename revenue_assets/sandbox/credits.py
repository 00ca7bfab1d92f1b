"""Billing credits in the billing engine: credit grants a customer buys (`paid`) or is given
(`promotional`), spendable on metered prices only, until they expire or are voided.

Stripe announces a grant's creation and every later change (a new expiry, an early expiry, a
void, new metadata) with `billing.credit_grant.updated`; a grant reaching its `expires_at`
changes nothing in the object, so it sends nothing then. The sandbox's invoices do not draw
on the credits: the generated company's grants only cover a metered price nobody pays yet.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import shapes
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

CATEGORIES = ("paid", "promotional")


def grant(
    ledger: Ledger,
    customer: Obj,
    amount: int,
    currency: str,
    *,
    category: str = "paid",
    name: str | None = None,
    effective_at: int | None = None,
    expires_at: int | None = None,
    priority: int = 50,
    metadata: Obj | None = None,
) -> Obj:
    """New credits for a customer (`billing.credit_grant.created`)."""
    if category not in CATEGORIES:
        raise invalid(f"Invalid category: {category}", "category")
    if amount <= 0:
        raise invalid("amount[monetary][value] must be greater than 0.", "amount")
    if not 0 <= priority <= 100:
        raise invalid("priority must be between 0 and 100.", "priority")
    found = shapes.credit_grant(
        ledger.ids.new("credgr"),
        ledger.now,
        customer=customer["id"],
        amount=amount,
        currency=currency,
        category=category,
        name=name,
        effective_at=effective_at,
        expires_at=expires_at,
        priority=priority,
        metadata=metadata,
    )
    ledger.put(found)
    ledger.emit("billing.credit_grant.created", found)
    return found


def _must_be_usable(found: Obj, ledger: Ledger) -> None:
    if found["voided_at"] is not None:
        raise SandboxError(400, "This credit grant has been voided.", param="id")
    if found["expires_at"] is not None and found["expires_at"] <= ledger.now:
        raise SandboxError(400, "This credit grant has expired.", param="id")


def change(ledger: Ledger, found: Obj, changes: Obj) -> Obj:
    """Set fields (an update, an expiry, a void) and announce them
    (`billing.credit_grant.updated`, with what they were)."""
    previous = {key: found[key] for key, value in changes.items() if found[key] != value}
    if previous:
        found.update(changes)
        previous["updated"] = found["updated"]
        found["updated"] = ledger.now
    ledger.put(found)
    ledger.emit("billing.credit_grant.updated", found, previous)
    return found


def expire(ledger: Ledger, found: Obj) -> Obj:
    """Ends a grant now: its unused credits can no longer be spent."""
    _must_be_usable(found, ledger)
    return change(ledger, found, {"expires_at": ledger.now})


def void(ledger: Ledger, found: Obj) -> Obj:
    """Cancels a grant (granted by mistake): none of its credits count any more."""
    _must_be_usable(found, ledger)
    return change(ledger, found, {"voided_at": ledger.now})
