"""`revenue-assets sql`: query the warehouse without fighting over its file.

DuckDB lets one process hold the file; the DuckDB CLI would block syncs and runs for as long
as it stays open. This command takes the warehouse lock like every reader, runs one query,
prints the result and lets go.
"""

from __future__ import annotations

import csv
import sys

import click
from rich.console import Console
from rich.table import Table

from revenue_assets.cli.common import load_settings


@click.command()
@click.argument("query", required=False)
@click.option("-f", "--file", "path", type=click.File("r"), help="Read the query from a file.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (every row) instead of a table.")
@click.option("--limit", default=50, show_default=True, help="Rows shown in the table view.")
def sql(query: str | None, path, as_csv: bool, limit: int) -> None:
    """Run one SQL query on the warehouse, e.g.
    revenue-assets sql "SELECT month, mrr FROM revenue_analytics.revenue_metrics ORDER BY 1"
    """
    settings = load_settings(require_key=False)
    text = path.read() if path else query
    if not text:
        raise click.UsageError("give a QUERY or --file")
    if not settings.duckdb_path.exists():
        raise click.ClickException(
            f"no warehouse at {settings.duckdb_path}: run `revenue-assets sync` (or the demo) first"
        )
    import duckdb

    from revenue_assets.warehouse.connection import warehouse_connection

    with warehouse_connection(settings.duckdb_path) as connection:
        try:
            cursor = connection.execute(text)
        except duckdb.Error as error:
            raise click.ClickException(str(error)) from None
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall() if columns else []
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    table = Table(
        *columns,
        caption=f"{len(rows):,} row(s)" + (f", first {limit} shown" if len(rows) > limit else ""),
    )
    for row in rows[:limit]:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    Console().print(table)
