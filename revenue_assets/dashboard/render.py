"""The dashboard page: the template filled with the data's formatted figures and chart specs.

The page is one self-contained HTML file: plotly.js is inlined from the installed `plotly`
package (its offline bundle), the figures travel as JSON inside the page, and nothing is
fetched when it opens, so it works from disk, offline, attached to an email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from revenue_assets.dashboard import charts, formatting
from revenue_assets.dashboard.queries import DashboardData

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Tile:
    id: str
    title: str
    note: str
    wide: bool = False


TILES: tuple[Tile, ...] = (
    Tile("mrr-arr", "MRR and ARR", "Monthly recurring revenue at each month end; ARR = 12 × MRR.",
         wide=True),
    Tile("mrr-movements", "MRR movements", "New, expansion and reactivation above zero; "
         "contraction and churn below."),
    Tile("mrr-bridge", "MRR bridge", "From last month's MRR to this month's: the movements and "
         "the exchange-rate effect. Pick a month."),
    Tile("revenue", "Revenue", "Gross and net revenue and refunds by billing month; deferred "
         "revenue (billed, not yet recognized) at month end."),
    Tile("customers", "Customers", "Paying customers at month end; new and churned in the month."),
    Tile("churn", "Customer churn rate", "Customers lost in the month over last month's paying "
         "customers."),
    Tile("arpu-ltv", "ARPU and LTV", "ARPU = revenue per paying customer; LTV = ARPU / churn rate "
         "(none in a month without churn)."),
    Tile("dunning", "Failed payments", "Declined payment attempts by month: their amount (bars, "
         "the count on each), and the share a later payment recovered (same invoice, or same "
         "customer within 7 days)."),
    Tile("top-customers", "Top customers", "By net revenue since the first synced month, with "
         "the person and group each is linked to.", wide=True),
    Tile("by-product", "Revenue by product", "Net revenue since the first synced month."),
    Tile("by-country", "Revenue by country", "Net revenue since the first synced month, by the "
         "customer's address."),
)  # fmt: skip

# Headline cards: (column of revenue_metrics, label, kind of figure).
HEADLINES: tuple[tuple[str, str, str], ...] = (
    ("mrr", "MRR", "money"),
    ("arr", "ARR", "money"),
    ("net_revenue", "Net revenue", "money"),
    ("customers", "Paying customers", "count"),
    ("arpu", "ARPU", "money"),
    ("customer_churn_rate", "Customer churn", "percent"),
    ("ltv", "LTV", "money"),
)


@dataclass(frozen=True)
class Freshness:
    """How current the page's data is (last sync, last webhook)."""

    last_sync: datetime | None
    last_webhook: float | None
    mrr_evaluated_at: datetime | None
    generated_at: datetime


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def plotly_bundle() -> str:
    """plotly.js as shipped inside the `plotly` Python package (no CDN, no download)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def display(value: Any, kind: str, currency: str) -> str:
    if kind == "money":
        return formatting.money(value, currency)
    if kind == "percent":
        return formatting.percent(value)
    return formatting.count(value)


def headline_cards(data: DashboardData) -> list[dict[str, str]]:
    """The latest month's figures: exact value (a `data-value` attribute) and display text."""
    latest = data.latest or {}
    return [
        {
            "metric": column,
            "label": label,
            "value": "" if latest.get(column) is None else str(latest[column]),
            "text": display(latest.get(column), kind, data.currency),
        }
        for column, label, kind in HEADLINES
    ]


def customer_rows(data: DashboardData) -> list[dict[str, str]]:
    return [
        {
            "customer": charts.customer_label(row),
            "customer_id": row["customer_id"],
            "country": row.get("country") or "—",
            "person": row.get("distinct_id") or "—",
            "link_source": (row.get("link_source") or "—").replace("_", " "),
            "group": row.get("group_key") or "—",
            "net_revenue": formatting.money(row["net_revenue"], data.currency),
            "mrr": formatting.money(row["mrr"], data.currency),
        }
        for row in data.top_customers
    ]


def render_page(
    data: DashboardData,
    freshness: Freshness,
    *,
    title: str = "Revenue",
    build_id: str = "",
    build_stamp: str | None = None,
) -> str:
    """The whole page as one HTML string. With `build_stamp` (the file name of the stamp
    written beside the page), the page reloads itself once the stamp names another build."""
    latest = data.latest
    return (
        environment()
        .get_template("dashboard.html")
        .render(
            title=title,
            currency=data.currency,
            month=formatting.month(latest["month"]) if latest else "no data yet",
            first_month=formatting.month(data.months[0]["month"]) if data.months else "—",
            headlines=headline_cards(data),
            tiles=TILES,
            figures=charts.all_figures(data),
            customers=customer_rows(data),
            unconverted=data.unconverted,
            freshness={
                "Base currency": data.currency,
                "Last sync": formatting.moment(freshness.last_sync),
                "Last webhook": formatting.moment(
                    freshness.last_webhook, never="none received yet"
                ),
                "MRR evaluated at": formatting.moment(freshness.mrr_evaluated_at, never="—"),
                "Page built": formatting.moment(freshness.generated_at),
            },
            plotly_js=plotly_bundle(),
            build_id=build_id,
            build_stamp=build_stamp,
        )
    )
