"""The raw tables' layout on a real DuckDB file, including warehouses an earlier version made."""

from __future__ import annotations

import json
from pathlib import Path

from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import ensure_tables
from revenue_assets.warehouse.schema import table_schema


def test_virtual_columns_of_an_earlier_version_become_stored_and_filled(tmp_path: Path) -> None:
    """Earlier versions computed rarely read nested objects from `_raw` (virtual columns); they
    are now stored. An existing warehouse is converted in place, its rows filled from `_raw`."""
    database = tmp_path / "old.duckdb"
    layout = table_schema("charge")
    old_ddl = layout.ddl("stripe").replace(
        "outcome JSON", "outcome JSON GENERATED ALWAYS AS (json_extract(_raw, '$.outcome')) VIRTUAL"
    )
    outcome = {"network_status": "approved_by_network", "type": "authorized"}
    with warehouse_connection(database) as connection:
        connection.execute("CREATE SCHEMA stripe")
        connection.execute(old_ddl)
        connection.execute(
            "INSERT INTO stripe.charge (id, _raw, _deleted) VALUES ('ch_1', ?, false)",
            [json.dumps({"id": "ch_1", "outcome": outcome})],
        )
        ensure_tables(connection, "stripe", ["charge"])
        generated = connection.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'charge' AND is_generated"
        ).fetchall()
        row = connection.execute("SELECT outcome FROM stripe.charge").fetchone()
        ensure_tables(connection, "stripe", ["charge"])  # a second time changes nothing
        columns = connection.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'charge'"
        ).fetchone()
    assert generated == []
    assert json.loads(row[0]) == outcome
    assert columns[0] == len(layout.all_column_names)
