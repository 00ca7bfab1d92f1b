"""Stripe requests through the official SDK, with the retries and rate limiting a sync needs.

The hot path asks the SDK's requestor for the raw response and parses it with orjson: the SDK's
`StripeObject` conversion costs several times the CPU of the request itself, and a first sync
moves hundreds of thousands of objects. The SDK still builds every request (auth, the pinned
`Stripe-Version`, `Stripe-Account`, encoding of nested parameters) and maps error bodies to its
exception types.

Retries: the SDK never retries a 429, so we do: a 429 makes the pacer yield (it halves the rate
of the limiter Stripe names, see ratelimit.py) and the request is retried after a short jittered
delay, for as long as a sync needs (a sync never fails on 429; a sensor gives up after a
budget); 5xx, 409, connection resets and truncated or malformed
bodies a bounded number of times. 401 and 403 are final and raise errors that say what to do.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import orjson
import stripe

from revenue_assets.catalog.keys import mask_key
from revenue_assets.stripe_api.errors import (
    StripeAuthenticationError,
    StripePermissionError,
    StripeRequestError,
    StripeUnavailableError,
)
from revenue_assets.stripe_api.ratelimit import (
    ConcurrencyGate,
    OperationLimits,
    Pacer,
    operation_of,
)
from revenue_assets.stripe_api.transport import Urllib3Client

T = TypeVar("T")
_PERMISSION_PATTERN = re.compile(r"Having the '([a-z_]+)' permission")
_RETRYABLE_STATUS = frozenset({409, 500, 502, 503, 504})


@dataclass
class RequestStats:
    """Counters of one table's requests (thread-safe). They become Dagster metadata."""

    calls: int = 0
    pages: int = 0
    objects: int = 0
    rate_limited: int = 0
    retries: int = 0
    bytes: int = 0
    throttle_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: float) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "pages": self.pages,
            "objects": self.objects,
            "rate_limited": self.rate_limited,
            "retries": self.retries,
            "bytes": self.bytes,
            "throttle_seconds": round(self.throttle_seconds, 3),
        }


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. 429s get a time budget; other transient failures a count."""

    max_attempts: int = 10  # 5xx, 409, resets, truncated bodies
    rate_limited_budget_s: float | None = None  # None: a sync never gives up on 429
    base_delay_s: float = 0.25
    max_delay_s: float = 20.0

    def delay(self, attempt: int) -> float:
        """Exponential back-off with full jitter (attempt counts from 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A response as parsed, its raw body, and Stripe's clock when it answered.

    Snapshots are versioned on Stripe's clock (the `Date` header), the same clock as an event's
    `created`: a list fetched after an event wins over it and vice versa, whatever our own
    clock's skew. Our clock stands in only when the header is missing.
    """

    data: T
    server_time: float
    body: memoryview


def parse_json(body: memoryview) -> dict[str, Any]:
    return orjson.loads(body)


def parse_list(body: memoryview) -> dict[str, Any]:
    data = orjson.loads(body)
    if not _is_list(data):
        raise ValueError("not a list object")
    return data


class StripeAccess:
    """Read access to one Stripe account, shared by every thread of a sync."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = "https://api.stripe.com",
        account_id: str | None = None,
        rate_limit: float = 25.0,
        operation_limits: OperationLimits | str | None = None,
        max_in_flight: int = 64,
        timeout_s: float = 80.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        """`rate_limit`: our global budget (requests per second); `operation_limits`: each
        operation's own (25 req/s unless given, as Stripe's default endpoint limit)."""
        self._masked_key = mask_key(api_key)
        self.account_id = account_id
        if not isinstance(operation_limits, OperationLimits):
            operation_limits = OperationLimits.parse(operation_limits)
        self.pacer = Pacer(rate_limit, operation_limits)
        self.gate = ConcurrencyGate(rate_limit, max_in_flight)
        self.retry = retry or RetryPolicy()
        http_client = Urllib3Client(timeout_s=timeout_s, max_connections=max_in_flight)
        self._client = stripe.StripeClient(
            api_key,
            stripe_account=account_id,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=0,  # retries are ours: the SDK would not retry 429s
            http_client=http_client,
        )
        self.api_version = stripe.api_version

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        stats: RequestStats | None = None,
        *,
        expect_list: bool = False,
    ) -> dict[str, Any]:
        """GET a Stripe path and return the parsed JSON, retrying what is transient."""
        parse = parse_list if expect_list else parse_json
        return self.fetch(path, params, stats, parse=parse).data

    def fetch(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        stats: RequestStats | None = None,
        *,
        parse: Callable[[memoryview], T] = parse_json,  # type: ignore[assignment]
        paced: bool = False,
    ) -> Fetched[T]:
        """GET with the body read by `parse` (a ValueError means a truncated or malformed body:
        retried), the raw body, and Stripe's clock at the answer (a snapshot's version).
        `paced`: the caller already took the first request's tokens from the pacer."""
        stats = stats or RequestStats()
        operation = operation_of(path)
        failures = 0  # transient failures other than 429, bounded by max_attempts
        rate_limited = 0  # 429s, bounded by a time budget (if any) instead
        rate_limited_since: float | None = None
        while True:
            if paced:
                paced = False
                stats.add(calls=1)
            else:
                stats.add(throttle_seconds=self.pacer.acquire(operation), calls=1)
            failure: str
            try:
                body, status, headers = self._request(path, params)
            except stripe.APIConnectionError as error:
                failure = f"connection failed ({type(error).__name__})"
            else:
                if status == 200:
                    try:
                        data = parse(body)
                    except ValueError as error:
                        failure = f"truncated or malformed body ({error})"
                    else:
                        stats.add(bytes=len(body))
                        return Fetched(data, _server_time(headers), body)
                elif status == 429:
                    reason = headers.get("Stripe-Rate-Limited-Reason")
                    stats.add(rate_limited=1)
                    # Everyone yields: the pacer shrinks the rate of the limiter Stripe named.
                    self.pacer.rate_limited(operation, reason)
                    now = time.monotonic()
                    rate_limited_since = rate_limited_since or now
                    budget = self.retry.rate_limited_budget_s
                    if budget is not None and now - rate_limited_since > budget:
                        raise StripeUnavailableError(
                            f"GET {path}: Stripe kept answering 429 (rate limited, reason "
                            f"{reason or 'unknown'}) for {budget:.0f} s; lower "
                            "STRIPE_RATE_LIMIT or stop other clients of this account."
                        )
                    stats.add(retries=1)
                    rate_limited += 1
                    # A short jittered wait of its own; the pacer does the rest of the spacing.
                    delay = self.retry.delay(min(rate_limited, 4))
                    self.pacer.record_wait(delay)
                    stats.add(throttle_seconds=delay)
                    time.sleep(delay)
                    continue
                elif status in _RETRYABLE_STATUS:
                    failure = f"HTTP {status}"
                else:
                    self._raise_final(path, body, status, headers)
            failures += 1
            if failures >= self.retry.max_attempts:
                raise StripeUnavailableError(
                    f"GET {path} failed {failures} times, last: {failure}. Stripe or the network "
                    "is having trouble; the sync can be re-run safely (it is idempotent)."
                )
            stats.add(retries=1)
            time.sleep(self.retry.delay(failures))

    def _request(self, path: str, params: dict[str, Any] | None) -> tuple[memoryview, int, Any]:
        """One HTTP request through the SDK, within the concurrency gate."""
        self.gate.acquire()
        started = time.monotonic()
        latency: float | None = None
        try:
            response = self._client._requestor.request_raw(
                "get", path, params=params or {}, base_address="api", api_mode="V1"
            )
            latency = time.monotonic() - started
            return response
        finally:
            self.gate.release(latency)
            if latency is not None:
                self.pacer.set_latency(self.gate.latency)

    def _raise_final(self, path: str, body: bytes | memoryview, status: int, headers: Any) -> None:
        """Turn a non-retryable error response into an actionable exception."""
        try:
            message = orjson.loads(body).get("error", {}).get("message") or ""
        except (orjson.JSONDecodeError, AttributeError):
            message = bytes(body[:200]).decode("utf-8", "replace")
        if status == 401:
            raise StripeAuthenticationError(
                f"Stripe rejected the API key {self._masked_key} (HTTP 401: {message}). "
                "Check STRIPE_API_KEY: it may be mistyped, revoked, or from another account."
            )
        if status == 403:
            found = _PERMISSION_PATTERN.search(message)
            permission = found.group(1) if found else None
            raise StripePermissionError(
                f"The API key {self._masked_key} may not read {path} (HTTP 403: {message})",
                permission=permission,
                path=path,
            )
        raise StripeRequestError(f"GET {path} failed with HTTP {status}: {message}", status)


def _server_time(headers: Any) -> float:
    try:
        return parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


def _is_list(data: Any) -> bool:
    return isinstance(data, dict) and data.get("object") == "list" and "data" in data
