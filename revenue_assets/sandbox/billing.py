"""The subscription lifecycle: create, renew, change (with prorations), pause, resume, cancel.

This is the one billing engine of the sandbox: the generator replays customers' histories with
these functions over past time, and the live world calls them for API changes and when the clock
advances. `next_due` tells when a subscription next needs the engine, `step` does what is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revenue_assets.sandbox import invoicing, money, schedules, shapes
from revenue_assets.sandbox.errors import SandboxError, invalid, missing
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

ENDED = frozenset({"canceled", "incomplete_expired"})


@dataclass
class ItemSpec:
    """One requested subscription item: a price, a quantity and optional item-level coupons."""

    price: Obj
    quantity: int = 1
    coupons: tuple[Obj, ...] = ()
    metadata: Obj | None = None


@dataclass
class ItemChange:
    """A change of one item in an update: new price and/or quantity, or removal."""

    id: str | None = None
    price: Obj | None = None
    quantity: int | None = None
    deleted: bool = False
    metadata: Obj | None = None


def items_of(ledger: Ledger, subscription: Obj) -> list[Obj]:
    return [
        item
        for item in ledger.children(subscription["id"], "subscription_item")
        if not item.get("deleted")
    ]


def _sync_items(subscription: Obj, items: list[Obj]) -> None:
    subscription["items"] = shapes.embedded_list(
        items, f"/v1/subscription_items?subscription={subscription['id']}"
    )


def _start_period(
    ledger: Ledger, subscription: Obj, items: list[Obj], start: int, end: int, invoice_id: str
) -> None:
    """Move the items to the period that `invoice_id` bills; store them and the subscription."""
    for item in items:
        item["current_period_start"] = start
        item["current_period_end"] = end
        ledger.put(item)
    _sync_items(subscription, items)
    subscription["latest_invoice"] = invoice_id
    ledger.put(subscription)


def _period(items: list[Obj]) -> tuple[int, int]:
    return items[0]["current_period_start"], items[0]["current_period_end"]


def _recurring(price: Obj) -> tuple[str, int]:
    recurring = price.get("recurring")
    if not recurring:
        raise invalid(
            f"The price specified ({price['id']}) is not recurring. Subscriptions only accept "
            "recurring prices.",
            "items",
        )
    return recurring["interval"], recurring["interval_count"]


def _check_currency(customer: Obj, currency: str) -> None:
    if customer.get("currency") and customer["currency"] != currency:
        raise invalid(
            f"You cannot combine currencies on a single customer. This customer has had a "
            f"subscription or payment in {customer['currency']}, but you are trying to pay "
            f"in {currency}.",
            "currency",
        )


def next_due(subscription: Obj) -> int | None:
    """When the engine next has something to do for this subscription (None: nothing, ever)."""
    status = subscription["status"]
    if status in ENDED or status == "paused":
        return None
    items = subscription["items"]["data"]
    candidates = []
    if items:
        candidates.append(items[0]["current_period_end"])
    if subscription.get("cancel_at"):
        candidates.append(subscription["cancel_at"])
    pause = subscription.get("pause_collection")
    if pause and pause.get("resumes_at"):
        candidates.append(pause["resumes_at"])
    return min(candidates) if candidates else None


# -- create -------------------------------------------------------------------------------------


def create(
    ledger: Ledger,
    customer: Obj,
    specs: list[ItemSpec],
    *,
    trial_end: int | None = None,
    coupons: tuple[Obj, ...] = (),
    metadata: Obj | None = None,
    missing_payment_method: str = "create_invoice",
    tax_rates: list[Obj] | None = None,
    description: str | None = None,
    cancel_at_period_end: bool = False,
    promotion_codes: tuple[Obj, ...] = (),
) -> Obj:
    """A new subscription with its first invoice (a $0 trial invoice when trialing), paid.
    A promotion code applies its coupon; the discount remembers the code it came from."""
    if not specs:
        raise invalid("Missing required param: items.", "items")
    currency = specs[0].price["currency"]
    interval = _recurring(specs[0].price)
    for spec in specs:
        if _recurring(spec.price) != interval:
            raise invalid(
                "Subscriptions only support items with the same billing interval.", "items"
            )
        if spec.price["currency"] != currency:
            raise invalid("All prices on a subscription must have the same currency.", "items")
        if spec.quantity < 0:
            raise invalid("Invalid quantity: must be a non-negative integer.", "quantity")
    _check_currency(customer, currency)
    now = ledger.now
    if trial_end is not None and trial_end <= now:
        raise invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", "trial_end"
        )
    ids = ledger.ids
    subscription_id = ids.new("sub")
    invoice_id = ids.new("in")
    period_end = trial_end or money.add_interval(now, interval[0], interval[1], now)
    items = []
    for spec in specs:
        item_id = ids.new("si")
        item_discounts = [
            invoicing.new_discount(
                ledger,
                coupon,
                customer=customer["id"],
                subscription=subscription_id,
                subscription_item=item_id,
            )["id"]
            for coupon in spec.coupons
        ]
        item = shapes.subscription_item(
            item_id,
            subscription_id,
            spec.price,
            shapes.plan_of(spec.price),
            spec.quantity,
            now,
            now,
            period_end,
            discounts=item_discounts,
            metadata=spec.metadata,
        )
        ledger.put(item, parent=subscription_id)
        items.append(item)
    discounts = [
        invoicing.new_discount(
            ledger, coupon, customer=customer["id"], subscription=subscription_id
        )["id"]
        for coupon in coupons
    ]
    for code in promotion_codes:
        coupon = ledger.get(code["promotion"]["coupon"])
        if coupon is None or coupon.get("deleted"):
            raise invalid(
                f"The coupon of promotion code {code['code']} no longer exists.", "discounts"
            )
        discounts.append(
            invoicing.new_discount(
                ledger,
                coupon,
                customer=customer["id"],
                subscription=subscription_id,
                promotion_code=code["id"],
            )["id"]
        )
    subscription = shapes.subscription(
        subscription_id,
        customer["id"],
        currency,
        now,
        status="trialing" if trial_end else "active",
        anchor=period_end if trial_end else now,
        items=items,
        metadata=metadata,
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        missing_payment_method=missing_payment_method,
        discounts=discounts,
        description=description,
    )
    if tax_rates:
        subscription["default_tax_rates"] = tax_rates
    if cancel_at_period_end:
        subscription["cancel_at_period_end"] = True
        subscription["cancel_at"] = period_end
        subscription["canceled_at"] = now
        subscription["cancellation_details"] = _cancellation("cancellation_requested")
    subscription["latest_invoice"] = invoice_id
    if not customer.get("currency"):
        customer["currency"] = currency
        ledger.put(customer)
    ledger.put(subscription)
    ledger.emit("customer.subscription.created", subscription)
    _invoice_period(
        ledger,
        customer,
        subscription,
        items,
        now,
        period_end,
        billing_reason="subscription_create",
        invoice_id=invoice_id,
        trial=trial_end is not None,
        include_pending=False,
    )
    ledger.schedule(subscription_id, next_due(subscription))
    return subscription


def _cancellation(reason: str | None, feedback: str | None = None) -> Obj:
    return {"comment": None, "feedback": feedback, "reason": reason}


# -- invoices of a subscription ----------------------------------------------------------------


def _invoice_period(
    ledger: Ledger,
    customer: Obj,
    subscription: Obj,
    items: list[Obj],
    start: int,
    end: int,
    *,
    billing_reason: str,
    invoice_id: str | None = None,
    trial: bool = False,
    include_pending: bool = True,
    extra_items: list[Obj] | None = None,
    charge_metadata: Obj | None = None,
    previous_start: int | None = None,
) -> Obj:
    """Invoice a period of the subscription, apply its discounts and tax, and collect it.

    Like Stripe, the invoice's own `period_start/end` is the period *before* the billed one
    (when its pending items accrued): the previous period for a renewal, the creation instant
    otherwise. The lines carry the billed service period.
    """
    now = ledger.now
    invoice = invoicing.new_invoice(
        ledger,
        customer,
        subscription["currency"],
        billing_reason=billing_reason,
        subscription=subscription,
        invoice_id=invoice_id,
        period_start=previous_start if previous_start is not None else now,
        period_end=start if previous_start is not None else now,
        discounts=_active_discounts(ledger, subscription["discounts"]),
        tax_rates=subscription.get("default_tax_rates") or None,
    )
    for item in items:
        invoicing.subscription_line(ledger, invoice, subscription, item, start, end, trial=trial)
    pending = []
    if include_pending:
        pending = [
            item
            for item in ledger.pending_items(customer["id"])
            if _pending_subscription(item) in (None, subscription["id"])
            and item["currency"] == subscription["currency"]
        ]
    for pending_item in pending + (extra_items or []):
        invoicing.invoice_item_line(ledger, invoice, pending_item)
    invoicing.open_draft(ledger, invoice)
    _consume_once_discounts(ledger, subscription, items, invoice)
    pause = subscription.get("pause_collection")
    if pause and billing_reason == "subscription_cycle":
        behavior = pause["behavior"]
        if behavior == "keep_as_draft":
            invoice["auto_advance"] = False
            ledger.put(invoice)
            return invoice
        invoicing.finalize(ledger, invoice, recompute=False)
        if behavior == "void":
            invoicing.void(ledger, invoice)
        else:
            invoicing.mark_uncollectible(ledger, invoice)
        return invoice
    invoicing.finalize(ledger, invoice, recompute=False)
    invoicing.pay(ledger, invoice, charge_metadata=charge_metadata, automatic=True)
    return invoice


def _replace_discounts(ledger: Ledger, subscription: Obj, coupons: tuple[Obj, ...]) -> list[str]:
    """The subscription's discounts after an update naming `coupons`: those of coupons it
    already had stay; one coupon in place of one other switches that discount
    (`customer.discount.updated`); otherwise the others are removed (`.deleted`) and the new
    coupons applied (`.created`)."""
    current = [found for d in subscription["discounts"] if (found := ledger.get(d)) is not None]
    wanted = {coupon["id"]: coupon for coupon in coupons}
    kept = [found for found in current if found["source"]["coupon"] in wanted]
    gone = [found for found in current if found not in kept]
    new = [c for c in coupons if c["id"] not in {f["source"]["coupon"] for f in kept}]
    if len(gone) == 1 and len(new) == 1:
        invoicing.switch_discount(ledger, gone[0], new[0])
        return [found["id"] for found in current]
    for found in gone:
        invoicing.remove_discount(ledger, found)
    added = [
        invoicing.new_discount(
            ledger, coupon, customer=subscription["customer"], subscription=subscription["id"]
        )["id"]
        for coupon in new
    ]
    return [found["id"] for found in kept] + added


def remove_discounts(ledger: Ledger, subscription: Obj) -> Obj:
    """Take the subscription's own discounts off (its items' stay), as Stripe's
    `DELETE /v1/subscriptions/{id}/discount` does; the first removed, as Stripe answers it."""
    removed = [
        invoicing.remove_discount(ledger, found)
        for d in subscription["discounts"]
        if (found := ledger.get(d)) is not None
    ]
    if not removed:
        raise SandboxError(
            404, f"No active discount for subscription: '{subscription['id']}'", param="id"
        )
    previous = {"discounts": subscription["discounts"]}
    subscription["discounts"] = []
    ledger.put(subscription)
    ledger.emit("customer.subscription.updated", subscription, previous)
    return removed[0]


def _pending_subscription(item: Obj) -> str | None:
    details = (item.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def _active_discounts(ledger: Ledger, discount_ids: list[str]) -> list[str]:
    active = []
    for discount_id in discount_ids:
        found = invoicing.coupon_of(ledger, discount_id)
        if found is not None and invoicing.discount_active(found[0], ledger.now):
            active.append(discount_id)
    return active


def _consume_once_discounts(
    ledger: Ledger, subscription: Obj, items: list[Obj], invoice: Obj
) -> None:
    """`once` coupons apply to one invoice with something to discount; expired ones drop off."""
    if invoice["subtotal"] <= 0:
        return
    now = ledger.now

    def keep(discount_id: str) -> bool:
        found = invoicing.coupon_of(ledger, discount_id)
        if found is None:
            return False
        discount, coupon = found
        if discount["end"] is not None and discount["end"] <= now:
            ledger.emit("customer.discount.deleted", discount)
            return False
        if coupon["duration"] == "once":
            invoicing.end_discount(ledger, discount)
            return False
        return True

    kept = [d for d in subscription["discounts"] if keep(d)]
    if kept != subscription["discounts"]:
        subscription["discounts"] = kept
        ledger.put(subscription)
    for item in items:
        if item.get("discounts"):
            item_kept = [d for d in item["discounts"] if keep(d)]
            if item_kept != item["discounts"]:
                item["discounts"] = item_kept
                ledger.put(item)
                _sync_items(subscription, items)
                ledger.put(subscription)


# -- the clock --------------------------------------------------------------------------------------


def step(ledger: Ledger, subscription: Obj) -> None:
    """Do what is due for the subscription at `ledger.now` (cancel, end trial, renew, resume)."""
    now = ledger.now
    if subscription["status"] in ENDED:
        ledger.schedule(subscription["id"], None)
        return
    if subscription.get("cancel_at") and subscription["cancel_at"] <= now:
        cancel(ledger, subscription, reason=None)
        return
    pause = subscription.get("pause_collection")
    if pause and pause.get("resumes_at") and pause["resumes_at"] <= now:
        subscription["pause_collection"] = None
        ledger.put(subscription)
        ledger.emit("customer.subscription.updated", subscription, {"pause_collection": pause})
    items = items_of(ledger, subscription)
    if items and _period(items)[1] <= now:
        if subscription["status"] == "trialing":
            _end_trial(ledger, subscription, items)
        else:
            phase = schedules.on_renewal(ledger, subscription)
            if phase is not None:
                items = _enter_phase(ledger, subscription, items, phase)
            renew(ledger, subscription, items)
    ledger.schedule(subscription["id"], next_due(subscription))


def _enter_phase(ledger: Ledger, subscription: Obj, items: list[Obj], phase: Obj) -> list[Obj]:
    """A schedule's next phase starts with the period: its prices, without proration (the
    period it changes has not begun)."""
    changes = []
    for item, planned in zip(items, phase["items"], strict=False):
        price = ledger.get(planned["price"])
        if price is None or price.get("deleted"):
            price = ledger.tombstone(planned["price"]) or item["price"]
        changes.append(ItemChange(id=item["id"], price=price, quantity=planned["quantity"]))
    _change_items(ledger, subscription, items, changes, "none")
    return items_of(ledger, subscription)


def _end_trial(ledger: Ledger, subscription: Obj, items: list[Obj]) -> None:
    customer = ledger.get(subscription["customer"])
    assert customer is not None
    has_method = bool((customer.get("invoice_settings") or {}).get("default_payment_method"))
    behavior = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
    if not has_method and behavior == "cancel":
        cancel(ledger, subscription, reason=None)
        return
    if not has_method and behavior == "pause":
        previous = {"status": subscription["status"]}
        subscription["status"] = "paused"
        ledger.put(subscription)
        ledger.emit("customer.subscription.paused", subscription, previous)
        ledger.emit("customer.subscription.updated", subscription, previous)
        return
    renew(ledger, subscription, items)


def renew(ledger: Ledger, subscription: Obj, items: list[Obj], *, start: int | None = None) -> Obj:
    """Start the next period: move the items' periods, invoice the period, collect it."""
    now = ledger.now
    previous_start = _period(items)[0] if start is None else None
    start = _period(items)[1] if start is None else start
    interval, count = _recurring(items[0]["price"])
    end = money.add_interval(start, interval, count, subscription["billing_cycle_anchor"])
    while end <= now:  # a long pause or a late step: never bill a period that already ended
        start, end = (
            end,
            money.add_interval(end, interval, count, subscription["billing_cycle_anchor"]),
        )
    customer = ledger.get(subscription["customer"])
    assert customer is not None
    invoice_id = ledger.ids.new("in")
    previous: Obj = {"latest_invoice": subscription["latest_invoice"]}
    if ledger.emitting:  # cloning the items is only worth it for a kept event
        previous["items"] = shapes.clone(subscription["items"])
    if subscription["status"] != "active":
        previous["status"] = subscription["status"]
        subscription["status"] = "active"
    _start_period(ledger, subscription, items, start, end, invoice_id)
    ledger.emit("customer.subscription.updated", subscription, previous)
    return _invoice_period(
        ledger,
        customer,
        subscription,
        items,
        start,
        end,
        billing_reason="subscription_cycle",
        invoice_id=invoice_id,
        previous_start=previous_start,
    )


def cancel(
    ledger: Ledger,
    subscription: Obj,
    *,
    reason: str | None = "cancellation_requested",
    feedback: str | None = None,
    invoice_now: bool = False,
    prorate: bool = False,
) -> Obj:
    """End the subscription now (`customer.subscription.deleted`), and its schedule with it."""
    if subscription["status"] in ENDED:
        raise SandboxError(
            400,
            f"A canceled subscription can only update its cancellation_details and metadata. "
            f"({subscription['id']})",
        )
    schedules.on_cancel(ledger, subscription)
    now = ledger.now
    items = items_of(ledger, subscription)
    if prorate and items and subscription["status"] == "active":
        for item in items:
            _proration_item(
                ledger, subscription, item, item["price"], item["quantity"], credit=True
            )
    previous = {"status": subscription["status"]}
    subscription["status"] = "canceled"
    subscription["ended_at"] = now
    subscription["canceled_at"] = subscription.get("canceled_at") or now
    if reason is not None or feedback is not None:
        subscription["cancellation_details"] = _cancellation(reason, feedback)
    elif not subscription["cancellation_details"].get("reason"):
        subscription["cancellation_details"] = _cancellation("cancellation_requested")
    ledger.put(subscription)
    ledger.emit("customer.subscription.deleted", subscription, previous)
    ledger.schedule(subscription["id"], None)
    if invoice_now and prorate:
        customer = ledger.get(subscription["customer"])
        pending = [
            item
            for item in ledger.pending_items(subscription["customer"])
            if _pending_subscription(item) == subscription["id"]
        ]
        if pending and customer is not None:
            invoice = invoicing.new_invoice(
                ledger,
                customer,
                subscription["currency"],
                billing_reason="subscription_update",
                subscription=subscription,
            )
            for item in pending:
                invoicing.invoice_item_line(ledger, invoice, item)
            invoicing.open_draft(ledger, invoice)
            invoicing.finalize(ledger, invoice)
            invoicing.pay(ledger, invoice, automatic=True)
    return subscription


def resume(ledger: Ledger, subscription: Obj) -> Obj:
    """Resume a paused subscription: a new period starts now and is invoiced."""
    if subscription["status"] != "paused":
        raise invalid(
            f"Subscription {subscription['id']} is not paused and cannot be resumed.",
            "subscription",
        )
    now = ledger.now
    items = items_of(ledger, subscription)
    previous = {"status": "paused"}
    subscription["status"] = "active"
    subscription["billing_cycle_anchor"] = now
    interval, count = _recurring(items[0]["price"])
    end = money.add_interval(now, interval, count, now)
    invoice_id = ledger.ids.new("in")
    _start_period(ledger, subscription, items, now, end, invoice_id)
    ledger.emit("customer.subscription.resumed", subscription, previous)
    customer = ledger.get(subscription["customer"])
    assert customer is not None
    _invoice_period(
        ledger,
        customer,
        subscription,
        items,
        now,
        end,
        billing_reason="subscription_cycle",
        invoice_id=invoice_id,
    )
    ledger.schedule(subscription["id"], next_due(subscription))
    return subscription


# -- changes ----------------------------------------------------------------------------------------


_UNSET: Any = object()


def update(
    ledger: Ledger,
    subscription: Obj,
    *,
    changes: list[ItemChange] | None = None,
    proration_behavior: str = "create_prorations",
    cancel_at_period_end: bool | None = None,
    cancel_at: Any = _UNSET,
    pause_collection: Any = _UNSET,
    metadata: Obj | None = None,
    trial_end: Any = _UNSET,
    description: Any = _UNSET,
    coupons: tuple[Obj, ...] | None = None,
    cancellation_feedback: str | None = None,
) -> Obj:
    """Apply a subscription update the way Stripe does, with one `customer.subscription.updated`.

    Price or quantity changes mid-period create proration invoice items (a negative credit for the
    unused time of the old price, a debit for the remaining time of the new one), invoiced with the
    next renewal, or at once with `proration_behavior=always_invoice`.
    """
    if subscription["status"] in ENDED and (
        changes or pause_collection is not _UNSET or cancel_at_period_end
    ):
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata.",
            None,
        )
    if proration_behavior not in ("create_prorations", "always_invoice", "none"):
        raise invalid(f"Invalid proration_behavior: {proration_behavior}", "proration_behavior")
    now = ledger.now
    previous: Obj = {}
    items = items_of(ledger, subscription)
    invoice_now = False

    if changes:
        previous["items"] = shapes.clone(subscription["items"])
        invoice_now = _change_items(ledger, subscription, items, changes, proration_behavior)
        items = items_of(ledger, subscription)
        if subscription["currency"] != items[0]["price"]["currency"]:
            raise invalid("All prices on a subscription must have the same currency.", "items")

    if metadata is not None and metadata != subscription["metadata"]:
        previous["metadata"] = subscription["metadata"]
        subscription["metadata"] = metadata  # the complete new metadata
    if description is not _UNSET:
        previous["description"] = subscription["description"]
        subscription["description"] = description
    if (
        cancel_at_period_end is not None
        and cancel_at_period_end != subscription["cancel_at_period_end"]
    ):
        previous.update(
            cancel_at_period_end=subscription["cancel_at_period_end"],
            cancel_at=subscription["cancel_at"],
            canceled_at=subscription["canceled_at"],
            cancellation_details=subscription["cancellation_details"],
        )
        subscription["cancel_at_period_end"] = cancel_at_period_end
        if cancel_at_period_end:
            subscription["cancel_at"] = _period(items)[1]
            subscription["canceled_at"] = now
            subscription["cancellation_details"] = _cancellation(
                "cancellation_requested", cancellation_feedback
            )
        else:
            subscription["cancel_at"] = None
            subscription["canceled_at"] = None
            subscription["cancellation_details"] = _cancellation(None)
    if cancel_at is not _UNSET:
        previous.setdefault("cancel_at", subscription["cancel_at"])
        subscription["cancel_at"] = cancel_at
        subscription["canceled_at"] = now if cancel_at else None
    if pause_collection is not _UNSET:
        if pause_collection is not None and pause_collection.get("behavior") not in (
            "keep_as_draft",
            "mark_uncollectible",
            "void",
        ):
            raise invalid("Invalid pause_collection[behavior].", "pause_collection[behavior]")
        previous["pause_collection"] = subscription["pause_collection"]
        subscription["pause_collection"] = pause_collection
    if coupons is not None:
        discounts = _replace_discounts(ledger, subscription, coupons)
        if discounts != subscription["discounts"]:
            previous["discounts"] = subscription["discounts"]
            subscription["discounts"] = discounts
    end_trial_now = False
    if trial_end is not _UNSET:
        if subscription["status"] != "trialing" and trial_end != "now":
            raise invalid("The subscription is not trialing.", "trial_end")
        previous["trial_end"] = subscription["trial_end"]
        if trial_end == "now":
            end_trial_now = subscription["status"] == "trialing"
            subscription["trial_end"] = now
        else:
            if trial_end <= now:
                raise invalid("Invalid timestamp: must be in the future.", "trial_end")
            subscription["trial_end"] = trial_end
            for item in items:
                item["current_period_end"] = trial_end
                ledger.put(item)
            subscription["billing_cycle_anchor"] = trial_end
    _sync_items(subscription, items)
    ledger.put(subscription)
    ledger.emit("customer.subscription.updated", subscription, previous)

    if end_trial_now:
        for item in items:
            item["current_period_end"] = now
        subscription["billing_cycle_anchor"] = now
        renew(ledger, subscription, items, start=now)
    elif invoice_now:
        customer = ledger.get(subscription["customer"])
        assert customer is not None
        pending = [
            item
            for item in ledger.pending_items(subscription["customer"])
            if _pending_subscription(item) == subscription["id"]
        ]
        start, end = _period(items)
        if pending or invoice_now == "reset":
            invoice = invoicing.new_invoice(
                ledger,
                customer,
                subscription["currency"],
                billing_reason="subscription_update",
                subscription=subscription,
                discounts=_active_discounts(ledger, subscription["discounts"]),
                tax_rates=subscription.get("default_tax_rates") or None,
            )
            if invoice_now == "reset":
                for item in items:
                    invoicing.subscription_line(ledger, invoice, subscription, item, start, end)
            for item in pending:
                invoicing.invoice_item_line(ledger, invoice, item)
            previous_invoice = subscription["latest_invoice"]
            subscription["latest_invoice"] = invoice["id"]
            ledger.put(subscription)
            invoicing.open_draft(ledger, invoice)
            invoicing.finalize(ledger, invoice)
            invoicing.pay(ledger, invoice, automatic=True)
            ledger.emit(
                "customer.subscription.updated",
                subscription,
                {"latest_invoice": previous_invoice},
            )
    ledger.schedule(subscription["id"], next_due(subscription))
    return subscription


def _change_items(
    ledger: Ledger,
    subscription: Obj,
    items: list[Obj],
    changes: list[ItemChange],
    proration_behavior: str,
) -> bool | str:
    """Apply item changes; returns whether (and how) to invoice now."""
    now = ledger.now
    by_id = {item["id"]: item for item in items}
    start, end = _period(items)
    prorate = (
        proration_behavior != "none"
        and subscription["status"] in ("active", "past_due")
        and start <= now < end
    )
    current_interval = _recurring(items[0]["price"])
    reset = any(
        change.price is not None and _recurring(change.price) != current_interval
        for change in changes
    )
    for change in changes:
        item = by_id.get(change.id) if change.id else None
        if change.id and item is None:
            raise missing("subscription_item", change.id, "items")
        if item is not None and change.deleted:
            if prorate:
                _proration_item(
                    ledger, subscription, item, item["price"], item["quantity"], credit=True
                )
            ledger.put(shapes.deleted_stub(item["id"], "subscription_item"))
            continue
        if item is None:
            if change.price is None:
                raise invalid("Missing required param: items[price].", "items")
            new = shapes.subscription_item(
                ledger.ids.new("si"),
                subscription["id"],
                change.price,
                shapes.plan_of(change.price),
                change.quantity if change.quantity is not None else 1,
                now,
                start,
                end,
                metadata=change.metadata,
            )
            ledger.put(new, parent=subscription["id"])
            if prorate and not reset:
                _proration_item(
                    ledger, subscription, new, new["price"], new["quantity"], credit=False
                )
            continue
        new_price = change.price or item["price"]
        new_quantity = change.quantity if change.quantity is not None else item["quantity"]
        if new_price["id"] == item["price"]["id"] and new_quantity == item["quantity"]:
            if change.metadata is not None:
                item["metadata"] = change.metadata
                ledger.put(item)
            continue
        if prorate:
            _proration_item(
                ledger, subscription, item, item["price"], item["quantity"], credit=True
            )
        item["price"] = new_price
        item["plan"] = shapes.plan_of(new_price)
        item["quantity"] = new_quantity
        if change.metadata is not None:
            item["metadata"] = change.metadata
        ledger.put(item)
        if prorate and not reset:
            _proration_item(ledger, subscription, item, new_price, new_quantity, credit=False)
    remaining = items_of(ledger, subscription)
    if not remaining:
        raise invalid("A subscription must have at least one active item.", "items")
    interval = _recurring(remaining[0]["price"])
    if any(_recurring(item["price"]) != interval for item in remaining):
        raise invalid("Subscriptions only support items with the same billing interval.", "items")
    if reset:
        new_end = money.add_interval(now, interval[0], interval[1], now)
        for item in remaining:
            item["current_period_start"] = now
            item["current_period_end"] = new_end
            ledger.put(item)
        subscription["billing_cycle_anchor"] = now
        return "reset"
    return proration_behavior == "always_invoice" and prorate


def _proration_item(
    ledger: Ledger, subscription: Obj, item: Obj, price: Obj, quantity: int, *, credit: bool
) -> Obj | None:
    """The proration invoice item for the rest of the current period (negative when a credit)."""
    now = ledger.now
    start, end = item["current_period_start"], item["current_period_end"]
    full = price["unit_amount"] * quantity
    amount = money.prorate(full, now, end, start, end)
    if amount == 0:
        return None
    name = invoicing.product_name(ledger, price["product"])
    when = money.format_date(now)
    credited = None
    if credit:
        amount = -amount
        description = f"Unused time on {quantity} × {name} after {when}"
        credited = _credited_lines(ledger, subscription, item["id"])
    else:
        description = f"Remaining time on {quantity} × {name} after {when}"
    pending = shapes.invoiceitem(
        ledger.ids.new("ii"),
        subscription["customer"],
        subscription["currency"],
        amount,
        now,
        description=description,
        period_start=now,
        period_end=end,
        price_id=price["id"],
        product_id=price["product"],
        quantity=quantity,
        unit_amount=price["unit_amount"],
        proration=True,
        subscription_id=subscription["id"],
        subscription_item_id=item["id"],
        credited=credited,
    )
    ledger.put(pending)
    ledger.emit("invoiceitem.created", pending)
    return pending


def _credited_lines(ledger: Ledger, subscription: Obj, item_id: str) -> Obj | None:
    invoice_id = subscription.get("latest_invoice")
    if not invoice_id:
        return None
    lines = []
    for line in ledger.children(invoice_id, "line_item"):
        details = (line.get("parent") or {}).get("subscription_item_details") or {}
        if details.get("subscription_item") == item_id and not details.get("proration"):
            lines.append(line["id"])
    return {"invoice": invoice_id, "invoice_line_items": lines} if lines else None
