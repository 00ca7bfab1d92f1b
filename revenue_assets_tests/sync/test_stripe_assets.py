"""The Stripe assets through a real Dagster instance: materialize, metadata, checks, failures,
concurrent runs on one DuckDB file, a crash in the middle of a backfill."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from revenue_assets.catalog.months import keys_between
from revenue_assets.catalog.tables import CHILD_TABLES, PERMISSIONS, TABLES, TABLES_BY_NAME
from revenue_assets.defs.resources import WarehouseResource
from revenue_assets.defs.stripe.definitions import stripe_table_checks, stripe_tables
from revenue_assets.warehouse.connection import lock_path, warehouse_connection
from revenue_assets.warehouse.schema import table_schema
from revenue_assets_tests.helpers import (
    company_range,
    warehouse_rows,
    warehouse_snapshot,
)
from revenue_assets_tests.synced_fixtures import SyncedCompany, range_tags, raw_resources

ALL_TABLES = [name for t in TABLES for name in (t.name, *t.child_names)]
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.long  # the shared sync
def test_materialize_every_table_with_metadata_and_passing_checks(
    synced_session_company: SyncedCompany, sandbox_session
):
    synced = synced_session_company
    first, last = company_range(sandbox_session)
    materialized: dict[str, list[dg.AssetMaterialization]] = {}
    for m in synced.materializations:
        materialized.setdefault(m.asset_key.path[-1], []).append(m)
    assert set(materialized) == set(ALL_TABLES)
    # One materialization per partition of the range (single-run backfill).
    months = len(keys_between(datetime.fromisoformat(first), datetime.fromisoformat(last)))
    # Full-refresh and events-only tables are unpartitioned, and so are their children:
    # one materialization, of no partition.
    for name, ms in materialized.items():
        table = TABLES_BY_NAME[name] if name in TABLES_BY_NAME else CHILD_TABLES[name][0]
        if table.unpartitioned:
            assert [m.partition for m in ms] == [None], name
        else:
            assert len(ms) == months, name
    charge = materialized["charge"][0].metadata
    assert charge["dagster/row_count"].value == len(warehouse_rows(synced.database, "charge"))
    for key in ("api_calls", "pages", "rate_limited_429", "duration_s", "objects_fetched"):
        assert key in charge
    evaluations = synced.check_evaluations
    assert len(evaluations) == len(list(stripe_table_checks.check_keys))
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []


@pytest.mark.long
def test_restricted_key_fails_only_that_table_naming_the_permission(sandbox_session, tmp_path):
    database = tmp_path / "w.duckdb"
    key = sandbox_session.restricted_key(sorted(set(PERMISSIONS) - {"rak_credit_note_read"}))
    first, last = company_range(sandbox_session)
    result = dg.materialize(
        [stripe_tables],
        resources=raw_resources(sandbox_session, database, key=key),
        tags=range_tags(first, last),
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "rak_credit_note_read" in message and "stripe.credit_note" in message
    materialized = {
        e.event_specific_data.materialization.asset_key.path[-1]
        for e in result.get_asset_materialization_events()
    }
    assert "credit_note" not in materialized and "credit_note_line_item" not in materialized
    assert {"charge", "invoice", "invoice_line_item", "customer"} <= materialized


def test_the_warehouse_lock_timeout_reaches_the_raw_writes(sandbox_session, tmp_path):
    """A run whose writes wait for the warehouse's lock gives up after the resource's
    `lock_timeout_s`, not after the 15-minute default: the setting reaches the sync's merges."""
    database = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; "
            f"lock = FileLock({str(lock_path(database))!r}); lock.acquire(); print('held', flush=True); "
            "time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        resources = raw_resources(sandbox_session, database)
        resources["warehouse"] = WarehouseResource(database=str(database), lock_timeout_s=2.0)
        started = time.monotonic()
        result = dg.materialize(
            [stripe_tables],
            resources=resources,
            selection=[dg.AssetKey(["stripe", "product"])],
            tags=range_tags(*company_range(sandbox_session)),
            raise_on_error=False,
        )
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "lock" in failure.event_specific_data.error.to_string().lower()
    assert waited < 120, f"the run waited {waited:.0f} s for the lock instead of 2 s"


def test_wrong_key_fails_fast_without_leaking_it(sandbox_session, tmp_path):
    first, last = company_range(sandbox_session)
    started = time.monotonic()
    result = dg.materialize(
        [stripe_tables],
        resources=raw_resources(
            sandbox_session, tmp_path / "w.duckdb", key="sk_test_wrongwrongwrong9876"
        ),
        tags=range_tags(first, last),
        raise_on_error=False,
    )
    assert not result.success and time.monotonic() - started < 30
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "rejected the API key" in message and "wrongwrongwrong" not in message


def rows_written(database: Path) -> int:
    """Rows in the warehouse so far, read under the same lock the sync's writer takes."""
    if not database.exists():
        return 0
    with warehouse_connection(database) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'stripe'"
        ).fetchall()
        return sum(
            connection.execute(f"SELECT count(*) FROM stripe.{name}").fetchone()[0]
            for (name,) in tables
        )


def _materialize_script(
    sandbox, database: Path, partition: str, flush_mb: int | None = None, **stripe_options
) -> str:
    options = {"rate_limit": 1000.0, **stripe_options}
    warehouse = {
        "database": str(database),
        **({"flush_mb": flush_mb} if flush_mb is not None else {}),
    }
    return textwrap.dedent(
        f"""
        import dagster as dg
        from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
        from revenue_assets.defs.stripe.definitions import stripe_tables
        result = dg.materialize(
            [stripe_tables],
            resources={{
                "stripe": StripeResource(api_key={sandbox.secret_key!r}, api_base={sandbox.base_url!r}, **{options!r}),
                "warehouse": WarehouseResource(**{warehouse!r}),
                "state": StateResource(path={str(database.with_suffix(".sqlite"))!r}),
            }},
            {partition},
        )
        raise SystemExit(0 if result.success else 1)
        """
    )


@pytest.mark.sandbox(latency_ms=(20, 40))
@pytest.mark.long
def test_two_concurrent_runs_on_one_duckdb_file_both_succeed(sandbox, tmp_path):
    database = tmp_path / "w.duckdb"
    first, last = company_range(sandbox)
    months = keys_between(datetime.fromisoformat(first), datetime.fromisoformat(last))
    scripts = [
        _materialize_script(sandbox, database, f"tags={range_tags(first, months[-3])!r}"),
        _materialize_script(sandbox, database, f"tags={range_tags(months[-4], last)!r}"),
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE, text=True
        )
        for script in scripts
    ]
    outputs = [p.communicate(timeout=300)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    clean = tmp_path / "clean.duckdb"
    dg.materialize(
        [stripe_tables], resources=raw_resources(sandbox, clean), tags=range_tags(first, last)
    )
    assert warehouse_snapshot(database, ALL_TABLES) == warehouse_snapshot(clean, ALL_TABLES)


@pytest.mark.sandbox(latency_ms=(40, 80), customers=200)
@pytest.mark.long
def test_kill_9_mid_backfill_then_rerun_equals_a_clean_sync(sandbox, tmp_path):
    database = tmp_path / "w.duckdb"
    first, last = company_range(sandbox)
    script = _materialize_script(
        sandbox, database, f"tags={range_tags(first, last)!r}", flush_mb=0, max_in_flight=4
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    # Wait until the first merges reached the file, then kill it in the middle of the backfill.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and rows_written(database) < 200:
        time.sleep(0.1)
    assert process.poll() is None, "the backfill finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    rerun = _materialize_script(sandbox, database, f"tags={range_tags(first, last)!r}")
    assert subprocess.run([sys.executable, "-c", rerun], cwd=REPO).returncode == 0
    clean = tmp_path / "clean.duckdb"
    dg.materialize(
        [stripe_tables], resources=raw_resources(sandbox, clean), tags=range_tags(first, last)
    )
    assert warehouse_snapshot(database, ALL_TABLES) == warehouse_snapshot(clean, ALL_TABLES)


@pytest.mark.long
def test_the_checks_fail_on_broken_data(
    synced_session_company: SyncedCompany, sandbox_session, tmp_path, monkeypatch
):
    """Each check fails when what it guards is broken (they are only useful if they can)."""
    from revenue_assets.defs.stripe import checks

    database, _ = synced_session_company.copy_to(tmp_path)
    resources = raw_resources(sandbox_session, database)
    _, last = company_range(sandbox_session)
    columns = ", ".join(table_schema("invoice_line_item").all_column_names)
    with warehouse_connection(database) as connection:
        # A line listed under two invoices (one of them unknown), and an invoice whose
        # subtotal no longer equals its lines.
        connection.execute(
            f"INSERT INTO stripe.invoice_line_item ({columns}) "
            f"SELECT * REPLACE ('in_gone' AS invoice_id) FROM (SELECT {columns} "
            "FROM stripe.invoice_line_item LIMIT 1)"
        )
        connection.execute(
            "UPDATE stripe.invoice SET subtotal = subtotal + 1 "
            "WHERE id = (SELECT min(invoice_id) FROM stripe.invoice_line_item)"
        )
    # Partitions that start a month before the company's last: older objects are never synced.
    previous = datetime.fromisoformat(last) - timedelta(days=1)
    later = dg.MonthlyPartitionsDefinition(start_date=previous.strftime("%Y-%m-01"))
    monkeypatch.setattr(checks, "monthly_partitions", later)
    result = dg.materialize(
        [stripe_tables, stripe_table_checks],
        resources=resources,
        selection=dg.AssetSelection.all_asset_checks(),
        raise_on_error=False,
    )
    failed = {
        (e.asset_key.path[-1], e.check_name)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }
    assert {
        ("invoice_line_item", checks.NO_DUPLICATES),
        ("invoice_line_item", checks.HAS_PARENT),
        ("invoice", checks.INVOICE_TOTALS),
        ("invoice", checks.NOTHING_OLDER),
        ("charge", checks.NOTHING_OLDER),
        ("invoiceitem", checks.NOTHING_OLDER),  # created is `date` there
    } <= failed
    assert ("charge", checks.NO_DUPLICATES) not in failed
