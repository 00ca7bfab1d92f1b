"""Running the revenue layer's SQL files against the warehouse.

Python only orchestrates: each asset opens the warehouse under its file lock, prepares the
connection (UTC, schemas, variables, helper macros) and runs its `.sql` file. SQL files name
schemas through two tokens, `{stripe}` and `{revenue}`, replaced textually (they are
identifiers, which DuckDB cannot bind); values (base currency, options, the evaluation time)
are DuckDB variables read with `getvariable(...)`, except in view definitions, which outlive
the session: those take `{base_currency}` and `{source_label}` as literals.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from revenue_assets.catalog.currencies import THREE_DECIMAL, ZERO_DECIMAL, sql_list
from revenue_assets.catalog.tables import ALL_TABLE_NAMES
from revenue_assets.warehouse.connection import others_waiting_for, warehouse_connection
from revenue_assets.warehouse.merge import ensure_tables
from revenue_assets.warehouse.sql_files import SqlFiles, fill

SQL = SqlFiles(Path(__file__).parent / "sql")
REVENUE_SCHEMA = "revenue_analytics"


def revenue_schema(table_prefix: str | None) -> str:
    """`revenue_analytics`, or `revenue_analytics_<prefix>` beside `stripe_<prefix>`."""
    return f"{REVENUE_SCHEMA}_{table_prefix}" if table_prefix else REVENUE_SCHEMA


@dataclass(frozen=True)
class RevenueContext:
    """Everything a statement of the revenue layer depends on, resolved once per run."""

    database: str
    stripe_schema: str
    revenue_schema: str
    base_currency: str
    include_charges_without_invoice: bool
    group_key: str
    as_of: datetime
    persons_path: str | None
    groups_path: str | None
    lock_timeout_s: float
    memory_limit: str

    @property
    def source_label(self) -> str:
        """The compatible views' `source_label`: which Stripe account (schema) a row came from."""
        return self.stripe_schema

    def table(self, name: str) -> str:
        return f"{self.revenue_schema}.{name}"

    def tokens(self) -> dict[str, str]:
        """The placeholders every revenue statement may use."""
        return {
            "stripe": self.stripe_schema,
            "revenue": self.revenue_schema,
            # Views cannot read session variables: they get these two as literals. Both are
            # validated identifiers (a three-letter code, a schema name), safe to quote.
            "base_currency": _literal(self.base_currency),
            "source_label": _literal(self.source_label),
            "zero_decimal_currencies": sql_list(ZERO_DECIMAL),
            "three_decimal_currencies": sql_list(THREE_DECIMAL),
        }

    def fill(self, text: str) -> str:
        """A one-line statement kept in Python, with its schema placeholders replaced."""
        return fill(text, self.tokens())


def render(name: str, context: RevenueContext, **tokens: str) -> str:
    """The statement(s) of `sql/<name>.sql` with its placeholders replaced."""
    return SQL.render(name, **{**context.tokens(), **tokens})


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def prepare(connection: duckdb.DuckDBPyConnection, context: RevenueContext) -> None:
    """UTC calendar, schemas, raw tables (empty if never synced), variables and macros."""
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {context.revenue_schema}")
    # Every raw table exists, even before its first sync, so the SQL never depends on which
    # Stripe tables happen to have been materialized.
    existing = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ?",
        [context.stripe_schema],
    ).fetchone()[0]
    if existing < len(ALL_TABLE_NAMES):
        ensure_tables(connection, context.stripe_schema, list(ALL_TABLE_NAMES))
    variables: dict[str, object] = {
        "base_currency": context.base_currency,
        "include_charges_without_invoice": context.include_charges_without_invoice,
        "group_key": context.group_key,
        "as_of": context.as_of.isoformat(),
        "source_label": context.source_label,
    }
    for name, value in variables.items():
        connection.execute(f"SET VARIABLE {name} = ?", [value])
    # one transaction: one write to the database file instead of one per macro
    connection.execute("BEGIN TRANSACTION")
    connection.execute(render("macros", context))
    connection.execute("COMMIT")
    # unqualified macro names (in table-building statements) resolve to the revenue schema
    connection.execute(f"SET search_path = '{context.revenue_schema},main'")


@contextmanager
def revenue_connection(context: RevenueContext) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse under its lock, prepared for the revenue layer's SQL."""
    with warehouse_connection(
        context.database,
        timeout_s=context.lock_timeout_s,
        config={"memory_limit": context.memory_limit},
    ) as connection:
        prepare(connection, context)
        yield connection


# Handing the warehouse over before every unit of work cost a 1M-line rebuild a quarter of its
# time (seven hand-offs each), and made the rebuilds that much rarer.
MIN_TURN_S = 3.0


class TakingTurns:
    """The warehouse, prepared, for a long piece of work made of units (the rebuild's tables):
    between two of them `let_others_in` hands the file to whoever waits for it and
    takes it back after them. What comes after a hand-off sees what the others wrote, so a
    caller hands over only where what is left reads nothing they write, or may see it."""

    def __init__(self, context: RevenueContext) -> None:
        self._context = context
        self._held = ExitStack()
        self.connection: duckdb.DuckDBPyConnection  # from `__enter__` on
        self._taken_at = 0.0
        self.handoffs = 0

    def __enter__(self) -> TakingTurns:
        self._take()
        return self

    def __exit__(self, *exc: object) -> None:
        self._held.close()

    def let_others_in(self) -> None:
        """Hand over if someone waits and this turn has lasted `MIN_TURN_S`: someone nearly
        always waits under a stream of changes (sensors, readers), and each hand-off costs a
        reopening of the file and the others' own opening and closing of it."""
        held_for = time.monotonic() - self._taken_at
        if held_for >= MIN_TURN_S and others_waiting_for(self._context.database):
            self._held.close()  # their turn; ours comes right after them
            self._take()
            self.handoffs += 1

    def _take(self) -> None:
        self.connection = self._held.enter_context(revenue_connection(self._context))
        self._taken_at = time.monotonic()


def run(
    connection: duckdb.DuckDBPyConnection, name: str, context: RevenueContext, **tokens: str
) -> None:
    connection.execute(render(name, context, **tokens))


def load_people_files(connection: duckdb.DuckDBPyConnection, context: RevenueContext) -> None:
    """The persons and groups files as temporary tables `persons` and `groups_file`.

    Persons need a `distinct_id` column (an `email` column enables email matching); groups a
    `group_key` column (`name` is optional). Without a file the table is empty and the
    variables `persons_loaded` / `groups_loaded` are false.
    """
    for table, path, key, optional in (
        ("persons", context.persons_path, "distinct_id", "email"),
        ("groups_file", context.groups_path, "group_key", "name"),
    ):
        loaded = path is not None
        if path is None:
            connection.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} ({key} VARCHAR, {optional} VARCHAR)"
            )
        else:
            source = _reader(path)
            columns = {
                row[0].lower(): row[0]
                for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            }
            if key not in columns:
                raise ValueError(
                    f"{path} has no `{key}` column (columns: {', '.join(sorted(columns))})."
                )
            other = f'CAST("{columns[optional]}" AS VARCHAR)' if optional in columns else "NULL"
            connection.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT DISTINCT "
                f'CAST("{columns[key]}" AS VARCHAR) AS {key}, {other} AS {optional} '
                f'FROM {source} WHERE "{columns[key]}" IS NOT NULL'
            )
        flag = "persons_loaded" if table == "persons" else "groups_loaded"
        connection.execute(f"SET VARIABLE {flag} = ?", [loaded])


def _reader(path: str) -> str:
    quoted = path.replace("'", "''")
    if path.lower().endswith(".parquet"):
        return f"read_parquet('{quoted}')"
    return f"read_csv('{quoted}', header = true, all_varchar = true)"
