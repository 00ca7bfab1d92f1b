"""`revenue-assets sync` end to end, as a user runs it: a subprocess against the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import stripe

from revenue_assets.catalog.tables import PERMISSIONS, TABLES
from revenue_assets.state.store import StateStore
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets_tests.helpers import (
    REPO,
    clean_env,
    company_range,
    run_cli,
    warehouse_rows,
    warehouse_snapshot,
)

ALL_TABLES = [name for t in TABLES for name in (t.name, *t.child_names)]


def cli_env(sandbox, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        **{
            "STRIPE_API_KEY": sandbox.secret_key,
            "STRIPE_API_BASE": sandbox.base_url,
            "STRIPE_RATE_LIMIT": "500",
            "STRIPE_ENDPOINT_RATE_LIMIT": "off",  # the sandbox models none unless told to
            "REVENUE_ASSETS_DUCKDB": str(tmp_path / "warehouse.duckdb"),
            "REVENUE_ASSETS_STATE": str(tmp_path / "state.sqlite"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            **extra,
        }
    )


@pytest.mark.long
def test_sync_fills_the_warehouse_like_the_dagster_cli_does(
    sandbox_session, tmp_path: Path
) -> None:
    env = cli_env(sandbox_session, tmp_path)
    result = run_cli("sync", "--no-downstream", env=env)
    assert result.returncode == 0, result.stderr
    assert "Stripe tables" in result.stderr and "FAILED" not in result.stderr
    for table in ("charge", "invoice", "invoice_line_item", "subscription_item"):
        assert table in result.stderr
    # The run's pace and what Stripe refused, from the run's pacing tag.
    pacing = " ".join(result.stderr.split("Stripe API:", 1)[1].split()[:14])
    assert "req/s of a 500 req/s budget; 0 answered 429" in pacing, pacing
    database = tmp_path / "warehouse.duckdb"
    assert warehouse_rows(database, "charge")
    # The runs are in the persistent instance the UI reads.
    assert (tmp_path / "dagster_home" / "history").exists()

    # The same materializations launched through Dagster's own launcher leave the same warehouse.
    ui_path = tmp_path / "ui"
    ui_path.mkdir()
    ui_env = cli_env(sandbox_session, ui_path)
    (ui_path / "dagster_home").mkdir()
    first, last = company_range(sandbox_session)
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "revenue_assets.definitions",
            "--select",
            "group:stripe",
            "--partition-range",
            f"{first}...{last}",
        ],
        cwd=REPO,
        env=ui_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert warehouse_snapshot(database, ALL_TABLES) == warehouse_snapshot(
        ui_path / "warehouse.duckdb", ALL_TABLES
    )


def test_sync_lists_every_configuration_problem_and_exits_2(tmp_path: Path) -> None:
    env = clean_env(STRIPE_API_BASE="nope", REVENUE_ASSETS_BASE_CURRENCY="euros")
    result = run_cli("sync", env=env)
    assert result.returncode == 2
    assert "STRIPE_API_KEY is not set" in result.stderr
    assert "STRIPE_API_BASE" in result.stderr and "REVENUE_ASSETS_BASE_CURRENCY" in result.stderr
    assert "Traceback" not in result.stderr


def test_sync_with_a_wrong_key_exits_1_with_a_clear_message(
    sandbox_session, tmp_path: Path
) -> None:
    env = cli_env(sandbox_session, tmp_path, STRIPE_API_KEY="sk_test_notarealkey00000000")
    result = run_cli("sync", env=env)
    assert result.returncode == 1
    assert "rejected the API key" in result.stderr
    assert "notarealkey" not in result.stderr and "Traceback" not in result.stderr


def test_sql_queries_the_synced_warehouse(sandbox_session, tmp_path: Path) -> None:
    env = cli_env(sandbox_session, tmp_path)
    assert run_cli("sync", "--no-downstream", "--table", "charge", env=env).returncode == 0
    result = run_cli(
        "sql", "--csv", "SELECT count(*) AS n, sum(amount) AS total FROM stripe.charge", env=env
    )
    assert result.returncode == 0, result.stderr
    header, values = result.stdout.strip().splitlines()
    charges = warehouse_rows(tmp_path / "warehouse.duckdb", "charge")
    assert header == "n,total"
    assert values == f"{len(charges)},{sum(c['amount'] for c in charges.values())}"
    failed = run_cli("sql", "SELECT * FROM nowhere", env=env)
    assert (
        failed.returncode == 1 and "nowhere" in failed.stderr and "Traceback" not in failed.stderr
    )


def test_a_failed_revenue_check_makes_sync_exit_1(sandbox_session, tmp_path: Path) -> None:
    """Exit code 0 only if everything succeeded, the finance checks downstream included."""
    env = cli_env(sandbox_session, tmp_path)
    assert run_cli("sync", "--no-downstream", env=env).returncode == 0
    # An invoice whose net amount no longer matches its lines, from a snapshot "newer" than
    # any list (so the next sync keeps it): only the revenue checks can notice.
    with warehouse_connection(tmp_path / "warehouse.duckdb") as connection:
        connection.execute(
            "UPDATE stripe.invoice SET total_excluding_tax = total_excluding_tax + 1, "
            "_version = TIMESTAMPTZ '2100-01-01' "
            "WHERE id = (SELECT min(id) FROM stripe.invoice WHERE status = 'paid')"
        )
    result = run_cli("sync", env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "check failed" in result.stderr and "revenue_item_sums_to_invoice" in result.stderr


def test_sync_applies_the_events_waiting_in_the_inbox(sandbox_session, tmp_path: Path) -> None:
    """Without the daemon, `revenue-assets sync` ends as current as the webhook sensors would:
    an event newer than the listing is applied, and marked applied in the inbox."""
    env = cli_env(sandbox_session, tmp_path)
    world = sandbox_session.world
    customer = next(world.store.iter_objects("customer", world.account_id, include_deleted=False))
    changed = {**customer, "metadata": {"from": "the inbox"}}
    event = {
        "id": "evt_waiting", "object": "event", "type": "customer.updated",
        "created": world.now + 3600, "api_version": stripe.api_version,
        "data": {"object": changed}, "livemode": False,
    }  # fmt: skip
    with StateStore(tmp_path / "state.sqlite") as inbox:
        assert inbox.add(json.dumps(event).encode(), "webhook")
    assert run_cli("sync", "--no-downstream", env=env).returncode == 0
    row = warehouse_rows(tmp_path / "warehouse.duckdb", "customer")[customer["id"]]
    assert row["_raw"]["metadata"] == {"from": "the inbox"} and row["_source"] == "webhook"
    with StateStore(tmp_path / "state.sqlite") as inbox:
        assert inbox.get("evt_waiting").applied_at is not None


def test_a_table_the_key_cannot_read_fails_alone_and_sync_exits_1(
    sandbox_session, tmp_path: Path
) -> None:
    key = sandbox_session.restricted_key(sorted(set(PERMISSIONS) - {"rak_credit_note_read"}))
    env = cli_env(sandbox_session, tmp_path, STRIPE_API_KEY=key)
    result = run_cli("sync", "--no-downstream", env=env)
    assert result.returncode == 1
    assert "rak_credit_note_read" in result.stderr and "Traceback" not in result.stderr
    summary = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("│") and len(line.split("│")) > 3
    }
    assert summary["credit_note"].startswith("FAIL") and summary["charge"] == "ok"
    assert warehouse_rows(tmp_path / "warehouse.duckdb", "charge")


def test_sync_skips_a_child_table_listed_per_parent(sandbox_session, tmp_path: Path) -> None:
    """`--skip payment_method`: customers sync with their balance transactions, and no
    customer's payment methods are asked for; a table embedded in its parent cannot be
    skipped alone (it comes with the parent's pages)."""
    env = cli_env(sandbox_session, tmp_path)
    # With the rebuild downstream: a child table is downstream of its parent.
    result = run_cli("sync", "--skip", "payment_method", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    database = tmp_path / "warehouse.duckdb"
    assert warehouse_rows(database, "customer")
    assert warehouse_rows(database, "customer_balance_transaction")
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM stripe.payment_method").fetchone()[0] == 0
    assert "payment_method" not in result.stderr  # not in the summary either
    wrong = run_cli("sync", "--skip", "invoice_line_item", env=env)
    assert wrong.returncode == 2 and "embedded in their parent" in wrong.stderr
