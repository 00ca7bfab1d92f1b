"""Quotes in the billing engine: drafted for a customer, finalized (sent: `open`), then accepted
or canceled; an open quote nobody answers is canceled when its `expires_at` comes.

Stripe's dashboard can also remind of a quote about to expire (`quote.will_expire`), but the
pinned API version's spec knows no such event type (neither as an event nor as a webhook
endpoint's `enabled_events`), so the sandbox sends none.

What the quote sells is kept only as its totals: its line items are not stored (the warehouse
does not sync them). Accepting one here records the outcome, and links the subscription or
invoice when the caller made one; the sandbox does not build them from the quote itself.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

LIFETIME = 30 * money.DAY  # a quote expires 30 days after it is drafted (Stripe's default)


def draft(
    ledger: Ledger,
    customer: Obj,
    items: list[tuple[Obj, int]],
    *,
    expires_at: int | None = None,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    description: str | None = None,
    header: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A draft quote of `items` (price, quantity) for a customer (`quote.created`).

    All prices share one currency, and the recurring ones one interval, as Stripe requires."""
    if not items:
        raise SandboxError(
            400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    currencies = {price["currency"] for price, _ in items}
    if len(currencies) > 1:
        raise SandboxError(
            400, "All prices on a quote must have the same currency.", param="line_items"
        )
    intervals = {
        (price["recurring"]["interval"], price["recurring"]["interval_count"])
        for price, _ in items
        if price.get("recurring")
    }
    if len(intervals) > 1:
        raise SandboxError(
            400, "All recurring prices on a quote must have the same interval.", param="line_items"
        )
    upfront = sum(price["unit_amount"] * quantity for price, quantity in items)
    recurring = [
        price["unit_amount"] * quantity for price, quantity in items if price.get("recurring")
    ]
    quote = shapes.quote(
        ledger.ids.new("qt"),
        ledger.now,
        customer=customer["id"],
        currency=currencies.pop(),
        upfront=upfront,
        recurring=sum(recurring) if recurring else None,
        interval=next(iter(intervals), None),
        expires_at=expires_at if expires_at is not None else ledger.now + LIFETIME,
        collection_method=collection_method,
        days_until_due=days_until_due,
        description=description,
        header=header,
        metadata=metadata,
    )
    ledger.put(quote)
    ledger.emit("quote.created", quote)
    return quote


def _must_be(quote: Obj, action: str, *statuses: str) -> None:
    if quote["status"] not in statuses:
        raise SandboxError(
            400,
            f"This quote cannot be {action} because it has a status of {quote['status']}.",
            code="quote_status_invalid",
        )


def _transitions(quote: Obj, **changes: int) -> None:
    """Replace (never mutate: it may be the template's) the status transitions."""
    quote["status_transitions"] = {**quote["status_transitions"], **changes}


def finalize(ledger: Ledger, quote: Obj) -> Obj:
    """Sent to the customer: open, numbered, answerable until it expires (`quote.finalized`)."""
    _must_be(quote, "finalized", "draft")
    if quote["expires_at"] <= ledger.now:
        raise SandboxError(400, "The quote's expires_at must be in the future.", param="expires_at")
    quote.update(status="open", number=f"QT-{ledger.ids.token(8).upper()}-0001")
    _transitions(quote, finalized_at=ledger.now)
    ledger.put(quote)
    ledger.schedule(quote["id"], quote["expires_at"])
    ledger.emit("quote.finalized", quote)
    return quote


def accept(
    ledger: Ledger, quote: Obj, *, subscription: Obj | None = None, invoice: Obj | None = None
) -> Obj:
    """The customer said yes (`quote.accepted`), with what the sale made, when known."""
    _must_be(quote, "accepted", "open")
    quote.update(
        status="accepted",
        subscription=subscription["id"] if subscription else None,
        invoice=invoice["id"] if invoice else None,
    )
    _transitions(quote, accepted_at=ledger.now)
    ledger.put(quote)
    ledger.schedule(quote["id"], None)
    ledger.emit("quote.accepted", quote)
    return quote


def cancel(ledger: Ledger, quote: Obj) -> Obj:
    """Withdrawn, declined or expired: no longer answerable (`quote.canceled`)."""
    _must_be(quote, "canceled", "draft", "open")
    quote["status"] = "canceled"
    _transitions(quote, canceled_at=ledger.now)
    ledger.put(quote)
    ledger.schedule(quote["id"], None)
    ledger.emit("quote.canceled", quote)
    return quote


def lapse(ledger: Ledger, quote: Obj) -> None:
    """Its `expires_at` came (the world's clock): a quote still open is canceled."""
    if quote["status"] == "open" and ledger.now >= quote["expires_at"]:
        cancel(ledger, quote)
    else:
        ledger.schedule(quote["id"], None)
