"""Group commit: the receiver's single writer thread.

Each request hands its parsed event to this thread and awaits the outcome. The thread takes
everything queued since its last commit (up to `max_batch`) and stores it in one transaction,
so a burst of N concurrent deliveries costs one fsync instead of N, and a request is answered
200 only once the transaction holding its event has committed (synchronous=FULL, statedb.py).

SQLite allows one writer anyway, so one thread loses nothing, and it keeps the event loop free
of blocking I/O. When a commit fails (the file is locked past busy_timeout, read-only, on a full
disk, or damaged), every request of that batch is told so and answers 503; Stripe retries later.
The connection is then reopened for the next batch, so fixing the file heals the receiver
without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from revenue_assets.state.events import EventRow
from revenue_assets.state.store import SIGNATURE_STREAK, StateStore

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The event could not be stored durably (the request must not be acknowledged)."""


@dataclass
class _Item:
    row: EventRow
    payload: bytes
    future: asyncio.Future[bool]
    loop: asyncio.AbstractEventLoop


@dataclass
class WriterStatus:
    """What /healthz reports: in memory, so it works when the file does not."""

    stored: int = 0
    duplicates: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None
    healthy: bool = True
    events_in_batches: int = 0  # duplicates included: batches' mean size is this / batches
    max_batch: int = 0
    commit_seconds: float = 0.0  # time in successful store transactions, fsync included
    max_commit_seconds: float = 0.0


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_exception(StoreUnavailable("the inbox did not commit in time"))


class GroupCommitWriter:
    """Stores events from many requests in shared transactions, on one thread."""

    def __init__(self, open_inbox: Callable[[], StateStore], *, max_batch: int = 1000) -> None:
        self._open_inbox = open_inbox
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | dict[str, int] | None] = queue.SimpleQueue()
        self._inbox: StateStore | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.status = WriterStatus()

    def start(self) -> None:
        """Open the inbox (a failure is logged: requests then answer 503) and start the thread."""
        try:
            self._inbox = self._open_inbox()
        except Exception as error:
            self._failed(error)
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Finish what is queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._inbox is not None:
            self._inbox.close()

    async def submit(self, row: EventRow, payload: bytes, *, timeout_s: float = 60.0) -> bool:
        """Store one event; True if new. Raises StoreUnavailable if it could not be stored,
        or not within `timeout_s` (then it may still be stored: Stripe's retry is a duplicate,
        which the inbox ignores)."""
        if self._closed:
            raise StoreUnavailable("the receiver is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put(_Item(row, payload, future, loop))
        # A timer, not asyncio.wait_for: that would create a task per request on the hot path.
        timer = loop.call_later(timeout_s, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    def bump(self, name: str, increment: int = 1) -> None:
        """Count something (a signature failure, ...) in the next transaction; not awaited."""
        if not self._closed:
            self._queue.put({name: increment})

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
        # Anything queued after the stop marker raced with close(): refuse it, never drop it.
        leftovers: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Item):
                leftovers.append(item)
        self._resolve(leftovers, None, StoreUnavailable("the receiver is shutting down"))

    def _commit(self, batch: list[_Item | dict[str, int] | None]) -> None:
        items = [item for item in batch if isinstance(item, _Item)]
        counters: dict[str, int] = {}
        for item in batch:
            if isinstance(item, _Item):
                # Storing it resets the failure streak: only failures queued after it count.
                counters.pop(SIGNATURE_STREAK, None)
            elif item is not None:
                for name, increment in item.items():
                    counters[name] = counters.get(name, 0) + increment
        started = time.perf_counter()
        try:
            if self._inbox is None:
                self._inbox = self._open_inbox()
            results = self._inbox.store(
                [(item.row, item.payload) for item in items], "webhook", counters=counters
            )
        except Exception as error:
            self._failed(error)
            if self._inbox is not None:  # reopen next time: the problem may be fixed by then
                self._inbox.close()
                self._inbox = None
            failure = StoreUnavailable(str(error))
            self._resolve(items, None, failure)
            return
        elapsed = time.perf_counter() - started
        status = self.status
        status.batches += 1
        status.events_in_batches += len(items)
        status.max_batch = max(status.max_batch, len(items))
        status.commit_seconds += elapsed
        status.max_commit_seconds = max(status.max_commit_seconds, elapsed)
        status.stored += sum(results)
        status.duplicates += len(results) - sum(results)
        status.last_success_at = time.time()
        status.healthy = True
        self._resolve(items, results, None)

    def _failed(self, error: Exception) -> None:
        status = self.status
        status.failures += 1
        status.healthy = False
        status.last_error = f"{type(error).__name__}: {error}"
        status.last_error_at = time.time()
        log.error("cannot store events in the inbox: %s", status.last_error)

    @staticmethod
    def _resolve(items: list[_Item], results: list[bool] | None, error: Exception | None) -> None:
        """Wake the waiting requests: one call into each event loop per batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Item, bool]]] = {}
        for position, item in enumerate(items):
            outcome = results[position] if results is not None else False
            by_loop.setdefault(item.loop, []).append((item, outcome))

        def settle(pairs: list[tuple[_Item, bool]]) -> None:
            for item, outcome in pairs:
                if item.future.done():  # the request went away
                    continue
                if error is not None:
                    item.future.set_exception(error)
                else:
                    item.future.set_result(outcome)

        for loop, pairs in by_loop.items():
            # RuntimeError: the loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, pairs)
