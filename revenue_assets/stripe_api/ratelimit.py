"""Pacing shared by every concurrent request of the process.

Stripe allows 100 requests per second per account in live mode and 25 in test mode, and each
named operation (`GET /v1/charges`, `GET /v1/invoices/{id}/lines`) has a stricter limit of its
own, 25 requests per second unless Stripe raised it. A sync that sends requests from dozens of
threads must stay under both together, otherwise it spends its time in 429 back-offs, and it
shares the account's budget with the account's own app, so it must give way when that app is
busy. `Pacer` spaces requests evenly at both levels (token buckets with a small burst) and
yields on 429s (AIMD): the server's budget is shared, so one thread's 429 is every thread's
signal.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass


class ConcurrencyGate:
    """Caps requests in flight near what the rate limit can use: rate x latency (Little's law).

    With 300 ms per request, 100 req/s needs ~30 in flight; with fast answers, a handful. More
    threads than that only contend for the GIL: CPU spent, no throughput gained. Latency is
    measured as requests complete (a moving average), so the cap follows the network.
    """

    def __init__(self, rate: float, maximum: int, minimum: int = 4) -> None:
        self.rate = rate
        self.maximum = max(1, maximum)
        self.minimum = min(minimum, self.maximum)
        self._latency = 0.0
        self._in_flight = 0
        self._condition = threading.Condition()

    @property
    def limit(self) -> int:
        return self.wanted(self.rate)

    @property
    def latency(self) -> float:
        """The moving average of request latency, in seconds (0 before the first answer)."""
        return self._latency

    def wanted(self, rate: float) -> int:
        """Requests in flight that keep `rate` requests per second busy, with a margin."""
        wanted = int(rate * self._latency * 1.5) + 2
        return max(self.minimum, min(self.maximum, wanted))

    def acquire(self) -> None:
        with self._condition:
            while self._in_flight >= self.limit:
                self._condition.wait()
            self._in_flight += 1

    def release(self, latency_s: float | None) -> None:
        """One request done; `latency_s` (None when it failed early) feeds the average."""
        with self._condition:
            self._in_flight -= 1
            if latency_s is not None:
                self._latency = (
                    latency_s if not self._latency else 0.9 * self._latency + 0.1 * latency_s
                )
            self._condition.notify_all()


def operation_of(path: str, method: str = "GET") -> str:
    """The operation a request belongs to, as Stripe counts endpoints: ids become `{id}`, so
    `/v1/invoices/in_1/lines` and `/v1/invoices/in_2/lines` share `GET /v1/invoices/{id}/lines`."""
    parts = path.strip("/").split("/")
    if parts and parts[0] == "v1":
        parts = parts[1:]
    label = ["/v1", *parts[:1]]
    if len(parts) >= 2:
        label.append("{id}")
    label.extend(parts[2:])
    return f"{method} {'/'.join(label)}"


@dataclass(frozen=True)
class OperationLimits:
    """Requests per second per operation: a default (None: no limit of our own) and
    overrides for accounts whose limits Stripe raised, e.g. `25,GET /v1/charges=50`."""

    default: float | None = 25.0
    overrides: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str | float | None) -> OperationLimits:
        """`off`, `N`, or `N,OPERATION=M,...`; ValueError with what is wrong."""
        if spec is None:
            return cls()
        if isinstance(spec, int | float):
            if spec < 0:
                raise ValueError(f"{spec:g} is negative")
            return cls(float(spec) or None)
        default: float | None = cls.default
        overrides: list[tuple[str, float]] = []
        for part in str(spec).split(","):
            text = part.strip()
            if not text:
                continue
            if text.lower() == "off":
                default = None
                continue
            operation, sep, rate_text = text.rpartition("=")
            try:
                rate = float(rate_text)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a number of requests per second, 'off', or "
                    "OPERATION=N (e.g. GET /v1/charges=50)"
                ) from None
            if rate < 0:
                raise ValueError(f"{text!r} is negative")
            if not sep:
                default = rate or None
                continue
            method, _, path = operation.strip().partition(" ")
            if method not in ("GET", "POST", "DELETE") or not path.strip().startswith("/v1/"):
                raise ValueError(
                    f"{operation.strip()!r} is not an operation: write the method and the path "
                    "with ids as {id}, e.g. 'GET /v1/charges' or 'GET /v1/invoices/{id}/lines'"
                )
            overrides.append((f"{method} {path.strip()}", rate))
        return cls(default, tuple(overrides))

    def rate_for(self, operation: str) -> float | None:
        for name, rate in self.overrides:
            if name == operation:
                return rate or None
        return self.default

    def __str__(self) -> str:
        parts = [f"{self.default:g}" if self.default else "off"]
        return ",".join(parts + [f"{name}={rate:g}" for name, rate in self.overrides])


class _Bucket:
    """A token bucket whose rate shrinks on 429s and grows back (AIMD) up to its ceiling."""

    __slots__ = ("capacity_s", "ceiling", "held_until", "rate", "tokens", "updated")

    def __init__(self, rate: float, now: float, burst_s: float) -> None:
        self.ceiling = rate
        self.rate = rate
        self.capacity_s = burst_s
        self.tokens = self.capacity
        self.updated = now
        self.held_until = 0.0

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate * self.capacity_s)

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        if self.rate < self.ceiling and now >= self.held_until:
            # Additive increase: the whole ceiling back within RECOVERY_S of steady success.
            self.rate = min(self.ceiling, self.rate + elapsed * self.ceiling / RECOVERY_S)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def wait(self) -> float:
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate

    def decrease(self, now: float, hold_s: float) -> bool:
        """Multiplicative decrease, once per `hold_s` (the requests already in flight at the
        old rate answer 429 too; they are not news). True when the rate changed."""
        if now < self.held_until:
            return False
        self.refill(now)
        self.rate = max(MIN_RATE, self.rate * DECREASE)
        self.tokens = min(self.tokens, 0.0)
        self.held_until = now + hold_s
        return True


MIN_RATE = 0.5  # requests per second: the slowest a 429 storm brings us to
DECREASE = 0.5  # a 429 halves the rate of the limiter it names
RECOVERY_S = 10.0  # from zero to the ceiling by additive increase (half of it in 5 s)


@dataclass
class PacingStats:
    """What pacing did over a run: the figures of the run's metadata and the CLI summary."""

    requests: int
    rate_limited: int
    rate_limited_by_reason: dict[str, int]
    rate_limited_by_operation: dict[str, int]
    wait_s: float
    seconds: float
    rate: float  # the configured global rate
    lowest_rate: float  # the lowest global rate AIMD went down to

    @property
    def effective_rate(self) -> float:
        """Requests per second actually sent, from the first to the last."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class Pacer:
    """Two levels of token buckets: the account's global budget and each operation's own.

    Stripe counts every request against the account's global limit and its operation's
    limit (25 req/s unless raised), so a request waits for a token of both. A 429 halves the
    rate of the limiter its `Stripe-Rate-Limited-Reason` names (the operation's for
    `endpoint-*`, the global one otherwise: someone else, such as the account's own app, is
    using the budget), and the rate grows back additively while requests succeed.
    """

    def __init__(
        self,
        rate: float,
        operations: OperationLimits | None = None,
        *,
        burst_s: float = 0.05,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.operations = operations or OperationLimits()
        self._burst_s = burst_s
        now = time.monotonic()
        self._global = _Bucket(rate, now, burst_s)
        self._buckets: dict[str, _Bucket | None] = {}
        self._lock = threading.Lock()
        self._hold_s = 0.5
        self._requests = 0
        self._first: float | None = None
        self._last = 0.0
        self._wait_s = 0.0
        self._lowest = rate
        self._by_reason: Counter[str] = Counter()
        self._by_operation: Counter[str] = Counter()

    def operation_rate(self, operation: str) -> float:
        """The pace one operation may reach: its own limit, or the global one."""
        limit = self.operations.rate_for(operation)
        return min(self.rate, limit) if limit else self.rate

    def try_acquire(self, operation: str, now: float | None = None) -> float:
        """Take a token of both buckets if both have one (0.0); else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._bucket(operation, now)
            self._global.refill(now)
            wait = self._global.wait()
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.wait())
            if wait > 0.0:
                return wait
            self._global.tokens -= 1.0
            if bucket is not None:
                bucket.tokens -= 1.0
            self._requests += 1
            self._first = now if self._first is None else self._first
            self._last = now
            return 0.0

    def acquire(self, operation: str) -> float:
        """Block until a request of `operation` may be sent; the seconds waited."""
        waited = 0.0
        while True:
            delay = self.try_acquire(operation)
            if delay <= 0.0:
                if waited:
                    with self._lock:
                        self._wait_s += waited
                return waited
            time.sleep(delay)
            waited += delay

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self._wait_s += seconds

    def set_latency(self, latency_s: float) -> None:
        """Requests in flight when a 429 comes back were sent before it: ignore their 429s
        for about two round trips before shrinking again."""
        self._hold_s = max(0.25, 2.0 * latency_s)

    def rate_limited(self, operation: str, reason: str | None) -> None:
        """Stripe said 429 for `operation`: yield (AIMD decrease of the limiter it names)."""
        now = time.monotonic()
        with self._lock:
            self._by_reason[reason or "unknown"] += 1
            self._by_operation[operation] += 1
            bucket = self._bucket(operation, now) if (reason or "").startswith("endpoint") else None
            target = bucket or self._global
            target.decrease(now, self._hold_s)
            self._lowest = min(self._lowest, self._global.rate)

    def current_rate(self) -> float:
        with self._lock:
            return self._global.rate

    def stats(self) -> PacingStats:
        with self._lock:
            seconds = self._last - self._first if self._first is not None else 0.0
            return PacingStats(
                requests=self._requests,
                rate_limited=sum(self._by_reason.values()),
                rate_limited_by_reason=dict(self._by_reason),
                rate_limited_by_operation=dict(self._by_operation),
                wait_s=self._wait_s,
                seconds=seconds,
                rate=self.rate,
                lowest_rate=self._lowest,
            )

    def _bucket(self, operation: str, now: float) -> _Bucket | None:
        """The operation's bucket (None: only the global limit applies), made on first use."""
        if operation not in self._buckets:
            limit = self.operations.rate_for(operation)
            self._buckets[operation] = (
                _Bucket(limit, now, self._burst_s) if limit and limit < self.rate else None
            )
        return self._buckets[operation]
