"""Radar: reviews of payments a rule held for a look, and the early fraud warnings card issuers
send before a chargeback."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, from_template


def review(
    id: str, created: int, *, charge_id: str, payment_intent_id: str | None, reason: str
) -> Obj:
    """An open review (`reason` is why it opened: a rule, or `manual`)."""
    return from_template(
        "review",
        id=id,
        created=created,
        charge=charge_id,
        payment_intent=payment_intent_id,
        open=True,
        opened_reason=reason,
        reason=reason,
        closed_reason=None,
    )


def early_fraud_warning(
    id: str, created: int, *, charge_id: str, payment_intent_id: str | None, fraud_type: str
) -> Obj:
    """An issuer's fraud report on a charge, actionable while the charge can still be refunded."""
    return from_template(
        "radar.early_fraud_warning",
        id=id,
        created=created,
        charge=charge_id,
        payment_intent=payment_intent_id,
        fraud_type=fraud_type,
        actionable=True,
    )
