"""Idempotent writes of spooled Stripe objects into the raw tables.

Each statement is generated from the table's schema (schema.py) and a template in `sql/`, and
runs in one short transaction while the caller holds the warehouse connection.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson

from revenue_assets.catalog.tables import CHILD_TABLES, TABLES_BY_NAME
from revenue_assets.warehouse.schema import TableSchema, table_schema
from revenue_assets.warehouse.spool import SpoolFile
from revenue_assets.warehouse.sql_files import SqlFiles

SQL = SqlFiles(Path(__file__).parent / "sql")
SPOOL_COLUMNS = (
    "{o: 'JSON', page: 'STRUCT(data JSON[])', p: 'VARCHAR', pc: 'BIGINT', v: 'DOUBLE', s: 'VARCHAR', "
    "d: 'BOOLEAN', t: 'BOOLEAN'}"
)
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


def _quote_path(path: Path) -> str:
    return str(path).replace("'", "''")


def ensure_tables(connection: duckdb.DuckDBPyConnection, schema: str, tables: list[str]) -> None:
    """Create the schema and tables if missing, and bring older layouts up to date: add the
    columns a newer version introduced, and turn the virtual columns of earlier versions (nested
    objects computed from `_raw`) into stored ones, filled from `_raw`: nothing is re-synced."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for name in tables:
        layout = table_schema(name)
        connection.execute(layout.ddl(schema))
        existing = dict(
            connection.execute(
                "SELECT column_name, is_generated FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? AND table_name = ?",
                [schema, name],
            ).fetchall()
        )
        target = f"{schema}.{name}"
        for column in layout.columns:
            generated = existing.get(column.name)  # None: missing; True: virtual (earlier)
            if generated is False:
                continue
            if generated:
                connection.execute(f"ALTER TABLE {target} DROP COLUMN {column.name}")
            connection.execute(
                f"ALTER TABLE {target} ADD COLUMN {column.name} {column.storage_type}"
            )
            if generated:
                path = ".".join(column.path)
                connection.execute(
                    f"UPDATE {target} SET {column.name} = json_extract(_raw, '$.{path}')"
                )


@cache
def _merge_parts(schema: str, name: str) -> dict[str, str]:
    """The table-specific pieces of merge.sql (computed once per table).

    Every field is read by one `json_transform` of the object (one parse per row). A nested
    path becomes part of that structure too, unless its first field is a JSON column of its
    own: then it is read from that column's (small) value instead of parsing the object again.
    """
    layout = table_schema(name)
    json_columns = {c.name for c in layout.columns if len(c.path) == 1 and c.kind == "JSON"}
    structure: dict[str, Any] = {"id": "VARCHAR"}  # read with the rest: one parse per object
    expressions = ["x.id AS id"]
    if layout.parent_column:
        expressions += [f"p AS {layout.parent_column}", "to_timestamp(pc) AS _parent_created"]
    for column in layout.columns:
        if len(column.path) > 1 and column.path[0] in json_columns:
            value = f"json_extract_string(x.{column.path[0]}, '$.{'.'.join(column.path[1:])}')"
            expressions.append(f"{_cast(column.kind, value)} AS {column.name}")
            continue
        node = structure
        for part in column.path[:-1]:
            node = node.setdefault(part, {})
        node[column.path[-1]] = _TRANSFORM_TYPES[column.kind]
        for alternative in column.alternatives:
            structure[alternative] = _TRANSFORM_TYPES[column.kind]
        fields = ["x." + ".".join(column.path), *(f"x.{a}" for a in column.alternatives)]
        field = f"coalesce({', '.join(fields)})" if column.alternatives else fields[0]
        expressions.append(f"{_convert(column.kind, field)} AS {column.name}")
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
    # QUALIFY cannot see into the transformed struct: the id is read again (repeats only).
    dedupe_key = "p, o ->> '$.id'" if layout.parent_column else "o ->> '$.id'"
    return {
        "target": target,
        "columns": ", ".join(layout.all_column_names),
        "expressions": ",\n       ".join(expressions),
        "structure": orjson.dumps(structure).decode().replace("'", "''"),
        "qualify": f"QUALIFY row_number() OVER (PARTITION BY {dedupe_key} ORDER BY v DESC) = 1",
        # ON CONFLICT probes the primary key's index per row; a MERGE join (no index) measured
        # 20-50% more CPU per row, growing with the table.
        "on_conflict": (
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}\n"
            f"WHERE excluded._version >= {target}._version"
        ),
    }


def _convert(kind: str, field: str) -> str:
    """SQL turning a field of the transformed struct into its column."""
    if kind == "TIMESTAMP":
        return f"to_timestamp({field})"
    if kind == "REF":  # an id, or the expanded object's id
        return (
            f"CASE WHEN starts_with({field}, '{{') THEN {field}::JSON ->> '$.id' ELSE {field} END"
        )
    return field


def _cast(kind: str, text: str) -> str:
    """SQL turning a JSON string value into its column type."""
    if kind == "TIMESTAMP":
        return f"to_timestamp(TRY_CAST({text} AS BIGINT))"
    if kind in ("BIGINT", "DOUBLE", "BOOLEAN"):
        return f"TRY_CAST({text} AS {kind})"
    return text


def merge_spool(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    spool: SpoolFile | None,
    parent: SpoolFile | None = None,
    *,
    insert_first: bool = False,
) -> bool:
    """Write a table's spooled objects, and for a child table those embedded in its parent's
    spooled pages; then apply deletion stubs.

    `insert_first`: the objects are probably not in the table yet, so try a plain append in
    one transaction; the first id already present rolls it back and the batch is upserted
    instead. Returns False when that happened (the caller stops trying for the table).
    The newest-snapshot window only runs when an object may appear twice (in two events): on
    a plain listing it would cost a sort."""
    parts = _merge_parts(schema, table)
    sources = []
    if spool is not None and spool.lines > spool.stubs:
        sources.append(_rows("spool_rows", spool))
    child = CHILD_TABLES.get(table)
    if child is not None and child[1].embedded and parent is not None and parent.pages:
        parent_table, child_table = child
        sources.append(
            _rows(
                "embedded_rows",
                parent,
                field=child_table.field,
                created=parent_table.created_field,
            )
        )
    repeats = any(f is not None and f.repeats for f in (spool, parent))
    tombstones = []
    if spool is not None and spool.stubs:
        tombstones.append(
            SQL.render(
                "tombstones",
                target=parts["target"],
                spool=_quote_path(spool.path),
                spool_columns=SPOOL_COLUMNS,
            )
        )
    if not sources:
        if tombstones:
            _transaction(connection, tombstones)
        return True
    values = {**parts, "rows": " UNION ALL ".join(sources)}
    if not repeats:
        values["qualify"] = ""
    if insert_first:
        try:
            merge = SQL.render("merge", **{**values, "on_conflict": ""})
            _transaction(connection, [merge, *tombstones])
            return True
        except duckdb.ConstraintException:
            pass  # an object is already there: upsert the batch
    _transaction(connection, [SQL.render("merge", **values), *tombstones])
    return not insert_first


def _transaction(connection: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
    connection.execute("BEGIN TRANSACTION")
    try:
        for statement in statements:
            connection.execute(statement)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _rows(template: str, spool: SpoolFile, **values: str) -> str:
    return SQL.render(
        template, spool=_quote_path(spool.path), spool_columns=SPOOL_COLUMNS, **values
    )


def merge_files(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    files: dict[str, SpoolFile],
    expect_new: set[str] | None = None,
) -> list[str]:
    """Merge rotated spool files: every table with a file, and every child table embedded in a
    parent that spooled pages. The tables must exist (`ensure_tables`). Returns
    the tables merged.

    `expect_new`: tables whose objects are probably not in the warehouse yet (a first sync,
    new records): they are appended rather than upserted (`merge_spool`); a table leaves the
    set at its first conflict."""
    expect_new = expect_new if expect_new is not None else set()
    tables = list(files)
    for name in files:
        for child in TABLES_BY_NAME[name].children if name in TABLES_BY_NAME else ():
            if child.embedded and child.name not in files and files[name].pages:
                tables.append(child.name)
    for name in tables:
        parent = CHILD_TABLES[name][0].name if name in CHILD_TABLES else None
        appended = merge_spool(
            connection,
            schema,
            name,
            files.get(name),
            files.get(parent) if parent else None,
            insert_first=name in expect_new,
        )
        if not appended:
            expect_new.discard(name)
    return tables


def mark_unlisted_deleted(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    *,
    seen: Path,
    windows: list[tuple[int, int]] | None,
    run_started: datetime,
    parents_seen: Path | None = None,
) -> int:
    """Mark rows of completely re-listed windows that Stripe no longer returned; count them.
    `windows=None`: the whole table was listed (a full-refresh table)."""
    if windows is not None and not windows:
        return 0
    layout: TableSchema = table_schema(table)
    common = {
        "target": f"{schema}.{table}",
        "run_started": f"TIMESTAMPTZ '{run_started.astimezone(UTC).isoformat()}'",
        "seen": _quote_path(seen),
        "seen_columns": SEEN_COLUMNS,
    }
    if windows is None and not layout.parent_column:
        return connection.execute(SQL.render("mark_unlisted_deleted_whole", **common)).fetchone()[0]
    common["windows"] = (
        ", ".join(f"(to_timestamp({start}), to_timestamp({end}))" for start, end in windows)
        if windows is not None
        else "(TIMESTAMPTZ '-infinity', TIMESTAMPTZ 'infinity')"  # every parent listed
    )
    if layout.parent_column:
        if parents_seen is None:
            return 0
        sql = SQL.render(
            "mark_unlisted_children_deleted",
            parent_column=layout.parent_column,
            parents_seen=_quote_path(parents_seen),
            **common,
        )
    else:
        sql = SQL.render("mark_unlisted_deleted", created_column=layout.partition_column, **common)
    return connection.execute(sql).fetchone()[0]
