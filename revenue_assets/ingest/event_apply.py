"""Applying inbox events to the raw tables.

Webhooks arrive at least once and in any order, and events keep the API version they were
created in. For each object, the newest snapshot wins (by event `created`); when two events of
an object share that second, their order is unknowable, so the object is re-fetched instead;
so is an object whose payload lacks the fields a full snapshot has. Writes are guarded by
`_version`, so an older event never undoes a newer list or event. Child lists that a payload
truncates (`has_more`) are paged through their endpoint. `*.deleted` events mark the row
deleted, keeping the payload's last state. `append_inbox_events` keeps every event, of synced
objects or not, in `stripe.event`. An events-only table (discounts: Stripe can neither list nor
retrieve them) is never re-fetched, and `rebuild_from_event_history` writes it from the
payloads `stripe.event` holds.

Events are marked applied in the inbox only after their rows are merged: a crash in between
makes the next run apply them again, which the version guard makes harmless.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from revenue_assets.catalog.tables import StripeTable
from revenue_assets.state.store import InboxEvent, StateStore
from revenue_assets.stripe_api.client import RequestStats, StripeAccess
from revenue_assets.stripe_api.errors import (
    StripeAccessError,
    StripeAuthenticationError,
    StripeRequestError,
)
from revenue_assets.stripe_api.listing import list_children
from revenue_assets.warehouse.connection import DEFAULT_LOCK_TIMEOUT_S, warehouse_connection
from revenue_assets.warehouse.merge import SQL, ensure_tables, merge_files
from revenue_assets.warehouse.spool import Spool, spool_root

# `_source` of rows written from events, by how the event reached the inbox.
ROW_SOURCE = {"webhook": "webhook", "events_api": "event"}


@dataclass
class ApplyOutcome:
    """What applying one table's pending events did."""

    events: int = 0
    objects: int = 0
    refetched: int = 0
    deleted: int = 0
    stats: RequestStats = field(default_factory=RequestStats)
    child_errors: dict[str, StripeAccessError] = field(default_factory=dict)


def apply_pending_events(
    access: StripeAccess,
    database: Any,
    schema: str,
    inbox: StateStore,
    table: StripeTable,
    partition_keys: Iterable[str],
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    skip_children: frozenset[str] = frozenset(),
) -> ApplyOutcome:
    """Apply the unapplied inbox events of `table` in these partitions; child tables in
    `skip_children` are not listed."""
    pending = [event for key in partition_keys for event in inbox.pending(table.name, key)]
    outcome = ApplyOutcome(events=len(pending))
    if not pending:
        return outcome
    by_object: dict[str, list[InboxEvent]] = defaultdict(list)
    for event in pending:
        by_object[event.object_id or event.event_id].append(event)

    spool = Spool(spool_root(inbox.path))
    try:
        for events in by_object.values():
            _apply_object(access, spool, table, events, outcome, skip_children)
        files = spool.rotate()
        with warehouse_connection(database, timeout_s=lock_timeout_s) as connection:
            merge_files(connection, schema, files)  # the callers created the tables
    finally:
        spool.close()
    inbox.mark_applied(event.seq for event in pending)
    return outcome


def _apply_object(
    access: StripeAccess,
    spool: Spool,
    table: StripeTable,
    events: list[InboxEvent],
    outcome: ApplyOutcome,
    skip_children: frozenset[str],
) -> None:
    if table.events_only:
        # Nothing to re-fetch (Stripe cannot retrieve these): the order of `newest_event_first`
        # decides a tie, as in the rebuild from `stripe.event`.
        events.sort(key=lambda e: (e.created, e.is_deleted, e.event_id))
    else:
        events.sort(key=lambda e: (e.created, e.seq))
    newest = events[-1]
    tie = len(events) > 1 and events[-2].created == newest.created
    snapshot = newest.event()["data"]["object"]
    source = ROW_SOURCE.get(newest.source, "event")
    version: float = newest.created
    if newest.is_deleted:
        outcome.deleted += 1
        spool.objects(table.name, [snapshot], version=version, deleted=True, source=source)
        return
    if not table.events_only and (tie or _is_partial(table, snapshot)):
        snapshot, version = _retrieve(access, table, newest.object_id or snapshot["id"], outcome)
        source = "event"
        if snapshot.get("deleted"):
            outcome.deleted += 1
            spool.objects(table.name, [snapshot], version=version, deleted=True, source=source)
            return
    outcome.objects += 1
    spool.objects(table.name, [snapshot], version=version, source=source)
    parent_key = (snapshot["id"], table.created_of(snapshot))
    for child in table.children:
        embedded = (snapshot.get(child.field) if child.embedded else None) or {}
        entries = embedded.get("data") or []
        if entries:
            spool.objects(child.name, entries, version=version, parent=parent_key, source=source)
        if embedded.get("has_more") or child.may_have_children(snapshot):
            if child.name in outcome.child_errors or child.name in skip_children:
                continue
            try:
                pages = list_children(access, child, parent_key[0], outcome.stats, parent=snapshot)
                for fetched in pages:
                    spool.page(
                        child.name,
                        fetched.body,
                        fetched.data,
                        version=version,
                        parent=parent_key,
                        source=source,
                    )
            except StripeAccessError as error:
                if isinstance(error, StripeAuthenticationError) or child.embedded:
                    raise
                outcome.child_errors[child.name] = error  # that child table fails alone


def _is_partial(table: StripeTable, snapshot: dict[str, Any]) -> bool:
    """A payload that cannot stand for the whole object (no `created`, or no embedded child
    list)."""
    if "id" not in snapshot or table.created_of(snapshot) is None:
        return True
    return any(
        not isinstance(snapshot.get(child.field), dict)
        for child in table.children
        if child.embedded
    )


def _retrieve(
    access: StripeAccess, table: StripeTable, object_id: str, outcome: ApplyOutcome
) -> tuple[dict[str, Any], float]:
    """The object's current state and its version; a vanished object counts as deleted."""
    outcome.refetched += 1
    path = f"{table.path}/{object_id}"
    try:
        try:
            params = {"expand": list(table.expand)} if table.expand else {}
            fetched = access.fetch(path, params, outcome.stats)
        except StripeRequestError as error:
            if error.status != 400 or "expand" not in str(error):
                raise
            # An API (or a fake of one) without the expanded field: the object without it.
            fetched = access.fetch(path, {}, outcome.stats)
    except StripeRequestError as error:
        if error.status != 404:
            raise
        return {"id": object_id, "object": table.name, "deleted": True}, time.time()
    return fetched.data, fetched.server_time


def rebuild_from_event_history(
    database: Any,
    schema: str,
    table: StripeTable,
    spools: Path,
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> ApplyOutcome:
    """Write an events-only table (Stripe cannot list it) from the payloads of its events in
    `stripe.event`: the newest event of each object, its deletion as `_deleted`. The rows go
    through the same version-guarded merge as every event, so a rebuild never undoes a newer
    webhook, and running it twice changes nothing. Rows whose events `stripe.event` no longer
    holds stay as they are: absence from the history is not deletion."""
    outcome = ApplyOutcome()
    query = SQL.render("newest_event_first", events=f"{schema}.event")
    with warehouse_connection(database, timeout_s=lock_timeout_s) as connection:
        ensure_tables(connection, schema, ["event", table.name])
        rows = connection.execute(query, [table.object, list(table.event_types)]).fetchall()
    if not rows:
        return outcome
    spool = Spool(spools)
    try:
        for payload, created, deleted in rows:
            snapshot = orjson.loads(payload)
            spool.objects(table.name, [snapshot], version=created, deleted=deleted, source="event")
            outcome.deleted += deleted
            outcome.objects += not deleted
        files = spool.rotate()
        with warehouse_connection(database, timeout_s=lock_timeout_s) as connection:
            merge_files(connection, schema, files)
    finally:
        spool.close()
    outcome.events = len(rows)
    return outcome


def append_inbox_events(
    database: Any,
    schema: str,
    inbox: StateStore,
    windows: list[tuple[int, int]],
    *,
    after_seq: int = 0,
    through_seq: int | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> int:
    """Keep inbox events created in `windows` in `stripe.event`: the change history, also for
    objects no table syncs and beyond Stripe's 30 days. Returns how many events were written."""
    spool = Spool(spool_root(inbox.path))
    written = 0
    try:
        cursor = after_seq
        while True:
            batch = inbox.read_after(cursor, limit=5_000)
            if through_seq is not None:
                batch = [event for event in batch if event.seq <= through_seq]
            if not batch:
                break
            for event in batch:
                if any(start <= event.created < end for start, end in windows):
                    source = ROW_SOURCE.get(event.source, "event")
                    spool.objects("event", [event.event()], version=event.created, source=source)
                    written += 1
            cursor = batch[-1].seq
        files = spool.rotate()
        if files:
            with warehouse_connection(database, timeout_s=lock_timeout_s) as connection:
                merge_files(connection, schema, files)
    finally:
        spool.close()
    return written
