"""Sensors that keep each Stripe table current, made by one factory per table.

`<table>_new_records` (cursor sensor): a cheap probe per tick, `created[gt]=watermark, limit=1`.
When Stripe has newer objects it requests one run per partition they fall in, fetching only
objects created after the watermark (minus an overlap for objects that become visible late;
upserts make the overlap harmless). Run keys carry the new watermark, so a repeated tick
requests nothing twice. The first tick only sets the watermark: history is the backfill's job
(`revenue-assets sync` or the UI).
"""

import json
import os
from datetime import UTC, datetime

import dagster as dg

from revenue_assets.defs.resources import StripeResource
from revenue_assets.defs.stripe.partitions import monthly_partitions
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.stripe_api.errors import StripeAccessError
from revenue_assets.stripe_api.tables import TABLES, StripeTable

# Objects become visible in lists a little after their `created` second: re-fetch this much.
OVERLAP_S = 120
NEW_RECORDS_INTERVAL_S = 60


def _default_status() -> dg.DefaultSensorStatus:
    """Running when a key is configured; otherwise stopped, instead of failing every tick."""
    if os.environ.get("STRIPE_API_KEY"):
        return dg.DefaultSensorStatus.RUNNING
    return dg.DefaultSensorStatus.STOPPED


def table_selection(table: StripeTable) -> list[dg.AssetKey]:
    return [table_key(name) for name in (table.name, *table.child_names)]


def partition_keys_between(start: int, end: int) -> list[str]:
    """Monthly partition keys covering unix times [start, end], within the partitions def."""
    window = dg.TimeWindow(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end + 1, UTC))
    return monthly_partitions.get_partition_keys_in_time_window(window)


def new_records_sensor(table: StripeTable) -> dg.SensorDefinition:
    """The cursor sensor of one table."""

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
    def _sensor(context: dg.SensorEvaluationContext, stripe: StripeResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        watermark = cursor.get("watermark")
        params = {"limit": 1, **table.list_params}
        if watermark is not None:
            params["created"] = {"gt": watermark}
        try:
            page = stripe.access().get(table.path, params, expect_list=True)
        except (StripeAccessError, dg.Failure) as error:
            return dg.SensorResult(skip_reason=f"Could not probe Stripe: {error}")
        if not page["data"]:
            return dg.SensorResult(skip_reason=f"No {table.name} created after {watermark}.")
        newest = int(page["data"][0]["created"])
        if watermark is None:
            return dg.SensorResult(
                skip_reason=f"Watermark set to the newest {table.name} ({newest}); "
                "older objects are the backfill's job.",
                cursor=json.dumps({"watermark": newest}),
            )
        since = watermark - OVERLAP_S
        requests = [
            dg.RunRequest(
                run_key=f"new:{table.name}:{partition}:{newest}",
                partition_key=partition,
                asset_selection=table_selection(table),
                run_config=dg.RunConfig(
                    ops={"stripe_tables": {"config": {"mode": "new", "since": since}}}
                ),
                tags={"trigger": "stripe_new_records", "stripe_table": table.name},
            )
            for partition in partition_keys_between(since, newest)
        ]
        return dg.SensorResult(run_requests=requests, cursor=json.dumps({"watermark": newest}))

    return _sensor


NEW_RECORDS_SENSORS = [new_records_sensor(table) for table in TABLES]
