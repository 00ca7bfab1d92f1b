"""The sandbox's object store: every Stripe object pre-rendered as JSON, indexed for list semantics.

Objects live in one SQLite file (on disk, so a company of a million objects stays in bounded
memory). Bodies are stored already serialized in the pinned API version: serving a page is a
range scan plus a byte join, which is what lets the sandbox serve hundreds of pages per second.

Order: Stripe lists newest first. Objects created in the same second are ordered by insertion
(`seq`), newest first too. Child lists (invoice lines, credit note lines, subscription items
listed by parent) keep their insertion order, oldest first, as Stripe does for lines.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

_SQL = Path(__file__).parent / "sql"


def _sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text()


# The tables, with a schema prefix (`{db}`), and their indexes.
_TABLES = _sql("tables")
_INDEXES = _sql("indexes")
SCHEMA = _TABLES.format(db="") + _INDEXES

# The bulk loader's staging file has the same tables, without indexes. Generator processes
# append rows to it, each batch sorted in list order and numbered (`seq`) in generation order;
# `finish` merges the batches in list order into the final file, then builds the indexes by
# sorting (much faster than maintaining them row by row).
_STAGING_TABLES = _TABLES.format(db="")
_COLUMNS = "seq, id, account, kind, created, parent, customer, status, deleted, body"
_STAGED_INSERT = f"INSERT INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT = _sql("upsert")

# A row as `put_rows` takes it: id, account, kind, created, parent, customer, status, deleted,
# body (the object's JSON).
Row = tuple[str, str, str, int, str | None, str | None, str | None, int, bytes]


@dataclass(frozen=True)
class Match:
    """A list filter on a JSON path of the body, for filters that have no indexed column.

    `op`: `in` (the value is one of `values`), a comparison (`gt`, `gte`, `lt`, `lte`, `eq`,
    `ne`) with `values[0]`, `null` / `not_null`. With `each` (the path of an array, e.g.
    `items.data`), the condition holds when any element matches at `path`.
    """

    path: str
    op: str = "in"
    values: tuple[Any, ...] = ()
    each: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        source = "value" if self.each else "CAST(body AS TEXT)"
        expr = f"json_extract({source}, ?)"
        params: list[Any] = ["$." + self.path]
        if self.op == "in":
            condition = f"{expr} IN ({','.join('?' * len(self.values))})"
            params.extend(self.values)
        elif self.op == "null":
            condition = f"{expr} IS NULL"
        elif self.op == "not_null":
            condition = f"{expr} IS NOT NULL"
        else:
            condition = f"{expr} {_SQL_OPERATORS[self.op]} ?"
            params.append(self.values[0])
        if self.each is None:
            return condition, params
        exists = f"EXISTS (SELECT 1 FROM json_each(CAST(body AS TEXT), ?) WHERE {condition})"
        return exists, ["$." + self.each, *params]


@dataclass(frozen=True)
class Page:
    """One list page: rendered bodies in response order and whether more objects follow."""

    bodies: list[bytes]
    has_more: bool


def row_for(obj: dict[str, Any], account: str, parent: str | None = None) -> Row:
    """The store row of an object, with the index columns derived from the object itself.

    `status` holds what list filters select on: a subscription's status, an event's type.
    `created` falls back to `date` for objects that have no `created` (invoice items), which is
    what Stripe orders and filters their lists by.
    """
    kind = obj["object"]
    status = obj.get("type") if kind == "event" else obj.get("status")
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return (
        obj["id"],
        account,
        kind,
        int(obj.get("created") or obj.get("date") or 0),
        parent,
        customer if isinstance(customer, str) else None,
        status if isinstance(status, str) else None,
        1 if obj.get("deleted") else 0,
        orjson.dumps(obj),
    )


class Store:
    """Thread-safe access to the object store (one SQLite connection per thread, WAL)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            handle, name = tempfile.mkstemp(prefix="stripe-sandbox-", suffix=".sqlite")
            os.close(handle)
            path = name
            self._owns_file = True
        else:
            self._owns_file = False
        self.path = Path(path)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        connection = self._connection()
        connection.executescript(SCHEMA)

    # -- connections ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA cache_size=-65536")  # 64 MiB per connection
            connection.execute("PRAGMA temp_store=MEMORY")
            # Reads through a memory map (up to SQLite's 2 GiB cap): mapped pages skip a pread
            # and a copy each. A list page touches ~100 rows: a few table pages in a generated
            # store (laid out in list order), more for objects written live (appended in write
            # order, all kinds mixed).
            connection.execute("PRAGMA mmap_size=17179869184")
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
        if self._owns_file:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # -- writes --------------------------------------------------------------------------------

    def put(self, obj: dict[str, Any], account: str, parent: str | None = None) -> None:
        """Insert or replace one object (its position in lists is kept on replace)."""
        self.put_rows([row_for(obj, account, parent)])

    def put_rows(self, rows: Iterable[Row]) -> None:
        """Insert or replace many rows in one transaction (joins the open `transaction()`)."""
        with self.transaction() as connection:
            connection.executemany(_UPSERT, rows)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection (nested calls join it).

        The world wraps each API change and each batch of clock steps in one: a change is
        all-or-nothing, and the engine's dozens of small writes cost one commit. Readers on other
        threads keep reading the last committed state (WAL) meanwhile.
        """
        with self._write_lock:
            connection = self._connection()
            if connection.in_transaction:
                yield connection
                return
            connection.execute("BEGIN")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def update(self, obj: dict[str, Any]) -> None:
        """Replace the body of an existing object, keeping its parent, account and list position.

        The billing engine updates objects (a refunded charge, a paid invoice) without knowing
        which parent they were stored under; `put` would reset the parent.
        """
        row = row_for(obj, "")
        with self._write_lock:
            cursor = self._connection().execute(
                "UPDATE objects SET customer = ?, status = ?, deleted = ?, body = ? WHERE id = ?",
                (row[5], row[6], row[7], row[8], row[0]),
            )
            if cursor.rowcount == 0:
                raise KeyError(obj["id"])

    def mark_deleted(self, object_id: str) -> None:
        """Hide an object from lists; retrieving it then answers `{id, object, deleted: true}`."""
        with self._write_lock:
            self._connection().execute("UPDATE objects SET deleted = 1 WHERE id = ?", (object_id,))

    def delete_older_than(
        self, kind: str, created_before: int, accounts: Sequence[str] | None = None
    ) -> int:
        """Drop objects of a kind created before a time (event retention). Returns how many.

        With `accounts`, each account's range is found through the list index instead of a scan
        of the whole table (which holds millions of rows in a large sandbox).
        """
        with self._write_lock:
            connection = self._connection()
            if accounts is None:
                cursor = connection.execute(
                    "DELETE FROM objects WHERE kind = ? AND created < ?", (kind, created_before)
                )
                return cursor.rowcount
            removed = 0
            for account in accounts:
                for deleted in (0, 1):
                    cursor = connection.execute(
                        "DELETE FROM objects WHERE account = ? AND kind = ? AND deleted = ? "
                        "AND created < ?",
                        (account, kind, deleted, created_before),
                    )
                    removed += cursor.rowcount
            return removed

    def set_meta(self, key: str, value: Any) -> None:
        with self._write_lock:
            self._connection().execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, orjson.dumps(value))
            )

    # -- schedule: when the billing engine must next look at an object (renewals, payouts) -------

    def set_due(self, key: str, account: str, due: int | None) -> None:
        """Schedule (or, with `due=None`, unschedule) the next engine step for `key`."""
        with self._write_lock:
            if due is None:
                self._connection().execute("DELETE FROM schedule WHERE key = ?", (key,))
            else:
                self._connection().execute(
                    "INSERT OR REPLACE INTO schedule (key, account, due) VALUES (?, ?, ?)",
                    (key, account, int(due)),
                )

    def set_due_rows(self, rows: Iterable[tuple[str, str, int]]) -> None:
        with self.transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO schedule (key, account, due) VALUES (?, ?, ?)", rows
            )

    def next_due(self, until: int) -> tuple[str, str, int] | None:
        """The earliest scheduled step at or before `until`: (key, account, due), or None."""
        row = (
            self._connection()
            .execute(
                "SELECT key, account, due FROM schedule WHERE due <= ? ORDER BY due, key LIMIT 1",
                (until,),
            )
            .fetchone()
        )
        return (row[0], row[1], row[2]) if row else None

    def get_due(self, key: str) -> int | None:
        row = (
            self._connection().execute("SELECT due FROM schedule WHERE key = ?", (key,)).fetchone()
        )
        return row[0] if row else None

    # -- reads ---------------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else default

    def get_body(
        self, object_id: str, account: str | None = None, kind: str | None = None
    ) -> tuple[bytes, bool] | None:
        """The rendered body of an object and whether it is deleted, or None if unknown
        (or not of `kind`, when given: `/v1/customers/ch_…` is Stripe's 404)."""
        sql = "SELECT body, deleted FROM objects WHERE id = ?"
        params: tuple[Any, ...] = (object_id,)
        if account is not None:
            sql += " AND account = ?"
            params = (*params, account)
        if kind is not None:
            sql += " AND kind = ?"
            params = (*params, kind)
        row = self._connection().execute(sql, params).fetchone()
        return (row[0], bool(row[1])) if row else None

    def get(self, object_id: str, account: str | None = None) -> dict[str, Any] | None:
        """The object as a dict (deleted objects included, as last rendered), or None."""
        found = self.get_body(object_id, account)
        return orjson.loads(found[0]) if found else None

    def list_page(
        self,
        account: str,
        kind: str,
        *,
        limit: int = 10,
        created: dict[str, int] | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        customer: str | None = None,
        parent: str | None = None,
        statuses: Sequence[str] | None = None,
        include_deleted: bool = False,
        oldest_first: bool = False,
        fields: Mapping[str, Any] | None = None,
        status_prefix: str | None = None,
        matches: Sequence[Match] = (),
    ) -> Page:
        """One page of a list, newest first (or oldest first for child lists).

        `created` takes Stripe's operators: gt, gte, lt, lte and eq. Cursors are object ids;
        an unknown cursor (or one of another kind) raises KeyError so the server can answer
        Stripe's 404. `fields` filters on JSON paths of the body (`{"charge": "ch_1"}`,
        `{"active": 1}`, a list means any of), for the rarer filters that have no column: it
        scans the list's index range, so the hot unfiltered path is unaffected.
        `status_prefix` matches `status` by prefix (event types like `invoice.*`); `matches`
        are further conditions on the body (ranges, nulls, any element of an array).
        """
        # With a customer or parent filter, `+account` keeps SQLite off the (account, kind, ...)
        # index, which would scan every object of the kind, and on the customer/parent index.
        narrow = customer is not None or parent is not None
        where = ["+account = ?" if narrow else "account = ?", "kind = ?"]
        params: list[Any] = [account, kind]
        if not include_deleted:
            where.append("deleted = 0")
        for operator, value in (created or {}).items():
            where.append(f"created {_SQL_OPERATORS[operator]} ?")
            params.append(int(value))
        if customer is not None:
            where.append("customer = ?")
            params.append(customer)
        if parent is not None:
            where.append("parent = ?")
            params.append(parent)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if status_prefix is not None:
            where.append("substr(status, 1, ?) = ?")
            params.extend([len(status_prefix), status_prefix])
        for path, value in (fields or {}).items():
            values = list(value) if isinstance(value, list | tuple) else [value]
            where.append(f"json_extract(CAST(body AS TEXT), ?) IN ({','.join('?' * len(values))})")
            params.extend(["$." + path, *values])
        for match in matches:
            condition, values = match.sql()
            where.append(condition)
            params.extend(values)

        # Position in the list order, as (created, seq) in a newest-first list, (seq) otherwise.
        forward = "<" if not oldest_first else ">"
        backward = ">" if not oldest_first else "<"
        order_desc = not oldest_first
        cursor_id = starting_after or ending_before
        if cursor_id is not None:
            position = self._position(cursor_id, kind)
            comparison = forward if starting_after else backward
            if oldest_first:
                where.append(f"seq {comparison} ?")
                params.append(position[1])
            else:
                where.append(f"(created, seq) {comparison} (?, ?)")
                params.extend(position)
            if ending_before:
                order_desc = not order_desc

        direction = "DESC" if order_desc else "ASC"
        order = f"seq {direction}" if oldest_first else f"created {direction}, seq {direction}"
        sql = f"SELECT body FROM objects WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        params.append(limit + 1)
        bodies = [row[0] for row in self._connection().execute(sql, params)]
        has_more = len(bodies) > limit
        bodies = bodies[:limit]
        if ending_before:
            bodies.reverse()
        return Page(bodies=bodies, has_more=has_more)

    def _position(self, object_id: str, kind: str | None = None) -> tuple[int, int]:
        sql, params = "SELECT created, seq FROM objects WHERE id = ?", [object_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        row = self._connection().execute(sql, params).fetchone()
        if row is None:
            raise KeyError(object_id)
        return row[0], row[1]

    def iter_objects(
        self, kind: str, account: str | None = None, include_deleted: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Every object of a kind, oldest first (checks and tests; streams in bounded memory)."""
        sql = "SELECT body FROM objects WHERE kind = ?"
        params: list[Any] = [kind]
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        if not include_deleted:
            sql += " AND deleted = 0"
        cursor = self._connection().cursor()
        cursor.arraysize = 1000
        for (body,) in cursor.execute(sql + " ORDER BY seq", params):
            yield orjson.loads(body)

    def ids(
        self,
        kind: str,
        *,
        account: str | None = None,
        customer: str | None = None,
        parent: str | None = None,
        include_deleted: bool = False,
        created_gte: int | None = None,
    ) -> list[str]:
        """Ids of the objects of a kind matching the filters, in insertion order."""
        where, params = ["kind = ?"], [kind]
        for column, value in (("account", account), ("customer", customer), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if not include_deleted:
            where.append("deleted = 0")
        if created_gte is not None:
            where.append("created >= ?")
            params.append(created_gte)
        sql = f"SELECT id FROM objects WHERE {' AND '.join(where)} ORDER BY seq"
        return [row[0] for row in self._connection().execute(sql, params)]

    def iter_persons(self) -> Iterator[dict[str, str]]:
        """The people behind the generated customers (product analytics ids, emails, groups)."""
        cursor = self._connection().execute(
            "SELECT distinct_id, email, name, group_key, account FROM persons ORDER BY rowid"
        )
        for distinct_id, email, name, group_key, account in cursor:
            yield {
                "distinct_id": distinct_id,
                "email": email,
                "name": name,
                "group_key": group_key,
                "account": account,
            }

    def parent_of(self, object_id: str) -> str | None:
        row = (
            self._connection()
            .execute("SELECT parent FROM objects WHERE id = ?", (object_id,))
            .fetchone()
        )
        return row[0] if row else None

    def count(
        self, kind: str | None = None, account: str | None = None, deleted: bool | None = None
    ) -> int:
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if account is not None:
            where.append("account = ?")
            params.append(account)
        if deleted is not None:
            where.append("deleted = ?")
            params.append(int(deleted))
        sql = "SELECT count(*) FROM objects" + (f" WHERE {' AND '.join(where)}" if where else "")
        return self._connection().execute(sql, params).fetchone()[0]


class BulkLoader:
    """Writes a freshly generated store fast: no journal, secondary indexes built at the end.

    Only for a file nobody else has open yet (the generator's output). Rows are appended to a
    staging table in generation order; `finish()` rewrites them in list order into the final
    file, builds the indexes and switches it to WAL, after which a `Store` opens it as usual.
    """

    def __init__(self, path: str | os.PathLike[str], *, fresh: bool = True) -> None:
        self.path = Path(path)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        # A generous busy timeout: generator processes take turns writing the same new file.
        self._connection = sqlite3.connect(self.path, isolation_level=None, timeout=600)
        if fresh:
            self._connection.execute("PRAGMA page_size=8192")
        self._connection.execute("PRAGMA journal_mode=OFF")
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute("PRAGMA cache_size=-131072")
        self._connection.execute("PRAGMA temp_store=MEMORY")
        if fresh:
            self._connection.executescript(_STAGING_TABLES)

    def put_rows(self, rows: Sequence[Row]) -> None:
        """Append rows. Ids must be new: uniqueness is enforced when `finish` builds the index.

        The rows are numbered (`seq`) in the order given, after every row appended before, and
        written sorted in list order: each batch is then one sorted run, which `finish` reads
        run by run in parallel (a few pages at a time) rather than at random over the file.
        """
        order = sorted(range(len(rows)), key=lambda n: (*rows[n][1:4], n))
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        # Rows are only appended, so the largest rowid is the number of rows so far.
        (base,) = connection.execute("SELECT ifnull(max(rowid), 0) FROM objects").fetchone()
        connection.executemany(_STAGED_INSERT, ((base + 1 + n, *rows[n]) for n in order))
        connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()

    def put_persons(self, persons: Iterable[tuple[str, str, str, str, str]]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT OR REPLACE INTO persons VALUES (?, ?, ?, ?, ?)", persons)
        connection.execute("COMMIT")

    def set_due_rows(self, rows: Iterable[tuple[str, str, int]]) -> None:
        connection = self._connection
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT OR REPLACE INTO schedule (key, account, due) VALUES (?, ?, ?)", rows
        )
        connection.execute("COMMIT")

    def set_meta(self, key: str, value: Any) -> None:
        self._connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, orjson.dumps(value))
        )

    def finish(self) -> dict[str, float]:
        """Lay the objects out in list order, then build the indexes and switch to WAL.

        Why: a list page reads ~100 objects that are adjacent in the list index. Appended in
        generation order (customer by customer), those objects are scattered over the whole
        file, one table page each, and serving a page costs nearly twice the CPU. Copied in
        (account, kind, created, seq) order, a page's objects share a few table pages. Each
        object keeps its `seq`; objects written later (the live world) go to the end of the
        table, in the right list order but less tightly packed.

        The copy goes to a new file (renamed over the staging one) rather than a new table in
        the same file, which would leave the staging rows' pages free and the file twice as big.
        Returns the seconds each of the two steps took.
        """
        started = time.perf_counter()
        ordered = Path(f"{self.path}.ordered")
        try:
            self._copy_in_list_order(ordered)
        except BaseException:
            ordered.unlink(missing_ok=True)
            raise
        finally:
            self._connection.close()
        os.replace(ordered, self.path)
        copied = time.perf_counter()

        final = sqlite3.connect(self.path, isolation_level=None)
        try:
            for pragma in (
                "journal_mode=OFF",
                "synchronous=OFF",
                "cache_size=-131072",
                "temp_store=MEMORY",
                "threads=2",
            ):
                final.execute(f"PRAGMA {pragma}")
            final.executescript(_INDEXES)
            final.execute("PRAGMA journal_mode=WAL")
        finally:
            final.close()
        return {"list_order": copied - started, "indexes": time.perf_counter() - copied}

    def _copy_in_list_order(self, ordered: Path) -> None:
        """Copy the staged tables into a new file at `ordered`, objects in list order."""
        staging = self._connection
        ordered.unlink(missing_ok=True)
        staging.execute("PRAGMA threads=2")  # sorts on two cores
        # Sorting only the narrow keys, then reading each row once, is much faster than letting
        # SQLite sort the whole rows (bodies included) for the ORDER BY. The rows are read in
        # list order: a merge of the sorted batches, so the page cache holds what is read next.
        staging.execute("CREATE INDEX staging_by_list ON objects (account, kind, created, seq)")
        staging.execute("ATTACH DATABASE ? AS ordered", (str(ordered),))
        for pragma in ("page_size=8192", "journal_mode=OFF", "synchronous=OFF"):
            staging.execute(f"PRAGMA ordered.{pragma}")
        staging.executescript(_TABLES.format(db="ordered."))
        staging.execute("BEGIN")
        staging.execute(
            f"INSERT INTO ordered.objects ({_COLUMNS}) SELECT {_COLUMNS} "
            "FROM main.objects INDEXED BY staging_by_list ORDER BY account, kind, created, seq"
        )
        staging.execute("INSERT INTO ordered.meta SELECT * FROM main.meta")
        staging.execute("INSERT INTO ordered.schedule SELECT * FROM main.schedule")
        # Persons keep their rowids: `iter_persons` lists them in insertion order.
        staging.execute(
            "INSERT INTO ordered.persons (rowid, distinct_id, email, name, group_key, "
            "account) SELECT rowid, * FROM main.persons"
        )
        staging.execute("COMMIT")
        staging.execute("DETACH DATABASE ordered")


_SQL_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "ne": "!="}
