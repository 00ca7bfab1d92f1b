"""Advancing one customer's clock: the story's timed actions interleaved with what the billing
engine says is due (renewals, trial ends, scheduled cancellations), so history is made by the
same engine as live changes."""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Callable

from revenue_assets.sandbox import billing
from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.ledger import MemoryLedger


class Agenda:
    """Timed actions of one story, replayed in time order against the ledger's due renewals."""

    def __init__(self, ledger: MemoryLedger, now: int) -> None:
        self.ledger = ledger
        self.now = now
        self._actions: list[tuple[int, int, Callable[[], None]]] = []
        self._counter = itertools.count()

    def at(self, when: int, action: Callable[[], None]) -> None:
        """Schedule `action` at `when`; what falls after the clock never happens."""
        if when <= self.now:
            heapq.heappush(self._actions, (when, next(self._counter), action))

    def run(self) -> None:
        """Move the ledger's clock to the clock's time, doing whatever is due first."""
        ledger = self.ledger
        now = self.now
        while True:
            next_action = self._actions[0][0] if self._actions else now + 1
            due_key, due_at = None, now + 1
            for key, when in ledger.due.items():
                if when < due_at:
                    due_key, due_at = key, when
            when = min(next_action, due_at)
            if when > now:
                return
            ledger.now = max(ledger.now, when)
            if due_key is not None and due_at <= next_action:
                subscription = ledger.get(due_key)
                assert subscription is not None
                billing.step(ledger, subscription)
            else:
                # A story step Stripe would refuse (e.g. crediting more than was paid after a
                # customer credit) simply does not happen.
                with contextlib.suppress(SandboxError):
                    heapq.heappop(self._actions)[2]()
