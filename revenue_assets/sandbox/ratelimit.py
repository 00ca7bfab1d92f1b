"""Stripe's request rate limit, per API key, as a token bucket.

Stripe allows about 100 read requests per second in live mode and 25 in test mode, and answers
the excess with 429 and a `Stripe-Rate-Limited-Reason` header. A sync that does not back off
fails whole imports on real accounts, so the sandbox must be able to say no at a known rate.
Policies: `off` (no limit: tests and benchmarks), `auto` (the preset of each key's mode),
`live` (100/s), `test` (25/s) or a number of requests per second. The bucket holds one second
of requests, which is the burst Stripe tolerates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

PRESETS: dict[str, float] = {"live": 100.0, "test": 25.0}

RATE_LIMITED_BODY = (
    b'{"error":{"code":"rate_limit","message":"Request rate limit exceeded. Learn more about '
    b'rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error",'
    b'"doc_url":"https://stripe.com/docs/error-codes/rate-limit"}}'
)
RATE_LIMITED_REASON = "global-rate"


@dataclass(frozen=True)
class RatePolicy:
    """What limit applies: none, the key's mode preset (`auto`), or a fixed rate."""

    mode: str  # "off" | "auto" | "fixed"
    rate: float = 0.0

    @classmethod
    def parse(cls, spec: str | float | int | RatePolicy | None) -> RatePolicy:
        """`None`/`off`, `auto`, `live`, `test` or a positive number of requests per second."""
        if isinstance(spec, RatePolicy):
            return spec
        if spec is None:
            return cls("off")
        if isinstance(spec, int | float):
            return cls._fixed(float(spec))
        text = str(spec).strip().lower()
        if text in ("", "off", "none", "0"):
            return cls("off")
        if text == "auto":
            return cls("auto")
        if text in PRESETS:
            return cls("fixed", PRESETS[text])
        try:
            return cls._fixed(float(text))
        except ValueError:
            raise ValueError(
                f"invalid rate limit {spec!r}: use off, auto, live, test or requests per second"
            ) from None

    @classmethod
    def _fixed(cls, rate: float) -> RatePolicy:
        if rate <= 0:
            return cls("off")
        return cls("fixed", rate)

    def rate_for(self, livemode: bool) -> float | None:
        if self.mode == "off":
            return None
        if self.mode == "auto":
            return PRESETS["live" if livemode else "test"]
        return self.rate

    def describe(self) -> str:
        if self.mode == "fixed":
            return f"{self.rate:g} req/s per key"
        if self.mode == "auto":
            return "live keys 100 req/s, test keys 25 req/s"
        return "off"


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)  # one second of requests, at least one request
        self.tokens = self.capacity
        self.stamp = now


class RateLimiter:
    """One token bucket per key; `allow` is called once per API request."""

    def __init__(self, policy: str | float | RatePolicy | None = None) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self.policy = RatePolicy.parse(policy)

    def configure(self, policy: str | float | RatePolicy | None) -> None:
        """Change the policy at runtime; buckets start full at the new rate."""
        with self._lock:
            self.policy = RatePolicy.parse(policy)
            self._buckets.clear()

    def allow(self, key: str, livemode: bool, now: float | None = None) -> bool:
        rate = self.policy.rate_for(livemode)
        if rate is None:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[key] = _Bucket(rate, now)
            bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True
            return False
