"""Radar in the billing engine: payments held for review (then approved or refunded), and
early fraud warnings from card issuers (made non-actionable once the charge is refunded or
disputed).

The sandbox's own triggers, in the spirit of Stripe's test cards: a charge paid with
`REVIEW_METHOD` is held for review, one paid with `FRAUD_WARNING_METHOD` gets an early fraud
warning.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import payments, shapes
from revenue_assets.sandbox.errors import invalid
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

REVIEW_METHOD = "pm_card_riskLevelElevated"
FRAUD_WARNING_METHOD = "pm_card_createEarlyFraudWarning"
FRAUD_TYPES = ("made_with_stolen_card", "unauthorized_use_of_card", "card_never_received", "misc")


def open_review(ledger: Ledger, charge: Obj, reason: str = "rule") -> Obj:
    """A rule held the charge for a look (`review.opened`); the charge names its review."""
    if charge.get("review"):
        raise invalid(f"Charge {charge['id']} is already in review.", "charge")
    found = shapes.review(
        ledger.ids.new("prv"),
        ledger.now,
        charge_id=charge["id"],
        payment_intent_id=charge.get("payment_intent"),
        reason=reason,
    )
    ledger.put(found)
    charge["review"] = found["id"]
    ledger.put(charge)
    ledger.emit("review.opened", found)
    ledger.emit("charge.updated", charge, {"review": None})
    return found


def close_review(ledger: Ledger, review: Obj, *, refund: bool = False) -> Obj:
    """Approve the payment, or refund it (`review.closed` with the reason)."""
    if not review["open"]:
        raise invalid(f"Review {review['id']} is already closed.", "review")
    if refund:
        charge = ledger.get(review["charge"])
        if charge is not None and charge["amount_refunded"] < charge["amount"]:
            payments.refund_charge(ledger, charge, reason="fraudulent")
    closed = "refunded" if refund else "approved"
    previous = {"open": True, "reason": review["reason"], "closed_reason": None}
    review.update(open=False, reason=closed, closed_reason=closed)
    ledger.put(review)
    ledger.emit("review.closed", review, previous)
    return review


def warn(ledger: Ledger, charge: Obj, fraud_type: str) -> Obj:
    """The issuer reports the charge as fraud (`radar.early_fraud_warning.created`)."""
    warning = shapes.early_fraud_warning(
        ledger.ids.new("issfr"),
        ledger.now,
        charge_id=charge["id"],
        payment_intent_id=charge.get("payment_intent"),
        fraud_type=fraud_type,
    )
    warning["actionable"] = not (charge.get("disputed") or charge.get("refunded"))
    ledger.put(warning)
    ledger.emit("radar.early_fraud_warning.created", warning)
    return warning


def settle_warning(ledger: Ledger, warning: Obj) -> Obj:
    """The charge was refunded or disputed: nothing left to act on
    (`radar.early_fraud_warning.updated`)."""
    if warning["actionable"]:
        warning["actionable"] = False
        ledger.put(warning)
        ledger.emit("radar.early_fraud_warning.updated", warning, {"actionable": True})
    return warning
