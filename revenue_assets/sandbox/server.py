"""The sandbox's HTTP API: Stripe's `/v1` semantics over the World's store, as an ASGI app.

Reads are answered from pre-rendered bodies: a list page is one indexed SQLite range scan and a
byte join, without parsing or re-serializing objects, which is what lets one process serve
hundreds of 100-object pages per second. Reads run on the event loop (a page costs well under a
millisecond); writes go to the World on one worker thread, so a long `advance` or a slow write
never stalls reads and the World sees one writer at a time.

Around every `/v1` request, in Stripe's order: latency (simulated network), authentication
(401), rate limits (429: the key's global limit, then the operation's), random 500/503, the account (`Stripe-Account`, 403), the endpoint's
restricted-key permission (403), the handler; then, on the way out, the post-handling faults
(connection reset mid-body, truncated body). Every error has Stripe's JSON shape.

Private routes under `/_sandbox` (secret keys only) expose counters, the clock, restricted key
creation and runtime changes of faults, latency, rate limits, the app-traffic load and webhook
delivery options.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revenue_assets.sandbox import customer_children, versions
from revenue_assets.sandbox.apptraffic import AppTraffic
from revenue_assets.sandbox.auth import ApiKey, KeyRing, permission_for
from revenue_assets.sandbox.counters import Counters
from revenue_assets.sandbox.delivery import DeliveryOptions, WebhookDelivery
from revenue_assets.sandbox.errors import SandboxError, invalid, missing
from revenue_assets.sandbox.expand import check as check_expand
from revenue_assets.sandbox.faults import FAULT_BODIES, Misbehaviour, reset_mid_body, truncate
from revenue_assets.sandbox.forms import Params, as_list, parse_query
from revenue_assets.sandbox.listing import (
    RESOURCES,
    Resource,
    compare,
    list_options,
    only,
    resource_parts,
)
from revenue_assets.sandbox.ratelimit import RATE_LIMITED_BODY, RateLimiter
from revenue_assets.sandbox.store import Page
from revenue_assets.sandbox.versions import is_legacy

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class WorldAPI(Protocol):
    """What the server needs from the World (see revenue_assets/sandbox/world.py)."""

    store: Any
    account_id: str
    connected_account_ids: list[str]

    @property
    def now(self) -> int: ...

    def advance(self, seconds: int) -> list[dict[str, Any]]: ...

    def add_listener(self, callback: Callable[[dict[str, Any], str], None]) -> None: ...

    def create(self, resource: str, params: Params, account: str | None = None) -> dict: ...

    def update(
        self, resource: str, object_id: str, params: Params, account: str | None = None
    ) -> dict: ...

    def delete(self, resource: str, object_id: str, account: str | None = None) -> dict: ...

    def nested(
        self, method: str, parts: list[str], params: Params, account: str | None = None
    ) -> dict: ...

    def action(
        self, resource: str, object_id: str, action: str, params: Params, account: str | None = None
    ) -> dict: ...

    def expand(self, obj: dict[str, Any], paths: list[str], account: str) -> dict[str, Any]: ...

    def render_event(self, event: dict[str, Any], api_version: str) -> dict[str, Any]: ...

    def render(self, obj: dict[str, Any], api_version: str, account: str) -> dict[str, Any]: ...

    def webhook_secret(self, endpoint_id: str) -> str: ...


# -- the resources -----------------------------------------------------------------------------


def _unrecognized(method: str, path: str) -> SandboxError:
    return SandboxError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we "
        "can help at https://support.stripe.com/.",
    )


def list_body(bodies: list[bytes], has_more: bool, url: str) -> bytes:
    """A list response from pre-rendered objects: one byte join, no JSON parse or dump."""
    parts = [b'{"object":"list","data":[']
    for body in bodies:
        parts.append(body)
        parts.append(b",")
    if bodies:
        parts.pop()
    parts.append(b'],"has_more":true,"url":' if has_more else b'],"has_more":false,"url":')
    parts.append(orjson.dumps(url))
    parts.append(b"}")
    return b"".join(parts)


# -- the app -----------------------------------------------------------------------------------


@dataclass
class Reply:
    """A handled request: status, JSON body, the route template for the counters."""

    status: int
    body: bytes
    route: str
    headers: dict[str, str] = field(default_factory=dict)


class SandboxApp:
    """The ASGI application (a Starlette app in `self.app`) over one World."""

    def __init__(
        self,
        world: WorldAPI,
        keys: KeyRing,
        *,
        rate_limit: Any = None,
        endpoint_limit: Any = None,
        app_traffic: float = 0.0,
        faults: Any = None,
        latency_ms: Any = None,
        webhooks: DeliveryOptions | None = None,
        fault_seed: int | None = None,
    ) -> None:
        self.world = world
        self.store = world.store
        self.keys = keys
        self.counters = Counters()
        self.limiter = RateLimiter(rate_limit, endpoint_limit)
        # The app's own traffic uses the live secret key, as the account's backend would.
        self.app_traffic = AppTraffic(
            lambda operation: self.limiter.check(keys.live_key, True, operation),
            app_traffic,
            seed=fault_seed,
        )
        self.misbehaviour = Misbehaviour(faults, latency_ms, seed=fault_seed)
        self.delivery = WebhookDelivery(world, self.counters, webhooks)
        self.api_version = versions.pinned()
        self.accounts = frozenset([world.account_id, *world.connected_account_ids])
        # Writes to the World go through one thread: the World sees one writer at a time and
        # the event loop never waits for a long advance.
        self.world_lock = threading.RLock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-world")
        self._idempotency: OrderedDict[tuple[str, str], tuple[bytes, Reply]] = OrderedDict()
        self._idempotency_lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/{rest:path}", self.api, methods=ALL_METHODS),
                Route("/_sandbox/{name:path}", self.private, methods=ALL_METHODS),
                Route("/{rest:path}", self.not_found, methods=ALL_METHODS),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def start(self) -> None:
        """Start webhook delivery (the HTTP serving is the runner's job)."""
        self.delivery.start()

    def close(self) -> None:
        self.app_traffic.close()
        self.delivery.close()
        self._writer.shutdown(wait=True, cancel_futures=True)

    async def in_world(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a World call on the writer thread, holding the World lock."""

        def call() -> Any:
            with self.world_lock:
                return function(*args)

        return await asyncio.get_running_loop().run_in_executor(self._writer, call)

    # -- /v1 -------------------------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        delay = self.misbehaviour.delay()
        if delay:
            await asyncio.sleep(delay)
        method = request.method
        path = request.url.path
        parts = resource_parts(path)  # "/v1/a/b" -> ["a", "b"]
        route = _route_label(method, parts)
        key_label = "-"
        fault: str | None = None
        # Stripe's Date header is Stripe's clock, the clock of event `created`: here, the world's.
        headers = {
            "Request-Id": "req_" + secrets.token_hex(7),
            "Date": formatdate(self.world.now, usegmt=True),
        }
        try:
            key = self.keys.authenticate(request.headers.get("authorization"))
            key_label = key.masked
            version = versions.requested(request.headers.get("stripe-version"))
            headers["Stripe-Version"] = version
            reason = self.limiter.check(key.key, key.livemode, route)
            if reason is not None:
                headers["Stripe-Rate-Limited-Reason"] = reason
                reply = Reply(429, RATE_LIMITED_BODY, route)
            else:
                fault = self.misbehaviour.draw()
                if fault in FAULT_BODIES:
                    self.counters.fault(fault)
                    reply = Reply(int(fault), FAULT_BODIES[fault], route)
                else:
                    reply = await self._handle(request, method, path, parts, route, key, version)
        except SandboxError as error:
            reply = Reply(error.status, orjson.dumps(error.body()), route)
        except Exception:
            log.exception("sandbox: %s %s failed", method, path)
            reply = Reply(500, FAULT_BODIES["500"], route)
        self.counters.request(
            key_label,
            reply.route,
            reply.status,
            version=request.headers.get("stripe-version"),
            account=request.headers.get("stripe-account"),
            reason=headers.get("Stripe-Rate-Limited-Reason"),
        )
        headers.update(reply.headers)
        if fault == "truncate":
            self.counters.fault(fault)
            return Response(truncate(reply.body), reply.status, headers, "application/json")
        if fault == "reset":
            self.counters.fault(fault)
            return _ResetResponse(reply.body, reply.status, headers, "application/json")
        return Response(reply.body, reply.status, headers, "application/json")

    def _account(self, request: Request, key: ApiKey) -> str:
        requested = request.headers.get("stripe-account")
        if not requested:
            return self.world.account_id
        if requested not in self.accounts:
            raise SandboxError(
                403,
                f"The provided key '{key.masked}' does not have access to account '{requested}' "
                "(or that account does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        return requested

    async def _handle(
        self,
        request: Request,
        method: str,
        path: str,
        parts: list[str],
        route: str,
        key: ApiKey,
        version: str,
    ) -> Reply:
        account = self._account(request, key)
        nested = customer_children.endpoint(method, parts)
        if nested is not None:
            self.keys.authorize(key, nested.permission, account)
            if method != "GET":
                return await self._write(request, method, parts, route, key, account, version)
            params = parse_query(request.scope["query_string"])
            return Reply(200, self._nested_read(nested, account, params, path, version), route)
        if method == "GET":
            params = parse_query(request.scope["query_string"])
            if parts == ["account"]:
                self.keys.authorize(key, permission_for("account", False), account)
                return Reply(200, self._retrieve_account(account, account, params), route)
            resource = RESOURCES.get(parts[0]) if parts else None
            if resource is None or len(parts) > 3 or not all(parts):
                raise _unrecognized(method, path)
            if parts[0] == "setup_attempts" and len(parts) > 1:
                raise _unrecognized(method, path)  # Stripe only lists them
            self.keys.authorize(key, permission_for(parts[0], False), account)
            if len(parts) == 1:
                return Reply(200, self._list(resource, account, params, path, version), route)
            if len(parts) == 2:
                if parts[0] == "accounts":
                    return Reply(200, self._retrieve_account(parts[1], account, params), route)
                body = self._retrieve(resource, parts[1], account, params, version)
                return Reply(200, body, route)
            child_kind = resource.children.get(parts[2])
            if child_kind is None:
                raise _unrecognized(method, path)
            body = self._child_list(resource, parts[1], child_kind, account, params, path, version)
            return Reply(200, body, route)
        if method in ("POST", "DELETE"):
            if not parts or not all(parts) or len(parts) > 3:
                raise _unrecognized(method, path)
            self.keys.authorize(key, permission_for(parts[0], True), account)
            return await self._write(request, method, parts, route, key, account, version)
        raise _unrecognized(method, path)

    # -- reads -----------------------------------------------------------------------------------

    def _list(
        self, resource: Resource, account: str, params: Params, url: str, version: str
    ) -> bytes:
        options = list_options(resource, params)
        expand = _list_expand(params)
        check_expand(resource.kind, expand, is_legacy(version))
        try:
            if resource.kind == "account":
                page = self._connected_accounts(account, options)
            else:
                page = self.store.list_page(
                    account, resource.stored_kind, oldest_first=resource.oldest_first, **options
                )
        except KeyError as error:
            raise self._cursor_missing(resource, params, error) from None
        bodies = _viewed(resource, page.bodies)
        return list_body(self._shaped(bodies, version, expand, account), page.has_more, url)

    def _connected_accounts(self, account: str, options: dict[str, Any]) -> Page:
        """`GET /v1/accounts`: the platform's connected accounts (each stored in its own
        account), newest first; a handful, so paged in memory."""
        if account != self.world.account_id:
            return Page([], False)
        rows = []
        for account_id in self.world.connected_account_ids:
            found = self.store.get_body(account_id, None, "account")
            if found is not None and not found[1]:
                created = orjson.loads(found[0]).get("created", 0)
                rows.append((created, account_id, found[0]))
        rows.sort(reverse=True)
        created = options.get("created", {})
        rows = [row for row in rows if all(compare(row[0], op, v) for op, v in created.items())]
        ids = [row[1] for row in rows]
        for name in ("starting_after", "ending_before"):
            if name in options and options[name] not in ids:
                raise KeyError(options[name])
        limit = options["limit"]
        if "starting_after" in options:
            rows = rows[ids.index(options["starting_after"]) + 1 :]
        elif "ending_before" in options:
            before = rows[: ids.index(options["ending_before"])]
            return Page([row[2] for row in before[-limit:]], len(before) > limit)
        return Page([row[2] for row in rows[:limit]], len(rows) > limit)

    @staticmethod
    def _cursor_missing(resource: Resource, params: Params, error: KeyError) -> SandboxError:
        param = "starting_after" if params.get("starting_after") else "ending_before"
        return missing(resource.kind, str(error.args[0]), param=param)

    def _retrieve(
        self, resource: Resource, object_id: str, account: str, params: Params, version: str
    ) -> bytes:
        only(params, {"expand"})
        expand = [str(path) for path in as_list(params.get("expand"))]
        check_expand(resource.kind, expand, is_legacy(version))
        found = self.store.get_body(object_id, account, resource.stored_kind)
        if found is None:
            raise missing(resource.kind, object_id)
        body, deleted = found
        if deleted:
            if not resource.stub_when_deleted or not self._had_view(resource, object_id):
                raise missing(resource.kind, object_id)
            return orjson.dumps({"id": object_id, "object": resource.kind, "deleted": True})
        if resource.view is not None:
            viewed = resource.view.render(orjson.loads(body))
            if viewed is None:
                raise missing(resource.kind, object_id)
            body = orjson.dumps(viewed)
        return self._shaped([body], version, expand, account)[0]

    def _had_view(self, resource: Resource, object_id: str) -> bool:
        """Whether a deleted object was one the resource served (a deleted one-off price never
        was a plan): its last body before deletion says."""
        if resource.view is None:
            return True
        tombstone = self.store.get_meta(f"tombstone:{object_id}")
        return tombstone is not None and resource.view.render(tombstone) is not None

    def _retrieve_account(self, account_id: str, acting: str, params: Params) -> bytes:
        """`/v1/account` and `/v1/accounts/{id}`: the platform sees its connected accounts, a
        connected account (via Stripe-Account) only itself."""
        only(params, {"expand"})
        platform = self.world.account_id
        if account_id not in self.accounts or (acting != platform and account_id != acting):
            raise SandboxError(
                403 if account_id.startswith("acct_") else 404,
                f"The provided key does not have access to account '{account_id}' (or that "
                "account does not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        found = self.store.get_body(account_id, None, "account")
        if found is not None:
            return found[0]
        return orjson.dumps({"id": account_id, "object": "account", "type": "standard"})

    def _child_list(
        self,
        resource: Resource,
        parent_id: str,
        child_kind: str,
        account: str,
        params: Params,
        url: str,
        version: str,
    ) -> bytes:
        found = self.store.get_body(parent_id, account, resource.kind)
        if found is None or found[1]:
            raise missing(resource.kind, parent_id)
        options = list_options(Resource(child_kind), params)
        expand = _list_expand(params)
        check_expand(child_kind, expand, is_legacy(version))
        try:
            page = self.store.list_page(
                account, child_kind, parent=parent_id, oldest_first=True, **options
            )
        except KeyError as error:
            raise self._cursor_missing(Resource(child_kind), params, error) from None
        return list_body(self._shaped(page.bodies, version, expand, account), page.has_more, url)

    def _nested_read(
        self,
        target: customer_children.Endpoint,
        account: str,
        params: Params,
        url: str,
        version: str,
    ) -> bytes:
        """`GET /v1/customers/{id}/<child>[/{child_id}]`: a customer's nested list or object."""
        kind = target.child.kind
        if target.child_id is not None:
            expand = [str(path) for path in as_list(params.get("expand"))]
            check_expand(kind, expand, is_legacy(version))
            body = customer_children.read_one(self.store, account, target, params)
            return self._shaped([body], version, expand, account)[0]
        expand = _list_expand(params)
        check_expand(kind, expand, is_legacy(version))
        page = customer_children.read_list(self.store, account, target, params)
        return list_body(self._shaped(page.bodies, version, expand, account), page.has_more, url)

    def _shaped(
        self, bodies: list[bytes], version: str, expand: list[str], account: str
    ) -> list[bytes]:
        """Stored bodies as the request's version renders them (an older layout is derived
        from the stored current one), then expanded (expansion paths follow that layout)."""
        if not expand and not is_legacy(version):
            return bodies  # the stored bytes are the answer: no parse, no dump
        shaped = []
        for body in bodies:
            obj = orjson.loads(body)
            if is_legacy(version):
                obj = self.world.render(obj, version, account)
            if expand:
                obj = self.world.expand(obj, expand, account)
            shaped.append(orjson.dumps(obj))
        return shaped

    # -- writes ----------------------------------------------------------------------------------

    async def _write(
        self,
        request: Request,
        method: str,
        parts: list[str],
        route: str,
        key: ApiKey,
        account: str,
        version: str,
    ) -> Reply:
        raw = await read_body(request)
        params = parse_query(request.scope["query_string"])
        params.update(parse_query(raw))
        idempotency_key = request.headers.get("idempotency-key")
        cache_key = (f"{key.key}|{account}", idempotency_key) if idempotency_key else None
        fingerprint = f"{method} {request.url.path}?".encode() + raw
        if cache_key is not None:
            replay = self._replay(cache_key, fingerprint, idempotency_key or "")
            if replay is not None:
                return replay
        expand = [str(path) for path in as_list(params.pop("expand", None))]
        resource = parts[0]
        nested = customer_children.endpoint(method, parts)
        if expand and (nested is not None or resource in RESOURCES):
            kind = nested.child.kind if nested is not None else RESOURCES[resource].kind
            check_expand(kind, expand, is_legacy(version))
        if nested is not None:
            result = await self.in_world(self.world.nested, method, parts, params, account)
        elif method == "DELETE":
            part = parts[2] if len(parts) == 3 else None
            if len(parts) not in (2, 3):
                raise _unrecognized(method, request.url.path)
            result = await self.in_world(self.world.delete, resource, parts[1], account, part)
        elif len(parts) == 1:
            result = await self.in_world(self.world.create, resource, params, account)
        elif len(parts) == 2:
            result = await self.in_world(self.world.update, resource, parts[1], params, account)
        else:
            result = await self.in_world(
                self.world.action, resource, parts[1], parts[2], params, account
            )
        if is_legacy(version):
            result = self.world.render(result, version, account)
        if expand:
            result = self.world.expand(result, expand, account)
        reply = Reply(200, orjson.dumps(result), route)
        if cache_key is not None:
            reply.headers["Idempotency-Key"] = idempotency_key or ""
            with self._idempotency_lock:
                self._idempotency[cache_key] = (fingerprint, reply)
                while len(self._idempotency) > 10_000:
                    self._idempotency.popitem(last=False)
        return reply

    def _replay(
        self, cache_key: tuple[str, str], fingerprint: bytes, idempotency_key: str
    ) -> Reply | None:
        """Stripe's idempotency: the same key replays the first answer, or 400 if the request differs."""
        with self._idempotency_lock:
            cached = self._idempotency.get(cache_key)
        if cached is None:
            return None
        first_fingerprint, reply = cached
        if first_fingerprint != fingerprint:
            raise SandboxError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{idempotency_key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return Reply(
            reply.status,
            reply.body,
            reply.route,
            {**reply.headers, "Idempotent-Replayed": "true"},
        )

    # -- /_sandbox -------------------------------------------------------------------------------

    async def private(self, request: Request) -> Response:
        """Private control routes; only secret keys may use them."""
        try:
            key = self.keys.authenticate(request.headers.get("authorization"))
            if key.restricted:
                raise SandboxError(403, "The /_sandbox routes need a secret key (sk_…).")
            name = request.path_params["name"].strip("/")
            params = await _control_params(request)
            result = await self._control(request.method, name, params)
            return _json(200, result)
        except SandboxError as error:
            return _json(error.status, error.body())
        except ValueError as error:
            return _json(400, invalid(str(error)).body())

    async def _control(self, method: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name == "counters" and method == "GET":
            return self.counters_snapshot()
        if name == "counters" and method == "DELETE":
            self.reset_counters()
            return self.counters_snapshot()
        if name == "info" and method == "GET":
            return self.info()
        if name == "clock" and method == "GET":
            return {"now": self.world.now}
        if name == "clock" and method == "POST":
            return await self.advance_clock(params)
        if name == "keys" and method == "POST":
            permissions = [str(p) for p in as_list(params.get("permissions"))]
            livemode = str(params.get("livemode", "false")).lower() in ("true", "1")
            return {
                "key": self.keys.restricted_key(permissions, livemode),
                "permissions": permissions,
            }
        if name == "faults" and method in ("GET", "POST"):
            if method == "POST":
                self.misbehaviour.configure(params.get("faults"), params.get("latency_ms"))
            return self.misbehaviour.describe()
        if name == "rate_limit" and method in ("GET", "POST"):
            if method == "POST":
                self.limiter.configure(params.get("rate_limit"), params.get("endpoint_limit"))
            return self.limiter.describe()
        if name == "app_traffic" and method in ("GET", "POST"):
            if method == "POST":
                self.app_traffic.configure(float(params.get("rate", 0)))
            return self.app_traffic.snapshot()
        if name == "webhooks" and method in ("GET", "POST"):
            if method == "POST":
                changes = {
                    k: float(v) for k, v in params.items() if k in ("duplicates", "reorder_ms")
                }
                self.delivery.configure(**changes)
            options = self.delivery.options
            return {
                "duplicates": options.duplicates,
                "reorder_ms": options.reorder_ms,
                "pending": self.delivery.pending,
                "recent": list(self.delivery.log)[-100:],
            }
        raise _unrecognized(method, f"/_sandbox/{name}")

    def counters_snapshot(self) -> dict[str, Any]:
        """The API's counters and, apart, the app-traffic load's own outcomes."""
        return {**self.counters.snapshot(), "app_traffic": self.app_traffic.snapshot()}

    def reset_counters(self) -> None:
        self.counters.reset()
        self.app_traffic.reset()

    async def advance_clock(self, params: dict[str, Any]) -> dict[str, Any]:
        if "to" in params:
            seconds = int(params["to"]) - self.world.now
        else:
            seconds = int(params.get("seconds", 0))
        if seconds < 0:
            raise invalid("The sandbox clock only moves forward.", param="seconds")
        events = await self.in_world(self.world.advance, seconds)
        return {"now": self.world.now, "events": len(events)}

    def info(self) -> dict[str, Any]:
        return {
            "account_id": self.world.account_id,
            "connected_account_ids": list(self.world.connected_account_ids),
            "now": self.world.now,
            **self.keys.as_dict(),
            **self.limiter.describe(),
            "app_traffic": self.app_traffic.rate,
            **self.misbehaviour.describe(),
            "api_version": self.api_version,
        }

    async def not_found(self, request: Request) -> Response:
        error = _unrecognized(request.method, request.url.path)
        return _json(error.status, error.body())


class _ResetResponse(Response):
    """A response that dies mid-body: headers and part of the body, then a TCP reset."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await reset_mid_body(scope, send, self.status_code, self.raw_headers, self.body)


def _json(status: int, content: Any) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


async def _control_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = parse_query(request.scope["query_string"])
    if request.method in ("POST", "PUT", "DELETE"):
        raw = await read_body(request)
        if raw:
            if request.headers.get("content-type", "").startswith("application/json"):
                try:
                    decoded = orjson.loads(raw)
                except orjson.JSONDecodeError as error:
                    raise invalid(f"Invalid JSON body: {error}") from None
                if not isinstance(decoded, dict):
                    raise invalid("The JSON body must be an object.")
                params.update(decoded)
            else:
                params.update(parse_query(raw))
    return params


async def read_body(request: Request) -> bytes:
    """The request body, refused with a Stripe-shaped 413 beyond MAX_BODY_BYTES."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise SandboxError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SandboxError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _route_label(method: str, parts: list[str]) -> str:
    """The route template of a request for the counters: ids replaced by `{id}`."""
    if not parts:
        return f"{method} /v1"
    label = ["/v1", parts[0]]
    if len(parts) >= 2 and parts[0] != "account":
        label.append("{id}")
    label.extend(parts[2:3])
    if len(parts) > 3:
        label.append("…")
    return f"{method} {'/'.join(label)}"


def _viewed(resource: Resource, bodies: list[bytes]) -> list[bytes]:
    """Stored bodies as the resource serves them (plans rendered from their prices)."""
    view = resource.view
    if view is None:
        return bodies
    return [orjson.dumps(view.render(orjson.loads(body))) for body in bodies]


def _list_expand(params: Params) -> list[str]:
    """`expand[]` of a list: paths start with `data.`, as on Stripe."""
    paths = [str(path) for path in as_list(params.get("expand"))]
    stripped = []
    for path in paths:
        if not path.startswith("data."):
            raise invalid(
                f"This property cannot be expanded ({path}). You may want to try expanding "
                f"'data.{path}' instead.",
                param="expand",
            )
        stripped.append(path.removeprefix("data."))
    return stripped
