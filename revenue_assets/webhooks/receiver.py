"""The webhook receiver: Stripe's deliveries in, durable inbox rows out.

    POST /<any path>   a Stripe delivery
    GET  /healthz      200 while events can be stored, 503 while they cannot

Answers, in the order the checks run:
- 413 when the body exceeds `max_body_bytes` (checked on Content-Length, then while reading).
- 400 when `Stripe-Signature` is missing, does not verify with any accepted secret (the SDK's
  `WebhookSignature.verify_header`), or is dated more than the tolerance (300 s) before or
  after the receiver's clock: counted in the state file as signature failures, so a wrong
  secret shows up in `webhooks status` and fails the health check instead of syncing nothing
  quietly. Nothing is stored.
- 400 when the verified body is not a Stripe event (malformed JSON, missing fields).
- 200 once the event is committed to the inbox (a duplicate is a 200 too: Stripe must stop
  retrying it), with an empty body and `x-inbox: stored|duplicate`; 503 when it cannot be
  stored: Stripe retries for days, and the inbox dedupes. Errors have a JSON body saying why
  (Stripe's dashboard shows it).

Any path is accepted so that a reverse proxy can forward its own path unchanged. The receiver
speaks plain HTTP unless given a certificate; Stripe requires HTTPS, usually from a proxy.
Secrets never reach a log line or a response.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from revenue_assets.state.events import InvalidEvent, parse_event
from revenue_assets.state.store import (
    MALFORMED,
    OVERSIZED,
    SIGNATURE_FAILURES,
    SIGNATURE_STREAK,
    StateStore,
)
from revenue_assets.stripe_api.errors import redact
from revenue_assets.webhooks.connections import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT_S,
    ConnectionLimits,
)
from revenue_assets.webhooks.log_limiter import LogLimiter
from revenue_assets.webhooks.secrets import SecretSource, resolve_secrets
from revenue_assets.webhooks.signature import (
    OK,
    SIGNATURE_ERRORS,
    UNDECODABLE,
    SignatureVerifier,
)
from revenue_assets.webhooks.writer import GroupCommitWriter, StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY_BYTES = 1 << 20  # Stripe's events are a few KiB; 1 MiB leaves ample room
DEFAULT_TOLERANCE_S = 300  # Stripe's SDK default: older signatures may be replays


class ReceiverError(RuntimeError):
    """The receiver cannot start (no signing secret, ...). The message says what to do."""


@dataclass(frozen=True)
class ReceiverConfig:
    state_path: Path
    env_secrets: tuple[str, ...] = ()  # from STRIPE_WEBHOOK_SECRET; override the stored one
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    tolerance_s: int = DEFAULT_TOLERANCE_S
    lock_timeout_s: float = 5.0  # how long a commit waits for another writer of the file
    secret_refresh_s: float = 10.0  # re-read stored secrets at most this often, on failures
    synchronous: str = "FULL"  # FULL: an acknowledged event survives power loss (statedb.py)
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # fewer when the open-file limit is lower
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S  # for a request to arrive whole


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


# A 200 has no body: uvicorn writes the head and the body separately, and skipping an empty
# body saves a send() per delivery. Whether the event was new is in a header, for debugging.
_STORED = [(b"x-inbox", b"stored")]
_DUPLICATE = [(b"x-inbox", b"duplicate")]


def _answer(
    status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    return status, orjson.dumps({"error": error}), headers or []


class Receiver:
    """The app's state: verifier, writer, counters. `app` is the ASGI application."""

    def __init__(self, config: ReceiverConfig, source: SecretSource) -> None:
        self.config = config
        self.writer = GroupCommitWriter(self._open_inbox)
        reload = None if config.env_secrets else self._stored_source
        self.verifier = SignatureVerifier(
            source, config.tolerance_s, reload, config.secret_refresh_s
        )
        self._rejections = LogLimiter(log)
        self.connections = ConnectionLimits(config.max_connections, config.read_timeout_s)
        # A commit waits at most lock_timeout_s for the file; a batch may queue behind one.
        self._store_timeout_s = 3 * config.lock_timeout_s + 5
        self.ready_callbacks: list[Callable[[], None]] = []
        self.starlette = Starlette(
            routes=[Route("/healthz", self.healthz, methods=["GET"])], lifespan=self._lifespan
        )

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: deliveries go straight to `deliver` (the hot path skips Starlette's
        middleware and router); everything else (lifespan, /healthz, 404s) to Starlette."""
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] != "/healthz":
            await self.deliver(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)

    def _open_inbox(self) -> StateStore:
        return StateStore(
            self.config.state_path,
            busy_timeout_s=self.config.lock_timeout_s,
            synchronous=self.config.synchronous,
        )

    def _stored_source(self) -> SecretSource:
        with self._open_inbox() as inbox:
            return resolve_secrets((), inbox)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.writer.start()
        for callback in self.ready_callbacks:
            callback()
        try:
            yield
        finally:
            # Blocking on the loop is fine here: no request is left to serve.
            self.writer.close()

    async def deliver(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A delivery, in plain ASGI: this is the hot path, and Starlette's Request and Response
        objects, middleware and router cost more CPU than verifying and storing the event."""
        status, body, extra = await self._handle(scope, receive)
        headers = [(b"content-type", b"application/json"), *extra] if body else list(extra)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        limit = self.config.max_body_bytes
        declared = signature = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"stripe-signature":
                signature = value.decode("latin-1")
        if declared is not None:
            if not declared.isdigit():
                return _answer(400, "invalid Content-Length")
            if int(declared) > limit:
                return self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # the sender gave up: nothing to answer
                return _answer(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)

        verdict = self.verifier.verify(payload, signature)
        if verdict == UNDECODABLE:
            self.writer.bump(MALFORMED)
            return _answer(400, "the body is not UTF-8 JSON")
        if verdict != OK:
            self.writer.bump(SIGNATURE_FAILURES)
            self.writer.bump(SIGNATURE_STREAK)
            client = scope.get("client")
            self._rejections.warning(
                "rejected a delivery from %s: signature %s (check the endpoint's signing "
                "secret: STRIPE_WEBHOOK_SECRET or `revenue-assets webhooks register`)",
                client[0] if client else "?",
                verdict,
            )
            return _answer(400, SIGNATURE_ERRORS[verdict])
        try:
            _, row = parse_event(payload)
        except InvalidEvent as error:
            self.writer.bump(MALFORMED)
            return _answer(400, f"not a Stripe event: {error}")

        try:
            new = await self.writer.submit(row, payload, timeout_s=self._store_timeout_s)
        except StoreUnavailable:
            return _answer(
                503, "the event inbox is unavailable; retry later", [(b"retry-after", b"30")]
            )
        return 200, b"", _STORED if new else _DUPLICATE

    def _too_large(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        self.writer.bump(OVERSIZED)
        return _answer(413, f"body larger than {self.config.max_body_bytes} bytes")

    async def healthz(self, request: Request) -> Response:
        status = self.writer.status
        body = {
            "status": "ok" if status.healthy else "unavailable",
            "inbox": str(self.config.state_path),
            "secrets": self.verifier.source.describe,
            "stored": status.stored,
            "duplicates": status.duplicates,
            "store_failures": status.failures,
            "last_error": redact(status.last_error) if status.last_error else None,
            "last_error_at": status.last_error_at,
            "last_success_at": status.last_success_at,
            "batches": status.batches,
            "mean_batch": round(status.events_in_batches / status.batches, 2)
            if status.batches
            else None,
            "max_batch": status.max_batch,
            "mean_commit_ms": round(status.commit_seconds / status.batches * 1000, 3)
            if status.batches
            else None,
            "max_commit_ms": round(status.max_commit_seconds * 1000, 3),
            "connections": len(self.connections.open),
            "max_connections": self.connections.max_connections,
            "slow_clients_cut": self.connections.timed_out + self.connections.displaced,
            "connections_refused": self.connections.refused,
        }
        return _json(200 if status.healthy else 503, body)


def create_receiver(config: ReceiverConfig) -> Receiver:
    """Resolve the signing secrets and build the receiver; ReceiverError when there are none."""
    inbox_error: Exception | None = None
    source = SecretSource(tuple(config.env_secrets), "STRIPE_WEBHOOK_SECRET")
    if not source.secrets:
        try:
            with StateStore(config.state_path, busy_timeout_s=config.lock_timeout_s) as inbox:
                source = resolve_secrets((), inbox)
        except Exception as error:
            inbox_error = error
    if not source.secrets:
        reason = (
            f" (the state file {config.state_path} could not be read: {redact(str(inbox_error))})"
            if inbox_error
            else ""
        )
        raise ReceiverError(
            "No webhook signing secret: set STRIPE_WEBHOOK_SECRET=whsec_… (the endpoint's "
            "signing secret from the Stripe Dashboard), or run `revenue-assets webhooks "
            f"register --url https://…`, which stores it in REVENUE_ASSETS_STATE{reason}."
        )
    return Receiver(config, source)
