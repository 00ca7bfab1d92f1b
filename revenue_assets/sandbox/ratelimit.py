"""Stripe's request rate limits, as token buckets: a global one per API key and one per
operation.

Stripe allows about 100 requests per second in live mode and 25 in test mode (the global
limit), and every named operation (`GET /v1/charges`, `GET /v1/invoices/{id}/lines`, ...) has
its own stricter limit, 25 requests per second unless raised for the account. A request counts
against both. The excess gets 429 and a `Stripe-Rate-Limited-Reason` header saying which limit
it hit: `global-rate` or `endpoint-rate`. A client that paces only the global limit earns
429s for three requests in four when it lists one table at 100 req/s, so the sandbox must be
able to say no at both levels, at known rates.

Global policies: `off` (no limit: tests and benchmarks), `auto` (the preset of each key's mode),
`live` (100/s), `test` (25/s) or a number of requests per second. Endpoint policies: `off`, or a
default rate with optional per-operation overrides, `25,GET /v1/charges=50`. Each bucket holds
one second of requests, which is the burst Stripe tolerates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

PRESETS: dict[str, float] = {"live": 100.0, "test": 25.0}

RATE_LIMITED_BODY = (
    b'{"error":{"code":"rate_limit","message":"Request rate limit exceeded. Learn more about '
    b'rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error",'
    b'"doc_url":"https://stripe.com/docs/error-codes/rate-limit"}}'
)
# The values of Stripe-Rate-Limited-Reason for the two limiters modelled here.
GLOBAL_RATE = "global-rate"
ENDPOINT_RATE = "endpoint-rate"


@dataclass(frozen=True)
class RatePolicy:
    """What global limit applies: none, the key's mode preset (`auto`), or a fixed rate."""

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


@dataclass(frozen=True)
class EndpointPolicy:
    """Per-operation limits: a default rate (None: off) and overrides by operation, named as
    the counters name routes (`GET /v1/invoices/{id}/lines`)."""

    default: float | None = None
    overrides: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str | float | int | EndpointPolicy | None) -> EndpointPolicy:
        """`off`, `N`, or `N,OPERATION=M,...` (e.g. `25,GET /v1/charges=50`)."""
        if isinstance(spec, EndpointPolicy):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, int | float):
            return cls(float(spec) if spec > 0 else None)
        default: float | None = None
        overrides: list[tuple[str, float]] = []
        for part in str(spec).split(","):
            text = part.strip()
            if not text:
                continue
            operation, sep, rate_text = text.rpartition("=")
            if text.lower() in ("off", "none"):
                default = None
                continue
            try:
                rate = float(rate_text)
            except ValueError:
                raise ValueError(
                    f"invalid endpoint limit {part!r}: use off, N or OPERATION=N "
                    "(e.g. 25,GET /v1/charges=50)"
                ) from None
            if rate < 0:
                raise ValueError(f"endpoint limit {part!r} must not be negative")
            if sep:
                method, _, path = operation.strip().partition(" ")
                if method.upper() not in ("GET", "POST", "DELETE") or not path.startswith("/v1/"):
                    raise ValueError(
                        f"invalid operation {operation.strip()!r}: expected e.g. "
                        "'GET /v1/charges' or 'GET /v1/invoices/{id}/lines'"
                    )
                overrides.append((f"{method.upper()} {path.strip()}", rate))
            else:
                default = rate or None
        return cls(default, tuple(overrides))

    def rate_for(self, operation: str) -> float | None:
        for name, rate in self.overrides:
            if name == operation:
                return rate or None
        return self.default

    def describe(self) -> str:
        parts = [f"{self.default:g} req/s per operation" if self.default else "off"]
        parts += [f"{name} {rate:g} req/s" for name, rate in self.overrides]
        return ", ".join(parts)


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)  # one second of requests, at least one request
        self.tokens = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


def _take(buckets: dict[Any, _Bucket], slot: Any, rate: float, now: float) -> bool:
    """Take a token from the slot's bucket, if it holds one. A bucket starts full, and starts
    again full when the slot's rate has changed."""
    bucket = buckets.get(slot)
    if bucket is None or bucket.rate != rate:
        bucket = buckets[slot] = _Bucket(rate, now)
    bucket.refill(now)
    if bucket.tokens < 1.0:
        return False
    bucket.tokens -= 1.0
    return True


class RateLimiter:
    """Global buckets per key and endpoint buckets per (key, operation); `check` or `allow` is
    called once per API request."""

    def __init__(
        self,
        policy: str | float | RatePolicy | None = None,
        endpoints: str | float | EndpointPolicy | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._endpoint_buckets: dict[tuple[str, str], _Bucket] = {}
        self.policy = RatePolicy.parse(policy)
        self.endpoints = EndpointPolicy.parse(endpoints)

    def configure(
        self,
        policy: str | float | RatePolicy | None = None,
        endpoints: str | float | EndpointPolicy | None = None,
    ) -> None:
        """Change the global and/or endpoint policy at runtime (None leaves one unchanged);
        buckets start full at the new rates."""
        with self._lock:
            if policy is not None:
                self.policy = RatePolicy.parse(policy)
                self._buckets.clear()
            if endpoints is not None:
                self.endpoints = EndpointPolicy.parse(endpoints)
                self._endpoint_buckets.clear()

    def allow(self, key: str, livemode: bool, now: float | None = None) -> bool:
        """Whether the global limit lets this request through (the operation unknown)."""
        return self.check(key, livemode, None, now) is None

    def check(
        self, key: str, livemode: bool, operation: str | None, now: float | None = None
    ) -> str | None:
        """None if the request may go on, else the `Stripe-Rate-Limited-Reason` to answer.

        The global bucket is asked first: a request refused by its operation's limit has
        still counted against the global one, as on Stripe."""
        rate = self.policy.rate_for(livemode)
        endpoint_rate = self.endpoints.rate_for(operation) if operation else None
        if rate is None and endpoint_rate is None:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            if rate is not None and not _take(self._buckets, key, rate, now):
                return GLOBAL_RATE
            if (
                endpoint_rate is not None
                and operation is not None
                and not _take(self._endpoint_buckets, (key, operation), endpoint_rate, now)
            ):
                return ENDPOINT_RATE
        return None

    def describe(self) -> dict[str, str]:
        return {"rate_limit": self.policy.describe(), "endpoint_limit": self.endpoints.describe()}
