"""The platform's Connect money movements in the billing engine: transfers to connected
accounts, application fees collected on their charges, and top-ups of the platform's balance.

Each books a balance transaction on the platform, so that its payouts still pay out exactly the
net of its balance.
"""

from __future__ import annotations

from typing import Any

from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.errors import SandboxError, invalid
from revenue_assets.sandbox.ledger import Ledger
from revenue_assets.sandbox.payments import book

Obj = dict[str, Any]


def application_id(platform: str) -> str:
    """The platform's Connect application (`ca_…`), fixed by its account id."""
    return "ca_" + (platform.removeprefix("acct_") * 2)[:32]


def create_transfer(
    ledger: Ledger,
    amount: int,
    currency: str,
    destination: str,
    *,
    description: str | None = None,
    transfer_group: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """Move funds from the platform's balance to a connected account (`transfer.created`)."""
    if amount <= 0:
        raise invalid("Transfer amount must be positive.", "amount")
    transfer_id = ledger.ids.new("tr")
    txn = book(
        ledger,
        -amount,
        0,
        currency,
        source=transfer_id,
        type="transfer",
        reporting_category="transfer",
        description=description,
        available_on=ledger.now,
    )
    transfer = shapes.transfer(
        transfer_id,
        amount,
        currency,
        ledger.now,
        destination=destination,
        balance_transaction=txn["id"],
        description=description,
        transfer_group=transfer_group,
        metadata=metadata,
    )
    ledger.put(transfer)
    ledger.emit("transfer.created", transfer)
    return transfer


def collect_fee(platform: Ledger, charge: Obj, account: str, amount: int) -> Obj:
    """The platform's cut of a connected account's charge (`application_fee.created` on the
    platform); the charge names its fee."""
    if not 0 < amount <= charge["amount"]:
        raise invalid(
            "The application fee must be positive and at most the charge's amount.",
            "application_fee_amount",
        )
    fee_id = platform.ids.new("fee")
    txn = book(
        platform,
        amount,
        0,
        charge["currency"],
        source=fee_id,
        type="application_fee",
        reporting_category="platform_earning",
        description=None,
    )
    fee = shapes.application_fee(
        fee_id,
        amount,
        charge["currency"],
        platform.now,
        account=account,
        application=application_id(platform.account),
        charge_id=charge["id"],
        balance_transaction=txn["id"],
    )
    platform.put(fee)
    platform.emit("application_fee.created", fee)
    return fee


def create_topup(
    ledger: Ledger,
    amount: int,
    currency: str,
    *,
    description: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """Add funds from the platform's bank account (`topup.created`; pending until it
    succeeds or fails)."""
    if amount <= 0:
        raise invalid("Top-up amount must be positive.", "amount")
    topup = shapes.topup(
        ledger.ids.new("tu"),
        amount,
        currency,
        ledger.now,
        description=description,
        expected_availability_date=money.day_floor(ledger.now) + 5 * money.DAY,
        metadata=metadata,
    )
    ledger.put(topup)
    ledger.emit("topup.created", topup)
    return topup


def _must_be_pending(topup: Obj) -> None:
    if topup["status"] != "pending":
        raise SandboxError(
            400,
            f"This top-up has a status of {topup['status']}: only pending top-ups can change.",
            code="topup_unexpected_state",
        )


def succeed_topup(ledger: Ledger, topup: Obj) -> Obj:
    """The bank sent the funds: they reach the balance (`topup.succeeded`)."""
    _must_be_pending(topup)
    txn = book(
        ledger,
        topup["amount"],
        0,
        topup["currency"],
        source=topup["id"],
        type="topup",
        reporting_category="topup",
        description=topup["description"],
    )
    topup.update(status="succeeded", balance_transaction=txn["id"])
    ledger.put(topup)
    ledger.emit("topup.succeeded", topup, {"status": "pending", "balance_transaction": None})
    return topup


def settle_topup(ledger: Ledger, topup: Obj) -> None:
    """Its expected day came (the world's clock): a top-up still pending succeeds."""
    ledger.schedule(topup["id"], None)
    if topup["status"] == "pending":
        succeed_topup(ledger, topup)


def fail_topup(ledger: Ledger, topup: Obj) -> Obj:
    """The bank refused the debit: nothing reaches the balance (`topup.failed`)."""
    _must_be_pending(topup)
    topup.update(
        status="failed",
        failure_code="insufficient_funds",
        failure_message="The bank account has insufficient funds to cover the top-up.",
    )
    ledger.put(topup)
    ledger.emit("topup.failed", topup, {"status": "pending"})
    return topup
