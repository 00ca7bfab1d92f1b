"""One rate limiter shared by every concurrent request of the process.

Stripe allows 100 read requests per second in live mode and 25 in test mode (DESIGN §7). A sync
that sends requests from dozens of threads must stay under that ceiling together, otherwise it
spends its time in 429 back-offs. The limiter spaces requests evenly (a token bucket with a small
burst) and backs off for everyone when Stripe says 429 anyway: the server's budget is shared,
so one thread's 429 is every thread's signal.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """A thread-safe token bucket: `acquire()` blocks until a request may be sent."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        # A burst of ~5% of a second keeps the average at the limit without clumping requests
        # that a server-side bucket would count together.
        self.capacity = burst if burst is not None else max(1.0, rate * 0.05)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a token. Returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                if now >= self._paused_until:
                    self._tokens = min(
                        self.capacity, self._tokens + (now - self._updated) * self.rate
                    )
                    self._updated = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return waited
                    delay = (1.0 - self._tokens) / self.rate
                else:
                    delay = self._paused_until - now
            time.sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (after a 429) and restart with an empty bucket."""
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._tokens = 0.0
                self._updated = until


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
        wanted = int(self.rate * self._latency * 1.5) + 2
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
