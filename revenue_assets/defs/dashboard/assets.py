"""`revenue_dashboard`: the self-contained HTML page over the revenue layer, as an asset.

It depends on the revenue tables it reads and follows them with the revenue layer's own
automation triggers, so a change to any Stripe partition rebuilds the tables and then the page.
The materialization's metadata carries the page's path and the latest month's headline figures,
so the UI shows what the page says without opening it.
"""

from typing import Any

import dagster as dg

from revenue_assets.dashboard.build import DashboardPage, build_dashboard, dashboard_path
from revenue_assets.dashboard.formatting import moment
from revenue_assets.dashboard.queries import REQUIRED_TABLES, DashboardDataMissing, headline
from revenue_assets.defs.resources import (
    WAREHOUSE_POOL,
    RevenueResource,
    StateResource,
    WarehouseResource,
)
from revenue_assets.defs.revenue.assets import REBUILD_WITH_THE_TABLES
from revenue_assets.revenue.runner import revenue_schema
from revenue_assets.revenue.tables import revenue_key

GROUP = "dashboard"
KEY = dg.AssetKey(["revenue_dashboard"])
# The revenue tables the page's queries read (dashboard/sql/): the ones it needs to exist.
READS = REQUIRED_TABLES


def summary(page: DashboardPage) -> dict[str, Any]:
    """The materialization's metadata: where the page is, what it says, how fresh it is."""
    figures = headline(page.data)
    latest = page.data.latest
    metadata: dict[str, Any] = {
        "path": dg.MetadataValue.path(str(page.path.resolve())),
        "url": dg.MetadataValue.url(page.url),
        "size_bytes": page.size_bytes,
        "base_currency": page.data.currency,
        "months": len(page.data.months),
        "latest_month": str(latest["month"]) if latest else "none",
        "last_sync": moment(page.freshness.last_sync),
        "last_webhook": moment(page.freshness.last_webhook, never="none received yet"),
    }
    for name in ("mrr", "arr", "net_revenue"):
        value = figures[name]
        metadata[name] = dg.MetadataValue.float(float(value)) if value is not None else "none"
    customers = figures["customers"]
    metadata["customers"] = int(customers) if customers is not None else 0
    return metadata


@dg.asset(
    key=KEY,
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    description=(
        "The revenue dashboard: one self-contained HTML page (plotly inlined, works offline) "
        "beside the warehouse file, with MRR and ARR, MRR movements and the monthly MRR bridge, "
        "gross/net/deferred revenue, customers and churn, ARPU and LTV, top customers with "
        "their person and group, revenue by product and country, and the data's freshness "
        "(last sync from the raw tables' `_synced_at`, last webhook from the event inbox). "
        "Every figure is read from revenue_metrics and its sibling tables; the page only "
        "formats. Open it from the `path` metadata, or rebuild it with `revenue-assets "
        "dashboard --open`."
    ),
    kinds={"html", "plotly"},
    owners=["team:data"],
    tags={"layer": "dashboard"},
    deps=[revenue_key(name) for name in READS],
    automation_condition=REBUILD_WITH_THE_TABLES,
    # A rebuild's run holds the page and the finance checks, both ready once the revenue
    # tables are built; the page goes first (the checks took 2.3 s at 1M invoice lines, the
    # page waited for them).
    op_tags={"dagster/priority": "1"},
)
def revenue_dashboard(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    revenue: RevenueResource,
    state: StateResource,
) -> dg.MaterializeResult:
    try:
        page = build_dashboard(
            warehouse.database,
            stripe_schema=warehouse.stripe_schema,
            revenue_schema=revenue_schema(warehouse.table_prefix),
            base_currency=revenue.base_currency.upper(),
            state_path=state.path,
            output=dashboard_path(warehouse.database, warehouse.table_prefix),
            lock_timeout_s=warehouse.lock_timeout_s,
        )
    except DashboardDataMissing as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(f"Dashboard written to {page.path} ({page.size_bytes:,} bytes).")
    return dg.MaterializeResult(metadata=summary(page))
