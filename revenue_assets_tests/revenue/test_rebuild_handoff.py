"""A revenue rebuild lets a waiting process use the warehouse in between its tables, once every
table that reads Stripe is built, and only then, after a minimum turn (`MIN_TURN_S`).

A rebuild held the file for 11-16 s at 1M invoice lines: a webhook's merge arriving during it
waited for all of it. The tables after the ones reading Stripe read only what this rebuild
wrote, so a raw write in between changes none of its figures.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revenue_assets.catalog.tables import ALL_TABLE_NAMES
from revenue_assets.defs.revenue.assets import BUILD_ORDER, READING_STRIPE, REVENUE_ASSETS
from revenue_assets.revenue import runner
from revenue_assets.revenue.tables import GROUP, TABLES_BY_NAME
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import ensure_tables
from revenue_assets_tests.helpers import wait_for_warehouse_tickets
from revenue_assets_tests.revenue.scenario import Warehouse

# A webhook's merge, as far as the lock is concerned: it notes when it went in and which
# revenue tables existed then.
MERGE = """
import sys, time
from revenue_assets.warehouse.connection import warehouse_connection
with warehouse_connection(sys.argv[1]) as connection:
    connection.execute(
        "CREATE TABLE merged AS SELECT table_name, ? AS merged_at FROM information_schema.tables "
        "WHERE table_schema = 'revenue_analytics'",
        [time.time()],
    )
"""


def test_the_tables_built_after_a_hand_off_read_nothing_outside_the_layer() -> None:
    reading_stripe = {t.key for t in BUILD_ORDER[:READING_STRIPE]}
    assert {"revenue_line", "mrr_history", "subscription"} <= {k.path[-1] for k in reading_stripe}
    for table in BUILD_ORDER[READING_STRIPE:]:
        for dep in table.deps:
            assert dep.path[0] == GROUP, (table.name, dep)  # no Stripe table, no user file
            upstream = TABLES_BY_NAME[dep.path[-1]]
            # built before the hand-off, or after it and by this rebuild (never raw through a view)
            assert dep in reading_stripe or not upstream.is_view, (table.name, dep)
            assert BUILD_ORDER.index(upstream) < BUILD_ORDER.index(table)


def _empty_layer(tmp_path: Path) -> Warehouse:
    database = tmp_path / "w.duckdb"
    with warehouse_connection(database) as connection:
        ensure_tables(connection, "stripe", list(ALL_TABLE_NAMES))
    return Warehouse(database, datetime(2025, 6, 1, tzinfo=UTC))


def _merge_queued_during(
    warehouse: Warehouse, instance: dg.DagsterInstance, **options: Any
) -> dg.ExecuteInProcessResult:
    """Run `dg.materialize(**options)` in a thread while a merge process queues behind it: both
    wait while the test holds the warehouse, the run first."""
    outcome: list[dg.ExecuteInProcessResult] = []
    with warehouse_connection(warehouse.database):
        run = threading.Thread(
            target=lambda: outcome.append(
                dg.materialize(resources=warehouse.resources(), instance=instance, **options)
            )
        )
        run.start()
        wait_for_warehouse_tickets(warehouse.database, 2)
        merge = subprocess.Popen([sys.executable, "-c", MERGE, str(warehouse.database)])
        wait_for_warehouse_tickets(warehouse.database, 3)
    run.join(timeout=300)
    assert merge.wait(timeout=60) == 0
    (result,) = outcome
    assert result.success
    return result


@pytest.mark.parametrize("turn_s", [0.0, 3600.0])
def test_a_merge_waiting_during_a_rebuild_goes_in_once_the_stripe_readers_are_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, turn_s: float
) -> None:
    """... if the rebuild has held the file for its minimum turn (none here, or an hour)."""
    monkeypatch.setattr(runner, "MIN_TURN_S", turn_s)
    warehouse = _empty_layer(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    result = _merge_queued_during(warehouse, instance, assets=REVENUE_ASSETS)
    seen = {row[0] for row in warehouse.rows("SELECT table_name FROM merged")}
    handoffs = 1 if turn_s == 0 else 0
    if handoffs:  # after the tables reading Stripe, before the last
        assert {t.name for t in BUILD_ORDER[:READING_STRIPE]} <= seen
        assert BUILD_ORDER[-1].name not in seen
    else:  # after all of them
        assert {t.name for t in BUILD_ORDER} <= seen
    assert any(
        f"letting others use the warehouse {handoffs} time(s)" in entry.user_message
        for entry in instance.all_logs(result.run_id)
    )
