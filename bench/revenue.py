"""Benchmark: rebuild time of every revenue asset over warehouses of 250k, 500k and 1M invoice
lines (target: ≤ 15 s at 1M, growing linearly).

Raw Stripe tables are generated directly in DuckDB (`bench/revenue_raw.sql`: typed columns as
schema.py lays them out and a realistic `_raw` object; no HTTP), then every revenue asset is
materialized in one in-process Dagster run, exactly as the code location does it. Prints the
time of each asset (its SQL, as recorded in the materialization's `duration_s`), the run's wall
time, the finance checks' time, row counts, and the machine's load average (the machine is
shared: a busy neighbour shows up there).

    .venv/bin/python bench/revenue.py                 # 250k, 500k, 1M
    .venv/bin/python bench/revenue.py --lines 100000  # one size
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from revenue_assets.catalog.tables import ALL_TABLE_NAMES
from revenue_assets.defs.resources import RevenueResource, WarehouseResource, revenue_context
from revenue_assets.defs.revenue.assets import REVENUE_ASSETS
from revenue_assets.defs.revenue.checks import CHECKS, run_check
from revenue_assets.revenue.tables import TABLES
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import ensure_tables

RAW_SQL = Path(__file__).with_name("revenue_raw.sql")
AS_OF = datetime(2025, 6, 15, tzinfo=UTC)


def generate(database: Path, lines: int, seed: float = 0.42) -> float:
    started = time.perf_counter()
    with warehouse_connection(database, config={"memory_limit": "8GB"}) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        ensure_tables(connection, "stripe", list(ALL_TABLE_NAMES))
        connection.execute("SET VARIABLE lines = ?", [lines])
        connection.execute("SET VARIABLE seed = ?", [seed])
        connection.execute(RAW_SQL.read_text())
        connection.execute("CHECKPOINT")
    return time.perf_counter() - started


def raw_counts(database: Path) -> dict[str, int]:
    with warehouse_connection(database) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM stripe.{table}").fetchone()[0]
            for table in ("invoice_line_item", "invoice", "charge", "customer", "subscription")
        }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rebuild(database: Path) -> tuple[float, float, dict[str, tuple[float, int]]]:
    resources = {
        "warehouse": WarehouseResource(database=str(database)),
        "revenue": RevenueResource(as_of=AS_OF.isoformat()),
    }
    started, cpu_started = time.perf_counter(), cpu_seconds()
    result = dg.materialize(
        REVENUE_ASSETS,
        resources=resources,
        # Dagster's console logger prints every step event at DEBUG: keep the figures readable.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    assert result.success
    per_asset = {}
    built = {e.asset_key: e.materialization for e in result.get_asset_materialization_events()}
    for table in TABLES:
        metadata = built[table.key].metadata
        per_asset[table.name] = (
            float(metadata["duration_s"].value),
            int(metadata["dagster/row_count"].value),
        )
    return wall, cpu, per_asset


def checks(database: Path) -> tuple[float, dict[str, bool]]:
    context = revenue_context(
        WarehouseResource(database=str(database)), RevenueResource(as_of=AS_OF.isoformat())
    )
    started = time.perf_counter()
    outcomes = {check.name: run_check(check, context).passed for check in CHECKS}
    return time.perf_counter() - started, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="*", default=[250_000, 500_000, 1_000_000])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}")
    summary = []
    for lines in args.lines:
        with tempfile.TemporaryDirectory(prefix="revenue-bench-") as directory:
            database = Path(directory) / "bench.duckdb"
            generated = generate(database, lines)
            counts = raw_counts(database)
            wall, cpu, per_asset = rebuild(database)
            check_seconds, outcomes = checks(database)
            size = database.stat().st_size / 1e6
        sql_total = sum(seconds for seconds, _ in per_asset.values())
        print(f"\n== {counts['invoice_line_item']:,} invoice lines ==")
        print(
            "raw: "
            + ", ".join(f"{name} {count:,}" for name, count in counts.items())
            + f"; generated in {generated:.1f} s, file {size:.0f} MB"
        )
        for name, (seconds, rows) in per_asset.items():
            print(f"  {name:<18} {seconds:7.2f} s  {rows:>12,} rows")
        print(f"  {'SQL total':<18} {sql_total:7.2f} s")
        print(f"  {'Dagster run wall':<18} {wall:7.2f} s  (every revenue asset, one run)")
        print(f"  {'  its CPU time':<18} {cpu:7.2f} s  (all threads; 2 cores = 2 CPU-s per s)")
        print(
            f"  {'finance checks':<18} {check_seconds:7.2f} s  all passed: {all(outcomes.values())}"
        )
        print(f"  load average after: {os.getloadavg()}")
        summary.append((counts["invoice_line_item"], wall, cpu))
    if len(summary) > 1:
        print("\nlines        run wall    µs/line    run CPU")
        for lines, wall, cpu in summary:
            print(f"{lines:>10,}  {wall:8.2f} s  {wall / lines * 1e6:8.2f}  {cpu:8.2f} s")


if __name__ == "__main__":
    main()
