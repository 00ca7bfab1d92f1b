"""Connections to the warehouse file that respect DuckDB's one-process-per-file rule.

DuckDB lets one process hold a database file, read or write. Every access (a sync's merge, a
check, a revenue rebuild, the dashboard, `revenue-assets sql`) therefore takes an exclusive
file lock next to the database first and holds it only for the SQL itself: nobody keeps the file
while waiting on the network, and concurrent runs queue for a few seconds instead of failing.
The lock is released by the kernel if the process dies (kill -9 included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from filelock import FileLock

# Bounded memory: merges stream spool files; DuckDB spills beyond this.
CONNECTION_CONFIG = {
    "memory_limit": "768MB",
    "preserve_insertion_order": "false",
    "enable_progress_bar": "false",  # a library writes no progress bars to others' terminals
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
    path = Path(database)
    if str(database) == ":memory:":
        connection = duckdb.connect(":memory:", config={**CONNECTION_CONFIG, **(config or {})})
        try:
            yield connection
        finally:
            connection.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path(path)), timeout=timeout_s):
        connection = duckdb.connect(str(path), config={**CONNECTION_CONFIG, **(config or {})})
        try:
            yield connection
        finally:
            connection.close()
