"""Billing credits in the billing engine: credit grants a customer buys (`paid`) or is given
(`promotional`), spendable on metered prices only, until they expire or are voided.

Stripe announces a grant's creation and every later change (a new expiry, an early expiry, a
void, new metadata) with `billing.credit_grant.updated`; a grant reaching its `expires_at`
changes nothing in the object, so it sends nothing then. The sandbox's invoices do not draw
on the credits: the generated company's grants only cover a metered price nobody pays yet.

Every movement of a customer's credit balance is a credit balance transaction (listed per
customer, stored under it): a `credit` when a grant is made, and a `debit` of what is left of it
when it is voided or expires (early, or when the clock passes its `expires_at`), so the
transactions of a grant always sum to what it can still pay. Stripe announces each one with
`billing.credit_balance_transaction.created` (an event type of the pinned SDK, and one a
webhook endpoint can enable). Their ids are drawn from a stream of the grant's own, so that the
generated company's stories draw exactly what they drew before transactions existed.
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
    _transaction(ledger, found, "credit", "credits_granted", amount, found["effective_at"])
    if expires_at is not None:
        ledger.schedule(found["id"], expires_at)
    return found


def _transaction(
    ledger: Ledger, found: Obj, type: str, reason: str, amount: int, effective_at: int
) -> Obj:
    """Record (and announce) one movement of the grant customer's credit balance."""
    monetary = found["amount"]["monetary"]
    with ledger.aside(found["id"]) as ids:
        txn = shapes.credit_balance_transaction(
            ids.new("cbtxn"),
            ledger.now,
            credit_grant=found["id"],
            type=type,
            reason=reason,
            amount=amount,
            currency=monetary["currency"],
            effective_at=effective_at,
        )
        ledger.put(txn, parent=found["customer"])
        ledger.emit("billing.credit_balance_transaction.created", txn)
    return txn


def remaining(ledger: Ledger, found: Obj) -> int:
    """What a grant can still pay: its credits less its debits."""
    total = 0
    for txn in ledger.children(found["customer"], "billing.credit_balance_transaction"):
        if txn["credit_grant"] != found["id"]:
            continue
        side = txn["credit"] if txn["type"] == "credit" else txn["debit"]
        value = side["amount"]["monetary"]["value"]
        total += value if txn["type"] == "credit" else -value
    return total


def _close(ledger: Ledger, found: Obj, reason: str, effective_at: int) -> None:
    """The grant can pay nothing more: debit what was left of it (`credits_expired`,
    `credits_voided`), if anything, and take it off the clock."""
    left = remaining(ledger, found)
    if left > 0:
        _transaction(ledger, found, "debit", reason, left, effective_at)
    ledger.schedule(found["id"], None)


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
    if "expires_at" in previous and found["voided_at"] is None:
        ledger.schedule(found["id"], found["expires_at"])  # the clock ends it then
    return found


def expire(ledger: Ledger, found: Obj) -> Obj:
    """Ends a grant now: its unused credits can no longer be spent."""
    _must_be_usable(found, ledger)
    change(ledger, found, {"expires_at": ledger.now})
    _close(ledger, found, "credits_expired", ledger.now)
    return found


def void(ledger: Ledger, found: Obj) -> Obj:
    """Cancels a grant (granted by mistake): none of its credits count any more."""
    _must_be_usable(found, ledger)
    change(ledger, found, {"voided_at": ledger.now})
    _close(ledger, found, "credits_voided", ledger.now)
    return found


def lapse(ledger: Ledger, found: Obj) -> None:
    """The clock reached the grant's `expires_at`: what was left of it expires, without an
    event for the grant (its object does not change). A grant voided meanwhile, or whose
    expiry moved, is left alone (or waits for its new expiry)."""
    expires_at = found["expires_at"]
    if found["voided_at"] is not None or expires_at is None:
        ledger.schedule(found["id"], None)
    elif expires_at > ledger.now:
        ledger.schedule(found["id"], expires_at)
    else:
        _close(ledger, found, "credits_expired", expires_at)
