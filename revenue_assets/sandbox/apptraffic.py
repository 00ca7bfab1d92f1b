"""The account owner's own production traffic, as a steady load on the same rate limits.

A sync shares the account's budget with the app that uses it: checkout creating payment
intents, pages reading customers and subscriptions. Whether a sync leaves that app enough room
is the question, so the sandbox can play the app: `rate` requests per second (Poisson arrivals,
as independent users make them) spread over a few operations a SaaS backend calls, each counted
against the same limiter as the API, with the live secret key. A refused request is not retried
(a user saw the error); the load's own outcomes are counted apart from the API's, so tests
that count a sync's requests are not disturbed by it.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

# What a SaaS backend calls while users are active (none of it a list a sync uses).
OPERATIONS = (
    "GET /v1/customers/{id}",
    "GET /v1/subscriptions/{id}",
    "POST /v1/payment_intents",
    "GET /v1/invoices/{id}",
)
MAX_CATCH_UP_S = 0.25  # after a stall, at most this much of the backlog is sent at once


class AppTraffic:
    """A background thread sending `rate` requests per second through `check` (0: idle)."""

    def __init__(
        self,
        check: Callable[[str], str | None],
        rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """`check(operation)` asks the limiter; it returns None or the 429 reason."""
        self._check = check
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rate = 0.0
        self.reset()
        self.configure(rate)

    def configure(self, rate: float) -> None:
        """Change the load at runtime; starts the thread the first time it is non-zero."""
        rate = float(rate)
        if rate < 0:
            raise ValueError(f"app traffic must be >= 0 requests per second, got {rate:g}")
        self.rate = rate
        if rate > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sandbox-app", daemon=True)
            self._thread.start()
        self._wake.set()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.rate_limited = 0
            self.by_reason: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.started = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rate": self.rate,
                "requests": self.requests,
                "rate_limited": self.rate_limited,
                "rate_limited_share": self.rate_limited / self.requests if self.requests else 0.0,
                "by_reason": dict(self.by_reason),
                "by_path": dict(self.by_path),
                "seconds": round(time.monotonic() - self.started, 3),
            }

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            rate = self.rate
            if rate <= 0:
                self._wake.wait()
                self._wake.clear()
                due = time.monotonic()
                continue
            due += self._random.expovariate(rate)
            now = time.monotonic()
            if due > now:
                if self._wake.wait(due - now):  # reconfigured: restart the arrivals
                    self._wake.clear()
                    due = time.monotonic()
                    continue
            elif now - due > MAX_CATCH_UP_S:
                due = now - MAX_CATCH_UP_S
            self._send(self._random.choice(OPERATIONS))

    def _send(self, operation: str) -> None:
        reason = self._check(operation)
        with self._lock:
            self.requests += 1
            self.by_path[operation] += 1
            if reason is not None:
                self.rate_limited += 1
                self.by_reason[reason] += 1
