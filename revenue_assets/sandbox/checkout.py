"""Checkout sessions of the billing engine: a hosted page opened for a customer, completed
(its subscription, invoice or payment made) or abandoned until it expires a day later.

Stripe sends no event when a session opens, only when it completes or expires. A session
still open when its `expires_at` comes is expired by the world's clock (`lapse`).
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

LIFETIME = money.DAY  # a session expires 24 hours after it opens (Stripe's default)
MODES = ("payment", "setup", "subscription")


def open_session(
    ledger: Ledger,
    *,
    mode: str,
    currency: str,
    amount: int,
    customer: Obj | None,
    email: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    session_id = f"cs_test_{ledger.ids.token(58)}"
    session = shapes.checkout_session(
        session_id,
        ledger.now,
        mode=mode,
        currency=currency,
        amount=amount,
        customer_id=customer["id"] if customer else None,
        customer_email=None if customer else email,
        expires_at=ledger.now + LIFETIME,
        client_secret=ledger.ids.token(24),
        metadata=metadata,
    )
    ledger.put(session)
    return session


def _must_be_open(session: Obj) -> None:
    if session["status"] != "open":
        raise SandboxError(
            400,
            f'Only Checkout Sessions with a status in ["open"] can be expired or completed. '
            f'This Checkout Session has a status of "{session["status"]}".',
            code="checkout_session_not_open",
        )


def complete(
    ledger: Ledger,
    session: Obj,
    customer: Obj,
    *,
    subscription: Obj | None = None,
    invoice: Obj | None = None,
    payment_intent: Obj | None = None,
    setup_intent: Obj | None = None,
) -> Obj:
    """The customer paid (or set up a card) on the page (`checkout.session.completed`)."""
    _must_be_open(session)
    address = customer.get("address") or {}
    paid = session["amount_total"] and (invoice is None or invoice.get("amount_due", 1) > 0)
    session.update(
        status="complete",
        payment_status="paid" if paid and session["mode"] != "setup" else "no_payment_required",
        customer=customer["id"],
        customer_details=shapes.customer_details(
            customer.get("email"), customer.get("name"), address.get("country")
        ),
        subscription=subscription["id"] if subscription else None,
        invoice=invoice["id"] if invoice else None,
        payment_intent=payment_intent["id"] if payment_intent else None,
        setup_intent=setup_intent["id"] if setup_intent else None,
        url=None,
    )
    ledger.put(session)
    ledger.schedule(session["id"], None)
    ledger.emit("checkout.session.completed", session)
    return session


def expire(ledger: Ledger, session: Obj) -> Obj:
    """An abandoned page is no longer payable (`checkout.session.expired`)."""
    _must_be_open(session)
    session.update(status="expired", url=None)
    ledger.put(session)
    ledger.schedule(session["id"], None)
    ledger.emit("checkout.session.expired", session)
    return session


def lapse(ledger: Ledger, session: Obj) -> None:
    """Its `expires_at` came (the world's clock): a session still open expires."""
    if session["status"] == "open":
        expire(ledger, session)
    else:
        ledger.schedule(session["id"], None)
