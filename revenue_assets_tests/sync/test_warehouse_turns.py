"""The warehouse's file lock serves waiting processes in the order they came.

Real processes on a real DuckDB file: the test process plays a run of several warehouse steps
(the revenue rebuild, the dashboard, the checks), a second process a webhook's merge arriving
while the first step holds the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from revenue_assets.warehouse.connection import lock_path, warehouse_connection
from revenue_assets.warehouse.turns import queue_path

WRITER = """
import sys
from revenue_assets.warehouse.connection import warehouse_connection
with warehouse_connection(sys.argv[1]) as connection:
    connection.execute("INSERT INTO steps VALUES (nextval('step_order'), ?)", [sys.argv[2]])
"""


def _tickets(database: Path) -> list[str]:
    queue = queue_path(lock_path(database))
    return sorted(os.listdir(queue)) if queue.exists() else []


def _wait_for_tickets(database: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while len(_tickets(database)) < count:
        assert process.poll() is None, "the waiting process ended early"
        assert time.monotonic() < deadline, "the second process never queued"
        time.sleep(0.01)


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
        _wait_for_tickets(database, 2, merge)  # the merge waits behind the rebuild
    # The same run's next step asks at once; with a lock taken by whoever polls first it won.
    with warehouse_connection(database) as connection:
        connection.execute("INSERT INTO steps VALUES (nextval('step_order'), 'dashboard')")
    assert merge.wait(timeout=60) == 0
    assert _steps(database) == ["rebuild", "merge", "dashboard"]
    assert _tickets(database) == []  # nothing left behind


def test_a_waiter_killed_in_the_queue_holds_nobody_up(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with warehouse_connection(database) as connection:
        connection.execute("CREATE SEQUENCE step_order")
        connection.execute("CREATE TABLE steps (n BIGINT, step VARCHAR)")
    with warehouse_connection(database):
        killed = subprocess.Popen([sys.executable, "-c", WRITER, str(database), "killed"])
        _wait_for_tickets(database, 2, killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert len(_tickets(database)) == 2  # its ticket outlives it ...
    # ... and is recognised as a dead process's: the next one does not wait for it, nor for
    # the 15-minute lock timeout.
    with warehouse_connection(database, timeout_s=5) as connection:
        connection.execute("INSERT INTO steps VALUES (nextval('step_order'), 'next')")
    assert _steps(database) == ["next"]
    assert _tickets(database) == []
