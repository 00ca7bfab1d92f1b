"""The sync engine against the sandbox over real HTTP: complete, exact, idempotent, fault-proof."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import stripe

from revenue_assets.catalog.tables import PERMISSIONS, TABLES, TABLES_BY_NAME
from revenue_assets.state.store import StateStore
from revenue_assets.stripe_api.errors import StripeAuthenticationError
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets_tests.helpers import (
    CHILD_KINDS,
    access_for,
    collapse_expanded,
    sandbox_objects,
    sync_sandbox,
    warehouse_rows,
    warehouse_snapshot,
)

PARENT_TABLES = [t.name for t in TABLES]
ALL_TABLES = [name for t in TABLES for name in (t.name, *t.child_names)]


def store_children(world, kind: str) -> set[str]:
    """`parent/id` of every child object of a kind in the sandbox's store."""
    connection = sqlite3.connect(world.store.path)
    try:
        rows = connection.execute(
            "SELECT parent, id FROM objects WHERE kind = ? AND account = ? AND deleted = 0",
            (kind, world.account_id),
        ).fetchall()
    finally:
        connection.close()
    return {f"{parent}/{object_id}" for parent, object_id in rows}


@pytest.fixture(scope="module")
def synced(sandbox_session_factory, tmp_path_factory):
    """One full sync of the default company (read-only for the tests below)."""
    sandbox = sandbox_session_factory()
    database = tmp_path_factory.mktemp("sync") / "warehouse.duckdb"
    outcomes = sync_sandbox(sandbox, database)
    return sandbox, database, outcomes


# Events-only tables (discounts) hold what the event history holds, not every object the sandbox
# stores (it keeps discounts of single invoices, which Stripe never announces): test_discount_table.
LISTED_TABLES = [t.name for t in TABLES if not t.events_only]


@pytest.mark.parametrize("table", LISTED_TABLES)
def test_every_table_equals_the_sandbox(synced, table: str) -> None:
    sandbox, database, outcomes = synced
    assert outcomes[table].ok, outcomes[table].error
    expected = sandbox_objects(sandbox.world, TABLES_BY_NAME[table].object)
    rows = warehouse_rows(database, table)
    live = {object_id: row for object_id, row in rows.items() if not row["_deleted"]}
    assert set(live) == set(expected)
    assert len(expected) > 0 or table in ("event",), f"the sandbox company has no {table}"
    for object_id, obj in expected.items():
        row = live[object_id]
        assert (row["_raw"] if table == "event" else collapse_expanded(row["_raw"])) == obj
        if isinstance(obj.get("amount"), int):  # minor units, in a BIGINT column
            assert row["amount"] == obj["amount"]
        elif "amount" in obj:  # a credit grant's amount is an object: a JSON column
            assert json.loads(row["amount"]) == obj["amount"]
        assert row["_source"] == "list"


@pytest.mark.parametrize("child", list(CHILD_KINDS))
def test_child_tables_are_complete(synced, child: str) -> None:
    sandbox, database, _ = synced
    expected = store_children(sandbox.world, CHILD_KINDS[child])
    rows = warehouse_rows(database, child)
    assert set(rows) == expected
    assert expected


def test_invoices_with_more_than_ten_lines_are_complete(synced) -> None:
    _, database, outcomes = synced
    lines = warehouse_rows(database, "invoice_line_item")
    per_invoice: dict[str, int] = {}
    for row in lines.values():
        per_invoice[row["invoice_id"]] = per_invoice.get(row["invoice_id"], 0) + 1
    long_invoices = {inv for inv, n in per_invoice.items() if n > 10}
    assert long_invoices, "the sandbox company should have invoices with more than 10 lines"
    invoices = warehouse_rows(database, "invoice")
    for invoice_id in long_invoices:
        embedded = invoices[invoice_id]["_raw"]["lines"]
        assert embedded["has_more"] and len(embedded["data"]) == 10
    assert outcomes["invoice"].child_stats["invoice_line_item"].pages >= len(long_invoices)


def test_resync_changes_nothing(synced, tmp_path: Path) -> None:
    sandbox, database, _ = synced
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(database.read_bytes())
    before = warehouse_snapshot(copy, ALL_TABLES)
    outcomes = sync_sandbox(sandbox, copy)
    assert all(o.ok for o in outcomes.values())
    assert warehouse_snapshot(copy, ALL_TABLES) == before
    assert sum(sum(o.marked_deleted.values()) for o in outcomes.values()) == 0


def test_new_records_already_in_the_warehouse_are_upserted(synced, tmp_path: Path) -> None:
    """A new-records sync appends rather than upserts; objects already there (a webhook run got
    them first) make the append fall back to an upsert: nothing duplicated, the newest kept."""
    sandbox, database, _ = synced
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(database.read_bytes())
    tables = ["invoice", "invoice_line_item"]
    before = warehouse_snapshot(copy, tables)
    with warehouse_connection(copy) as connection:
        for table in tables:
            connection.execute(
                f"UPDATE stripe.{table} SET _raw = '{{}}', _version = to_timestamp(0)"
            )
        # Before the deletion: every invoice deleted must be newer than `since` to come back.
        first = connection.execute("SELECT min(epoch(created))::BIGINT FROM stripe.invoice")
        since = first.fetchone()[0] - 86_400
        connection.execute("DELETE FROM stripe.invoice WHERE hash(id) % 2 = 0")
    outcomes = sync_sandbox(sandbox, copy, tables=[TABLES_BY_NAME["invoice"]], since=since)
    assert all(o.ok for o in outcomes.values())
    assert warehouse_snapshot(copy, tables) == before


def test_windows_are_listed_concurrently_without_duplicates(synced) -> None:
    _, _, outcomes = synced
    charge = outcomes["charge"]
    # Bisection skipped the empty years since 2011: far fewer calls than months * tables.
    assert charge.stats.calls < 60
    assert charge.stats.objects == len(set(warehouse_rows(synced[1], "charge")))


@pytest.mark.sandbox(faults="500:0.08,503:0.08,reset:0.08,truncate:0.08", rate_limit=40)
@pytest.mark.long
def test_faults_and_429_storms_lose_and_duplicate_nothing(sandbox, tmp_path: Path) -> None:
    clean = tmp_path / "clean.duckdb"
    noisy = tmp_path / "noisy.duckdb"
    access = access_for(sandbox, rate_limit=400.0)  # ten times the server's limit: 429 storm
    outcomes = sync_sandbox(sandbox, noisy, access=access)
    assert all(o.ok for o in outcomes.values()), {n: o.error for n, o in outcomes.items()}
    assert not any(o.child_errors for o in outcomes.values()), [
        o.child_errors for o in outcomes.values()
    ]
    rate_limited = sum(o.stats.rate_limited for o in outcomes.values())
    retried = sum(o.stats.retries for o in outcomes.values())
    assert rate_limited > 10
    assert retried > rate_limited
    counters = sandbox.counters()
    assert all(counters["faults"].get(kind, 0) > 0 for kind in ("500", "503", "reset", "truncate"))
    sandbox.set_faults("off")
    sandbox.set_rate_limit(10_000)
    sync_sandbox(sandbox, clean)
    assert warehouse_snapshot(noisy, ALL_TABLES) == warehouse_snapshot(clean, ALL_TABLES)


@pytest.mark.sandbox(customers=150, months=3)
def test_every_request_names_the_pinned_version_and_the_connected_account(
    sandbox, tmp_path: Path
) -> None:
    """The API version the SDK pins on every request (objects keep their shape whatever the
    account's default), and `Stripe-Account` when syncing a connected account."""
    connected = sandbox.world.connected_account_ids[0]
    database = tmp_path / "w.duckdb"
    sandbox.reset_counters()
    access = access_for(sandbox, account_id=connected)
    outcomes = sync_sandbox(sandbox, database, tables=[TABLES_BY_NAME["customer"]], access=access)
    assert outcomes["customer"].ok
    counters = sandbox.counters()
    assert counters["by_version"] == {stripe.api_version: counters["requests"]}
    assert counters["by_account"] == {connected: counters["requests"]}
    theirs = {
        c["id"]
        for c in sandbox.world.store.iter_objects("customer", connected, include_deleted=False)
    }
    assert theirs and set(warehouse_rows(database, "customer")) == theirs
    assert not theirs & set(sandbox_objects(sandbox.world, "customer"))


def test_wrong_key_fails_fast_with_a_clear_message(sandbox_session, tmp_path: Path) -> None:
    access = access_for(sandbox_session, key="sk_test_thisIsNotTheRightKey1234")
    with pytest.raises(StripeAuthenticationError) as raised:
        sync_sandbox(sandbox_session, tmp_path / "w.duckdb", access=access)
    message = str(raised.value)
    assert "STRIPE_API_KEY" in message and "401" in message
    assert "thisIsNotTheRightKey" not in message  # the key never reaches a message


def test_restricted_key_without_a_scope_fails_that_table_only(
    sandbox_session, tmp_path: Path
) -> None:
    permissions = set(PERMISSIONS) - {"rak_dispute_read"}
    key = sandbox_session.restricted_key(sorted(permissions))
    outcomes = sync_sandbox(
        sandbox_session, tmp_path / "w.duckdb", access=access_for(sandbox_session, key=key)
    )
    assert not outcomes["dispute"].ok
    assert outcomes["dispute"].error.permission == "rak_dispute_read"
    assert all(outcome.ok for name, outcome in outcomes.items() if name != "dispute")
    assert warehouse_rows(tmp_path / "w.duckdb", "charge")


def test_only_new_objects_with_since(sandbox_session, tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    charges = sorted(
        sandbox_objects(sandbox_session.world, "charge").values(), key=lambda c: c["created"]
    )
    since = charges[len(charges) // 2]["created"]
    sync_sandbox(sandbox_session, database, tables=[TABLES_BY_NAME["charge"]], since=since)
    synced = warehouse_rows(database, "charge")
    assert set(synced) == {c["id"] for c in charges if c["created"] > since}


@pytest.mark.sandbox(customers=150, months=3)
def test_a_full_relist_marks_what_stripe_no_longer_returns(sandbox, tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    sync_sandbox(sandbox, database)
    customer = next(iter(sandbox_objects(sandbox.world, "customer")))
    sandbox.world.delete("customers", customer)  # deleted customers vanish from lists
    outcomes = sync_sandbox(sandbox, database)  # no events: only the re-list can tell
    assert outcomes["customer"].marked_deleted["customer"] == 1
    rows = warehouse_rows(database, "customer")
    assert rows[customer]["_deleted"] is True
    assert sum(row["_deleted"] for row in rows.values()) == 1
    # Objects only fetched since a watermark never mark anything: absence means nothing there.
    again = sync_sandbox(sandbox, database, since=sandbox.world.now - 60)
    assert sum(again["customer"].marked_deleted.values()) == 0


@pytest.mark.sandbox(customers=150, months=3)
def test_a_sync_applies_the_events_waiting_in_the_inbox(sandbox, tmp_path: Path) -> None:
    database, state = tmp_path / "w.duckdb", tmp_path / "state.sqlite"
    sync_sandbox(sandbox, database)
    customer = next(iter(sandbox_objects(sandbox.world, "customer")))
    sandbox.world.update("customers", customer, {"metadata": {"tier": "gold"}})
    [event] = [
        e
        for e in sandbox.world.store.iter_objects("event", sandbox.world.account_id)
        if e["type"] == "customer.updated" and e["data"]["object"]["id"] == customer
    ]
    with StateStore(state) as inbox:
        inbox.add_many([event], "events_api")
        # The list sees the update too; the event's own version must not lose to it.
        outcomes = sync_sandbox(sandbox, database, inbox=inbox)
        assert outcomes["customer"].events_applied == 1
        assert inbox.health().backlog == 0
    assert warehouse_rows(database, "customer")[customer]["_raw"]["metadata"]["tier"] == "gold"
    assert event["id"] in warehouse_rows(database, "event")
