"""Subscription schedules: changes booked for a subscription's future, as phases.

A schedule made from a live subscription starts with its current period as the first phase. The
generated company books two kinds: a downgrade at the end of the period (a second phase on the
cheaper price, then the schedule releases the subscription) and a cancellation at the end of the
period (one phase, `end_behavior=cancel`, which sets the subscription's `cancel_at`). The billing
engine asks this module what a renewal enters and tells it when the subscription ends, so a
schedule changes exactly when its subscription does.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.errors import invalid
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]
OPEN = ("not_started", "active")


def book(
    ledger: Ledger,
    subscription: Obj,
    items: list[Obj],
    *,
    downgrade_to: Obj | None = None,
    cancel: bool = False,
    metadata: Obj | None = None,
) -> Obj:
    """A schedule from the subscription: its current period, then (with `downgrade_to`) one
    period on that price for the first item, released after it; with `cancel`, the
    subscription ends with the current period. Neither: a schedule that just releases."""
    if subscription.get("schedule"):
        existing = ledger.get(subscription["schedule"])
        if existing is not None and existing["status"] in OPEN:
            raise invalid(
                "You cannot migrate a subscription that is already attached to a schedule: "
                f"`{existing['id']}`.",
                "from_subscription",
            )
    if subscription["status"] not in ("active", "past_due", "trialing"):
        raise invalid(
            f"You cannot create a schedule from a subscription in status {subscription['status']}.",
            "from_subscription",
        )
    currency = subscription["currency"]
    start, end = items[0]["current_period_start"], items[0]["current_period_end"]
    current = [(item["price"]["id"], item["quantity"]) for item in items]
    discounts = list(subscription.get("discounts") or [])
    phases = [shapes.schedule_phase(currency, start, end, current, discounts=discounts)]
    if downgrade_to is not None:
        recurring = downgrade_to["recurring"]
        later_end = money.add_interval(end, recurring["interval"], recurring["interval_count"], end)
        later = [(downgrade_to["id"], items[0]["quantity"]), *current[1:]]
        phases.append(shapes.schedule_phase(currency, end, later_end, later, discounts=discounts))
    schedule = shapes.subscription_schedule(
        ledger.ids.new("sub_sched"),
        subscription,
        ledger.now,
        phases=phases,
        end_behavior="cancel" if cancel else "release",
        metadata=metadata,
    )
    ledger.put(schedule)
    ledger.emit("subscription_schedule.created", schedule)
    previous: Obj = {"schedule": subscription.get("schedule")}
    subscription["schedule"] = schedule["id"]
    if cancel:
        previous["cancel_at"] = subscription.get("cancel_at")
        subscription["cancel_at"] = end
    ledger.put(subscription)
    ledger.emit("customer.subscription.updated", subscription, previous)
    return schedule


def open_schedule(ledger: Ledger, subscription: Obj) -> Obj | None:
    """The subscription's schedule while it still governs it."""
    schedule_id = subscription.get("schedule")
    schedule = ledger.get(schedule_id) if schedule_id else None
    return schedule if schedule is not None and schedule["status"] in OPEN else None


def on_renewal(ledger: Ledger, subscription: Obj) -> Obj | None:
    """A period is about to start: the phase it enters (whose items the engine applies), or
    None. Past the last phase, a releasing schedule lets the subscription go on alone."""
    schedule = open_schedule(ledger, subscription)
    if schedule is None:
        return None
    now = ledger.now
    if now >= schedule["phases"][-1]["end_date"]:
        if schedule["end_behavior"] == "release":
            release(ledger, schedule, subscription)
        return None
    current = schedule["current_phase"] or {}
    for phase in schedule["phases"]:
        if phase["start_date"] <= now < phase["end_date"]:
            if phase["start_date"] == current.get("start_date"):
                return None
            previous = {"current_phase": schedule["current_phase"]}
            schedule["current_phase"] = {
                "start_date": phase["start_date"],
                "end_date": phase["end_date"],
            }
            ledger.put(schedule)
            ledger.emit("subscription_schedule.updated", schedule, previous)
            return phase
    return None


def release(ledger: Ledger, schedule: Obj, subscription: Obj | None) -> Obj:
    """The schedule stops governing the subscription, which keeps its current items."""
    _close(ledger, schedule, "released")
    schedule["released_at"] = ledger.now
    schedule["released_subscription"] = schedule["subscription"]
    schedule["subscription"] = None
    ledger.put(schedule)
    ledger.emit("subscription_schedule.released", schedule, {"status": "active"})
    if subscription is not None:
        previous: Obj = {"schedule": schedule["id"]}
        subscription["schedule"] = None
        if schedule["end_behavior"] == "cancel" and subscription.get("cancel_at"):
            previous["cancel_at"] = subscription["cancel_at"]  # the cancellation was the schedule's
            subscription["cancel_at"] = None
        ledger.put(subscription)
        ledger.emit("customer.subscription.updated", subscription, previous)
    return schedule


def on_cancel(ledger: Ledger, subscription: Obj) -> None:
    """The subscription ends: a schedule that was to cancel it at its end completes, any other
    is canceled with it."""
    schedule = open_schedule(ledger, subscription)
    if schedule is None:
        return
    now = ledger.now
    if schedule["end_behavior"] == "cancel" and now >= schedule["phases"][-1]["end_date"]:
        _close(ledger, schedule, "completed")
        schedule["completed_at"] = now
        ledger.put(schedule)
        ledger.emit("subscription_schedule.completed", schedule, {"status": "active"})
    else:
        cancel(ledger, schedule)


def cancel(ledger: Ledger, schedule: Obj) -> Obj:
    """`POST /v1/subscription_schedules/{id}/cancel`, or its subscription ended early."""
    previous = {"status": schedule["status"]}
    _close(ledger, schedule, "canceled")
    schedule["canceled_at"] = ledger.now
    ledger.put(schedule)
    ledger.emit("subscription_schedule.canceled", schedule, previous)
    return schedule


def _close(ledger: Ledger, schedule: Obj, status: str) -> None:
    if schedule["status"] not in OPEN:
        raise invalid(
            f"You cannot update a subscription schedule that is {schedule['status']}.",
            "subscription_schedule",
        )
    schedule["status"] = status
    schedule["current_phase"] = None
