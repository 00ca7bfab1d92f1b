"""The platform's own money movements with Connect: transfers to connected accounts, the
application fees it collects on their charges, and top-ups of its balance from its bank."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, embedded_list, from_template


def transfer(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    destination: str,
    balance_transaction: str,
    description: str | None,
    transfer_group: str | None,
    metadata: Obj | None = None,
) -> Obj:
    return from_template(
        "transfer",
        id=id,
        amount=amount,
        amount_reversed=0,
        currency=currency,
        created=created,
        destination=destination,
        destination_payment=None,
        balance_transaction=balance_transaction,
        description=description,
        transfer_group=transfer_group,
        metadata=metadata or {},
        reversals=embedded_list([], f"/v1/transfers/{id}/reversals"),
        reversed=False,
        source_transaction=None,
        source_type="card",
    )


def application_fee(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    account: str,
    application: str,
    charge_id: str,
    balance_transaction: str,
) -> Obj:
    return from_template(
        "application_fee",
        id=id,
        amount=amount,
        amount_refunded=0,
        currency=currency,
        created=created,
        account=account,
        application=application,
        charge=charge_id,
        fee_source={"charge": charge_id, "type": "charge"},
        balance_transaction=balance_transaction,
        originating_transaction=None,
        refunded=False,
        refunds=embedded_list([], f"/v1/application_fees/{id}/refunds"),
    )


def topup(
    id: str,
    amount: int,
    currency: str,
    created: int,
    *,
    description: str | None,
    expected_availability_date: int,
    metadata: Obj | None = None,
) -> Obj:
    """A pending top-up (its balance transaction comes when it succeeds)."""
    return from_template(
        "topup",
        id=id,
        amount=amount,
        currency=currency,
        created=created,
        balance_transaction=None,
        description=description,
        expected_availability_date=expected_availability_date,
        metadata=metadata or {},
        source=None,
        status="pending",
        statement_descriptor=None,
        transfer_group=None,
        initiated_by=None,
    )
