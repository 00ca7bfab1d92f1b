"""Full-refresh tables (Stripe's list takes no `created` filter: billing meters) synced from the
sandbox over HTTP: listed whole, unpartitioned, in the same multi-asset run as the monthly
tables; rows equal what the sandbox serves; a change or a disappearance is followed by the next
run; their events wait in the inbox under no partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from revenue_assets.catalog.tables import FULL_REFRESH_TABLES, TABLES_BY_NAME
from revenue_assets.definitions import defs
from revenue_assets.defs.stripe.definitions import stripe_tables
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.state.events import summarize
from revenue_assets_tests.helpers import (
    access_for,
    assert_missing_permission_fails_that_table_alone,
    assert_rows_are_served,
    company_range,
    served,
    sync_sandbox,
    warehouse_rows,
)
from revenue_assets_tests.sync.daemon import sync_resources

# Table -> fields compared with their typed columns.
FULL_REFRESH: dict[str, tuple[str, ...]] = {
    "billing_meter": ("display_name", "event_name", "status", "event_time_window"),
    "payment_link": ("active", "currency", "url", "submit_type"),
    "entitlement_feature": ("active", "lookup_key", "name"),
    "quote": ("status", "customer", "amount_total", "number", "collection_method"),
    "credit_grant": ("customer", "category", "name", "priority"),
}


def test_every_full_refresh_table_is_tested_here() -> None:
    assert {table.name for table in FULL_REFRESH_TABLES} == set(FULL_REFRESH)


def test_full_refresh_assets_are_unpartitioned_in_the_one_multi_asset() -> None:
    graph = defs.resolve_asset_graph()
    for name in FULL_REFRESH:
        node = graph.get(table_key(name))
        assert node.partitions_def is None
        assert "full refresh: listed whole on every run" in (node.description or "").lower()
    assert graph.get(table_key("charge")).partitions_def is not None
    assert {table_key(name) for name in FULL_REFRESH} <= set(stripe_tables.keys)


@pytest.fixture(scope="module")
def synced(sandbox_session_factory, tmp_path_factory):
    """The full-refresh tables and a monthly one, materialized as `revenue-assets sync` does:
    one run of the shared multi-asset over the company's partition range."""
    sandbox = sandbox_session_factory()
    folder = tmp_path_factory.mktemp("full_refresh")
    database = folder / "warehouse.duckdb"
    first, last = company_range(sandbox)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [stripe_tables],
            instance=instance,
            resources=sync_resources(sandbox, database, folder / "state.sqlite"),
            selection=[table_key(name) for name in (*FULL_REFRESH, "charge")],
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert result.success
        materializations = [
            event.event_specific_data.materialization
            for event in result.get_asset_materialization_events()
        ]
        materialized = {m.asset_key.path[-1]: m.partition for m in materializations}
    return sandbox, database, materialized


@pytest.mark.parametrize("table", list(FULL_REFRESH))
def test_rows_equal_what_the_sandbox_serves(synced, table: str) -> None:
    sandbox, database, materialized = synced
    assert table in materialized and materialized[table] is None  # one unpartitioned result
    assert materialized["charge"] is not None
    assert_rows_are_served(sandbox, database, table, FULL_REFRESH[table])


def test_monthly_tables_still_sync_in_that_run(synced) -> None:
    sandbox, database, _ = synced
    assert set(warehouse_rows(database, "charge")) == set(served(sandbox, "/v1/charges"))


@pytest.mark.parametrize("table", list(FULL_REFRESH))
def test_a_key_without_the_tables_permission_fails_that_table_only(
    sandbox_session, tmp_path: Path, table: str
) -> None:
    assert_missing_permission_fails_that_table_alone(sandbox_session, tmp_path / "w.duckdb", table)


def test_the_next_run_follows_a_changed_and_a_vanished_meter(sandbox, tmp_path: Path) -> None:
    table = TABLES_BY_NAME["billing_meter"]
    database = tmp_path / "w.duckdb"
    assert sync_sandbox(sandbox, database, tables=[table], partitions=[])["billing_meter"].ok
    meters = served(sandbox, table.path)
    changed, vanished = sorted(meters)[:2]
    world = sandbox.world
    world.update("billing/meters", changed, {"display_name": "Renamed meter"})
    world.action("billing/meters", changed, "deactivate", {})
    world.store.mark_deleted(vanished)  # gone from the list, as a removed object is

    # A new-records run (`since`) lists a full-refresh table whole all the same.
    outcome = sync_sandbox(sandbox, database, tables=[table], partitions=[], since=world.now)
    assert outcome["billing_meter"].ok
    assert outcome["billing_meter"].marked_deleted["billing_meter"] == 1
    rows = warehouse_rows(database, "billing_meter")
    assert rows[changed]["display_name"] == "Renamed meter"
    assert rows[changed]["status"] == "inactive"
    assert rows[vanished]["_deleted"] is True
    live = {object_id for object_id, row in rows.items() if not row["_deleted"]}
    assert live == set(served(sandbox, table.path))


def test_a_failed_listing_marks_nothing_deleted(sandbox, tmp_path: Path) -> None:
    """Deletion marking needs a complete listing: a key that may not read the table marks none
    of its rows."""
    table = TABLES_BY_NAME["billing_meter"]
    database = tmp_path / "w.duckdb"
    sync_sandbox(sandbox, database, tables=[table], partitions=[])
    key = sandbox.restricted_key(["rak_charge_read"])
    outcome = sync_sandbox(
        sandbox, database, tables=[table], partitions=[], access=access_for(sandbox, key=key)
    )
    assert not outcome["billing_meter"].ok
    connection = duckdb.connect(str(database), read_only=True)
    try:
        deleted = connection.execute(
            "SELECT count(*) FROM stripe.billing_meter WHERE _deleted"
        ).fetchone()[0]
    finally:
        connection.close()
    assert deleted == 0


def _event(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "type": "x.updated",
        "created": 1,
        "data": {"object": obj},
    }


def test_events_of_full_refresh_objects_wait_under_no_partition() -> None:
    meter = {"id": "mtr_1", "object": "billing.meter", "created": 1_700_000_000}
    row = summarize(_event(meter))
    assert (row.table, row.partition_key) == ("billing_meter", None)
    charge = {"id": "ch_1", "object": "charge", "created": 1_700_000_000}
    assert summarize(_event(charge)).partition_key == "2023-11-01"
