"""Request, rate-limit, fault and delivery counters, served at `GET /_sandbox/counters`.

Tests and benchmarks assert on what the sandbox saw (how many requests a sync made, how many
429s it absorbed, whether a fault really happened), so every API request is counted once here.
Keys are recorded masked, paths as route templates (`/v1/customers/{id}`) so the counters stay
small however many objects are fetched. 429s are counted by `Stripe-Rate-Limited-Reason` and by
operation; the app-traffic load's outcomes are reported beside these (`app_traffic`).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Counters:
    """Thread-safe counters (requests come from the event loop, deliveries from threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.by_key: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.by_version: Counter[str] = Counter()  # the Stripe-Version header sent
            self.by_account: Counter[str] = Counter()  # the Stripe-Account header sent
            self.rate_limited = 0
            self.rate_limited_by_reason: Counter[str] = Counter()  # Stripe-Rate-Limited-Reason
            self.rate_limited_by_path: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.deliveries: Counter[str] = Counter()

    def request(
        self,
        key: str,
        route: str,
        status: int,
        version: str | None = None,
        account: str | None = None,
        reason: str | None = None,
    ) -> None:
        with self._lock:
            self.requests += 1
            self.by_key[key] += 1
            self.by_path[route] += 1
            self.by_status[str(status)] += 1
            self.by_version[version or "(none)"] += 1
            self.by_account[account or "(none)"] += 1
            if status == 429:
                self.rate_limited += 1
                self.rate_limited_by_reason[reason or "(none)"] += 1
                self.rate_limited_by_path[route] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def delivery(self, outcome: str, count: int = 1) -> None:
        with self._lock:
            self.deliveries[outcome] += count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_key": dict(self.by_key),
                "by_path": dict(self.by_path),
                "by_status": dict(self.by_status),
                "by_version": dict(self.by_version),
                "by_account": dict(self.by_account),
                "rate_limited": self.rate_limited,
                "rate_limited_by_reason": dict(self.rate_limited_by_reason),
                "rate_limited_by_path": dict(self.rate_limited_by_path),
                "faults": dict(self.faults),
                "deliveries": dict(self.deliveries),
            }
