"""The billing catalog tables (tax rates, plans, promotion codes, subscription schedules,
shipping rates) synced from the sandbox over HTTP: the rows are what the sandbox serves, and a
restricted key without a table's permission fails that table alone, naming the permission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from revenue_assets.catalog.tables import TABLES, TABLES_BY_NAME
from revenue_assets_tests.helpers import access_for, sync_sandbox, warehouse_rows

# Table -> (the sandbox list serving it, fields compared with their typed columns).
NEW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "tax_rate": ("tax_rates", ("percentage", "country", "inclusive")),
    "plan": ("plans", ("amount", "interval", "product")),
    "promotion_code": ("promotion_codes", ("code", "active", "times_redeemed")),
    "subscription_schedule": ("subscription_schedules", ("status", "end_behavior", "customer")),
    "shipping_rate": ("shipping_rates", ("display_name", "active", "tax_behavior")),
}


def served(sandbox: Any, resource: str) -> dict[str, dict[str, Any]]:
    """Every object of a list as the sandbox serves it, paged through the SDK's raw requests."""
    client = sandbox.client()
    found: dict[str, dict[str, Any]] = {}
    cursor: dict[str, str] = {}
    while True:
        page = client.raw_request("get", f"/v1/{resource}", limit=100, **cursor).data
        found.update((obj["id"], obj) for obj in page["data"])
        if not page["has_more"]:
            return found
        cursor = {"starting_after": page["data"][-1]["id"]}


@pytest.fixture(scope="module")
def synced(sandbox_session_factory, tmp_path_factory):
    sandbox = sandbox_session_factory()
    database = tmp_path_factory.mktemp("billing") / "warehouse.duckdb"
    tables = [TABLES_BY_NAME[name] for name in NEW_TABLES]
    return sandbox, database, sync_sandbox(sandbox, database, tables=tables)


@pytest.mark.parametrize("table", list(NEW_TABLES))
def test_rows_equal_what_the_sandbox_serves(synced, table: str) -> None:
    sandbox, database, outcomes = synced
    assert outcomes[table].ok, outcomes[table].error
    resource, fields = NEW_TABLES[table]
    expected = served(sandbox, resource)
    assert expected, f"the sandbox company has no {table}"
    rows = warehouse_rows(database, table)
    assert set(rows) == set(expected)
    for object_id, obj in expected.items():
        row = rows[object_id]
        assert row["_raw"] == obj
        assert row["created"].timestamp() == obj["created"]
        for name in fields:
            assert row[name] == obj[name], (object_id, name)


@pytest.mark.parametrize("table", list(NEW_TABLES))
def test_a_key_without_the_tables_permission_fails_that_table_only(
    sandbox_session, tmp_path: Path, table: str
) -> None:
    permission = TABLES_BY_NAME[table].permission
    # Tables sharing the permission (plans and prices are both "plans") fail with it.
    failing = {t.name for t in TABLES if t.permission == permission}
    others = sorted({t.permission for t in TABLES} - {permission})
    key = sandbox_session.restricted_key(others)
    tables = [TABLES_BY_NAME[name] for name in {*failing, "charge", *NEW_TABLES}]
    outcomes = sync_sandbox(
        sandbox_session,
        tmp_path / "w.duckdb",
        tables=tables,
        access=access_for(sandbox_session, key=key),
    )
    for name, outcome in outcomes.items():
        if name in failing:
            assert not outcome.ok and outcome.error.permission == permission, name
        else:
            assert outcome.ok, (name, outcome.error)
    assert warehouse_rows(tmp_path / "w.duckdb", "charge")
