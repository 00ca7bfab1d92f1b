"""The event inbox: every Stripe event we have received, once, in arrival order.

Contract with the sensors and runs (they build on exactly this):

- One row per event id. Adding an event twice (a webhook retry, or the same event from the
  webhook and from the `/v1/events` pull) keeps the first row: `INSERT OR IGNORE`.
- `seq` is the cursor: it only grows and is never reused (AUTOINCREMENT, so even pruning the
  newest rows cannot recycle a value). It may have gaps (an ignored duplicate uses up a value). SQLite has one writer at a time and `seq` is assigned
  inside the writing transaction, so rows become visible in `seq` order: a reader that saw
  `seq = n` will never later find a new row with a smaller `seq`. Reading `seq > cursor` misses
  nothing.
- `table` and `partition_key` say which asset partition an event touches (see events.py);
  `pending(table, partition_key)` is what a run applies, ordered by event `created` then `seq`,
  and `mark_applied(seqs)` records that it did.
- Timestamps (`received_at`, `applied_at`, counters' `last_at`) are Unix seconds (float).

Every `StateStore` owns one SQLite connection, used under a lock, so an instance may be shared by the
threads of one process; other processes open their own `StateStore` on the same file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import orjson

from revenue_assets.state import statedb
from revenue_assets.state.events import EventRow, InvalidEvent, parse_event, summarize

Source = Literal["webhook", "events_api"]
SOURCES: tuple[str, ...] = ("webhook", "events_api")

# Counter names (the `counter` table); receivers and the health check share them.
SIGNATURE_FAILURES = "signature_failures"  # every delivery whose signature did not verify
SIGNATURE_STREAK = "signature_failures_since_success"  # reset by each stored webhook event
MALFORMED = "malformed_payloads"  # verified deliveries that are not events
OVERSIZED = "oversized_payloads"
APPLIED = "applied_events"  # bumped by mark_applied: its last_at is "last applied"

_COLUMNS = (
    "seq, event_id, type, created, api_version, livemode, account, object_id, object_type, "
    "table_name, partition_key, source, received_at, {payload}, applied_at"
)
_INSERT = (
    "INSERT OR IGNORE INTO inbox_event (event_id, type, created, api_version, livemode, account, "
    "object_id, object_type, table_name, partition_key, source, received_at, payload) VALUES "
)
_ROW_MARKS = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_ROWS = 500  # rows per INSERT: 13 × 500 variables, under SQLite's limit of 32766
_CHUNK = 500  # ids per `IN (...)`, well under SQLite's variable limit


STILL_LISTED_AFTER_DELETED = frozenset({"customer.subscription.deleted"})


@dataclass(frozen=True)
class InboxEvent(EventRow):
    """One row of the inbox: the event's columns, and how and when it came. `payload` is b""
    when read with `with_payload=False`."""

    seq: int
    source: str
    received_at: float
    payload: bytes
    applied_at: float | None

    def event(self) -> dict[str, Any]:
        """The event as a dict (parsed from the stored bytes)."""
        return orjson.loads(self.payload)

    @property
    def is_deleted(self) -> bool:
        """A `*.deleted` event: the object is gone (lists no longer return it). Except
        `customer.subscription.deleted`, which announces a cancellation: the subscription
        stays, listed with `status=all`, and its payload is its canceled state."""
        return self.type.endswith(".deleted") and self.type not in STILL_LISTED_AFTER_DELETED


@dataclass(frozen=True)
class PendingPartition:
    """Unapplied events of one (table, partition): what one run request would apply."""

    table: str
    partition_key: str | None
    events: int
    first_seq: int
    last_seq: int
    oldest_received_at: float


@dataclass(frozen=True)
class Counter:
    value: int
    last_at: float | None


@dataclass(frozen=True)
class InboxHealth:
    """Our side of webhook health, read in one transaction."""

    events: int  # rows in the inbox
    last_seq: int
    last_received_at: float | None  # any source
    last_webhook_at: float | None  # last event received by the receiver
    backlog: int  # unapplied events of synced tables
    oldest_pending_received_at: float | None
    last_applied_at: float | None
    signature_failures: int
    last_signature_failure_at: float | None
    signature_failures_since_success: int
    malformed_payloads: int
    oversized_payloads: int


class StateStore:
    """The event inbox in the state file. See the module docstring for the contract."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = statedb.DEFAULT_BUSY_TIMEOUT_S,
        synchronous: str = "FULL",
    ) -> None:
        self.path = Path(path)
        self._connection = statedb.connect(
            self.path, busy_timeout_s=busy_timeout_s, synchronous=synchronous
        )
        self._lock = threading.RLock()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, lock taken up front (waits up to busy_timeout)."""
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    with suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN")
            try:
                yield connection
            finally:
                connection.execute("COMMIT")

    # -- adding events -----------------------------------------------------------------------

    def add(self, payload: bytes, source: Source, *, received_at: float | None = None) -> bool:
        """Store one raw event payload; True if it was new. Raises InvalidEvent."""
        _, row = parse_event(payload)
        return self.store([(row, payload)], source, received_at=received_at)[0]

    def add_many(
        self,
        events: Iterable[bytes | Mapping[str, Any]],
        source: Source,
        *,
        received_at: float | None = None,
    ) -> int:
        """Store events (raw bytes, or dicts such as `/v1/events` returns) in one transaction;
        return how many were new. Every event is validated first: one invalid event raises
        InvalidEvent and stores nothing."""
        rows: list[tuple[EventRow, bytes]] = []
        for event in events:
            if isinstance(event, bytes | bytearray | memoryview):
                payload = bytes(event)
                _, row = parse_event(payload)
            else:
                row = summarize(event)
                payload = orjson.dumps(event)
            rows.append((row, payload))
        return sum(self.store(rows, source, received_at=received_at))

    def store(
        self,
        rows: Sequence[tuple[EventRow, bytes]],
        source: Source,
        *,
        received_at: float | None = None,
        counters: Mapping[str, int] | None = None,
    ) -> list[bool]:
        """Insert parsed events in one durable transaction; per row, whether it was new.

        The receiver's writer calls this with a whole burst (group commit). Storing a webhook
        event resets the signature-failure streak (a verified delivery proves the secret works);
        then `counters` are bumped, in the same transaction.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        at = time.time() if received_at is None else received_at
        results: list[bool] = []
        with self._write() as connection:
            # Few statements per batch, whatever its size: every statement releases and
            # re-takes the GIL, which the receiver's event loop thread is busy holding. The
            # write lock is held (BEGIN IMMEDIATE), so "already there" cannot change meanwhile.
            seen = self._existing(connection, [row.event_id for row, _ in rows])
            values: list[tuple[Any, ...]] = []
            for row, payload in rows:
                new = row.event_id not in seen
                results.append(new)
                if new:
                    seen.add(row.event_id)
                    values.append(
                        (
                            row.event_id,
                            row.type,
                            row.created,
                            row.api_version,
                            int(row.livemode),
                            row.account,
                            row.object_id,
                            row.object_type,
                            row.table,
                            row.partition_key,
                            source,
                            at,
                            payload,
                        )
                    )
            for start in range(0, len(values), _INSERT_ROWS):
                chunk = values[start : start + _INSERT_ROWS]
                connection.execute(
                    _INSERT + ", ".join([_ROW_MARKS] * len(chunk)),
                    [value for row in chunk for value in row],
                )
            if rows and source == "webhook":
                connection.execute(
                    "UPDATE counter SET value = 0 WHERE name = ? AND value > 0",
                    (SIGNATURE_STREAK,),
                )
            for name, increment in (counters or {}).items():
                _bump(connection, name, increment, at)
        return results

    @staticmethod
    def _existing(connection: sqlite3.Connection, event_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(event_ids), _CHUNK):
            chunk = event_ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in connection.execute(
                    f"SELECT event_id FROM inbox_event WHERE event_id IN ({marks})", chunk
                )
            )
        return found

    # -- reading -----------------------------------------------------------------------------

    def read_after(
        self,
        seq: int,
        limit: int = 1000,
        *,
        table: str | None = None,
        with_payload: bool = True,
    ) -> list[InboxEvent]:
        """Events with `seq > seq`, oldest first, at most `limit` (a sensor tick's worth).
        `table` keeps only that table's events; `with_payload=False` skips the bytes."""
        columns = _COLUMNS.format(payload="payload" if with_payload else "x''")
        if table is None:
            sql = f"SELECT {columns} FROM inbox_event WHERE seq > ? ORDER BY seq LIMIT ?"
            params: tuple[Any, ...] = (seq, limit)
        else:
            sql = (
                f"SELECT {columns} FROM inbox_event WHERE table_name = ? AND seq > ? "
                "ORDER BY seq LIMIT ?"
            )
            params = (table, seq, limit)
        with self._lock:
            return [_event(row) for row in self._connection.execute(sql, params)]

    def pending(
        self, table: str, partition_key: str | None, *, limit: int | None = None
    ) -> list[InboxEvent]:
        """Unapplied events of one partition, ordered by event `created`, then `seq`.
        `partition_key=None` selects the table's events whose object has no `created`."""
        columns = _COLUMNS.format(payload="payload")
        sql = (
            f"SELECT {columns} FROM inbox_event WHERE table_name = ? AND partition_key IS ? "
            "AND applied_at IS NULL ORDER BY created, seq"
        )
        params: tuple[Any, ...] = (table, partition_key)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        with self._lock:
            return [_event(row) for row in self._connection.execute(sql, params)]

    def pending_partitions(self, table: str | None = None) -> list[PendingPartition]:
        """(table, partition) groups holding unapplied events, by table then partition."""
        sql = (
            "SELECT table_name, partition_key, count(*), min(seq), max(seq), min(received_at) "
            "FROM inbox_event WHERE applied_at IS NULL AND table_name IS NOT NULL"
        )
        params: tuple[Any, ...] = ()
        if table is not None:
            sql += " AND table_name = ?"
            params = (table,)
        sql += " GROUP BY table_name, partition_key ORDER BY table_name, partition_key"
        with self._lock:
            return [PendingPartition(*row) for row in self._connection.execute(sql, params)]

    def received(self, ids: Sequence[str], *, events: bool = False) -> set[str]:
        """Which of these object ids (event ids with `events`) the inbox holds an event of:
        the receiver or the Events API pull brought them in, and their table's inbox sensor
        applies them (or has)."""
        if not ids:
            return set()
        column = "event_id" if events else "object_id"
        marks = ", ".join("?" * len(ids))
        with self._lock:
            rows = self._connection.execute(
                f"SELECT DISTINCT {column} FROM inbox_event WHERE {column} IN ({marks})",
                tuple(ids),
            )
            return {row[0] for row in rows}

    def get(self, event_id: str) -> InboxEvent | None:
        """The row of one event id, if we have it."""
        columns = _COLUMNS.format(payload="payload")
        with self._lock:
            row = self._connection.execute(
                f"SELECT {columns} FROM inbox_event WHERE event_id = ?", (event_id,)
            ).fetchone()
        return _event(row) if row else None

    def last_seq(self, table: str | None = None) -> int:
        """The highest `seq` (of one table, when given); 0 when empty. A new sensor may start
        its cursor here to skip history."""
        with self._lock:
            if table is None:
                row = self._connection.execute("SELECT max(seq) FROM inbox_event").fetchone()
            else:
                row = self._connection.execute(
                    "SELECT max(seq) FROM inbox_event WHERE table_name = ?", (table,)
                ).fetchone()
        return row[0] or 0

    def count(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT count(*) FROM inbox_event").fetchone()[0]

    # -- applying ----------------------------------------------------------------------------

    def mark_applied(self, seqs: Iterable[int], *, applied_at: float | None = None) -> int:
        """Record that a run applied these events; returns how many were newly marked.
        Already-applied rows keep their first `applied_at` (re-runs are harmless)."""
        at = time.time() if applied_at is None else applied_at
        ids = sorted(set(seqs))
        marked = 0
        with self._write() as connection:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                cursor = connection.execute(
                    f"UPDATE inbox_event SET applied_at = ? "
                    f"WHERE seq IN ({marks}) AND applied_at IS NULL",
                    (at, *chunk),
                )
                marked += cursor.rowcount
            if marked:
                _bump(connection, APPLIED, marked, at)
        return marked

    def prune(self, applied_before: float) -> int:
        """Delete events applied before a time (Unix seconds); unapplied events are kept.
        `seq` values are never reused, so cursors stay valid."""
        with self._write() as connection:
            return connection.execute(
                "DELETE FROM inbox_event WHERE applied_at IS NOT NULL AND applied_at < ?",
                (applied_before,),
            ).rowcount

    # -- health ------------------------------------------------------------------------------

    def health(self) -> InboxHealth:
        """Counts and times for `webhooks status` and the health check, one snapshot."""
        with self._read() as connection:
            events, last_seq = connection.execute(
                "SELECT count(*), coalesce(max(seq), 0) FROM inbox_event"
            ).fetchone()
            last_received = connection.execute(
                "SELECT received_at FROM inbox_event ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            last_webhook = connection.execute(
                "SELECT received_at FROM inbox_event WHERE source = 'webhook' "
                "ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            backlog, oldest = connection.execute(
                "SELECT count(*), min(received_at) FROM inbox_event "
                "WHERE applied_at IS NULL AND table_name IS NOT NULL"
            ).fetchone()
            counters = {
                name: Counter(value, last_at)
                for name, value, last_at in connection.execute(
                    "SELECT name, value, last_at FROM counter"
                )
            }
        empty = Counter(0, None)
        return InboxHealth(
            events=events,
            last_seq=last_seq,
            last_received_at=last_received[0] if last_received else None,
            last_webhook_at=last_webhook[0] if last_webhook else None,
            backlog=backlog,
            oldest_pending_received_at=oldest,
            last_applied_at=counters.get(APPLIED, empty).last_at,
            signature_failures=counters.get(SIGNATURE_FAILURES, empty).value,
            last_signature_failure_at=counters.get(SIGNATURE_FAILURES, empty).last_at,
            signature_failures_since_success=counters.get(SIGNATURE_STREAK, empty).value,
            malformed_payloads=counters.get(MALFORMED, empty).value,
            oversized_payloads=counters.get(OVERSIZED, empty).value,
        )

    # -- counters and key-value --------------------------------------------------------------

    def bump(self, counters: Mapping[str, int], *, at: float | None = None) -> None:
        """Add to counters (creating them) and set their `last_at`, in one transaction."""
        at = time.time() if at is None else at
        with self._write() as connection:
            for name, increment in counters.items():
                _bump(connection, name, increment, at)

    def counter(self, name: str) -> Counter:
        with self._lock:
            row = self._connection.execute(
                "SELECT value, last_at FROM counter WHERE name = ?", (name,)
            ).fetchone()
        return Counter(*row) if row else Counter(0, None)

    def get_value(self, key: str) -> str | None:
        with self._lock:
            row = self._connection.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_values(self, values: Mapping[str, str | None]) -> None:
        """Set (or, with None, delete) several keys in one transaction."""
        now = time.time()
        with self._write() as connection:
            for key, value in values.items():
                if value is None:
                    connection.execute("DELETE FROM kv WHERE key = ?", (key,))
                else:
                    connection.execute(
                        "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                        "updated_at = excluded.updated_at",
                        (key, value, now),
                    )
        statedb.restrict_permissions(self.path)


def _bump(connection: sqlite3.Connection, name: str, increment: int, at: float) -> None:
    connection.execute(
        "INSERT INTO counter (name, value, last_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value, last_at = excluded.last_at",
        (name, increment, at),
    )


def _event(row: tuple[Any, ...]) -> InboxEvent:
    """An inbox row, read in `_COLUMNS` order (the event's own columns in `EventRow` order)."""
    seq, *columns, source, received_at, payload, applied_at = row
    event = dict(zip(EVENT_ROW_FIELDS, columns, strict=True))
    return InboxEvent(
        **{**event, "livemode": bool(event["livemode"])},
        seq=seq,
        source=source,
        received_at=received_at,
        payload=bytes(payload),
        applied_at=applied_at,
    )


EVENT_ROW_FIELDS = [field.name for field in fields(EventRow)]


__all__ = [
    "APPLIED",
    "MALFORMED",
    "OVERSIZED",
    "SIGNATURE_FAILURES",
    "SIGNATURE_STREAK",
    "SOURCES",
    "Counter",
    "InboxEvent",
    "InboxHealth",
    "InvalidEvent",
    "PendingPartition",
    "Source",
    "StateStore",
]
