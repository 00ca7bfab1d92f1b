"""Webhook delivery: every new event of the World, POSTed to each matching endpoint, signed.

Stripe delivers at least once, unordered, and retries failures with backoff for days; the
receiver under test must cope with exactly that, so the sandbox reproduces it (with shorter
backoff) and can add duplicates and reordering on purpose. Deliveries run on their own threads:
the World's listener only enqueues, so neither API requests nor the World wait for a slow or
dead receiver.

Payloads are rendered in the endpoint's `api_version` when it has one (World.render_event), as
Stripe does, and signed like Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<payload>" keyed by the endpoint secret>`, which `stripe.Webhook.construct_event` verifies.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import queue
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import requests
from requests.adapters import HTTPAdapter

from revenue_assets.sandbox.counters import Counters

log = logging.getLogger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


class EventSource(Protocol):
    """What delivery needs from the World."""

    store: Any
    account_id: str

    def add_listener(self, callback: Any) -> None: ...

    def render_event(self, event: dict[str, Any], api_version: str) -> dict[str, Any]: ...

    def webhook_secret(self, endpoint_id: str) -> str: ...


@dataclass(frozen=True)
class DeliveryOptions:
    """How deliveries behave. The defaults are Stripe's behaviour with a faster backoff.

    duplicates: probability that an event is delivered twice to an endpoint.
    reorder_ms: each delivery first waits a random 0..reorder_ms, so a burst of events arrives
        out of order (0 keeps the order of creation, up to concurrency between workers).
    retry_base_s / retry_max_s / max_attempts: backoff of failed attempts (non-2xx, connection
        error, timeout): base × 2^(attempt-1) with jitter, capped, then given up.
    """

    duplicates: float = 0.0
    reorder_ms: float = 0.0
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    max_attempts: int = 8
    timeout_s: float = 10.0
    workers: int = 4
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.duplicates <= 1.0:
            raise ValueError("duplicates must be a probability within 0..1")
        if self.reorder_ms < 0 or self.retry_base_s < 0 or self.max_attempts < 1:
            raise ValueError("invalid webhook delivery options")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for a payload (scheme v1)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def endpoint_matches(endpoint: dict[str, Any], event_type: str) -> bool:
    """Whether an enabled endpoint subscribes to an event type (`*` or the exact type)."""
    if endpoint.get("status", "enabled") != "enabled" or endpoint.get("deleted"):
        return False
    enabled = endpoint.get("enabled_events") or []
    return "*" in enabled or event_type in enabled


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    endpoint_id: str = field(compare=False)
    url: str = field(compare=False)
    secret: str = field(compare=False)
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    payload: bytes = field(compare=False)
    attempt: int = field(default=1, compare=False)
    duplicate: bool = field(default=False, compare=False)


class WebhookDelivery:
    """Fans World events out to webhook endpoints and sends them from worker threads."""

    def __init__(
        self, world: EventSource, counters: Counters, options: DeliveryOptions | None = None
    ) -> None:
        self.world = world
        self.counters = counters
        self.options = options or DeliveryOptions()
        self._random = random.Random(self.options.seed)
        self._intake: queue.SimpleQueue[tuple[dict[str, Any], str] | None] = queue.SimpleQueue()
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pending = 0  # events not yet fanned out + deliveries not yet finished
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._client: requests.Session | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=2000)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._client = _session(pool=max(4, self.options.workers * 2))
        self._client.headers["User-Agent"] = USER_AGENT
        self.world.add_listener(self.on_event)
        threads = [threading.Thread(target=self._dispatch, name="webhook-dispatch", daemon=True)]
        threads += [
            threading.Thread(target=self._work, name=f"webhook-worker-{n}", daemon=True)
            for n in range(self.options.workers)
        ]
        for thread in threads:
            thread.start()
        self._threads = threads

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._intake.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._client is not None:
            self._client.close()

    def configure(self, **changes: Any) -> None:
        """Change options at runtime (e.g. `duplicates=0.5`); applies to new deliveries."""
        from dataclasses import replace

        self.options = replace(self.options, **changes)

    # -- intake --------------------------------------------------------------------------------

    def on_event(self, event: dict[str, Any], account_id: str) -> None:
        """World listener: called on the thread that changed the World; only enqueues."""
        if self._closed:
            return
        with self._cond:
            self._pending += 1
        self._intake.put((event, account_id))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every event so far is delivered or given up (tests). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    @property
    def pending(self) -> int:
        return self._pending

    # -- fan-out -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            item = self._intake.get()
            if item is None:
                return
            event, account_id = item
            try:
                deliveries = self._deliveries_for(event, account_id)
            except Exception:  # a World bug must not kill delivery for good
                log.exception("webhook fan-out failed for event %s", event.get("id"))
                deliveries = []
            with self._cond:
                for delivery in deliveries:
                    heapq.heappush(self._heap, delivery)
                self._pending += len(deliveries) - 1
                self.counters.delivery("scheduled", len(deliveries))
                self._cond.notify_all()

    def _endpoints(self, account_id: str) -> list[dict[str, Any]]:
        store = self.world.store
        endpoints = list(store.iter_objects("webhook_endpoint", account_id, include_deleted=False))
        platform = self.world.account_id
        if account_id != platform:  # Connect endpoints of the platform see connected accounts
            endpoints += [
                endpoint
                for endpoint in store.iter_objects(
                    "webhook_endpoint", platform, include_deleted=False
                )
                if endpoint.get("connect")
            ]
        return endpoints

    def _deliveries_for(self, event: dict[str, Any], account_id: str) -> list[_Delivery]:
        event_type = event.get("type", "")
        deliveries: list[_Delivery] = []
        now = time.monotonic()
        reorder = self.options.reorder_ms / 1000.0
        for endpoint in self._endpoints(account_id):
            if not endpoint_matches(endpoint, event_type):
                continue
            version = endpoint.get("api_version")
            rendered = (
                self.world.render_event(event, version)
                if version and version != event.get("api_version")
                else event
            )
            payload = orjson.dumps(rendered)
            secret = self.world.webhook_secret(endpoint["id"])
            copies = 2 if self._random.random() < self.options.duplicates else 1
            for copy in range(copies):
                deliveries.append(
                    _Delivery(
                        due=now + (self._random.uniform(0, reorder) if reorder else 0.0),
                        seq=next(self._seq),
                        endpoint_id=endpoint["id"],
                        url=endpoint["url"],
                        secret=secret,
                        event_id=event.get("id", ""),
                        event_type=event_type,
                        payload=payload,
                        duplicate=copy > 0,
                    )
                )
        return deliveries

    # -- sending -------------------------------------------------------------------------------

    def _next_due(self) -> _Delivery | None:
        with self._cond:
            while not self._closed:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _work(self) -> None:
        while True:
            delivery = self._next_due()
            if delivery is None:
                return
            ok, status, error = self._send(delivery)
            self.log.append(
                {
                    "event": delivery.event_id,
                    "type": delivery.event_type,
                    "endpoint": delivery.endpoint_id,
                    "attempt": delivery.attempt,
                    "duplicate": delivery.duplicate,
                    "status": status,
                    "error": error,
                    "at": time.time(),
                }
            )
            with self._cond:
                if ok:
                    self.counters.delivery("delivered")
                    if delivery.duplicate:
                        self.counters.delivery("duplicates")
                    self._pending -= 1
                elif delivery.attempt >= self.options.max_attempts or self._closed:
                    self.counters.delivery("failed_attempts")
                    self.counters.delivery("given_up")
                    self._pending -= 1
                else:
                    self.counters.delivery("failed_attempts")
                    self.counters.delivery("retries")
                    delivery.attempt += 1
                    delay = min(
                        self.options.retry_max_s,
                        self.options.retry_base_s * 2 ** (delivery.attempt - 2),
                    )
                    delivery.due = time.monotonic() + delay * (0.5 + 0.5 * self._random.random())
                    delivery.seq = next(self._seq)
                    heapq.heappush(self._heap, delivery)
                self._cond.notify_all()

    def _send(self, delivery: _Delivery) -> tuple[bool, int | None, str | None]:
        assert self._client is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(delivery.payload, delivery.secret),
        }
        self.counters.delivery("attempts")
        try:
            response = self._client.post(
                delivery.url, data=delivery.payload, headers=headers, timeout=self.options.timeout_s
            )
        except requests.RequestException as error:
            return False, None, f"{type(error).__name__}: {error}"
        return 200 <= response.status_code < 300, response.status_code, None


def _session(pool: int) -> requests.Session:
    """A session that ignores proxy variables (deliveries go to loopback) and keeps `pool`
    connections per host, one per concurrent worker."""
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
