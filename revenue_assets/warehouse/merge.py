"""Idempotent writes of spooled Stripe objects into the raw tables.

Each statement is generated from the table's schema (schema.py) and a template in `sql/`, and
runs in one short transaction while the caller holds the warehouse connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import orjson

from revenue_assets.warehouse.schema import SYSTEM_COLUMNS, TableSchema, table_schema

SQL_DIR = Path(__file__).parent / "sql"
SPOOL_COLUMNS = "{o: 'JSON', p: 'VARCHAR', pc: 'BIGINT', v: 'DOUBLE', s: 'VARCHAR', d: 'BOOLEAN'}"
SEEN_COLUMNS = "{id: 'VARCHAR', p: 'VARCHAR', c: 'BIGINT'}"

# json_transform types of the vocabulary (TIMESTAMP arrives as unix seconds).
_TRANSFORM_TYPES = {
    "TIMESTAMP": "BIGINT",
    "REF": "VARCHAR",
    "BIGINT": "BIGINT",
    "VARCHAR": "VARCHAR",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "JSON": "JSON",
}


@cache
def sql_template(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _quote_path(path: Path) -> str:
    return str(path).replace("'", "''")


def ensure_tables(connection: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> None:
    """Create the schema and tables if missing, and add columns a newer version introduced."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for name in tables:
        layout = table_schema(name)
        connection.execute(layout.ddl(schema))
        existing = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [schema, name],
            ).fetchall()
        }
        for column in layout.columns:
            if column.name not in existing:
                connection.execute(
                    f"ALTER TABLE {schema}.{name} ADD COLUMN {column.name} {column.storage_type}"
                )


@cache
def _merge_parts(schema: str, name: str) -> dict[str, str]:
    """The table-specific pieces of merge.sql (computed once per table)."""
    layout = table_schema(name)
    top_level = [c for c in layout.columns if len(c.path) == 1]
    structure = orjson.dumps({c.name: _TRANSFORM_TYPES[c.kind] for c in top_level}).decode()
    expressions = ["o ->> '$.id' AS id"]
    if layout.parent_column:
        expressions += [f"p AS {layout.parent_column}", "to_timestamp(pc) AS _parent_created"]
    for column in layout.columns:
        expressions.append(f"{_extract(column.kind, column.name, column.path)} AS {column.name}")
    expressions += [
        "o AS _raw",
        "now() AS _synced_at",
        "s AS _source",
        "to_timestamp(v) AS _version",
        "coalesce(d, false) AS _deleted",
    ]
    target = f"{schema}.{name}"
    keys = layout.key_columns
    assignments = ", ".join(
        f"{column} = excluded.{column}" for column in layout.all_column_names if column not in keys
    )
    dedupe_key = "p, o ->> '$.id'" if layout.parent_column else "o ->> '$.id'"
    return {
        "target": target,
        "columns": ", ".join(layout.all_column_names),
        "expressions": ",\n       ".join(expressions),
        "structure": structure.replace("'", "''"),
        "spool_columns": SPOOL_COLUMNS,
        "dedupe_key": dedupe_key,
        "key_columns": ", ".join(keys),
        "assignments": assignments,
    }


def _extract(kind: str, name: str, path: tuple[str, ...]) -> str:
    """SQL turning one field of the transformed struct (or a nested path) into its column."""
    if len(path) > 1:
        raw = f"json_extract_string(o, '$.{'.'.join(path)}')"
        if kind == "TIMESTAMP":
            return f"to_timestamp(TRY_CAST({raw} AS BIGINT))"
        if kind in ("BIGINT", "DOUBLE", "BOOLEAN"):
            return f"TRY_CAST({raw} AS {kind})"
        return raw
    field = f"x.{name}"
    if kind == "TIMESTAMP":
        return f"to_timestamp({field})"
    if kind == "REF":  # an id, or the expanded object's id
        return (
            f"CASE WHEN starts_with({field}, '{{') THEN {field}::JSON ->> '$.id' ELSE {field} END"
        )
    return field


def merge_spool(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, spool: Path
) -> None:
    """Upsert one spool file into `schema.table` and apply its deletion stubs."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(
            sql_template("merge").format(spool=_quote_path(spool), **_merge_parts(schema, table))
        )
        if table_schema(table).parent_column is None:
            connection.execute(
                sql_template("tombstones").format(
                    target=f"{schema}.{table}",
                    spool=_quote_path(spool),
                    spool_columns=SPOOL_COLUMNS,
                )
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def mark_unlisted_deleted(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    *,
    seen: Path,
    windows: list[tuple[int, int]],
    run_started: datetime,
    parents_seen: Path | None = None,
) -> int:
    """Mark rows of completely re-listed windows that Stripe no longer returned; count them."""
    if not windows:
        return 0
    layout: TableSchema = table_schema(table)
    values = ", ".join(f"(to_timestamp({start}), to_timestamp({end}))" for start, end in windows)
    common = {
        "target": f"{schema}.{table}",
        "run_started": f"TIMESTAMPTZ '{run_started.astimezone(UTC).isoformat()}'",
        "windows": values,
        "seen": _quote_path(seen),
        "seen_columns": SEEN_COLUMNS,
    }
    if layout.parent_column:
        if parents_seen is None:
            return 0
        sql = sql_template("mark_unlisted_children_deleted").format(
            parent_column=layout.parent_column, parents_seen=_quote_path(parents_seen), **common
        )
    else:
        sql = sql_template("mark_unlisted_deleted").format(
            created_column=layout.partition_column, **common
        )
    return connection.execute(sql).fetchone()[0]


def system_column_descriptions() -> dict[str, str]:
    return {name: description for name, _, description in SYSTEM_COLUMNS}
