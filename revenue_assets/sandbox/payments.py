"""Money movements of the billing engine: payment intents, charges, refunds, disputes and payouts,
and the setup intents that save a customer's card for them.

Every movement books a balance transaction, so that the balance (and the payouts drawn from it)
reconciles exactly with what the charges, refunds, disputes and fees did.
"""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

from revenue_assets.sandbox import customer_children, money, shapes
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.ledger import Ledger

Obj = dict[str, Any]

_CARDS = (
    ("visa", "4242"),
    ("visa", "1881"),
    ("mastercard", "4444"),
    ("mastercard", "5100"),
    ("amex", "8431"),
    ("visa", "0077"),
    ("discover", "1117"),
    ("visa", "3155"),
)


@cache
def _card_details(index: int) -> Obj:
    brand, last4 = _CARDS[index % len(_CARDS)]
    fingerprint = f"Fp{index:02d}{brand[:4]}{last4}"[:16]
    return shapes.card_details(brand, last4, fingerprint, 2027 + index % 5)


def card_of(customer: Obj | None) -> tuple[str, Obj]:
    """The customer's card: payment method id and the (shared, immutable) details of charges."""
    if customer is None:
        return "card_1SandboxGuestCard000000", _card_details(0)
    settings = customer.get("invoice_settings") or {}
    method = settings.get("default_payment_method") or f"card_{customer['id'][4:]}"
    return method, _card_details(zlib.crc32(customer["id"].encode()))


# Stripe's test payment method that attaches to a customer but whose every charge is declined:
# how a test account makes a renewal fail and its subscription go past_due.
DECLINING_METHODS = frozenset({"pm_card_chargeCustomerFail"})


def declines(customer: Obj | None) -> bool:
    """Whether charging the customer's default payment method is declined."""
    return customer is not None and card_of(customer)[0] in DECLINING_METHODS


def book(
    ledger: Ledger,
    amount: int,
    fee: int,
    currency: str,
    *,
    source: str,
    type: str,
    reporting_category: str,
    description: str | None,
    available_on: int | None = None,
    counts_for_payout: bool = True,
) -> Obj:
    """Create a balance transaction and account for it in the pending payout balance."""
    available = available_on if available_on is not None else money.available_on(ledger.now)
    txn = shapes.balance_transaction(
        ledger.ids.new("txn"),
        amount,
        fee,
        currency,
        ledger.now,
        source=source,
        type=type,
        reporting_category=reporting_category,
        description=description,
        available_on=available,
        status=ledger.balance_status(available),
    )
    _convert_for_settlement(txn)
    ledger.put(txn)
    if counts_for_payout:
        ledger.on_balance(txn)
    return txn


def _convert_for_settlement(txn: Obj) -> None:
    """A movement in a currency the account cannot hold is booked in its settlement currency:
    amount, fee and net converted at the rate Stripe reports as `exchange_rate`."""
    rate = money.settlement_rate(txn["currency"])
    if rate is None:
        return
    presented = txn["currency"]
    amount = money.settle(txn["amount"], presented, rate)
    fee = money.settle(txn["fee"], presented, rate)
    fee_details = [
        dict(entry, amount=fee, currency=money.SETTLEMENT_CURRENCY) for entry in txn["fee_details"]
    ]
    txn.update(
        amount=amount,
        fee=fee,
        fee_details=fee_details,
        net=amount - fee,
        currency=money.SETTLEMENT_CURRENCY,
        exchange_rate=rate,
    )


def create_charge(
    ledger: Ledger,
    customer: Obj | None,
    amount: int,
    currency: str,
    *,
    description: str | None,
    metadata: Obj | None = None,
    invoice_id: str | None = None,
    with_intent: bool = False,
) -> tuple[Obj, Obj | None]:
    """A succeeded card charge (with its payment intent when asked), its balance transaction and
    its `charge.succeeded` event. Charges of invoices are stored under the invoice (parent)."""
    if amount <= 0:
        raise invalid("Amount must be at least 1.", "amount")
    ids = ledger.ids
    charge_id = ids.new("ch")
    intent = None
    method, details = card_of(customer)
    fee = money.stripe_fee(amount, currency)
    txn = book(
        ledger,
        amount,
        fee,
        currency,
        source=charge_id,
        type="charge",
        reporting_category="charge",
        description=description,
    )
    customer_id = customer["id"] if customer else None
    if with_intent:
        intent = shapes.payment_intent(
            ids.new("pi"),
            amount,
            currency,
            ledger.now,
            customer_id=customer_id,
            charge_id=charge_id,
            payment_method=method,
            description=description,
            secret=ids.token(25),
        )
        ledger.put(intent, parent=invoice_id)
        ledger.emit("payment_intent.created", intent)
    charge = shapes.charge(
        charge_id,
        amount,
        currency,
        ledger.now,
        customer_id=customer_id,
        balance_transaction=txn["id"],
        payment_intent_id=intent["id"] if intent else None,
        payment_method=method,
        method_details=details,
        billing_name=customer.get("name") if customer else None,
        billing_email=customer.get("email") if customer else None,
        description=description,
        receipt=ids.token(40),
        metadata=metadata,
    )
    ledger.put(charge, parent=invoice_id)
    ledger.emit("charge.succeeded", charge)
    if intent is not None:
        ledger.emit("payment_intent.succeeded", intent)
    return charge, intent


def open_intent(
    ledger: Ledger,
    customer: Obj | None,
    amount: int,
    currency: str,
    *,
    description: str | None,
    metadata: Obj | None = None,
) -> Obj:
    """A payment intent created but not confirmed: it waits for a payment method
    (`payment_intent.created`)."""
    if amount <= 0:
        raise invalid("Amount must be at least 1.", "amount")
    ids = ledger.ids
    intent_id = ids.new("pi")
    intent = shapes.payment_intent(
        intent_id,
        amount,
        currency,
        ledger.now,
        customer_id=customer["id"] if customer else None,
        charge_id=None,
        payment_method=None,
        description=description,
        secret=ids.token(25),
    )
    intent.update(amount_received=0, status="requires_payment_method", metadata=metadata or {})
    ledger.put(intent)
    ledger.emit("payment_intent.created", intent)
    return intent


def decline_intent(ledger: Ledger, intent: Obj, customer: Obj) -> Obj:
    """A confirmation the card issuer declines: a failed charge, and the intent back to
    `requires_payment_method` with the decline as its `last_payment_error`."""
    charge = failed_charge(
        ledger,
        customer,
        intent["amount"],
        intent["currency"],
        description=intent["description"],
        payment_intent_id=intent["id"],
    )
    previous = {"status": intent["status"], "last_payment_error": intent["last_payment_error"]}
    intent.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        payment_method=None,
        last_payment_error={
            "charge": charge["id"],
            "code": "card_declined",
            "decline_code": "generic_decline",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": "Your card was declined.",
            "payment_method_type": "card",
            "type": "card_error",
        },
    )
    ledger.put(intent)
    ledger.emit("payment_intent.payment_failed", intent, previous)
    return intent


def confirm_intent(ledger: Ledger, intent: Obj, customer: Obj | None) -> Obj:
    """Confirm an intent with the customer's card: declined (a declining card) or succeeded,
    with its charge and balance transaction."""
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise SandboxError(
            400,
            f"This PaymentIntent's status is {intent['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    if customer is not None and declines(customer):
        return decline_intent(ledger, intent, customer)
    charge_id = ledger.ids.new("ch")
    method, details = card_of(customer)
    amount, currency = intent["amount"], intent["currency"]
    txn = book(
        ledger,
        amount,
        money.stripe_fee(amount, currency),
        currency,
        source=charge_id,
        type="charge",
        reporting_category="charge",
        description=intent["description"],
    )
    charge = shapes.charge(
        charge_id,
        amount,
        currency,
        ledger.now,
        customer_id=customer["id"] if customer else None,
        balance_transaction=txn["id"],
        payment_intent_id=intent["id"],
        payment_method=method,
        method_details=details,
        billing_name=customer.get("name") if customer else None,
        billing_email=customer.get("email") if customer else None,
        description=intent["description"],
        receipt=ledger.ids.token(40),
        metadata=intent["metadata"],
    )
    ledger.put(charge)
    ledger.emit("charge.succeeded", charge)
    previous = {"status": intent["status"], "amount_received": intent["amount_received"]}
    intent.update(
        status="succeeded",
        amount_received=amount,
        latest_charge=charge_id,
        payment_method=method,
        last_payment_error=None,
    )
    ledger.put(intent)
    ledger.emit("payment_intent.succeeded", intent, previous)
    return intent


def cancel_intent(ledger: Ledger, intent: Obj, reason: str | None = "abandoned") -> Obj:
    """Cancel an intent that never succeeded (`payment_intent.canceled`)."""
    if intent["status"] in ("succeeded", "canceled"):
        raise SandboxError(
            400,
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. "
            "Only a PaymentIntent with one of the following statuses may be canceled: "
            "requires_payment_method, requires_capture, requires_confirmation, requires_action, "
            "processing.",
            code="payment_intent_unexpected_state",
        )
    previous = {"status": intent["status"], "canceled_at": None}
    intent.update(status="canceled", canceled_at=ledger.now, cancellation_reason=reason)
    ledger.put(intent)
    ledger.emit("payment_intent.canceled", intent, previous)
    return intent


def failed_charge(
    ledger: Ledger,
    customer: Obj,
    amount: int,
    currency: str,
    *,
    description: str | None,
    invoice_id: str | None = None,
    payment_intent_id: str | None = None,
) -> Obj:
    """A declined card charge: no money moved, so no balance transaction (`charge.failed`)."""
    charge_id = ledger.ids.new("ch")
    method, details = card_of(customer)
    charge = shapes.charge(
        charge_id,
        amount,
        currency,
        ledger.now,
        customer_id=customer["id"],
        balance_transaction=None,
        payment_intent_id=payment_intent_id,
        payment_method=method,
        method_details=details,
        billing_name=customer.get("name"),
        billing_email=customer.get("email"),
        description=description,
        receipt=ledger.ids.token(40),
    )
    charge.update(
        amount_captured=0,
        captured=False,
        paid=False,
        status="failed",
        receipt_url=None,
        failure_code="card_declined",
        failure_message="Your card was declined.",
        outcome=dict(
            charge["outcome"],
            network_status="declined_by_network",
            reason="generic_decline",
            seller_message="The bank did not return any further details with this decline.",
            type="issuer_declined",
        ),
    )
    ledger.put(charge, parent=invoice_id)
    ledger.emit("charge.failed", charge)
    return charge


def refund_charge(
    ledger: Ledger,
    charge: Obj,
    amount: int | None = None,
    *,
    reason: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """Refund a charge fully or partly: refund, negative balance transaction, updated charge."""
    remaining = charge["amount"] - charge["amount_refunded"]
    if amount is None:
        amount = remaining
    if amount <= 0:
        raise invalid("Refund amount must be positive.", "amount")
    if amount > remaining:
        raise SandboxError(
            400,
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            code="amount_too_large",
            param="amount",
        )
    if charge.get("disputed"):
        raise SandboxError(
            400,
            f"Charge {charge['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
        )
    refund_id = ledger.ids.new("re")
    txn = book(
        ledger,
        -amount,
        0,
        charge["currency"],
        source=refund_id,
        type="refund",
        reporting_category="refund",
        description="REFUND FOR CHARGE",
    )
    refund = shapes.refund(
        refund_id,
        amount,
        charge["currency"],
        ledger.now,
        charge_id=charge["id"],
        payment_intent_id=charge.get("payment_intent"),
        balance_transaction=txn["id"],
        reason=reason,
        customer_id=charge.get("customer"),
        metadata=metadata,
    )
    ledger.put(refund, parent=charge["id"])
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    refunds = ledger.children(charge["id"], "refund")
    refunds.reverse()  # newest first, as Stripe embeds them
    charge["refunds"] = shapes.embedded_list(refunds, f"/v1/charges/{charge['id']}/refunds")
    ledger.put(charge)
    ledger.emit("charge.refunded", charge, previous)
    ledger.emit("refund.created", refund)
    return refund


def open_dispute(ledger: Ledger, charge: Obj, *, reason: str, amount: int | None = None) -> Obj:
    """A chargeback: the disputed amount and the dispute fee leave the balance."""
    if charge.get("disputed"):
        raise invalid(f"Charge {charge['id']} is already disputed.", "charge")
    disputable = charge["amount"] - charge["amount_refunded"]
    amount = disputable if amount is None else amount
    if amount <= 0 or amount > disputable:
        raise invalid("Dispute amount must be between 1 and the unrefunded amount.", "amount")
    dispute_id = ledger.ids.new("dp")
    currency = charge["currency"]
    txn = book(
        ledger,
        -amount,
        money.dispute_fee(currency),
        currency,
        source=dispute_id,
        type="adjustment",
        reporting_category="dispute",
        description=f"Chargeback withdrawal for {charge['id']}",
    )
    dispute = shapes.dispute(
        dispute_id,
        amount,
        currency,
        ledger.now,
        charge_id=charge["id"],
        payment_intent_id=charge.get("payment_intent"),
        reason=reason,
        transactions=[txn],
    )
    ledger.put(dispute)
    previous = {"disputed": False}
    charge["disputed"] = True
    ledger.put(charge)
    ledger.emit("charge.dispute.created", dispute)
    ledger.emit("charge.dispute.funds_withdrawn", dispute)
    ledger.emit("charge.updated", charge, previous)
    return dispute


def close_dispute(ledger: Ledger, dispute: Obj, *, won: bool) -> Obj:
    """Close a dispute: lost keeps the funds withdrawn; won reinstates the disputed amount."""
    if dispute["status"] in ("won", "lost"):
        raise invalid(f"Dispute {dispute['id']} is already closed.", "dispute")
    previous = {"status": dispute["status"]}
    transactions = list(dispute["balance_transactions"])
    if won:
        txn = book(
            ledger,
            dispute["amount"],
            0,
            dispute["currency"],
            source=dispute["id"],
            type="adjustment",
            reporting_category="dispute_reversal",
            description=f"Chargeback reversal for {dispute['charge']}",
        )
        transactions.append(txn)
        dispute["balance_transactions"] = transactions
    dispute["status"] = "won" if won else "lost"
    dispute["is_charge_refundable"] = False
    ledger.put(dispute)
    if won:
        ledger.emit("charge.dispute.funds_reinstated", dispute, previous)
    ledger.emit("charge.dispute.closed", dispute, previous)
    return dispute


def create_payout(
    ledger: Ledger,
    amount: int,
    currency: str,
    *,
    automatic: bool,
    description: str | None = "STRIPE PAYOUT",
    metadata: Obj | None = None,
) -> Obj:
    """A payout to the bank account; it arrives (and is `paid`) two days later."""
    if amount <= 0:
        raise invalid("Payout amount must be positive.", "amount")
    payout_id = ledger.ids.new("po")
    txn = book(
        ledger,
        -amount,
        0,
        currency,
        source=payout_id,
        type="payout",
        reporting_category="payout",
        description=description,
        available_on=ledger.now,
        counts_for_payout=not automatic,
    )
    arrival = money.day_floor(ledger.now) + 2 * money.DAY
    payout = shapes.payout(
        payout_id,
        amount,
        currency,
        ledger.now,
        balance_transaction=txn["id"],
        arrival_date=arrival,
        automatic=automatic,
        destination=f"ba_{ledger.account[5:]}{currency.upper()}"[:27],
        trace=ledger.ids.token(16).upper(),
        description=description,
        metadata=metadata,
    )
    ledger.put(payout)
    ledger.emit("payout.created", payout)
    ledger.schedule(payout_id, arrival)
    return payout


def settle_payout(ledger: Ledger, payout: Obj) -> None:
    """The payout reached the bank."""
    if payout["status"] != "in_transit":
        return
    previous = {"status": payout["status"]}
    payout["status"] = "paid"
    payout["reconciliation_status"] = "completed"
    ledger.put(payout)
    ledger.emit("payout.paid", payout, previous)
    ledger.schedule(payout["id"], None)


def open_setup_intent(
    ledger: Ledger,
    customer: Obj | None,
    *,
    description: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A setup intent to save a card for later payments (`setup_intent.created`)."""
    ids = ledger.ids
    intent = shapes.setup_intent(
        ids.new("seti"),
        ledger.now,
        customer_id=customer["id"] if customer else None,
        payment_method=None,
        secret=ids.token(25),
        description=description,
        metadata=metadata,
    )
    ledger.put(intent)
    ledger.emit("setup_intent.created", intent)
    return intent


def confirm_setup_intent(
    ledger: Ledger, intent: Obj, payment_method: str, *, declined: bool = False
) -> Obj:
    """The card is checked with its issuer: saved (`setup_intent.succeeded`) or declined, the
    intent back to waiting for a card (`setup_intent.setup_failed`)."""
    if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise SandboxError(
            400,
            f"This SetupIntent's status is {intent['status']}, so it cannot be confirmed.",
            code="setup_intent_unexpected_state",
        )
    previous = {
        "status": intent["status"],
        "last_setup_error": intent["last_setup_error"],
        "latest_attempt": intent.get("latest_attempt"),
    }
    if declined:
        intent.update(
            status="requires_payment_method",
            payment_method=None,
            last_setup_error={
                "code": "card_declined",
                "decline_code": "generic_decline",
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "message": "Your card was declined.",
                "payment_method_type": "card",
                "type": "card_error",
            },
        )
        event = "setup_intent.setup_failed"
    else:
        intent.update(status="succeeded", payment_method=payment_method, last_setup_error=None)
        event = "setup_intent.succeeded"
    customer = ledger.get(intent["customer"]) if intent.get("customer") else None
    customer_children.record_attempt(
        ledger, intent, payment_method, intent["last_setup_error"], customer
    )
    ledger.put(intent)
    ledger.emit(event, intent, previous)
    return intent


def cancel_setup_intent(ledger: Ledger, intent: Obj, reason: str | None = "abandoned") -> Obj:
    """Cancel a setup intent that never saved a card (`setup_intent.canceled`)."""
    if intent["status"] in ("succeeded", "canceled"):
        raise SandboxError(
            400,
            f"You cannot cancel this SetupIntent because it has a status of {intent['status']}.",
            code="setup_intent_unexpected_state",
        )
    previous = {"status": intent["status"], "cancellation_reason": None}
    intent.update(status="canceled", cancellation_reason=reason)
    ledger.put(intent)
    ledger.emit("setup_intent.canceled", intent, previous)
    return intent
