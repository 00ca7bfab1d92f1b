"""`revenue-assets dashboard [--open]`: rebuild the dashboard page from the current warehouse.

The same code as the `revenue_dashboard` asset (`dashboard.build`), outside Dagster: no run is
recorded, the page is simply rewritten from what the warehouse holds now. Prints the page's path
on stdout (for scripts) and the latest month's headline on stderr.
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

import click

from revenue_assets.cli.common import load_settings


@click.command()
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here instead of beside the warehouse file.",
)
def dashboard(open_browser: bool, output: Path | None) -> None:
    """Rebuild the revenue dashboard (one offline HTML page) from the warehouse."""
    settings = load_settings(require_key=False)
    from revenue_assets.dashboard.build import build_dashboard, dashboard_path
    from revenue_assets.dashboard.formatting import money, month
    from revenue_assets.dashboard.queries import DashboardDataMissing
    from revenue_assets.revenue.runner import revenue_schema

    if not settings.duckdb_path.is_file():
        click.secho(
            f"No warehouse at {settings.duckdb_path}: run `revenue-assets sync` (or "
            "`revenue-assets demo`) first, or set REVENUE_ASSETS_DUCKDB.",
            fg="red",
            err=True,
        )
        sys.exit(1)
    try:
        page = build_dashboard(
            settings.duckdb_path,
            stripe_schema=settings.stripe_schema,
            revenue_schema=revenue_schema(settings.table_prefix),
            base_currency=settings.base_currency,
            state_path=settings.state_path,
            output=output or dashboard_path(settings.duckdb_path, settings.table_prefix),
        )
    except DashboardDataMissing as error:
        click.secho(str(error), fg="red", err=True)
        sys.exit(1)
    latest = page.data.latest
    if latest is not None:
        currency = page.data.currency
        click.echo(
            f"{month(latest['month'])}: MRR {money(latest['mrr'], currency)}, "
            f"ARR {money(latest['arr'], currency)}, "
            f"net revenue {money(latest['net_revenue'], currency)}, "
            f"{latest['customers']:,} paying customers",
            err=True,
        )
    click.echo(str(page.path.resolve()))
    if open_browser and not webbrowser.open(page.url):
        click.echo(f"No browser found: open {page.url}", err=True)
