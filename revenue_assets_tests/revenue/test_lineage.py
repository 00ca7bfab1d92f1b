"""A revenue table's upstream assets are exactly what its SQL reads.

The dependencies are taken from the SQL's `{stripe}.x` / `{revenue}.x` placeholders; this checks
that reading against DuckDB itself: each table is rebuilt in a warehouse from which every raw and
revenue table outside its dependencies has been dropped, so a read the placeholders miss (an
unqualified name found through the search path, a typo) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from revenue_assets.catalog.tables import ALL_TABLE_NAMES
from revenue_assets.defs.resources import revenue_context
from revenue_assets.defs.revenue.assets import build_table
from revenue_assets.revenue.runner import revenue_connection
from revenue_assets.revenue.tables import TABLES, TABLES_BY_NAME, RevenueTable, stripe_key
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets.warehouse.merge import ensure_tables
from revenue_assets_tests.revenue.scenario import Warehouse, utc


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    database = tmp_path_factory.mktemp("lineage") / "warehouse.duckdb"
    with warehouse_connection(database) as connection:
        ensure_tables(connection, "stripe", list(ALL_TABLE_NAMES))
    warehouse = Warehouse(database, utc(2025, 6, 1))
    assert warehouse.materialize().success
    return warehouse


def _drop_all_but(connection, table: RevenueTable, revenue_schema: str) -> list[str]:
    """Drop every raw and revenue relation `table` does not depend on (inside a transaction).

    A view it reads is computed when read, so the view's own dependencies are kept too.
    """
    keep = {("revenue_analytics", table.name)}
    pending = list(table.deps)
    while pending:
        key = pending.pop()
        keep.add(tuple(key.path))
        upstream = TABLES_BY_NAME.get(key.path[-1]) if key.path[0] == "revenue_analytics" else None
        if upstream is not None and upstream.is_view:
            pending.extend(upstream.deps)
    dropped = []
    relations = connection.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "WHERE table_schema IN ('stripe', ?)",
        [revenue_schema],
    ).fetchall()
    for schema, name, kind in relations:
        group = "stripe" if schema == "stripe" else "revenue_analytics"
        if (group, name) in keep:
            continue
        connection.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {schema}.{name}")
        dropped.append(f"{schema}.{name}")
    return dropped


@pytest.mark.parametrize("name", [table.name for table in TABLES])
def test_a_table_builds_from_its_declared_dependencies_alone(built: Warehouse, name: str) -> None:
    table = TABLES_BY_NAME[name]
    resources = built.resources()
    context = revenue_context(resources["warehouse"], resources["revenue"])
    with revenue_connection(context) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            dropped = _drop_all_but(connection, table, context.revenue_schema)
            assert dropped, "the check drops nothing: it would prove nothing"
            build_table(connection, table, context)
        finally:
            connection.execute("ROLLBACK")


def test_every_dependency_is_a_table_we_have() -> None:
    """A placeholder naming no raw or revenue table (a typo) is not taken as a dependency."""
    known = {stripe_key(name) for name in ALL_TABLE_NAMES} | {t.key for t in TABLES}
    for table in TABLES:
        unknown = [key for key in table.deps if key not in known and key not in table.user_files]
        assert not unknown, f"{table.name} reads {unknown}"


def test_the_drift_once_found_is_a_dependency() -> None:
    """`customer` reads invoice lines (for its first invoice's coupon): a change to them must
    rebuild it."""
    assert stripe_key("invoice_line_item") in TABLES_BY_NAME["customer"].deps


def test_a_table_does_not_depend_on_what_it_creates_or_on_macros() -> None:
    for table in TABLES:
        paths = {"/".join(key.path) for key in table.deps}
        assert f"revenue_analytics/{table.name}" not in paths
        assert not paths & {"revenue_analytics/minor_divider", "revenue_analytics/utc"}
    assert "revenue_analytics/unconverted_revenue" not in {
        "/".join(key.path) for key in TABLES_BY_NAME["revenue_metrics"].deps
    }


def test_lineage_follows_the_sql_files(tmp_path: Path) -> None:
    """The deps come from the files' text: reading a new table there adds it."""
    from revenue_assets.revenue.references import referenced_tables
    from revenue_assets.warehouse.sql_files import SqlFiles

    (tmp_path / "macros.sql").write_text("CREATE OR REPLACE MACRO {revenue}.helper(x) AS x;")
    (tmp_path / "t.sql").write_text(
        "-- {stripe}.in_a_comment is not read\n"
        "CREATE OR REPLACE TABLE {revenue}.{table} AS\n"
        "SELECT {revenue}.helper(a.x) FROM {stripe}.charge AS a JOIN {revenue}.other AS o /* "
        "{stripe}.nor_here */ ON true"
    )
    raw, revenue = referenced_tables(SqlFiles(tmp_path), ["t"], {"table": "built"})
    assert raw == {"charge"}
    assert revenue == {"other"}
