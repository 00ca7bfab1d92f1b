"""What the dashboard shows, read from the warehouse: the revenue layer's tables as they are.

Every figure comes from `revenue_metrics` and its sibling tables through the SQL files beside
this module; nothing here (or in the page) adds, divides or re-derives a number, so the page can
never disagree with the tables a user queries. The raw Stripe tables are read only for the
data's freshness (the newest `_synced_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from revenue_assets.warehouse.sql_files import SqlFiles

SQL = SqlFiles(Path(__file__).parent / "sql")
TOP_CUSTOMERS = 10
# The revenue tables the page reads (the dashboard asset's deps); missing ones mean the revenue
# layer was never built.
REQUIRED_TABLES = (
    "revenue_metrics",
    "mrr_history",
    "mrr",
    "revenue_line",
    "customer",
    "product",
    "customer_link",
    "payment_failures",
)


class DashboardDataMissing(RuntimeError):
    """The warehouse has no revenue layer yet (nothing synced, or its assets never built)."""


@dataclass(frozen=True)
class DashboardData:
    """The rows behind the page, each a dict of column name to value (Decimals stay Decimals)."""

    currency: str
    months: list[dict[str, Any]]
    top_customers: list[dict[str, Any]]
    by_product: list[dict[str, Any]]
    by_country: list[dict[str, Any]]
    unconverted: list[dict[str, Any]]
    dunning: list[dict[str, Any]]
    last_sync: datetime | None
    mrr_evaluated_at: datetime | None

    @property
    def latest(self) -> dict[str, Any] | None:
        """The newest month of `revenue_metrics` (the current, possibly partial, month)."""
        return self.months[-1] if self.months else None


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _existing_tables(connection: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
    ).fetchall()
    return {row[0] for row in rows}


def last_sync(connection: duckdb.DuckDBPyConnection, stripe_schema: str) -> datetime | None:
    """When a row of any raw Stripe table was last written (None before the first sync)."""
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = ? AND column_name = '_synced_at' ORDER BY table_name",
            [stripe_schema],
        ).fetchall()
    ]
    if not tables:
        return None
    newest = " UNION ALL ".join(
        f'SELECT max(_synced_at) AS synced_at FROM {stripe_schema}."{table}"' for table in tables
    )
    return connection.execute(f"SELECT max(synced_at) FROM ({newest})").fetchone()[0]


def load(
    connection: duckdb.DuckDBPyConnection,
    *,
    stripe_schema: str,
    revenue_schema: str,
    base_currency: str,
    top: int = TOP_CUSTOMERS,
) -> DashboardData:
    """Read everything the page shows, in one connection (one consistent state)."""
    connection.execute("SET TimeZone = 'UTC'")
    missing = [t for t in REQUIRED_TABLES if t not in _existing_tables(connection, revenue_schema)]
    if missing:
        raise DashboardDataMissing(
            f"The warehouse has no {', '.join(f'{revenue_schema}.{t}' for t in missing)}: "
            "sync and build the revenue layer first (`revenue-assets sync`, or materialize the "
            "revenue_analytics assets in the Dagster UI)."
        )

    def query(name: str, **params: Any) -> list[dict[str, Any]]:
        sql = SQL.render(name, stripe=stripe_schema, revenue=revenue_schema)
        return _dicts(connection.execute(sql, params or None))

    months = query("metrics")
    evaluated = connection.execute(
        f"SELECT max(evaluated_at) FROM {revenue_schema}.mrr_history"
    ).fetchone()
    return DashboardData(
        currency=months[-1]["currency"] if months else base_currency,
        months=months,
        top_customers=query("top_customers", top=top),
        by_product=query("revenue_by_product"),
        by_country=query("revenue_by_country"),
        unconverted=query("unconverted"),
        dunning=query("dunning"),
        last_sync=last_sync(connection, stripe_schema),
        mrr_evaluated_at=evaluated[0] if evaluated else None,
    )


def headline(data: DashboardData) -> dict[str, Decimal | int | None]:
    """The latest month's headline figures, exactly as `revenue_metrics` holds them."""
    latest = data.latest or {}
    names = ("mrr", "arr", "net_revenue", "customers", "arpu", "customer_churn_rate", "ltv")
    return {name: latest.get(name) for name in names}
