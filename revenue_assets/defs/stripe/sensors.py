"""Sensors that keep the Stripe tables current: two per table (made by the factories below, called
from the table's definitions) and one Events API pull for all.

`<table>_webhooks`: drains the event inbox (fed by the webhook receiver and by the Events API
pull below) by its `seq` cursor and requests one run per partition touched, which applies the
partition's pending events. Run keys carry the newest `seq`, so a repeated tick is harmless
and events that arrive during a run get a run of their own. A sensor cannot see whether its
runs succeed, but the inbox can: a partition whose events are still unapplied RETRY_AFTER_S
after they arrived (its run failed, or was canceled) is requested again, once per period.

`stripe_events_pull`: walks `/v1/events` forward from the last event seen into the inbox
(by `created` when that event has expired): it fills webhook gaps and keeps tables current
when no webhook is set up. If it was stopped
longer than Stripe keeps events (30 days), changes may be lost: it warns and requests a full
re-list of every table instead of pretending nothing happened.

`<table>_new_records` (cursor sensor): a cheap probe per tick, `created[gte]=watermark`: the
objects of the watermark's second and after, the ones seen in that second kept in the cursor.
When Stripe lists objects the cursor has not seen, and the inbox holds no event of some of
them (webhooks bring most new objects first), it requests one run per partition they fall in,
fetching only objects created since the watermark (minus an overlap for objects that become
visible late; upserts make the overlap harmless). Run keys carry the new watermark and the new
ids, so a repeated tick requests nothing twice. The first tick only sets the watermark: history
is the backfill's job (`revenue-assets sync` or the UI).

Full-refresh tables (Stripe's list takes no `created` filter, e.g. billing meters) have no
partitions and no watermark to probe after: their `<table>_new_records` reads the first page
(newest first) and requests an unpartitioned run, listing the table whole, when its ids differ
from the last tick's; their `<table>_webhooks` requests one unpartitioned run for all their
events, which the inbox keeps under no partition.

Events-only tables (Stripe has no list of the object, e.g. discounts) have nothing to probe at
Stripe: their `<table>_new_records` watches `stripe.event` instead, and rebuilds the table from
it when the history holds events the table has not caught up with (the event table's own
sensors bring them in); their `<table>_webhooks` applies their events like a full refresh's.
"""

import hashlib
import json
import os
import time
from collections import defaultdict
from datetime import UTC, datetime

import dagster as dg
from filelock import Timeout

from revenue_assets.catalog.months import key_of_timestamp, keys_between_timestamps
from revenue_assets.catalog.tables import TABLES, StripeTable
from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
from revenue_assets.defs.stripe.config import StripeSyncConfig, sync_run_config
from revenue_assets.defs.stripe.partitions import monthly_partitions
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.ingest.events_pull import pull_forward
from revenue_assets.state.store import PendingPartition, StateStore
from revenue_assets.stripe_api.errors import StripeAccessError
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import SQL as WAREHOUSE_SQL
from revenue_assets.warehouse.merge import ensure_tables

# Objects become visible in lists a little after their `created` second: re-fetch this much.
OVERLAP_S = 120
# The probe lists from the watermark's second itself (`created[gte]`), not after it: Stripe's
# `created` counts seconds, and an object created in the second of the newest one seen, after
# the tick that saw it, is newer without being later. A strict `gt` left it unsynced until an
# object of a later second came, which on a quiet account (or a table that gets one object per
# change, like balance transactions) could be never. The ids seen in that second are kept in
# the cursor; a page of them is enough, as many as can share a second between two ticks.
PROBE_LIMIT = 100
NEW_RECORDS_INTERVAL_S = 60
WEBHOOK_INTERVAL_S = 5
EVENTS_PULL_INTERVAL_S = 30
EVENTS_RETENTION_S = 30 * 86_400
RETRY_AFTER_S = 300
# A sensor tick is short: it gives up on a warehouse a run holds rather than wait for it.
SENSOR_LOCK_TIMEOUT_S = 10.0


def _default_status() -> dg.DefaultSensorStatus:
    """Running when a key is configured; otherwise stopped, instead of failing every tick."""
    if os.environ.get("STRIPE_API_KEY"):
        return dg.DefaultSensorStatus.RUNNING
    return dg.DefaultSensorStatus.STOPPED


def table_selection(table: StripeTable) -> list[dg.AssetKey]:
    return [table_key(name) for name in (table.name, *table.child_names)]


def partition_keys_between(start: int, end: int) -> list[str]:
    """Monthly partition keys whose months overlap unix times [start, end] (existing ones only)."""
    valid = set(monthly_partitions.get_partition_keys())
    return [key for key in keys_between_timestamps(start, end) if key in valid]


# Ids of a full-refresh table's first page whose change means objects were added or removed.
FIRST_PAGE_IDS = 10


def new_records_sensor(table: StripeTable) -> dg.SensorDefinition:
    """The cursor sensor of one table."""
    if table.full_refresh:
        return _first_page_sensor(table)
    if table.events_only:
        return _event_history_sensor(table)

    @dg.sensor(
        name=f"{table.name}_new_records",
        description=(
            f"Probes {table.path} for objects created after the last one seen and syncs just "
            "those, in the partitions they fall in."
        ),
        asset_selection=table_selection(table),
        minimum_interval_seconds=NEW_RECORDS_INTERVAL_S,
        default_status=_default_status(),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, stripe: StripeResource, state: StateResource
    ) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        watermark = cursor.get("watermark")
        seen = set(cursor.get("seen", ()))
        params = {"limit": PROBE_LIMIT, **table.list_params}
        if watermark is not None:
            params["created"] = {"gte": watermark}
        try:
            page = stripe.access(quick=True).get(table.path, params, expect_list=True)
        except (StripeAccessError, dg.Failure) as error:
            return dg.SensorResult(skip_reason=f"Could not probe Stripe: {error}")
        unseen = [obj.get("id") for obj in page["data"] if obj.get("id") not in seen]
        if not unseen:
            return dg.SensorResult(skip_reason=f"No {table.name} created after {watermark}.")
        newest = table.created_of(page["data"][0])
        if newest is None:
            return dg.SensorResult(
                skip_reason=f"The newest {table.name} Stripe listed has no `{table.created_field}`."
            )
        next_cursor = json.dumps(
            {
                "watermark": newest,
                "seen": [o.get("id") for o in page["data"] if table.created_of(o) == newest],
            }
        )
        if watermark is None:
            return dg.SensorResult(
                skip_reason=f"Watermark set to the newest {table.name} ({newest}); "
                "older objects are the backfill's job.",
                cursor=next_cursor,
            )
        # New objects whose events the inbox already holds (webhooks, the Events API pull) are
        # the inbox sensor's: listing them again cost a run per table a minute under a stream
        # of changes (at 1M invoice lines, 20 runs in 10 minutes, each a process and a turn at
        # the warehouse). Objects Stripe sends no event of (balance transactions) are listed.
        with state.store() as inbox:
            received = inbox.received(unseen, events=table.name == "event")
        if received.issuperset(unseen):
            return dg.SensorResult(
                skip_reason=f"{len(unseen)} new {table.name} object(s), every one already "
                "received as an event (the inbox sensor applies them): nothing to list.",
                cursor=next_cursor,
            )
        since = watermark - OVERLAP_S
        # the new ids in the key: an object created in the watermark's second is new, though
        # its run's newest second is the last run's
        batch = hashlib.sha256(",".join(sorted(map(str, unseen))).encode()).hexdigest()[:12]
        requests = [
            dg.RunRequest(
                run_key=f"new:{table.name}:{partition}:{newest}:{batch}",
                partition_key=partition,
                asset_selection=table_selection(table),
                run_config=sync_run_config(StripeSyncConfig(mode="new", since=since)),
                tags={"trigger": "stripe_new_records", "stripe_table": table.name},
            )
            for partition in partition_keys_between(since, newest)
        ]
        return dg.SensorResult(run_requests=requests, cursor=next_cursor)

    return _sensor


def _first_page_sensor(table: StripeTable) -> dg.SensorDefinition:
    """The new-records sensor of a full-refresh table: with no `created` filter to probe, it
    compares the newest ids (a digest, the cursor) and lists the table whole when they change.
    A probe rather than a fixed interval: a run costs a listing of the whole table, the probe
    one request, and nothing is listed while nothing was added (changes come by webhook)."""

    @dg.sensor(
        name=f"{table.name}_new_records",
        description=(
            f"Reads the first page of {table.path} (its list has no creation-time filter) and "
            "lists the table whole when its newest ids changed."
        ),
        asset_selection=table_selection(table),
        minimum_interval_seconds=NEW_RECORDS_INTERVAL_S,
        default_status=_default_status(),
    )
    def _sensor(context: dg.SensorEvaluationContext, stripe: StripeResource) -> dg.SensorResult:
        params = {"limit": FIRST_PAGE_IDS, **table.list_params}
        try:
            page = stripe.access(quick=True).get(table.path, params, expect_list=True)
        except (StripeAccessError, dg.Failure) as error:
            return dg.SensorResult(skip_reason=f"Could not probe Stripe: {error}")
        ids = " ".join(str(obj.get("id")) for obj in page["data"])
        digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
        if context.cursor is None:
            return dg.SensorResult(
                skip_reason=f"Noted the newest {table.name} ids; the table itself is the "
                "backfill's job.",
                cursor=digest,
            )
        if digest == context.cursor:
            return dg.SensorResult(skip_reason=f"The newest {table.name} ids are unchanged.")
        request = dg.RunRequest(
            run_key=f"new:{table.name}:{digest}",
            asset_selection=table_selection(table),
            run_config=sync_run_config(StripeSyncConfig(mode="full")),
            tags={"trigger": "stripe_new_records", "stripe_table": table.name},
        )
        return dg.SensorResult(run_requests=[request], cursor=digest)

    return _sensor


def _event_history_sensor(table: StripeTable) -> dg.SensorDefinition:
    """The new-records sensor of an events-only table. Stripe has no list of these objects to
    probe, and the Events API is the event table's to read: this one asks the warehouse
    whether `stripe.event` holds events newer than the table's rows (the event table's listing
    or backfill brought them, with no inbox in between) and rebuilds the table from the
    history when it does. It sends no request to Stripe."""
    object_types = list(table.event_types)

    @dg.sensor(
        name=f"{table.name}_new_records",
        description=(
            f"Stripe has no list of {table.name}s to probe: watches `stripe.event` for "
            f"{table.name} events the table has not caught up with and rebuilds "
            f"`stripe.{table.name}` from them (no request to Stripe)."
        ),
        asset_selection=table_selection(table),
        minimum_interval_seconds=NEW_RECORDS_INTERVAL_S,
        default_status=_default_status(),
    )
    def _sensor(
        context: dg.SensorEvaluationContext, warehouse: WarehouseResource
    ) -> dg.SensorResult:
        try:
            events, newest, behind = _behind_history(warehouse, table, object_types)
        except Timeout:
            return dg.SensorResult(skip_reason="The warehouse is busy (a run holds it).")
        cursor = f"{events}:{newest}"
        if context.cursor is None:
            return dg.SensorResult(
                skip_reason=f"Noted the newest {table.name} events of stripe.event; the table "
                "itself is the backfill's job.",
                cursor=cursor,
            )
        if cursor == context.cursor or not behind:
            return dg.SensorResult(
                skip_reason=f"stripe.{table.name} is as current as stripe.event "
                "(Stripe has no list of them to probe).",
                cursor=cursor,
            )
        request = dg.RunRequest(
            run_key=f"history:{table.name}:{cursor}",
            asset_selection=table_selection(table),
            run_config=sync_run_config(StripeSyncConfig(mode="full")),
            tags={"trigger": "stripe_new_records", "stripe_table": table.name},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor


def _behind_history(
    warehouse: WarehouseResource, table: StripeTable, event_types: list[str]
) -> tuple[int, int, int]:
    """(events of `table` in stripe.event, the newest one's time, objects behind them); all
    zero before the first sync made the warehouse (a sensor creates no file)."""
    if not os.path.exists(warehouse.database):
        return 0, 0, 0
    schema = warehouse.stripe_schema
    query = WAREHOUSE_SQL.render(
        "events_only_behind", events=f"{schema}.event", target=f"{schema}.{table.name}"
    )
    with warehouse_connection(warehouse.database, timeout_s=SENSOR_LOCK_TIMEOUT_S) as connection:
        ensure_tables(connection, schema, ["event", table.name])
        return connection.execute(query, [table.object, event_types]).fetchone()


def _valid_partitions(table: StripeTable) -> set[str | None]:
    """The partition keys a table's events may be run in: the months, or None alone for a
    full-refresh or events-only table (its events belong to no month)."""
    if table.unpartitioned:
        return {None}
    return set(monthly_partitions.get_partition_keys())


def webhook_sensor(table: StripeTable) -> dg.SensorDefinition:
    """The inbox sensor of one table. The event table's sensor takes every event (of synced
    objects or not) into the change history, by the month the event was created."""
    history = table.name == "event"

    @dg.sensor(
        name=f"{table.name}_webhooks",
        description=(
            f"Applies {table.name} events from the inbox (webhooks and the Events API pull): "
            "one run per partition touched, newest snapshot per object."
        ),
        asset_selection=table_selection(table),
        minimum_interval_seconds=WEBHOOK_INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext, state: StateResource) -> dg.SensorResult:
        # Under a steady stream, a run per partition per tick would be launched faster than
        # runs start (each is a process that boots for seconds) and cost a boot per event.
        # A partition whose run is on its way gets no second one: that run applies whatever
        # is pending when its step starts. The event table's runs append a fixed range of the
        # inbox instead, so while one of them is on its way, newer events wait for the next.
        on_their_way = _partitions_with_a_run_on_its_way(context.instance, table)
        if history and on_their_way:
            return dg.SensorResult(
                skip_reason="An event webhook run is still queued or starting: newer events "
                "wait for it to start, then go in one run."
            )
        cursor = int(context.cursor or 0)
        valid = _valid_partitions(table)
        with state.store() as inbox:
            events = inbox.read_after(
                cursor, limit=50_000, table=None if history else table.name, with_payload=False
            )
            stalled = [] if history else _stalled_partitions(inbox, table, cursor, valid)
        newest_seq: dict[str | None, int] = defaultdict(int)
        outside = 0
        for event in events:
            key = key_of_timestamp(event.created) if history else event.partition_key
            if key in valid:
                newest_seq[key] = max(newest_seq[key], event.seq)
            else:
                outside += 1
        if outside:
            context.log.warning(
                f"{outside} {table.name} event(s) concern objects outside the partitions "
                "(created before REVENUE_ASSETS_SYNC_START, or without `created`): not applied."
            )
        requests = [
            _events_run(table, partition, cursor, seq, f"webhook:{table.name}:{partition}:{seq}")
            for partition, seq in sorted(newest_seq.items(), key=lambda item: item[0] or "")
            if partition not in on_their_way
        ]
        period = int(time.time() // RETRY_AFTER_S)
        for pending in stalled:
            if pending.partition_key not in newest_seq.keys() | on_their_way:
                context.log.warning(
                    f"{pending.events} {table.name} event(s) of {pending.partition_key} are "
                    f"still unapplied {RETRY_AFTER_S} s after they arrived: requesting their run "
                    "again (the last one failed or was canceled)."
                )
                key = f"retry:{table.name}:{pending.partition_key}:{pending.last_seq}:{period}"
                requests.append(
                    _events_run(table, pending.partition_key, cursor, pending.last_seq, key)
                )
        next_cursor = str(events[-1].seq) if events else None
        if not requests:
            return dg.SensorResult(skip_reason=f"No new {table.name} events.", cursor=next_cursor)
        return dg.SensorResult(run_requests=requests, cursor=next_cursor)

    return _sensor


# A run in these states has not started its step yet: it will read the inbox after now.
_ON_ITS_WAY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]


def _partitions_with_a_run_on_its_way(
    instance: dg.DagsterInstance, table: StripeTable
) -> set[str | None]:
    """Partitions (None: an unpartitioned table's) with a webhook run of `table` queued or
    starting."""
    records = instance.get_run_records(
        dg.RunsFilter(
            statuses=_ON_ITS_WAY, tags={"trigger": "stripe_webhook", "stripe_table": table.name}
        )
    )
    return {record.dagster_run.tags.get("dagster/partition") for record in records}


def _stalled_partitions(
    inbox: StateStore, table: StripeTable, cursor: int, valid: set[str | None]
) -> list[PendingPartition]:
    """Partitions whose events a run was already requested for (seq <= cursor) and that are
    still unapplied RETRY_AFTER_S after they arrived."""
    now = time.time()
    return [
        pending
        for pending in inbox.pending_partitions(table.name)
        if pending.partition_key in valid
        and pending.last_seq <= cursor
        and now - pending.oldest_received_at >= RETRY_AFTER_S
    ]


def _events_run(
    table: StripeTable, partition: str | None, after_seq: int, through_seq: int, run_key: str
) -> dg.RunRequest:
    """A run applying a partition's pending events (the event table: its inbox events with
    `seq` in (after_seq, through_seq]). `partition=None`: a full-refresh table's run."""
    return dg.RunRequest(
        run_key=run_key,
        partition_key=partition,
        asset_selection=table_selection(table),
        run_config=sync_run_config(
            StripeSyncConfig(mode="events", after_seq=after_seq, through_seq=through_seq)
        ),
        tags={"trigger": "stripe_webhook", "stripe_table": table.name},
    )


@dg.sensor(
    name="stripe_events_pull",
    description=(
        "Pulls new events from Stripe's /v1/events into the inbox: fills webhook gaps and keeps "
        "tables current without a webhook. Warns and requests a full re-list after a gap longer "
        "than Stripe's 30-day event retention."
    ),
    minimum_interval_seconds=EVENTS_PULL_INTERVAL_S,
    default_status=_default_status(),
    asset_selection=[key for table in TABLES for key in table_selection(table)],
)
def stripe_events_pull(
    context: dg.SensorEvaluationContext, stripe: StripeResource, state: StateResource
) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    try:
        access = stripe.access(quick=True)
        if not cursor.get("id") and not cursor.get("created"):
            page = access.get("/v1/events", {"limit": 1}, expect_list=True)
            if not page["data"]:
                return dg.SensorResult(skip_reason="Stripe has no events yet.")
            newest = page["data"][0]
            return dg.SensorResult(
                skip_reason="Started from the newest event; older changes are the backfill's job.",
                cursor=json.dumps(
                    {"id": newest["id"], "created": newest["created"], "pulled_at": time.time()}
                ),
            )
        if time.time() - cursor.get("pulled_at", time.time()) > EVENTS_RETENTION_S:
            return _relist_after_gap(context, cursor)
        with state.store() as inbox:
            pulled, cursor = pull_forward(access, inbox, cursor)
    except (StripeAccessError, dg.Failure) as error:
        return dg.SensorResult(skip_reason=f"Could not pull events: {error}")
    if not pulled:
        return dg.SensorResult(skip_reason="No new events.", cursor=json.dumps(cursor))
    context.log.info(f"Pulled {pulled} event(s) into the inbox.")
    return dg.SensorResult(cursor=json.dumps(cursor))


def _relist_after_gap(context: dg.SensorEvaluationContext, cursor: dict) -> dg.SensorResult:
    last = datetime.fromtimestamp(cursor["pulled_at"], UTC).isoformat()
    message = (
        f"Events were last pulled at {last}, longer ago than Stripe keeps events (30 days): "
        "changes in between may be lost. Requesting a full re-list of every table."
    )
    context.log.warning(message)
    keys = monthly_partitions.get_partition_keys()
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"relist:{cursor['pulled_at']}",
                asset_selection=[key for table in TABLES for key in table_selection(table)],
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                    "trigger": "stripe_events_gap",
                },
            )
        ],
        cursor=json.dumps({}),  # the next tick starts again from the newest event
    )
