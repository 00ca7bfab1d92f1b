"""The Stripe changes of the end-to-end test and what each must do downstream, worked by hand.

Each change names the facts that show it in the raw tables and in the revenue tables (one SQL
per fact, true once it holds) and what it adds to the current month's figures, in cents:

- a new customer on a monthly price of P cents (quantity 1, no discount): MRR +P, new MRR +P,
  and its first invoice, paid at once, gross revenue +P;
- a subscription canceled now, whose MRR was M: MRR -M, churned MRR -M;
- an open invoice of 123.45 paid: gross revenue +123.45 (a one-off line: no MRR);
- 10.00 refunded on an older charge: refunds +10.00 in the refund's month;
- a customer deleted, whose one subscription's MRR was M': Stripe cancels it, MRR -M',
  churned MRR -M'.

The revenue table and the dashboard each show the current month's figures. Which changes a
set of figures holds is found by matching it against the baseline plus the deltas of every
subset of the changes: figures that match no subset are wrong (or half-rebuilt), never
counted as a change having arrived.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import combinations
from pathlib import Path
from typing import Any

FIELDS = ("mrr", "new_mrr", "churned_mrr", "gross_revenue", "refunds")
INVOICE_CENTS = 12_345
REFUND_CENTS = 1_000

Figures = dict[str, int]


@dataclass
class Change:
    """One change made in Stripe, with its downstream facts and effect on the figures."""

    name: str
    raw: list[tuple[str, tuple[Any, ...]]]
    revenue: list[tuple[str, tuple[Any, ...]]]
    deltas: Figures
    made_at: float = 0.0
    seen: dict[str, float] = field(default_factory=dict)  # level -> seconds after made_at


def cents(value: Decimal | float | None) -> int:
    return 0 if value is None else round(Decimal(str(value)) * 100)


def landed(observed: Figures | None, baseline: Figures, changes: list[Change]) -> set[str] | None:
    """The names of the changes `observed` holds: the subset whose deltas, added to the
    baseline, give exactly the observed figures; None when no subset does."""
    if observed is None:
        return None
    for size in range(len(changes) + 1):
        for subset in combinations(changes, size):
            expected = {
                name: baseline[name] + sum(c.deltas.get(name, 0) for c in subset) for name in FIELDS
            }
            if expected == observed:
                return {c.name for c in subset}
    return None


def metrics_figures(connection: Any, month: date) -> Figures | None:
    """The month's figures in `revenue_analytics.revenue_metrics`."""
    row = connection.execute(
        f"SELECT {', '.join(FIELDS)} FROM revenue_analytics.revenue_metrics WHERE month = ?",
        [month],
    ).fetchone()
    return (
        None
        if row is None
        else {name: cents(value) for name, value in zip(FIELDS, row, strict=True)}
    )


# Where each figure is drawn on the page: (tile, trace name).
DASHBOARD_TRACES = {
    "mrr": ("mrr-arr", "MRR"),
    "new_mrr": ("mrr-movements", "New"),
    "churned_mrr": ("mrr-movements", "Churn"),
    "gross_revenue": ("revenue", "Gross"),
    "refunds": ("revenue", "Refunds"),
}
FIGURES_JSON = re.compile(r'<script type="application/json" id="figures">(.*?)</script>', re.S)
MRR_CARD = re.compile(r'data-metric="mrr" data-value="([^"]*)"')


@dataclass(frozen=True)
class Page:
    """What a dashboard page shows for a month: its charts' figures and the MRR card."""

    figures: Figures | None
    mrr_card: str | None


def dashboard_figures(page: Path, month: date) -> Page:
    """The month's figures as the page's charts draw them, and the exact MRR headline."""
    try:
        text = page.read_text()
    except FileNotFoundError:
        return Page(None, None)
    found = FIGURES_JSON.search(text)
    card = MRR_CARD.search(text)
    if found is None:
        return Page(None, None)
    charts = json.loads(found.group(1))
    figures: Figures = {}
    for name, (tile, trace_name) in DASHBOARD_TRACES.items():
        trace = next(t for t in charts[tile]["data"] if t["name"] == trace_name)
        if month.isoformat() not in trace["x"]:
            return Page(None, None)
        figures[name] = cents(trace["y"][trace["x"].index(month.isoformat())])
    return Page(figures, html.unescape(card.group(1)) if card else None)


def facts_hold(connection: Any, facts: list[tuple[str, tuple[Any, ...]]]) -> bool:
    return all(connection.execute(sql, list(params)).fetchone()[0] for sql, params in facts)
