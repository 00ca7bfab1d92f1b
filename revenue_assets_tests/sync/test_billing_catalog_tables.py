"""The billing catalog tables (tax rates, plans, promotion codes, subscription schedules,
shipping rates) synced from the sandbox over HTTP: the rows are what the sandbox serves, and a
restricted key without a table's permission fails that table alone, naming the permission."""

from __future__ import annotations

from pathlib import Path

import pytest

from revenue_assets.catalog.tables import TABLES_BY_NAME
from revenue_assets_tests.helpers import (
    assert_missing_permission_fails_that_table_alone,
    assert_rows_are_served,
    sync_sandbox,
)

# Table -> fields compared with their typed columns.
NEW_TABLES: dict[str, tuple[str, ...]] = {
    "tax_rate": ("percentage", "country", "inclusive"),
    "plan": ("amount", "interval", "product"),
    "promotion_code": ("code", "active", "times_redeemed"),
    "subscription_schedule": ("status", "end_behavior", "customer"),
    "shipping_rate": ("display_name", "active", "tax_behavior"),
}


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
    assert_rows_are_served(sandbox, database, table, NEW_TABLES[table])


@pytest.mark.parametrize("table", list(NEW_TABLES))
def test_a_key_without_the_tables_permission_fails_that_table_only(
    sandbox_session, tmp_path: Path, table: str
) -> None:
    assert_missing_permission_fails_that_table_alone(sandbox_session, tmp_path / "w.duckdb", table)
