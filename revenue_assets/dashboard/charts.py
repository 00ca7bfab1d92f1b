"""The dashboard's charts as plotly.js figure specs (plain dicts, serialized into the page).

One function per tile. Each only arranges columns of the rows it is given into traces: every
value drawn is a value of `revenue_metrics` or of a sibling table's query, never a sum or ratio
made here (the MRR bridge's bars are the table's movements, its end bar the table's MRR, so
plotly adds nothing either).
"""

from __future__ import annotations

from typing import Any

from revenue_assets.dashboard import formatting
from revenue_assets.dashboard.queries import DashboardData

Figure = dict[str, Any]

# Colours: growth green, losses red, totals ink, secondary series muted.
INK = "#1f2a44"
BLUE = "#3b6fd8"
TEAL = "#1a9c8c"
GREEN = "#2e9d5b"
RED = "#d1495b"
ORANGE = "#e69a28"
GREY = "#8a94a6"
PURPLE = "#7a5bd0"

MOVEMENTS = (
    ("new_mrr", "New", GREEN),
    ("expansion_mrr", "Expansion", TEAL),
    ("reactivation_mrr", "Reactivation", PURPLE),
    ("contraction_mrr", "Contraction", ORANGE),
    ("churned_mrr", "Churn", RED),
)


def _layout(currency: str | None = None, **overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "margin": {"l": 64, "r": 24, "t": 12, "b": 40},
        "height": 320,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "x unified",
        "xaxis": {"gridcolor": "#eef0f4"},
        "yaxis": {"gridcolor": "#eef0f4", "zerolinecolor": "#c9ced8"},
    }
    if currency is not None:
        layout["yaxis"].update(
            tickprefix=formatting.prefix(currency), separatethousands=True, tickformat=",.0f"
        )
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _money_hover(currency: str) -> str:
    return f"%{{fullData.name}}: {formatting.prefix(currency)}%{{y:,.{formatting.digits(currency)}f}}<extra></extra>"


def _months(data: DashboardData) -> list[str]:
    return [row["month"].isoformat() for row in data.months]


def _column(data: DashboardData, name: str) -> list[float | None]:
    return [formatting.plain(row[name]) for row in data.months]


def mrr_arr(data: DashboardData) -> Figure:
    """MRR and ARR at each month end (the current month: at evaluation time)."""
    x, hover = _months(data), _money_hover(data.currency)
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "MRR", "x": x,
             "y": _column(data, "mrr"), "line": {"color": BLUE, "width": 3},
             "hovertemplate": hover},
            {"type": "scatter", "mode": "lines", "name": "ARR", "x": x, "y": _column(data, "arr"),
             "yaxis": "y2", "line": {"color": GREY, "dash": "dot"}, "hovertemplate": hover},
        ],
        "layout": _layout(
            data.currency,
            # both axes from zero: ARR = 12 × MRR, so the two lines coincide and each axis
            # reads its own figure
            yaxis={"title": {"text": "MRR"}, "rangemode": "tozero"},
            yaxis2={"title": {"text": "ARR"}, "overlaying": "y", "side": "right",
                    "tickprefix": formatting.prefix(data.currency), "tickformat": ",.0f",
                    "showgrid": False, "rangemode": "tozero"},
            margin={"r": 72},
        ),
    }  # fmt: skip


def mrr_movements(data: DashboardData) -> Figure:
    """Each month's MRR movements, gains above zero and losses below (relative bars)."""
    x, hover = _months(data), _money_hover(data.currency)
    return {
        "data": [
            {"type": "bar", "name": label, "x": x, "y": _column(data, column),
             "marker": {"color": colour}, "hovertemplate": hover}
            for column, label, colour in MOVEMENTS
        ],
        "layout": _layout(data.currency, barmode="relative"),
    }  # fmt: skip


def mrr_bridge(data: DashboardData) -> Figure:
    """The MRR waterfall of one month (last month's MRR, the movements, exchange-rate effect,
    this month's MRR), with a menu to pick the month; the newest month is shown first."""
    labels = ["Start", *(label for _, label, _ in MOVEMENTS), "FX", "End"]
    columns = ["previous_mrr", *(column for column, _, _ in MOVEMENTS), "fx_effect_mrr", "mrr"]
    measure = ["absolute", *(["relative"] * (len(labels) - 2)), "absolute"]

    def bars(row: dict[str, Any]) -> list[float | None]:
        return [formatting.plain(row[column]) for column in columns]

    rows = list(reversed(data.months))
    first = bars(rows[0]) if rows else []
    prefix, places = formatting.prefix(data.currency), formatting.digits(data.currency)
    return {
        "data": [
            {"type": "waterfall", "name": "MRR", "x": labels, "y": first, "measure": measure,
             "increasing": {"marker": {"color": GREEN}},
             "decreasing": {"marker": {"color": RED}},
             "totals": {"marker": {"color": BLUE}},
             "connector": {"line": {"color": GREY, "width": 1}},
             "hovertemplate": f"%{{x}}: {prefix}%{{y:,.{places}f}}<extra></extra>"},
        ],
        "layout": _layout(
            data.currency,
            hovermode="closest",
            showlegend=False,
            margin={"t": 40, "b": 64},
            xaxis={"tickangle": -25},
            updatemenus=[{
                "type": "dropdown", "x": 0, "y": 1.18, "xanchor": "left", "yanchor": "top",
                "showactive": True, "active": 0,
                "buttons": [
                    {"label": formatting.month(row["month"]), "method": "restyle",
                     "args": [{"y": [bars(row)]}]}
                    for row in rows
                ],
            }],
        ),
    }  # fmt: skip


def revenue(data: DashboardData) -> Figure:
    """Gross revenue, refunds and net revenue by billing month; deferred revenue at month end."""
    x, hover = _months(data), _money_hover(data.currency)
    return {
        "data": [
            {"type": "bar", "name": "Gross", "x": x, "y": _column(data, "gross_revenue"),
             "marker": {"color": "#b9c8ef"}, "hovertemplate": hover},
            {"type": "bar", "name": "Refunds", "x": x, "y": _column(data, "refunds"),
             "marker": {"color": RED}, "hovertemplate": hover},
            {"type": "scatter", "mode": "lines+markers", "name": "Net", "x": x,
             "y": _column(data, "net_revenue"), "line": {"color": INK, "width": 3},
             "hovertemplate": hover},
            {"type": "scatter", "mode": "lines", "name": "Deferred (month end)", "x": x,
             "y": _column(data, "deferred_revenue_balance"),
             "line": {"color": ORANGE, "dash": "dash"}, "hovertemplate": hover},
        ],
        "layout": _layout(data.currency, barmode="group"),
    }  # fmt: skip


def customers(data: DashboardData) -> Figure:
    """Paying customers at month end; new and churned customers of each month."""
    x = _months(data)
    hover = "%{fullData.name}: %{y:,}<extra></extra>"
    return {
        "data": [
            {"type": "bar", "name": "New", "x": x, "y": _column(data, "new_customers"),
             "marker": {"color": GREEN}, "hovertemplate": hover, "yaxis": "y2"},
            {"type": "bar", "name": "Churned", "x": x, "y": _column(data, "churned_customers"),
             "marker": {"color": RED}, "hovertemplate": hover, "yaxis": "y2"},
            {"type": "scatter", "mode": "lines+markers", "name": "Paying customers", "x": x,
             "y": _column(data, "customers"), "line": {"color": BLUE, "width": 3},
             "hovertemplate": hover},
        ],
        "layout": _layout(
            barmode="group",
            yaxis={"title": {"text": "paying"}, "rangemode": "tozero", "tickformat": ",d"},
            yaxis2={"title": {"text": "new / churned"}, "overlaying": "y", "side": "right",
                    "showgrid": False, "rangemode": "tozero", "tickformat": ",d"},
            margin={"r": 72},
        ),
    }  # fmt: skip


def churn(data: DashboardData) -> Figure:
    """Customer churn rate: churned customers over last month's paying customers."""
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "Customer churn rate",
             "x": _months(data), "y": _column(data, "customer_churn_rate"),
             "line": {"color": RED, "width": 3}, "connectgaps": False,
             "hovertemplate": "%{fullData.name}: %{y:.1%}<extra></extra>"},
        ],
        "layout": _layout(yaxis={"tickformat": ".0%", "rangemode": "tozero"}, showlegend=False),
    }  # fmt: skip


def arpu_ltv(data: DashboardData) -> Figure:
    """ARPU (the month's recognized revenue per paying customer) and LTV (ARPU over churn rate; none without churn)."""
    x, hover = _months(data), _money_hover(data.currency)
    prefix = formatting.prefix(data.currency)
    return {
        "data": [
            {"type": "scatter", "mode": "lines+markers", "name": "ARPU", "x": x,
             "y": _column(data, "arpu"), "line": {"color": TEAL, "width": 3},
             "hovertemplate": hover},
            {"type": "scatter", "mode": "lines+markers", "name": "LTV", "x": x,
             "y": _column(data, "ltv"), "yaxis": "y2", "line": {"color": PURPLE},
             "connectgaps": False, "hovertemplate": hover},
        ],
        "layout": _layout(
            data.currency,
            yaxis={"title": {"text": "ARPU"}},
            yaxis2={"title": {"text": "LTV"}, "overlaying": "y", "side": "right",
                    "tickprefix": prefix, "tickformat": ",.0f", "showgrid": False},
            margin={"r": 72},
        ),
    }  # fmt: skip


def dunning(data: DashboardData) -> Figure:
    """Failed payments per month: their base-currency amount as bars labelled with their count,
    and the share recovered as a line on its own percent axis."""
    rows = data.dunning
    x = [row["month"].isoformat() for row in rows]
    prefix, places = formatting.prefix(data.currency), formatting.digits(data.currency)
    return {
        "data": [
            {"type": "bar", "name": "Failed amount", "x": x,
             "y": [formatting.plain(row["failed_amount"]) for row in rows],
             "text": [f"{row['failures']:,} failed" for row in rows], "textposition": "auto",
             "customdata": [row["failures"] for row in rows], "marker": {"color": ORANGE},
             "hovertemplate": (f"%{{customdata:,}} failed: {prefix}%{{y:,.{places}f}}"
                               "<extra></extra>")},
            {"type": "scatter", "mode": "lines+markers", "name": "Recovered", "x": x,
             "y": [formatting.plain(row["recovered_share"]) for row in rows], "yaxis": "y2",
             "customdata": [row["recovered"] for row in rows],
             "line": {"color": GREEN, "width": 3},
             "hovertemplate": "Recovered: %{y:.1%} (%{customdata:,})<extra></extra>"},
        ],
        "layout": _layout(
            data.currency,
            yaxis={"title": {"text": "failed"}, "rangemode": "tozero"},
            yaxis2={"title": {"text": "recovered"}, "overlaying": "y", "side": "right",
                    "tickformat": ".0%", "range": [0, 1.05], "showgrid": False},
            margin={"r": 72},
        ),
    }  # fmt: skip


def customer_label(row: dict[str, Any]) -> str:
    """How a customer is named on the page: name, else email, else Stripe id."""
    return row.get("name") or row.get("email") or row["customer_id"]


def top_customers(data: DashboardData) -> Figure:
    """The customers with the most net revenue, largest on top, with person and group."""
    rows = list(reversed(data.top_customers))
    prefix, places = formatting.prefix(data.currency), formatting.digits(data.currency)
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": "Net revenue",
             "y": [f"{customer_label(r)} ({r['customer_id'][-6:]})" for r in rows],
             "x": [formatting.plain(r["net_revenue"]) for r in rows],
             "customdata": [[r.get("distinct_id") or "not linked", r.get("group_key") or "none"]
                            for r in rows],
             "marker": {"color": BLUE},
             "hovertemplate": (f"%{{y}}<br>net revenue {prefix}%{{x:,.{places}f}}<br>"
                               "person %{customdata[0]}<br>group %{customdata[1]}<extra></extra>")},
        ],
        "layout": _layout(
            hovermode="closest", showlegend=False, height=360, margin={"l": 220},
            xaxis={"tickprefix": prefix, "tickformat": ",.0f"},
            yaxis={"automargin": True},
        ),
    }  # fmt: skip


def _ranking(rows: list[dict[str, Any]], currency: str, colour: str) -> Figure:
    ordered = list(reversed(rows))
    prefix, places = formatting.prefix(currency), formatting.digits(currency)
    return {
        "data": [
            {"type": "bar", "orientation": "h", "name": "Net revenue",
             "y": [r["label"] for r in ordered],
             "x": [formatting.plain(r["net_revenue"]) for r in ordered],
             "marker": {"color": colour},
             "hovertemplate": f"%{{y}}: {prefix}%{{x:,.{places}f}}<extra></extra>"},
        ],
        "layout": _layout(
            hovermode="closest", showlegend=False, height=max(260, 28 * len(rows) + 60),
            xaxis={"tickprefix": prefix, "tickformat": ",.0f"}, yaxis={"automargin": True},
        ),
    }  # fmt: skip


def by_product(data: DashboardData) -> Figure:
    return _ranking(data.by_product, data.currency, TEAL)


def by_country(data: DashboardData) -> Figure:
    return _ranking(data.by_country, data.currency, PURPLE)


def all_figures(data: DashboardData) -> dict[str, Figure]:
    """Every tile's figure by tile id, in page order."""
    return {
        "mrr-arr": mrr_arr(data),
        "mrr-movements": mrr_movements(data),
        "mrr-bridge": mrr_bridge(data),
        "revenue": revenue(data),
        "customers": customers(data),
        "churn": churn(data),
        "arpu-ltv": arpu_ltv(data),
        "dunning": dunning(data),
        "top-customers": top_customers(data),
        "by-product": by_product(data),
        "by-country": by_country(data),
    }
