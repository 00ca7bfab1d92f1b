"""A sync of Stripe tables over partition windows into the warehouse (no Dagster in here).

Fetching and writing overlap but never share a lock: listing threads fill the spool on disk,
and a writer thread merges what has accumulated into DuckDB in short transactions, taking the
warehouse lock only for the SQL. A crash at any point loses nothing that matters: merges are
idempotent upserts, and deletion marking happens only after a partition was listed completely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from revenue_assets.catalog.months import month_bounds
from revenue_assets.catalog.tables import StripeTable
from revenue_assets.ingest.event_apply import (
    append_inbox_events,
    apply_pending_events,
    rebuild_from_event_history,
)
from revenue_assets.state.store import StateStore
from revenue_assets.stripe_api.client import RequestStats, StripeAccess
from revenue_assets.stripe_api.errors import StripeAccessError, StripePermissionError
from revenue_assets.stripe_api.listing import Lister, TableResult, Window
from revenue_assets.warehouse.connection import (
    DEFAULT_LOCK_TIMEOUT_S,
    MERGE_CONFIG,
    warehouse_connection,
)
from revenue_assets.warehouse.merge import ensure_tables, mark_unlisted_deleted, merge_files
from revenue_assets.warehouse.spool import SPOOL_FOLDER, Spool, listed_parents

# The writer merges whenever it is free and at least DEFAULT_FLUSH_BYTES are spooled. While it
# keeps up (a sync paced by the rate limit), batches stay small, so little is left to merge once
# the last page has arrived: on a 267k-object sync at the live limit, the time from the last
# page to the end fell from 1-2 s (32 MB batches) to 0.4-0.6 s. When fetching outpaces it (no
# latency), batches grow on their own up to MAX_PENDING_BYTES, and fewer, larger merges cost
# less CPU (12 MB batches measured 14% more CPU than 32 MB: each merge ends with a checkpoint).
DEFAULT_FLUSH_BYTES = 8 * 1024 * 1024
MAX_PENDING_BYTES = 64 * 1024 * 1024


# The one "partition" of a full-refresh table (listed whole, no monthly partitions): the key its
# complete listing is reported under.
WHOLE_TABLE = "whole"


@dataclass(frozen=True)
class Partition:
    """A monthly partition: its key and its [start, end) in unix seconds."""

    key: str
    start: int
    end: int


@dataclass
class TableOutcome:
    """What a sync did to one parent table (and its child tables)."""

    table: StripeTable
    stats: RequestStats
    child_stats: dict[str, RequestStats]
    completed_partitions: list[str]
    seconds: float
    error: StripeAccessError | None = None
    # Child tables that failed alone (listed per parent, e.g. a permission the key lacks).
    child_errors: dict[str, StripeAccessError] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    marked_deleted: dict[str, int] = field(default_factory=dict)
    events_applied: int = 0
    refetched: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class SyncTarget:
    """Where synced rows go: a DuckDB file and the schema of the raw tables; and where fetched
    pages wait for their merge (`spool_root`: the state directory's, else beside the file)."""

    database: Path
    schema: str = "stripe"
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    spool_root: Path | None = None

    @property
    def spools(self) -> Path:
        return self.spool_root or self.database.parent / SPOOL_FOLDER


class _Writer(threading.Thread):
    """Merges the spool into the warehouse whenever enough has accumulated."""

    def __init__(
        self, spool: Spool, target: SyncTarget, flush_bytes: int, expect_new: set[str]
    ) -> None:
        super().__init__(name="warehouse-writer", daemon=True)
        self.spool = spool
        self.target = target
        self.flush_bytes = flush_bytes
        self.expect_new = expect_new
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.flushes = 0

    def run(self) -> None:
        try:
            while not self.stop_event.wait(0.1):
                if self.spool.bytes_pending >= self.flush_bytes:
                    self.flush()
        except BaseException as error:  # surfaced by the sync after listing
            self.error = error
            self.spool.fail(error)

    def flush(self) -> None:
        files = self.spool.rotate()
        if not files:
            return
        with warehouse_connection(
            self.target.database, timeout_s=self.target.lock_timeout_s, config=MERGE_CONFIG
        ) as connection:
            merge_files(connection, self.target.schema, files, self.expect_new)
        for spool_file in files.values():
            spool_file.path.unlink(missing_ok=True)
        self.flushes += 1


def sync_tables(
    access: StripeAccess,
    target: SyncTarget,
    tables: list[StripeTable],
    partitions: list[Partition],
    *,
    since: int | None = None,
    flush_bytes: int = DEFAULT_FLUSH_BYTES,
    max_workers: int = 64,
    on_progress: Callable[[str, int], None] | None = None,
    inbox: StateStore | None = None,
    skip_children: frozenset[str] = frozenset(),
) -> dict[str, TableOutcome]:
    """List `tables` over `partitions` into the warehouse, then apply their pending events.
    `skip_children`: child tables listed per parent that are left as they are (one request
    per parent is the price of a customer's payment methods: a user may not want it).

    `since=None` is a full re-list: afterwards, rows of completely listed partitions that Stripe
    no longer returned are marked `_deleted`. With `since` (a watermark, unix seconds), only
    objects created after it are fetched and nothing is marked. Full-refresh tables ignore
    `partitions` and `since`: Stripe cannot filter them by creation time, so each is listed
    whole, and after a complete listing its unlisted rows are marked `_deleted`. Events-only
    tables (Stripe cannot list them) are rebuilt from `stripe.event` once the listing is done,
    so the events this run listed count. With an `inbox`, the pending
    events of the listed partitions are applied last, so a sync without the daemon
    ends as current as one with it.
    """
    run_started = datetime.now(UTC)
    names = [name for table in tables for name in (table.name, *table.child_names)]
    with warehouse_connection(target.database, timeout_s=target.lock_timeout_s) as connection:
        ensure_tables(connection, target.schema, names)
        empty_at_start = frozenset(
            name
            for name in names
            if not connection.execute(f"SELECT count(*) FROM {target.schema}.{name}").fetchone()[0]
        )
    # New records (`since`) and empty tables get appends, not upserts (merge_files); a
    # full-refresh table is listed whole whatever `since` says, so it gets upserts.
    appended = {n for t in tables if not t.unpartitioned for n in (t.name, *t.child_names)}
    listed = [table for table in tables if not table.events_only]
    expect_new = appended if since is not None else set(empty_at_start)

    spool = Spool(target.spools, max_pending_bytes=max(MAX_PENDING_BYTES, 2 * flush_bytes))
    writer = _Writer(spool, target, flush_bytes, expect_new)
    writer.start()
    try:
        plans = [
            (table, [WHOLE_WINDOW] if table.full_refresh else _windows(partitions, since))
            for table in listed
        ]
        lister = Lister(
            access,
            spool,
            max_workers=max_workers,
            on_progress=on_progress,
            skip_children=skip_children,
        )
        try:
            results = lister.run(plans)
        finally:
            writer.stop_event.set()
            writer.join()
        if writer.error is not None:
            raise writer.error
        writer.flush()
        outcomes = {name: _outcome(result) for name, result in results.items()}
        for table in tables:
            if table.events_only:
                outcomes[table.name] = _rebuild(access, target, table, outcomes.get("event"))
        _mark_unlisted(
            target,
            spool,
            outcomes,
            partitions,
            run_started,
            skip=empty_at_start | skip_children,
            whole_only=since is not None,
        )
    finally:
        spool.close()
    if inbox is not None:
        by_key = {partition.key: partition for partition in partitions}
        for outcome in outcomes.values():
            if outcome.ok:
                # a full-refresh table's events are applied whole (`_apply`), under no month
                completed = [by_key[k] for k in outcome.completed_partitions if k in by_key]
                _apply(access, target, inbox, outcome, completed, skip_children=skip_children)
    _count_rows(target, outcomes)
    return outcomes


def apply_events(
    access: StripeAccess,
    target: SyncTarget,
    inbox: StateStore,
    tables: list[StripeTable],
    partitions: list[Partition],
    *,
    after_seq: int = 0,
    through_seq: int | None = None,
    skip_children: frozenset[str] = frozenset(),
) -> dict[str, TableOutcome]:
    """Apply the pending inbox events of `tables` in `partitions` (the webhook sensors' runs).
    For `stripe.event`, keep the inbox events with `seq` in (after_seq, through_seq].
    `skip_children`: as for `sync_tables`."""
    names = [name for table in tables for name in (table.name, *table.child_names)]
    with warehouse_connection(target.database, timeout_s=target.lock_timeout_s) as connection:
        ensure_tables(connection, target.schema, names)
    outcomes = {}
    for table in tables:
        started = time.monotonic()
        outcome = TableOutcome(
            table=table,
            stats=RequestStats(),
            child_stats={child: RequestStats() for child in table.child_names},
            completed_partitions=[WHOLE_TABLE]
            if table.unpartitioned
            else [p.key for p in partitions],
            seconds=0.0,
        )
        try:
            _apply(
                access,
                target,
                inbox,
                outcome,
                partitions,
                after_seq,
                through_seq,
                skip_children=skip_children,
            )
        except StripeAccessError as error:
            outcome.error = error
        outcome.seconds = time.monotonic() - started
        outcomes[table.name] = outcome
    _count_rows(target, outcomes)
    return outcomes


def _apply(
    access: StripeAccess,
    target: SyncTarget,
    inbox: StateStore,
    outcome: TableOutcome,
    partitions: list[Partition],
    after_seq: int = 0,
    through_seq: int | None = None,
    *,
    skip_children: frozenset[str] = frozenset(),
) -> None:
    """Bring one table's partitions up to the inbox: its objects' events, or, for the event
    table, the events themselves (of synced objects or not)."""
    if outcome.table.name == "event":
        outcome.events_applied = append_inbox_events(
            target.database,
            target.schema,
            inbox,
            [(p.start, p.end) for p in partitions],
            after_seq=after_seq,
            through_seq=through_seq,
            lock_timeout_s=target.lock_timeout_s,
        )
        return
    applied = apply_pending_events(
        access,
        target.database,
        target.schema,
        inbox,
        outcome.table,
        [None] if outcome.table.unpartitioned else [p.key for p in partitions],
        lock_timeout_s=target.lock_timeout_s,
        skip_children=skip_children,
    )
    outcome.events_applied = applied.events
    outcome.refetched = applied.refetched
    outcome.child_errors.update(applied.child_errors)
    outcome.stats.add(calls=applied.stats.calls, retries=applied.stats.retries)


def _rebuild(
    access: StripeAccess, target: SyncTarget, table: StripeTable, history: TableOutcome | None
) -> TableOutcome:
    """An events-only table rebuilt from `stripe.event`. It needs what the history needs: when
    this run listed the events and that failed (a key without `rak_event_read`), it fails with
    the same error; when the run did not list them, one probe of `/v1/events` asks whether the
    key may read events, so a key lacking the permission fails this table (and only this one)
    instead of passing off a history nobody can keep current as up to date."""
    started = time.monotonic()
    outcome = TableOutcome(
        table=table, stats=RequestStats(), child_stats={}, completed_partitions=[], seconds=0.0
    )
    try:
        if history is not None and history.error is not None:
            raise history.error
        if history is None:
            access.get(EVENTS_PATH, {"limit": 1}, outcome.stats, expect_list=True)
        rebuilt = rebuild_from_event_history(
            target.database,
            target.schema,
            table,
            target.spools,
            lock_timeout_s=target.lock_timeout_s,
        )
    except StripeAccessError as error:
        outcome.error = error
    else:
        outcome.completed_partitions = [WHOLE_TABLE]
        outcome.events_applied = rebuilt.events
    outcome.seconds = time.monotonic() - started
    return outcome


EVENTS_PATH = "/v1/events"


# A full-refresh table's listing: no time bounds are sent (`created` is left out).
WHOLE_WINDOW = Window(0, 2**62, (WHOLE_TABLE,))


def _windows(partitions: list[Partition], since: int | None) -> list[Window]:
    windows = []
    for partition in partitions:
        start = partition.start if since is None else max(partition.start, since + 1)
        if start < partition.end:
            windows.append(Window(start, partition.end, (partition.key,)))
    return windows


def _outcome(result: TableResult) -> TableOutcome:
    return TableOutcome(
        table=result.table,
        stats=result.stats,
        child_stats=result.child_stats,
        completed_partitions=sorted(result.completed_partitions),
        seconds=result.seconds,
        error=result.error,
        child_errors=result.child_errors,
    )


def _mark_unlisted(
    target: SyncTarget,
    spool: Spool,
    outcomes: dict[str, TableOutcome],
    partitions: list[Partition],
    run_started: datetime,
    skip: frozenset[str],
    whole_only: bool = False,
) -> None:
    """Mark rows of completely re-listed partitions that Stripe no longer returned. Tables in
    `skip` were empty when the sync started: every row they hold now is this run's, or newer.
    `whole_only`: the partitioned tables were listed only in part (new records), so only the
    full-refresh tables are marked."""
    by_key = {partition.key: partition for partition in partitions}
    work = []  # (outcome, table, its parent table when it is a child table)
    for outcome in outcomes.values():
        if not outcome.ok or outcome.table.retention_days is not None:
            continue
        if outcome.table.events_only:  # never listed: absence from a list means nothing
            continue
        if whole_only and not outcome.table.full_refresh:
            continue
        table = outcome.table.name
        # A child table's rows are compared with those of the parents whose children were
        # all seen: every listed parent for embedded lists, else those listed per parent.
        pairs = [(table, None)] + [
            (child.name, table if child.embedded else listed_parents(child.name))
            for child in outcome.table.children
            if child.name not in outcome.child_errors
        ]
        work += [(outcome, name, parents) for name, parents in pairs if name not in skip]
    if not work:
        return
    seen = spool.seen_ids()
    empty = spool.directory / "empty.ndjson"
    empty.touch()
    with warehouse_connection(target.database, timeout_s=target.lock_timeout_s) as connection:
        for outcome, name, parent in work:
            if outcome.table.full_refresh:
                if WHOLE_TABLE not in outcome.completed_partitions:
                    continue
                windows = None
            else:
                windows = [
                    (by_key[key].start, by_key[key].end) for key in outcome.completed_partitions
                ]
            outcome.marked_deleted[name] = mark_unlisted_deleted(
                connection,
                target.schema,
                name,
                seen=seen.get(name, empty),
                windows=windows,
                run_started=run_started,
                parents_seen=seen.get(parent, empty) if parent else None,
            )


def _count_rows(target: SyncTarget, outcomes: dict[str, TableOutcome]) -> None:
    """Live rows of every synced table (the `dagster/row_count` of its materialization)."""
    with warehouse_connection(target.database, timeout_s=target.lock_timeout_s) as connection:
        for outcome in outcomes.values():
            for name in (outcome.table.name, *outcome.table.child_names):
                outcome.row_counts[name] = connection.execute(
                    f"SELECT count(*) FROM {target.schema}.{name} WHERE NOT _deleted"
                ).fetchone()[0]


def account_start(
    access: StripeAccess, tables: list[StripeTable], start: int, end: int, rate: float
) -> int:
    """A time at most four weeks before the account's oldest object (of these tables) was
    created, or `end` if it has none. Partitions before it need no run at all (a month's
    precision leaves at most one empty partition in front).

    Stripe lists newest first, so the oldest object is searched for with `limit=1` probes
    ("anything created in [start, t)?"). The search is for the oldest over all tables at once:
    each round asks every table still in the running at a few moments concurrently, keeps the
    part of the range before the first moment some table has something before, and drops the
    tables with nothing there (they cannot hold the oldest object). Usually few tables stay
    after the first round, and each then asks more moments at once: as many as `rate` (req/s)
    serves in one round trip. A table the key may not read is left out: its own run fails,
    naming the permission, and the others still sync."""
    # Invariant: no table has an object in [start, lo); if `hi` < `end`, some table in
    # `candidates` has one in [lo, hi). Full-refresh tables cannot be asked by creation time,
    # events-only ones cannot be listed at all (and neither has partitions to skip): left out.
    tables = [table for table in tables if not table.unpartitioned]
    if not tables:
        return end
    lo, hi, candidates = start, end, list(tables)
    # the first round also asks whether any table has anything at all (before `end`)
    moments = [*_moments(lo, hi, _probes(rate, len(tables))), end]
    with ThreadPoolExecutor(max_workers=MAX_PROBES * max(1, len(tables))) as pool:
        while candidates and moments:
            questions = [(table, moment) for table in candidates for moment in moments]
            found = pool.map(_probe(access, start), questions)
            answers = {(t.name, m): yes for (t, m), yes in zip(questions, found, strict=True)}
            first = next(
                (m for m in moments if any(answers[(t.name, m)] for t in candidates)), None
            )
            if first is None:  # nothing before the last moment (`end` on the first round)
                if moments[-1] >= hi:
                    return end
                lo = moments[-1]
            else:
                before = [m for m in moments if m < first]
                lo, hi = (before[-1] if before else lo), first
                candidates = [t for t in candidates if answers[(t.name, first)]]
            moments = _moments(lo, hi, _probes(rate, len(candidates))) if candidates else []
    return lo


def _probes(rate: float, tables: int) -> int:
    """Moments each table is asked at per round: as many as `rate` serves in a round trip."""
    return max(1, min(MAX_PROBES, int(rate * PROBE_ROUND_TRIP_S / max(1, tables))))


def _moments(lo: int, hi: int, probes: int) -> list[int]:
    """Up to `probes` moments splitting [lo, hi) evenly, none if it is within the precision."""
    if hi - lo <= PROBE_PRECISION_S:
        return []
    parts = max(2, min(probes + 1, (hi - lo) // PROBE_PRECISION_S))
    return [lo + (hi - lo) * i // parts for i in range(1, parts)]


# A round of probes against Stripe (the slowest of its answers), for sizing rounds; partitions
# are months.
PROBE_ROUND_TRIP_S = 0.5
PROBE_PRECISION_S = 28 * 86_400
MAX_PROBES = 8


def _probe(access: StripeAccess, start: int) -> Callable[[tuple[StripeTable, int]], bool]:
    def anything_before(question: tuple[StripeTable, int]) -> bool:
        table, moment = question
        try:
            page = access.get(
                table.path,
                {"limit": 1, "created": {"gte": start, "lt": moment}, **table.list_params},
                RequestStats(),
                expect_list=True,
            )
        except StripePermissionError:
            return False
        return bool(page["data"])

    return anything_before


def month_partitions(keys: list[str]) -> list[Partition]:
    """Partitions for monthly keys (YYYY-MM-DD, first of month), UTC."""
    return [Partition(key, *month_bounds(key)) for key in keys]
