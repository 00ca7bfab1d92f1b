"""Concurrent listing of Stripe tables over `created` windows, at the rate limits' pace.

Stripe lists newest first with a cursor, so one window is a sequential chain of pages: at 300 ms
a page, one chain moves ~330 objects/s however fast the account's rate limit is. We keep dozens
of chains in flight instead:

- consecutive partitions (months) form one window, so a sparse table costs one request for
  all of them, and years of empty months before the account's first object cost nothing;
- a window is split when its pages show it would outlast the others, or while fewer windows
  are being listed than requests could be in flight: the rest of its time range becomes
  several sub-windows listed concurrently (the objects of the boundary second keep the cursor,
  so nothing is listed twice or skipped). Every window ends on a partial page, a request that
  brings less than a full page, so windows are split only when it pays: all of them then end
  together, at the rate limit, with about as few partial pages as there are requests in flight;
- a full-refresh table (a list without a `created` filter, like billing meters) is one window
  listed whole by cursor, never split;
- embedded child lists (invoice lines, subscription items, credit note lines) that say
  `has_more` are paged through their own endpoint, as are the children a parent does not embed
  (a customer's balance transactions) for the parents that say they may have some.

Stripe limits each operation (one table's list) to 25 requests per second besides the global
budget, so one table can use at most a quarter of a live account's 100. Requests queue per
operation and go out in turn over the tables that can send (scheduler.py): the global budget
stays full while enough tables have pages left, and a table is split into no more windows than
its own limit keeps busy, so the last big table runs at its operation's limit without 429s.

Every page goes straight to a sink (the spool on disk), so memory stays bounded whatever the
account size. A table whose key lacks a permission fails alone; a rejected key stops everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from revenue_assets.catalog.pages import PageMeta, read_page
from revenue_assets.catalog.tables import ChildTable, StripeTable
from revenue_assets.stripe_api.client import Fetched, RequestStats, StripeAccess
from revenue_assets.stripe_api.errors import (
    StripeAccessError,
    StripeAuthenticationError,
)
from revenue_assets.stripe_api.ratelimit import operation_of
from revenue_assets.stripe_api.scheduler import PacedPool

PAGE_LIMIT = 100


@dataclass(frozen=True)
class Window:
    """Objects created in [start, end) (unix seconds), in the partitions it overlaps."""

    start: int
    end: int
    partitions: tuple[str, ...]


@dataclass
class _Chain:
    """One window's sequence of pages, listed one after the other, and how many pages it is
    expected to have left (from the density of its last page)."""

    pages_left: float = 0.0


class Sink(Protocol):
    """Where fetched pages go. Called from many threads at once.

    `fatal_errors`: what the sink raises when it cannot take pages at all (a full disk): every
    table would fail the same way, so listing stops at the first instead of trying them all."""

    fatal_errors: tuple[type[Exception], ...]

    def page(
        self,
        table: str,
        body: memoryview,
        meta: PageMeta,
        *,
        version: float,
        parent: tuple[str, int] | None = None,
        children: dict[str, str] | None = None,
    ) -> None: ...

    def children_listed(self, table: str, parent: tuple[str, int]) -> None:
        """All of one parent's children of a child table were listed (none, maybe): the
        parent's rows of that table that were not are gone."""


@dataclass
class TableResult:
    """What listing one table did."""

    table: StripeTable
    stats: RequestStats = field(default_factory=RequestStats)
    child_stats: dict[str, RequestStats] = field(default_factory=dict)
    child_errors: dict[str, StripeAccessError] = field(default_factory=dict)  # failed alone
    completed_partitions: set[str] = field(default_factory=set)
    error: StripeAccessError | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class Lister:
    """Lists tables over windows with a pool of threads sharing one `StripeAccess`."""

    def __init__(
        self,
        access: StripeAccess,
        sink: Sink,
        *,
        max_workers: int = 64,
        max_split: int = 8,
        min_part_pages: float = 4.0,
        on_progress: Callable[[str, int], None] | None = None,
        skip_children: frozenset[str] = frozenset(),
    ) -> None:
        """`max_split`: parts one window is split into at once; `min_part_pages`: the fewest
        expected pages worth a window of their own (its partial last page costs a request);
        `skip_children`: child tables listed per parent that are not listed."""
        self.access = access
        self.sink = sink
        self.max_workers = max_workers
        self.max_split = max_split
        self.min_part_pages = min_part_pages
        self.on_progress = on_progress
        self.skip_children = skip_children
        self._lock = threading.Lock()
        self._outstanding = 0
        self._chains = 0  # windows being listed
        self._table_chains: dict[str, int] = {}  # ... of each table
        self._pages_left = 0.0  # their expected pages, together
        self._done = threading.Event()
        self._pending: dict[tuple[str, str], int] = {}
        self._bounds: dict[str, tuple[int, int]] = {}
        self._results: dict[str, TableResult] = {}
        self._fatal: StripeAuthenticationError | None = None
        self._pool: PacedPool | None = None

    # -- public ----------------------------------------------------------------------------------

    def run(
        self,
        plans: list[tuple[StripeTable, list[Window]]],
        extra_params: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, TableResult]:
        """List every (table, windows) plan to the sink; return one result per table."""
        self._extra_params = extra_params or {}
        self._results = {table.name: TableResult(table) for table, _ in plans}
        for table, _ in plans:
            for child in table.children:
                self._results[table.name].child_stats[child.name] = RequestStats()
        with PacedPool(self.access.pacer, self.max_workers) as pool:
            self._pool = pool
            # Scheduling counts as outstanding work: early tasks finishing before the last
            # first task is submitted must not look like the end of the run.
            with self._lock:
                self._outstanding += 1
            for table, windows in plans:
                if not windows:
                    self._results[table.name].finished = time.monotonic()
                    continue
                for window in windows:
                    for key in window.partitions:
                        self._bounds[key] = (window.start, window.end)
                for span in _spans(windows):
                    with self._lock:
                        self._add_chains(table.name, 1)
                    self._schedule(table, span, None, _Chain())
            self._task_done()
            self._done.wait()
        self._pool = None
        for result in self._results.values():
            result.finished = result.finished or time.monotonic()
        if self._fatal is not None:
            raise self._fatal
        return self._results

    # -- scheduling ------------------------------------------------------------------------------

    def _schedule(
        self, table: StripeTable, window: Window, cursor: str | None, chain: _Chain
    ) -> None:
        """List a window (from `cursor` on), holding its partitions open until it is done."""
        self._submit(
            table.name,
            window.partitions,
            operation_of(table.path),
            self._list_page,
            table,
            window,
            cursor,
            chain,
        )

    def _submit(
        self,
        table: str,
        partitions: tuple[str, ...],
        operation: str,
        fn: Callable[..., None],
        *args: Any,
    ) -> None:
        """Run a task once `operation` may send; the partitions it covers complete only once
        every such task is done."""
        with self._lock:
            self._outstanding += 1
            for key in partitions:
                self._pending[(table, key)] = self._pending.get((table, key), 0) + 1
        assert self._pool is not None
        self._pool.submit(operation, self._run_task, table, partitions, fn, *args)

    def _run_task(
        self, table: str, partitions: tuple[str, ...], fn: Callable[..., None], *args: Any
    ) -> None:
        result = self._results[table]
        try:
            fn(*args)
        except (StripeAuthenticationError, *self.sink.fatal_errors) as error:
            result.error = error
            self._fatal = error
        except StripeAccessError as error:
            if result.error is None:
                result.error = error
        except Exception as error:  # a bug must not hang the pool: fail the table loudly
            if result.error is None:
                result.error = StripeAccessError(f"{type(error).__name__}: {error}")
        finally:
            with self._lock:
                for key in partitions:
                    self._pending[(table, key)] -= 1
                    if self._pending[(table, key)] == 0 and result.error is None:
                        result.completed_partitions.add(key)
            self._task_done()

    def _stopped(self, table: str) -> bool:
        """Whether the table failed (its remaining tasks do nothing) or the key was rejected."""
        return self._results[table].error is not None or self._fatal is not None

    def _task_done(self) -> None:
        with self._lock:
            self._outstanding -= 1
            if self._outstanding == 0:
                self._done.set()

    # -- tasks -----------------------------------------------------------------------------------

    def _list_params(
        self, table: StripeTable, window: Window, cursor: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "limit": PAGE_LIMIT,
            **({} if table.full_refresh else {"created": {"gte": window.start, "lt": window.end}}),
            **table.list_params,
            **table.list_expand(),
            **self._extra_params.get(table.name, {}),
        }
        if cursor:
            params["starting_after"] = cursor
        return params

    def _window(self, start: int, end: int, within: Window) -> Window:
        """[start, end) with the partitions of `within` it overlaps."""
        partitions = tuple(
            key
            for key in within.partitions
            if self._bounds[key][0] < end and self._bounds[key][1] > start
        )
        return Window(start, end, partitions)

    def _list_page(
        self, table: StripeTable, window: Window, cursor: str | None, chain: _Chain
    ) -> None:
        continued = False
        try:
            if not self._stopped(table.name):
                continued = self._fetch_page(table, window, cursor, chain)
        finally:
            if not continued:  # the window is done (or failed)
                with self._lock:
                    self._add_chains(table.name, -1)
                    self._pages_left -= chain.pages_left

    def _add_chains(self, table: str, count: int) -> None:
        """Windows being listed, in all and per table (under the lock)."""
        self._chains += count
        self._table_chains[table] = self._table_chains.get(table, 0) + count

    def _fetch_page(
        self, table: StripeTable, window: Window, cursor: str | None, chain: _Chain
    ) -> bool:
        """List one page of a window and schedule what follows; False when the window is done."""
        result = self._results[table.name]
        fetched = self.access.fetch(
            table.path,
            self._list_params(table, window, cursor),
            result.stats,
            parse=read_page,
            paced=True,
        )
        meta, version = fetched.data, fetched.server_time
        result.stats.add(pages=1, objects=len(meta))
        if meta.ids:
            self.sink.page(
                table.name,
                fetched.body,
                meta,
                version=version,
                children=embedded_children(table),
            )
            for child in table.children:
                if child.name not in self.skip_children:
                    self._children_beyond_page(table, child, meta, window.partitions, version)
        if self.on_progress:
            self.on_progress(table.name, len(meta))
        if not meta.has_more or not meta.ids:
            return False
        if table.full_refresh:  # no creation-time filter to split by: the next page by cursor
            self._schedule(table, window, meta.ids[-1], chain)
            return True
        # A page without creation times (never seen) continues by cursor over the whole window.
        last_id, last_created = meta.ids[-1], int(meta.created[-1] or window.end - 1)
        remaining = last_created - window.start
        covered = max(1, window.end - last_created)
        pages_left = len(meta) * remaining / covered / PAGE_LIMIT
        with self._lock:
            self._pages_left += pages_left - chain.pages_left
            # At most one part per second of the range; none to split when the page ended in
            # the window's first second (the rest of that second follows by cursor).
            parts = max(1, min(self._parts(table, pages_left), remaining))
            chain.pages_left = pages_left / parts
            self._add_chains(table.name, parts - 1)
        # The rest of the window in `parts` sub-windows, oldest first; the newest keeps the
        # cursor (objects created in the same second as the last one listed).
        edges = [window.start + (remaining * i) // parts for i in range(parts)]
        edges.append(last_created + 1)
        for i in range(parts):
            part = self._window(edges[i], edges[i + 1], window)
            if i == parts - 1:
                self._schedule(table, part, last_id, chain)
            else:
                self._schedule(table, part, None, _Chain(pages_left / parts))
        return True

    def _parts(self, table: StripeTable, pages_left: float) -> int:
        """Into how many windows to split one with `pages_left` to go (under the lock).

        Split a window expected to outlast the others (more than twice its fair share of the
        pages left), since the run ends with its last page; and, while fewer windows are being
        listed than requests could be in flight, one long enough to be worth two. Never into
        more windows than the table's own operation limit keeps busy: more would only wait
        for its tokens and end in extra partial pages."""
        gate = self.access.gate
        wanted = gate.limit  # rate limit x latency, with a margin
        own = gate.wanted(self.access.pacer.operation_rate(operation_of(table.path)))
        room = own - self._table_chains.get(table.name, 0)  # windows the table may add
        share = max(self.min_part_pages, self._pages_left / wanted)
        parts = int(pages_left // share) if pages_left >= 2 * share else 1
        if self._chains < wanted and pages_left >= 2 * self.min_part_pages:
            idle = wanted - self._chains
            parts = max(parts, min(idle + 1, int(pages_left // self.min_part_pages)))
        return max(1, min(self.max_split, parts, room + 1))

    def _children_beyond_page(
        self,
        table: StripeTable,
        child: ChildTable,
        meta: PageMeta,
        partitions: tuple[str, ...],
        version: float,
    ) -> None:
        """Page the child endpoint of every parent of the page whose children it does not hold:
        an embedded list that says `has_more` (its entries come out of the parent page at merge
        time), or a parent that may have children not embedded at all."""
        if child.embedded:
            positions = meta.children_more.get(child.field, [])
        else:
            positions = [
                i for i, fields in enumerate(meta.parent_fields) if child.may_have_children(fields)
            ]
        for position in positions:
            parent_key = (meta.ids[position], int(meta.created[position] or 0))
            self._submit(
                table.name,
                partitions,
                operation_of(child.path),
                self._list_children,
                table,
                child,
                parent_key,
                meta.parent_fields[position],
                version,
            )

    def _list_children(
        self,
        table: StripeTable,
        child: ChildTable,
        parent_key: tuple[str, int],
        parent_fields: dict[str, Any],
        version: float,
    ) -> None:
        result = self._results[table.name]
        if self._stopped(table.name) or child.name in result.child_errors:
            return
        stats = result.child_stats[child.name]
        try:
            pages = list_children(
                self.access, child, parent_key[0], stats, parent=parent_fields, paced=True
            )
            for fetched in pages:
                self.sink.page(
                    child.name, fetched.body, fetched.data, version=version, parent=parent_key
                )
        except StripeAuthenticationError:
            raise
        except StripeAccessError as error:
            if child.embedded:  # the parent's own rows would be incomplete without them
                raise
            # A table of its own, listed per parent: it fails alone (a key that may not read
            # payment methods still syncs customers), its other parents are skipped.
            result.child_errors.setdefault(child.name, error)
            return
        if not child.embedded:
            self.sink.children_listed(child.name, parent_key)


def embedded_children(table: StripeTable) -> dict[str, str]:
    """Embedded list field -> child table, for the children a page of `table` carries."""
    return {child.field: child.name for child in table.children if child.field}


def _spans(windows: list[Window]) -> list[Window]:
    """One window per run of consecutive windows (in time order)."""
    spans: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if spans and spans[-1].end == window.start:
            last = spans[-1]
            spans[-1] = Window(last.start, window.end, last.partitions + window.partitions)
        else:
            spans.append(window)
    return spans


def list_children(
    access: StripeAccess,
    child: ChildTable,
    parent_id: str,
    stats: RequestStats,
    *,
    parent: Mapping[str, Any] | None = None,
    paced: bool = False,
) -> Iterator[Fetched[PageMeta]]:
    """Every page of a parent's children from the child endpoint, from the first: the endpoint
    need not list them in the embedded list's order (subscription items come newest first),
    so continuing after the last embedded entry could skip some. Entries seen twice merge.
    `parent`: its payload (or the fields its list page was read for), when the endpoint is
    asked with more than the parent's id."""
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_LIMIT, **child.query(parent_id, parent or {})}
        if child.expand:
            params["expand"] = list(child.expand)
        if cursor:
            params["starting_after"] = cursor
        fetched = access.fetch(
            child.path.format(id=parent_id), params, stats, parse=read_page, paced=paced
        )
        paced = False  # the scheduler paced the first page only
        meta = fetched.data
        stats.add(pages=1, objects=len(meta))
        if meta.ids:
            yield fetched
        if not meta.has_more or not meta.ids:
            return
        cursor = meta.ids[-1]
