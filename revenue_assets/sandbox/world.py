"""The sandbox's world: a simulated Stripe account (plus a few connected accounts) with a clock.

`World.generate` builds the company's history (see `company`), then the world lives on: API
changes (`create`/`update`/`delete`/`action`, the surface behind Stripe's POST and DELETE
routes) and `advance` (the clock: renewals, trial ends, scheduled cancellations, payouts) run the
same billing engine, store the objects, and emit the events Stripe would send. Listeners (the
server's webhook delivery) hear every event right after it is stored.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import stripe

from revenue_assets.sandbox import (
    billing,
    checkout,
    company,
    connect,
    credits,
    customer_children,
    legacy,
    money,
    payments,
    quotes,
    resources,
    shapes,
)
from revenue_assets.sandbox.errors import SandboxError, missing
from revenue_assets.sandbox.expand import expand as expand_paths
from revenue_assets.sandbox.ids import Ids
from revenue_assets.sandbox.ledger import EVENT_RETENTION, StoreLedger
from revenue_assets.sandbox.store import Store, row_for

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Listener = Callable[[Obj, str], None]

_CANONICAL_KEPT = 20_000  # legacy-rendered live events whose current shape we remember
_STEPS_PER_COMMIT = 200  # clock steps per transaction while advancing


@dataclass(frozen=True)
class CompanySpec:
    """What to generate. Same spec (with a fixed `now`), same company, byte for byte."""

    seed: int = 42
    customers: int = 1000
    months: int = 24
    now: int | None = None  # sandbox clock start, unix seconds; None = current wall time
    connected_accounts: int = 1  # small extra accounts reachable with the Stripe-Account header
    event_api_version: str = field(default=stripe.api_version)  # version of new events


class World:
    """See module docstring. Thread-safe: changes are serialized by one lock."""

    store: Store
    account_id: str
    connected_account_ids: list[str]

    def __init__(
        self,
        store: Store,
        spec: CompanySpec,
        *,
        account_id: str,
        connected_account_ids: list[str],
        now: int,
        balance: dict[tuple[str, str, int], int],
        next_payout: int,
    ) -> None:
        self.store = store
        self.spec = spec
        self.account_id = account_id
        self.connected_account_ids = list(connected_account_ids)
        self.event_api_version = spec.event_api_version
        self._now = now
        self._balance = balance
        self._next_payout = next_payout
        self._ids = Ids.for_stream(spec.seed, f"live/{now}")
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._request_id: str | None = None
        self._outbox: list[tuple[Obj, str]] = []
        self._endpoints: list[Obj] | None = None
        self._canonical: OrderedDict[str, Obj] = OrderedDict()

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def generate(cls, spec: CompanySpec, path: str | None = None) -> World:
        """Generate the company into `path` (None: a temporary file removed on `close`)."""
        owns = path is None
        if path is None:
            handle, path = tempfile.mkstemp(prefix="stripe-sandbox-", suffix=".sqlite")
            os.close(handle)
        now = spec.now if spec.now is not None else int(time.time())
        generated = company.generate(
            seed=spec.seed,
            customers_count=spec.customers,
            months=spec.months,
            now=now,
            connected_accounts=spec.connected_accounts,
            api_version=spec.event_api_version,
            path=path,
        )
        store = Store(path)
        store._owns_file = owns
        world = cls(
            store,
            spec,
            account_id=generated.platform,
            connected_account_ids=generated.connected,
            now=now,
            balance=generated.balance,
            next_payout=money.payout_window_end(now),
        )
        world._save_state()
        store.set_meta("generation_timings", generated.timings)
        return world

    @classmethod
    def open(cls, path: str) -> World:
        """Reopen a world generated earlier into `path` (its clock where it was left)."""
        store = Store(path)
        state = store.get_meta("world")
        if state is None:
            raise ValueError(f"{path} holds no sandbox world")
        spec = CompanySpec(**state["spec"])
        world = cls(
            store,
            spec,
            account_id=state["account_id"],
            connected_account_ids=state["connected"],
            now=state["now"],
            balance={tuple(key): value for *key, value in state["balance"]},  # type: ignore[misc]
            next_payout=state["next_payout"],
        )
        world.event_api_version = state.get("event_api_version", spec.event_api_version)
        world._ids = Ids.for_stream(spec.seed, f"live/{state['now']}/{state.get('ops', 0)}")
        return world

    def close(self) -> None:
        self.store.close()

    def _save_state(self) -> None:
        self.store.set_meta(
            "world",
            {
                "spec": asdict(self.spec),
                "account_id": self.account_id,
                "connected": self.connected_account_ids,
                "now": self._now,
                "next_payout": self._next_payout,
                "event_api_version": self.event_api_version,
                "balance": [[*key, value] for key, value in sorted(self._balance.items())],
            },
        )

    # -- clock -----------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> list[Obj]:
        """Move the clock and run everything that falls due, in time order. Returns the events.

        Steps are committed in batches (one transaction each); listeners hear a batch's events
        once it is committed.
        """
        if seconds < 0:
            raise SandboxError(400, "The clock only moves forward.", param="seconds")
        with self._lock:
            target = self._now + int(seconds)
            captured: list[Obj] = []
            self._request_id = None
            done = False
            while not done:
                with self._changing():
                    done = self._advance_batch(target, _STEPS_PER_COMMIT)
                    if done:
                        self._now = target
                        self.store.delete_older_than(
                            "event",
                            self._now - EVENT_RETENTION,
                            [self.account_id, *self.connected_account_ids],
                        )
                    self._save_state()
                self._flush(captured)
        return captured

    def _advance_batch(self, target: int, steps: int) -> bool:
        """Run up to `steps` due steps up to `target`; True when nothing is left to do."""
        last: tuple[str, int] | None = None
        for _ in range(steps):
            found = self.store.next_due(target)
            payout_due = self._next_payout if self._next_payout <= target else None
            if found is None and payout_due is None:
                return True
            if found is None or (payout_due is not None and payout_due <= found[2]):
                assert payout_due is not None
                self._now = max(self._now, payout_due)
                self._run_payouts(payout_due)
                self._next_payout = payout_due + money.WEEK
                continue
            key, account, due = found
            if last == (key, due):  # the engine did not move it: never loop forever
                log.warning("sandbox: %s stayed due at %s; unscheduled", key, due)
                self.store.set_due(key, account, None)
                continue
            last = (key, due)
            self._now = max(self._now, due)
            self._step(key, account)
        return False

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """One all-or-nothing change: a store transaction, and the world's own state restored
        (and its pending events dropped) when the change fails."""
        saved = (self._now, self._next_payout, dict(self._balance))
        try:
            with self.store.transaction():
                yield
        except BaseException:
            self._now, self._next_payout, self._balance = saved
            self._outbox.clear()
            self._endpoints = None
            raise

    def _flush(self, captured: list[Obj] | None = None) -> None:
        """Hand the committed events to the listeners (the server's webhook delivery)."""
        outbox, self._outbox = self._outbox, []
        for event, account in outbox:
            if captured is not None:
                captured.append(event)
            for listener in list(self._listeners):
                try:
                    listener(event, account)
                except Exception:  # a failing listener must not break the world
                    log.exception("sandbox: event listener failed for %s", event["id"])

    def _step(self, key: str, account: str) -> None:
        ledger = self._ledger(account)
        obj = ledger.get(key)
        if obj is None or obj.get("deleted"):
            self.store.set_due(key, account, None)
            return
        if obj["object"] == "subscription":
            billing.step(ledger, obj)
        elif obj["object"] == "payout":
            payments.settle_payout(ledger, obj)
        elif obj["object"] == "checkout.session":
            checkout.lapse(ledger, obj)
        elif obj["object"] == "topup":
            connect.settle_topup(ledger, obj)
        elif obj["object"] == "tax_id":
            customer_children.verify_tax_id(ledger, obj)
        elif obj["object"] == "quote":
            quotes.lapse(ledger, obj)
        elif obj["object"] == "billing.credit_grant":
            credits.lapse(ledger, obj)
        else:
            self.store.set_due(key, account, None)

    def _run_payouts(self, at: int) -> None:
        """The weekly automatic payouts: everything available before `at`, per currency."""
        sums: dict[tuple[str, str], int] = {}
        for (account, currency, window_end), amount in list(self._balance.items()):
            if window_end <= at:
                sums[(account, currency)] = sums.get((account, currency), 0) + amount
                del self._balance[(account, currency, window_end)]
        for (account, currency), amount in sorted(sums.items()):
            if amount > 0:
                payments.create_payout(self._ledger(account), amount, currency, automatic=True)
            elif amount < 0:
                key = (account, currency, at + money.WEEK)
                self._balance[key] = self._balance.get(key, 0) + amount
        for account in (self.account_id, *self.connected_account_ids):
            self._make_available(account, at)

    def _make_available(self, account: str, at: int) -> None:
        """Balance transactions whose funds became available before `at` say so."""
        since = at - 2 * money.WEEK
        for txn_id in self.store.ids("balance_transaction", account=account, created_gte=since):
            txn = self.store.get(txn_id)
            if txn is not None and txn["status"] == "pending" and txn["available_on"] <= at:
                txn["status"] = "available"
                self.store.update(txn)

    def _on_balance(self, account: str, txn: Obj) -> None:
        key = (account, txn["currency"], money.payout_window_end(txn["available_on"]))
        self._balance[key] = self._balance.get(key, 0) + txn["net"]

    # -- events ----------------------------------------------------------------------------------

    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def _emit(self, type: str, obj: Obj, previous: Obj | None, account: str) -> None:
        version = self.event_api_version
        rendered = obj
        if legacy.is_legacy(version):
            rendered = legacy.render(obj, version, self._ledger(account))
        event = shapes.event(
            self._ids.new("evt"),
            type,
            self._now,
            rendered,
            api_version=version,
            previous=previous,
            request_id=self._request_id,
            account=None if account == self.account_id else account,
            pending_webhooks=self._pending_webhooks(type),
        )
        row = row_for(event, account)
        self.store.put_rows([row])
        snapshot = orjson.loads(row[-1])  # later engine steps mutate `obj`; events must not move
        if rendered is not obj:
            self._canonical[event["id"]] = orjson.loads(orjson.dumps(obj))
            while len(self._canonical) > _CANONICAL_KEPT:
                self._canonical.popitem(last=False)
        self._outbox.append((snapshot, account))

    def _pending_webhooks(self, type: str) -> int:
        if self._endpoints is None:
            self._endpoints = [
                endpoint
                for account in (self.account_id, *self.connected_account_ids)
                for endpoint in self.store.iter_objects(
                    "webhook_endpoint", account, include_deleted=False
                )
            ]
        return sum(
            1
            for endpoint in self._endpoints
            if endpoint.get("status") == "enabled"
            and ("*" in endpoint["enabled_events"] or type in endpoint["enabled_events"])
        )

    def endpoints_changed(self) -> None:
        """Forget the cached webhook endpoints: a handler created, updated or deleted one, so
        the next event counts its recipients afresh."""
        self._endpoints = None

    def render_event(self, event: Obj, api_version: str) -> Obj:
        """The event as an endpoint pinned to `api_version` receives it.

        Events are rendered from the object's current shape; an event created in a legacy
        version is re-rendered from the current shape the world kept, or left as it was created.
        """
        if not api_version or event.get("api_version") == api_version:
            return event
        account = event.get("account") or self.account_id
        canonical = self._canonical.get(event["id"])
        if canonical is None:
            if legacy.is_legacy(event.get("api_version")):
                return event
            canonical = event["data"]["object"]
        rendered = legacy.render(canonical, api_version, self._ledger(account))
        return dict(event, api_version=api_version, data=dict(event["data"], object=rendered))

    def render(self, obj: Obj, api_version: str, account: str) -> Obj:
        """A stored (current-layout) object as a request pinned to `api_version` reads it.
        Events are left as they are: each keeps the version it was created in."""
        return legacy.render(obj, api_version, self._ledger(account or self.account_id))

    def webhook_secret(self, endpoint_id: str) -> str:
        secret = self.store.get_meta(f"webhook_secret:{endpoint_id}")
        if secret is None:
            raise missing("webhook_endpoint", endpoint_id)
        return secret

    # -- the write API ---------------------------------------------------------------------------

    def ledger(self, account: str | None) -> StoreLedger:
        """A ledger of another account within the current change: the platform's, for what a
        connected account's change books on it (an application fee)."""
        return self._ledger(account)

    def _ledger(self, account: str | None) -> StoreLedger:
        return StoreLedger(
            self.store,
            account or self.account_id,
            self._ids,
            self._now,
            emit=self._emit,
            on_balance=self._on_balance,
        )

    def _account(self, account: str | None) -> str:
        if account is None or account == self.account_id:
            return self.account_id
        if account not in self.connected_account_ids:
            raise SandboxError(
                403,
                f"The provided key does not have access to account '{account}' (or that account "
                "does not exist). Application access may have been revoked.",
                type="invalid_request_error",
                code="account_invalid",
            )
        return account

    def _call(self, handler: Callable[..., Obj], account: str | None, *args: Any) -> Obj:
        """Run one API change atomically; its events go out once it is committed."""
        with self._lock:
            self._request_id = f"req_{self._ids.token(14)}"
            try:
                with self._changing():
                    ledger = self._ledger(self._account(account))
                    result = orjson.dumps(handler(self, ledger, *args))
                    self._save_state()
            finally:
                self._request_id = None
            self._flush()
            return orjson.loads(result)

    def create(self, resource: str, params: Obj, account: str | None = None) -> Obj:
        handler = resources.CREATE.get(resource)
        if handler is None:
            raise _unrecognized("POST", f"/v1/{resource}")
        return self._call(handler, account, params or {})

    def update(self, resource: str, object_id: str, params: Obj, account: str | None = None) -> Obj:
        handler = resources.UPDATE.get(resource)
        if handler is None:
            raise _unrecognized("POST", f"/v1/{resource}/{object_id}")
        return self._call(handler, account, params or {}, object_id)

    def delete(
        self, resource: str, object_id: str, account: str | None = None, part: str | None = None
    ) -> Obj:
        """DELETE an object, or a `part` of it (`/v1/customers/{id}/discount`)."""
        if part is not None:
            handler = resources.DELETE_PARTS.get((resource, part))
            if handler is None:
                raise _unrecognized("DELETE", f"/v1/{resource}/{object_id}/{part}")
            return self._call(handler, account, {}, object_id)
        handler = resources.DELETE.get(resource)
        if handler is None:
            raise _unrecognized("DELETE", f"/v1/{resource}/{object_id}")
        return self._call(handler, account, {}, object_id)

    def action(
        self, resource: str, object_id: str, action: str, params: Obj, account: str | None = None
    ) -> Obj:
        handler = resources.ACTIONS.get((resource, action))
        if handler is None:
            raise _unrecognized("POST", f"/v1/{resource}/{object_id}/{action}")
        return self._call(handler, account, params or {}, object_id)

    def nested(self, method: str, parts: list[str], params: Obj, account: str | None = None) -> Obj:
        """A write to a customer's nested list (`POST /v1/customers/{id}/tax_ids`,
        `DELETE /v1/customers/{id}/tax_ids/{txi}`...), one change like any other."""
        child_id = parts[3] if len(parts) > 3 else None
        return self._call(
            customer_children.write, account, method, parts[1], parts[2], child_id, params or {}
        )

    # -- reads that need the world -----------------------------------------------------------------

    def persons(self) -> Iterator[dict[str, str]]:
        """Who is behind each generated customer: `distinct_id`, `email`, `name`, `group_key`,
        `account`. The product-analytics side of the demo (the persons and groups files that
        `customer_link` matches against): some customers carry the id in metadata, the others
        only match by email."""
        return self.store.iter_persons()

    def expand(self, obj: Obj, paths: list[str], account: str) -> Obj:
        """Stripe's `expand[]` on a retrieved object or a list page (paths like `data.customer`)."""
        account = account or self.account_id

        def get(object_id: str) -> Obj | None:
            return self.store.get(object_id, account) or self.store.get(object_id)

        def children(parent: str, kind: str) -> list[Obj]:
            return [
                found
                for found in (self.store.get(i) for i in self.store.ids(kind, parent=parent))
                if found is not None
            ]

        return expand_paths(obj, paths, get, children)


def _unrecognized(method: str, path: str) -> SandboxError:
    return SandboxError(404, f"Unrecognized request URL ({method}: {path}).")
