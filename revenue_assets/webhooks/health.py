"""One verdict on webhook health, for `webhooks status` and the Dagster asset check.

The failure this exists for: a wrong signing secret makes every delivery fail
verification, the receiver answers 400, nothing reaches the inbox, and every run "succeeds"
with 0 rows. So the check fails when deliveries keep failing verification: several failures
in a row since the last verified delivery (one forged request from the internet is not enough)
and recent (an old streak from before a fixed secret ages out). It also fails when events
wait in the inbox and nothing applies them (the sensors or the daemon are not running).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from revenue_assets.state.store import InboxHealth, StateStore

DEFAULT_FAILURE_STREAK = 3  # Stripe retries quickly at first: a wrong secret reaches it fast
DEFAULT_FAILURE_WINDOW_S = 24 * 3600
DEFAULT_STUCK_AFTER_S = 15 * 60  # sensors tick every few seconds: 15 min means none runs


@dataclass(frozen=True)
class HealthReport:
    """`passed` False with one actionable sentence per problem in `reasons`."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def webhook_health(
    inbox: StateStore | InboxHealth,
    *,
    now: float | None = None,
    failure_streak: int = DEFAULT_FAILURE_STREAK,
    failure_window_s: float = DEFAULT_FAILURE_WINDOW_S,
    stuck_after_s: float = DEFAULT_STUCK_AFTER_S,
) -> HealthReport:
    """Judge the inbox's health counters (see the module docstring for the rules)."""
    health = inbox.health() if isinstance(inbox, StateStore) else inbox
    now = time.time() if now is None else now
    reasons: list[str] = []

    streak = health.signature_failures_since_success
    last_failure = health.last_signature_failure_at
    if (
        streak >= failure_streak
        and last_failure is not None
        and now - last_failure <= failure_window_s
    ):
        since = (
            f"since the last verified delivery ({ago(now, health.last_webhook_at)})"
            if health.last_webhook_at
            else "and none has ever verified"
        )
        reasons.append(
            f"{streak} webhook deliveries in a row failed signature verification {since}, the "
            f"last {ago(now, last_failure)}. The receiver's signing secret does not match the "
            "endpoint's: set STRIPE_WEBHOOK_SECRET to the endpoint's secret (Stripe Dashboard, "
            "Webhooks), or run `revenue-assets webhooks register --url …`."
        )

    oldest = health.oldest_pending_received_at
    if health.backlog and oldest is not None and now - oldest > stuck_after_s:
        applied = (
            f"the last was applied {ago(now, health.last_applied_at)}"
            if health.last_applied_at
            else "none has ever been applied"
        )
        reasons.append(
            f"{health.backlog} inbox events wait to be applied, the oldest received "
            f"{ago(now, oldest)}; {applied}. Are the webhook sensors on and the Dagster "
            "daemon running? `revenue-assets sync` also applies them."
        )

    metrics: dict[str, Any] = {
        "events": health.events,
        "last_seq": health.last_seq,
        "backlog": health.backlog,
        "oldest_pending_age_s": _age(now, oldest),
        "last_received_age_s": _age(now, health.last_received_at),
        "last_webhook_age_s": _age(now, health.last_webhook_at),
        "last_applied_age_s": _age(now, health.last_applied_at),
        "signature_failures": health.signature_failures,
        "signature_failures_since_success": streak,
        "last_signature_failure_age_s": _age(now, last_failure),
        "malformed_payloads": health.malformed_payloads,
        "oversized_payloads": health.oversized_payloads,
    }
    return HealthReport(passed=not reasons, reasons=reasons, metrics=metrics)


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def ago(now: float, at: float | None) -> str:
    """'42 s ago', '3 min ago', '5 h ago', '2 d ago'."""
    if at is None:
        return "never"
    seconds = max(0.0, now - at)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"
