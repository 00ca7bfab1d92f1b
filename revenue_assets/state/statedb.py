"""The state file (REVENUE_ASSETS_STATE): one SQLite database beside the warehouse.

Why SQLite, and why not the DuckDB file: DuckDB lets one process hold a file, and the receiver,
the Dagster daemon's sensors and the runs are different processes that all need the inbox at
once. SQLite in WAL mode gives concurrent readers and one writer at a time across processes,
and `busy_timeout` turns a short lock conflict into a wait instead of an error.

Durability: `synchronous=FULL`. In WAL mode a commit under NORMAL survives the process being
killed (the WAL is in the OS page cache) but not an OS crash or power loss, because the WAL is
fsynced only at checkpoints. The receiver answers 200 only after a commit, and Stripe never
resends an acknowledged event, so an acknowledgement must survive power loss too: FULL fsyncs
the WAL on every commit. The receiver commits a whole burst of requests in one transaction
(group commit, see writer.py), so the cost is one fsync (≈0.3 ms here) per burst, not per event.

The file holds the webhook signing secret, so it is created with mode 0600 and its -wal and
-shm companions are tightened to the same (SQLite creates them with the main file's mode; we
still check, since an older file may have been created by hand). We only ever remove
permission bits, never add them: a file made read-only on purpose stays read-only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_BUSY_TIMEOUT_S = 5.0

_SCHEMA = (Path(__file__).parent / "sql" / "schema.sql").read_text()


def connect(
    path: str | os.PathLike[str],
    *,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    synchronous: str = "FULL",
) -> sqlite3.Connection:
    """Open (creating when needed) the state file, in WAL mode with the schema in place.

    The connection is in autocommit mode (`isolation_level=None`): callers open their own
    `BEGIN IMMEDIATE` transactions, so a writer takes the lock up front and waits for it
    (busy_timeout) instead of failing to upgrade a read lock halfway through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _create_private(path)
    connection = sqlite3.connect(
        str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        connection.execute("PRAGMA journal_size_limit = 67108864")  # keep the WAL ≤ 64 MiB
        if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _migrate(connection)
    except BaseException:
        connection.close()
        raise
    restrict_permissions(path)
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        if connection.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _create_private(path: Path) -> None:
    """Create the file with mode 0600 before SQLite does (SQLite would use 0644 under umask)."""
    if path.exists():
        return
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def restrict_permissions(path: str | os.PathLike[str]) -> None:
    """Remove group and other permissions from the state file and its -wal/-shm files."""
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & 0o077:
                os.chmod(name, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:  # not our file: say so, the secret may be readable by others
            log.warning("cannot restrict the permissions of %s (not its owner)", name)
