"""Where the billing engine reads and writes objects: in memory (history) or in the store (live).

The engine is one piece of code for both history generation and live changes (so both produce the
same shapes). It only talks to a `Ledger`:

- `MemoryLedger` holds one customer's objects while the generator replays its life over past time,
  then turns them into store rows in one go (fast, bounded memory: one customer at a time).
- `StoreLedger` reads and writes the SQLite store during one live operation (an API call, one step
  of `World.advance`), and hands events to the world, which stores and delivers them.

Both return the *same dict* for repeated `get`s of an id, so the engine can mutate and `put` back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import orjson

from revenue_assets.sandbox import legacy, money, shapes
from revenue_assets.sandbox.ids import Ids
from revenue_assets.sandbox.store import Row, Store, row_for

Obj = dict[str, Any]

EVENT_RETENTION = 30 * money.DAY


class Ledger(Protocol):
    account: str
    now: int
    ids: Ids

    @property
    def emitting(self) -> bool:
        """Whether events emitted now are kept (lets the engine skip building snapshots)."""
        ...

    def get(self, object_id: str) -> Obj | None: ...
    def put(self, obj: Obj, parent: str | None = None) -> None: ...
    def children(self, parent: str, kind: str) -> list[Obj]: ...
    def pending_items(self, customer: str) -> list[Obj]: ...
    def by_customer(self, customer: str, kind: str) -> list[Obj]: ...
    def emit(self, type: str, obj: Obj, previous: Obj | None = None) -> None: ...
    def on_balance(self, txn: Obj) -> None: ...
    def schedule(self, key: str, due: int | None) -> None: ...
    def balance_status(self, available: int) -> str: ...
    def tombstone(self, object_id: str) -> Obj | None: ...
    def aside(self, key: str) -> AbstractContextManager[Ids]: ...


class MemoryLedger:
    """One customer's world while the generator replays its history (see module docstring)."""

    def __init__(
        self,
        account: str,
        ids: Ids,
        catalog: dict[str, Obj],
        *,
        horizon: int,
        platform: str,
        api_version: str,
        balance: dict[tuple[str, str, int], int],
        event_ids: Ids,
    ) -> None:
        self.account = account
        self.ids = ids
        self.now = 0
        self._catalog = catalog
        self._horizon = horizon
        self.platform = platform
        self._events_from = horizon - EVENT_RETENTION
        self._api_version = api_version
        self._legacy = legacy.is_legacy(api_version)
        self._balance = balance
        self._event_ids = event_ids
        self._objects: dict[str, list[Any]] = {}  # id -> [obj, parent, created]
        self._children: dict[tuple[str, str], list[str]] = {}
        self._pending: dict[str, list[str]] = {}
        self.event_rows: list[Row] = []
        self.due: dict[str, int] = {}

    @property
    def emitting(self) -> bool:
        return self.now >= self._events_from

    def get(self, object_id: str) -> Obj | None:
        entry = self._objects.get(object_id)
        if entry is not None:
            return entry[0]
        return self._catalog.get(object_id)

    def put(self, obj: Obj, parent: str | None = None) -> None:
        object_id = obj["id"]
        entry = self._objects.get(object_id)
        if entry is None:
            self._objects[object_id] = [obj, parent, obj.get("created", self.now)]
            if parent is not None:
                self._children.setdefault((parent, obj["object"]), []).append(object_id)
            if obj["object"] == "invoiceitem":
                self._pending.setdefault(obj["customer"], []).append(object_id)
        else:
            entry[0] = obj
            if parent is not None and entry[1] != parent:
                entry[1] = parent
                self._children.setdefault((parent, obj["object"]), []).append(object_id)

    def children(self, parent: str, kind: str) -> list[Obj]:
        return [self._objects[i][0] for i in self._children.get((parent, kind), ())]

    def objects_of_kind(self, kind: str) -> list[Obj]:
        return [entry[0] for entry in self._objects.values() if entry[0]["object"] == kind]

    def parent_of(self, object_id: str) -> str | None:
        entry = self._objects.get(object_id)
        return entry[1] if entry else None

    def pending_items(self, customer: str) -> list[Obj]:
        items = (self._objects[i][0] for i in self._pending.get(customer, ()))
        return [item for item in items if item.get("invoice") is None and not item.get("deleted")]

    def by_customer(self, customer: str, kind: str) -> list[Obj]:
        return [
            entry[0]
            for entry in self._objects.values()
            if entry[0]["object"] == kind and entry[0].get("customer") == customer
        ]

    def emit(self, type: str, obj: Obj, previous: Obj | None = None) -> None:
        if self.now < self._events_from:
            return  # Stripe keeps 30 days of events
        if self._legacy:
            obj = legacy.render(obj, self._api_version, self)
        event = shapes.event(
            self._event_ids.new("evt"),
            type,
            self.now,
            obj,
            api_version=self._api_version,
            previous=previous,
            account=None if self.account == self.platform else self.account,
        )
        self.event_rows.append(row_for(event, self.account))  # serialized now: a snapshot

    def on_balance(self, txn: Obj) -> None:
        key = (self.account, txn["currency"], money.payout_window_end(txn["available_on"]))
        self._balance[key] = self._balance.get(key, 0) + txn["net"]

    def schedule(self, key: str, due: int | None) -> None:
        if due is None:
            self.due.pop(key, None)
        else:
            self.due[key] = due

    def balance_status(self, available: int) -> str:
        return "available" if available <= self._horizon else "pending"

    @contextmanager
    def aside(self, key: str) -> Iterator[Ids]:
        """Ids (of objects and of events) drawn from a stream of their own, named by `key`.

        The customer's stream is also its story's random generator: what objects added later to
        the generator (a customer's payment methods, tax ids...) draw from it would change every
        later choice of the story, and with them the company's figures. Made aside, they leave
        the rest of the company exactly as it was.
        """
        streams = self.__dict__.setdefault("_aside", {})
        side = streams.get(key)
        if side is None:
            side = streams[key] = Ids.for_stream(0, f"aside/{key}")
        saved = self.ids, self._event_ids
        self.ids = self._event_ids = side
        try:
            yield side
        finally:
            self.ids, self._event_ids = saved

    def tombstone(self, object_id: str) -> Obj | None:
        return self._catalog.get(object_id)

    def rows(self) -> list[Row]:
        """Every object as a store row, in creation order, followed by the events."""
        account = self.account
        out: list[Row] = []
        dumps = orjson.dumps
        for obj, parent, created in self._objects.values():
            customer = obj.get("customer")
            kind = obj["object"]
            status = obj.get("status")
            out.append(
                (
                    obj["id"],
                    account,
                    kind,
                    created,
                    parent,
                    customer if isinstance(customer, str) else None,
                    status if isinstance(status, str) else None,
                    1 if obj.get("deleted") else 0,
                    dumps(obj),
                )
            )
        out.extend(self.event_rows)
        return out


class StoreLedger:
    """The live world during one operation: reads and writes through to the store."""

    def __init__(
        self,
        store: Store,
        account: str,
        ids: Ids,
        now: int,
        *,
        emit: Callable[[str, Obj, Obj | None, str], None],
        on_balance: Callable[[str, Obj], None],
    ) -> None:
        self.store = store
        self.account = account
        self.ids = ids
        self.now = now
        self._emit = emit
        self._on_balance = on_balance
        self._cache: dict[str, Obj] = {}

    emitting = True

    def get(self, object_id: str) -> Obj | None:
        obj = self._cache.get(object_id)
        if obj is None:
            obj = self.store.get(object_id, self.account)
            if obj is not None:
                self._cache[object_id] = obj
        return obj

    def put(self, obj: Obj, parent: str | None = None) -> None:
        object_id = obj["id"]
        known = object_id in self._cache  # read or written earlier in this operation
        self._cache[object_id] = obj
        if parent is None and known:
            try:
                self.store.update(obj)  # keeps the parent it was stored under
                return
            except KeyError:
                pass
        self.store.put(obj, self.account, parent=parent)

    def children(self, parent: str, kind: str) -> list[Obj]:
        found = (self.get(i) for i in self.store.ids(kind, parent=parent, include_deleted=True))
        return [obj for obj in found if obj is not None]

    def pending_items(self, customer: str) -> list[Obj]:
        found = (self.get(i) for i in self.store.ids("invoiceitem", customer=customer))
        return [obj for obj in found if obj is not None and obj.get("invoice") is None]

    def by_customer(self, customer: str, kind: str) -> list[Obj]:
        found = (self.get(i) for i in self.store.ids(kind, account=self.account, customer=customer))
        return [obj for obj in found if obj is not None]

    def emit(self, type: str, obj: Obj, previous: Obj | None = None) -> None:
        self._emit(type, obj, previous, self.account)

    def on_balance(self, txn: Obj) -> None:
        self._on_balance(self.account, txn)

    def schedule(self, key: str, due: int | None) -> None:
        self.store.set_due(key, self.account, due)

    def balance_status(self, available: int) -> str:
        return "available" if available <= self.now else "pending"

    @contextmanager
    def aside(self, key: str) -> Iterator[Ids]:
        """The live world has one stream for everything (see `MemoryLedger.aside`)."""
        yield self.ids

    def tombstone(self, object_id: str) -> Obj | None:
        return self.store.get_meta(f"tombstone:{object_id}")

    def parent_of(self, object_id: str) -> str | None:
        return self.store.parent_of(object_id)
