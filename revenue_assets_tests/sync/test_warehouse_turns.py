"""The warehouse's file lock serves waiting processes in the order they came.

Real processes on a real DuckDB file: the test process plays a run of several warehouse steps
(the revenue rebuild, the dashboard, the checks), a second process a webhook's merge arriving
while the first step holds the file.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets_tests.helpers import wait_for_warehouse_tickets, warehouse_tickets

WRITER = """
import sys
from revenue_assets.warehouse.connection import warehouse_connection
with warehouse_connection(sys.argv[1]) as connection:
    connection.execute("INSERT INTO steps VALUES (nextval('step_order'), ?)", [sys.argv[2]])
"""


def _steps(database: Path) -> list[str]:
    with warehouse_connection(database) as connection:
        return [
            row[0] for row in connection.execute("SELECT step FROM steps ORDER BY n").fetchall()
        ]


def test_a_process_waiting_gets_the_warehouse_before_the_holder_takes_it_again(
    tmp_path: Path,
) -> None:
    database = tmp_path / "w.duckdb"
    with warehouse_connection(database) as connection:
        connection.execute("CREATE SEQUENCE step_order")
        connection.execute("CREATE TABLE steps (n BIGINT, step VARCHAR)")
    merge = None
    with warehouse_connection(database) as connection:  # the rebuild's step
        connection.execute("INSERT INTO steps VALUES (nextval('step_order'), 'rebuild')")
        merge = subprocess.Popen([sys.executable, "-c", WRITER, str(database), "merge"])
        wait_for_warehouse_tickets(database, 2, merge)  # the merge waits behind the rebuild
    # The same run's next step asks at once; with a lock taken by whoever polls first it won.
    with warehouse_connection(database) as connection:
        connection.execute("INSERT INTO steps VALUES (nextval('step_order'), 'dashboard')")
    assert merge.wait(timeout=60) == 0
    assert _steps(database) == ["rebuild", "merge", "dashboard"]
    assert warehouse_tickets(database) == []  # nothing left behind


def test_a_waiter_killed_in_the_queue_holds_nobody_up(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with warehouse_connection(database) as connection:
        connection.execute("CREATE SEQUENCE step_order")
        connection.execute("CREATE TABLE steps (n BIGINT, step VARCHAR)")
    with warehouse_connection(database):
        killed = subprocess.Popen([sys.executable, "-c", WRITER, str(database), "killed"])
        wait_for_warehouse_tickets(database, 2, killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert len(warehouse_tickets(database)) == 2  # its ticket outlives it ...
    # ... and is recognised as a dead process's: the next one does not wait for it, nor for
    # the 15-minute lock timeout.
    with warehouse_connection(database, timeout_s=5) as connection:
        connection.execute("INSERT INTO steps VALUES (nextval('step_order'), 'next')")
    assert _steps(database) == ["next"]
    assert warehouse_tickets(database) == []
