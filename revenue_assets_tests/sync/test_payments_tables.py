"""The payments tables (payment intents, checkout sessions, setup intents, reviews, early fraud
warnings, transfers, application fees, top-ups) synced from the sandbox over real HTTP: the rows
are what the sandbox serves through the official SDK, the generated company has the cases a
payments table must hold (declined and abandoned intents...), and a restricted key without a
table's permission fails that table alone, naming the permission."""

from __future__ import annotations

from pathlib import Path

import pytest

from revenue_assets.catalog.tables import TABLES_BY_NAME
from revenue_assets_tests.helpers import (
    assert_missing_permission_fails_that_table_alone,
    assert_rows_are_served,
    sync_sandbox,
    warehouse_rows,
)

PAYMENT_TABLES = [
    "payment_intent",
    "checkout_session",
    "setup_intent",
    "review",
    "early_fraud_warning",
    "transfer",
    "application_fee",
    "topup",
]
# Fields compared row by row besides the id, where the object has them.
COMPARED = ("status", "amount", "currency", "customer", "charge")


@pytest.fixture(scope="module")
def synced(sandbox_session_factory, tmp_path_factory):
    sandbox = sandbox_session_factory()
    database = tmp_path_factory.mktemp("payments") / "warehouse.duckdb"
    tables = [TABLES_BY_NAME[name] for name in PAYMENT_TABLES]
    outcomes = sync_sandbox(sandbox, database, tables=tables)
    return sandbox, database, outcomes


@pytest.mark.parametrize("table", PAYMENT_TABLES)
def test_rows_are_what_the_sandbox_serves(synced, table: str) -> None:
    sandbox, database, outcomes = synced
    assert outcomes[table].ok, outcomes[table].error
    assert_rows_are_served(sandbox, database, table, COMPARED)


def test_payment_intents_include_those_that_never_moved_money(synced) -> None:
    _, database, _ = synced
    intents = warehouse_rows(database, "payment_intent").values()
    by_status: dict[str, int] = {}
    for row in intents:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    assert by_status.get("succeeded", 0) > by_status.get("canceled", 0) > 0
    declined = [row for row in intents if row["last_payment_error_code"] == "card_declined"]
    assert declined and all(row["status"] != "succeeded" for row in declined)
    assert all(row["amount_received"] == 0 for row in declined)
    assert all(
        row["latest_charge"] == row["_raw"]["last_payment_error"]["charge"] for row in declined
    )
    # The failures are a small share of the payments, as in a healthy account.
    assert len(declined) < 0.1 * len(intents)


@pytest.mark.parametrize("table", PAYMENT_TABLES)
def test_a_key_without_the_tables_permission_fails_that_table_alone(
    sandbox_session, tmp_path: Path, table: str
) -> None:
    assert_missing_permission_fails_that_table_alone(sandbox_session, tmp_path / "w.duckdb", table)


def test_checkout_sessions_are_completed_or_abandoned(synced) -> None:
    _, database, _ = synced
    sessions = warehouse_rows(database, "checkout_session").values()
    completed = [row for row in sessions if row["status"] == "complete"]
    expired = [row for row in sessions if row["status"] == "expired"]
    assert completed and expired
    subscriptions = {row["subscription"] for row in completed}
    assert None not in subscriptions and len(subscriptions) == len(completed)
    assert all(row["customer"] and row["customer_details_email"] for row in completed)
    assert all(row["url"] is None for row in completed + expired)
    assert all(row["customer"] is None and row["customer_email"] for row in expired)


def test_setup_intents_save_the_customers_card(synced) -> None:
    sandbox, database, _ = synced
    intents = list(warehouse_rows(database, "setup_intent").values())
    saved = [row for row in intents if row["status"] == "succeeded"]
    given_up = [row for row in intents if row["status"] == "canceled"]
    assert len(saved) > len(given_up) > 0
    store = sandbox.world.store
    for row in saved:
        customer = store.get(row["customer"])
        if customer.get("deleted"):
            continue
        assert customer["invoice_settings"]["default_payment_method"] == row["payment_method"]
    # A card was declined, then the customer gave up: the decline stays on the intent.
    assert all(row["last_setup_error_code"] == "card_declined" for row in given_up)
    assert all(row["payment_method"] is None for row in given_up)


def test_reviews_and_fraud_warnings_point_at_their_charges(synced, tmp_path: Path) -> None:
    sandbox, database, _ = synced
    charge_table = TABLES_BY_NAME["charge"]
    sync_sandbox(sandbox, tmp_path / "charges.duckdb", tables=[charge_table])
    charges = warehouse_rows(tmp_path / "charges.duckdb", "charge")
    reviews = warehouse_rows(database, "review")
    assert {row["charge"] for row in reviews.values()} <= set(charges)
    assert all(charges[row["charge"]]["review"] == object_id for object_id, row in reviews.items())
    closed = [row for row in reviews.values() if not row["open"]]
    assert {row["closed_reason"] for row in closed} == {"approved", "refunded"}
    assert all(charges[row["charge"]]["refunded"] for row in closed if row["reason"] == "refunded")
    warnings = warehouse_rows(database, "early_fraud_warning").values()
    assert warnings
    for row in warnings:
        charge = charges[row["charge"]]
        # Actionable until the charge is refunded or disputed.
        assert row["actionable"] == (not charge["refunded"] and not charge["disputed"])
    assert any(not row["actionable"] for row in warnings)


def test_connect_money_movements_book_the_platforms_balance(synced) -> None:
    sandbox, database, _ = synced
    world = sandbox.world
    partner = world.connected_account_ids[0]
    transfers = warehouse_rows(database, "transfer").values()
    assert transfers and all(row["destination"] == partner for row in transfers)
    fees = warehouse_rows(database, "application_fee").values()
    assert fees and all(row["account"] == partner for row in fees)
    for row in fees:
        # The fee's charge is the connected account's, and names its fee.
        charge = world.store.get(row["charge"], partner)
        assert charge["application_fee"] == row["id"]
        assert row["amount"] == charge["application_fee_amount"] < charge["amount"]
    topups = warehouse_rows(database, "topup").values()
    # Succeeded and failed ones; the newest may still be pending (the bank takes two days).
    assert {"succeeded", "failed"} <= {row["status"] for row in topups}
    assert {row["status"] for row in topups} <= {"succeeded", "failed", "pending"}
    for row in [*transfers, *fees, *topups]:
        txn = world.store.get(row["balance_transaction"]) if row["balance_transaction"] else None
        if row["_raw"]["object"] == "topup" and row["status"] != "succeeded":
            assert txn is None  # no funds reached the balance
            continue
        sign = -1 if row["_raw"]["object"] == "transfer" else 1
        assert txn["source"] == row["id"] and txn["amount"] == sign * row["amount"]
