"""Worker threads that send whichever request may go now, so no limit sits idle.

A sync keeps many requests queued: the next pages of dozens of windows over a dozen tables.
With one first-in-first-out queue, workers would take the next pages of the biggest table,
block on its operation's limit (25 req/s) and leave the global budget unused while other tables
wait behind them. Here tasks queue per operation, and a free worker takes the next task of an
operation whose limit and the global one both have a token, in turn over the operations that do
(so small tables are not starved by a big one). The tokens are taken for the task: its first
request is sent at once (`fetch(..., paced=True)`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from revenue_assets.stripe_api.ratelimit import Pacer

Task = tuple[Callable[..., None], tuple[Any, ...]]


class PacedPool:
    """`submit(operation, fn, *args)`; `fn` runs on a worker once `operation` may send."""

    def __init__(self, pacer: Pacer, workers: int, name: str = "stripe-list") -> None:
        self.pacer = pacer
        self._queues: dict[str, deque[Task]] = {}
        self._order: deque[str] = deque()  # operations with queued tasks, in turn
        self._condition = threading.Condition()
        self._closed = False
        self._timed = False  # one idle worker watches the clock, the others sleep until woken
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, operation: str, fn: Callable[..., None], *args: Any) -> None:
        with self._condition:
            queue = self._queues.get(operation)
            if queue is None:
                queue = self._queues[operation] = deque()
            if not queue:
                self._order.append(operation)
            queue.append((fn, args))
            self._condition.notify()

    def close(self) -> None:
        """Run what is queued, then stop the workers."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> PacedPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(self) -> None:
        while True:
            task = self._next()
            if task is None:
                return
            fn, args = task
            fn(*args)

    def _next(self) -> Task | None:
        """The next task whose operation may send now (its tokens taken), None at the end."""
        with self._condition:
            while True:
                if not self._order:
                    if self._closed:
                        return None
                    self._condition.wait()
                    continue
                now = time.monotonic()
                soonest = float("inf")
                for _ in range(len(self._order)):
                    operation = self._order[0]
                    self._order.rotate(-1)
                    wait = self.pacer.try_acquire(operation, now)
                    if wait <= 0.0:
                        queue = self._queues[operation]
                        task = queue.popleft()
                        if not queue:
                            self._order.remove(operation)
                        if self._order:
                            self._condition.notify()  # the next one to watch the clock
                        elif self._closed:
                            self._condition.notify_all()  # nothing left: let them all stop
                        return task
                    soonest = min(soonest, wait)
                if self._timed:
                    self._condition.wait()
                    continue
                self._timed = True
                try:
                    self._condition.wait(timeout=soonest)
                finally:
                    self._timed = False
