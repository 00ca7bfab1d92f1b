"""Connections to the warehouse file that respect DuckDB's one-process-per-file rule.

DuckDB lets one process hold a database file, read or write. Every access (a sync's merge, a
check, a revenue rebuild, the dashboard, `revenue-assets sql`) therefore takes an exclusive
file lock next to the database first and holds it only for the SQL itself: nobody keeps the file
while waiting on the network, and concurrent runs queue for a few seconds instead of failing.
The lock is released by the kernel if the process dies (kill -9 included), and waiters are
served in the order they came (`turns.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import duckdb

from revenue_assets.warehouse.turns import lock_in_turn, others_waiting

# Bounded memory: merges stream spool files; DuckDB spills beyond this.
CONNECTION_CONFIG = {
    "memory_limit": "768MB",
    "preserve_insertion_order": "false",
}
DEFAULT_LOCK_TIMEOUT_S = 900.0
# The sync's merges run beside the listing threads: one DuckDB thread costs less CPU than two
# contending with them, and a smaller buffer pool keeps a sync's memory flat whatever its size.
MERGE_CONFIG = {"threads": "1", "memory_limit": "512MB"}


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@contextmanager
def warehouse_connection(
    database: str | Path,
    *,
    timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    config: dict[str, str] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An exclusive connection to the warehouse, held for the duration of the `with` block."""
    in_memory = str(database) == ":memory:"
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    lock = nullcontext() if in_memory else lock_in_turn(lock_path(Path(database)), timeout_s)
    with lock:
        connection = duckdb.connect(str(database), config={**CONNECTION_CONFIG, **(config or {})})
        # A library writes no progress bars to other programs' terminals.
        connection.execute("SET enable_progress_bar = false")
        try:
            yield connection
        finally:
            connection.close()


def others_waiting_for(database: str | Path) -> bool:
    """Whether another process waits for the warehouse its caller holds (never for `:memory:`)."""
    return str(database) != ":memory:" and others_waiting(lock_path(Path(database)))
