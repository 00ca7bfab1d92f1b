"""The issue's worked examples for discounts and month counts, on a warehouse built by a real
sync of invoices created in the sandbox (the rule tests in test_rules.py use literal rows)."""

from __future__ import annotations

from typing import Any

import pytest

from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, ts, utc

# (period start, period end) -> months of the compatible deferral, from the issue.
MONTH_COUNTS = [
    ((2021, 1, 1), (2021, 1, 31), 1),
    ((2021, 1, 1), (2021, 2, 15), 1),
    ((2021, 1, 1), (2021, 2, 16), 2),
    ((2021, 1, 1), (2021, 3, 31), 3),
    ((2021, 1, 1), (2021, 12, 31), 12),
    ((2021, 12, 1), (2022, 1, 31), 2),
    ((2021, 1, 1), (2022, 12, 31), 24),
    ((2020, 1, 1), (2020, 12, 31), 12),
]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, Any]]:
    s = Scenario(utc(2023, 1, 1))
    found: dict[str, Any] = {}
    ten_off = s.create("coupons", {"amount_off": 1_000, "currency": "usd", "duration": "once"})
    one_off = s.create("coupons", {"amount_off": 100, "currency": "usd", "duration": "once"})

    def invoice(amounts: list[int], coupon: dict | None = None, periods: list | None = None):
        customer = s.customer()
        lines = []
        for n, amount in enumerate(amounts):
            params: dict[str, Any] = {
                "customer": customer["id"], "amount": amount, "currency": "usd",
                "description": f"line {n}",
            }  # fmt: skip
            if periods:
                start, end = periods[n]
                params["period"] = {"start": ts(*start), "end": ts(*end)}
            s.create("invoiceitems", params)
            lines.append(f"line {n}")
        params = {"customer": customer["id"], "pending_invoice_items_behavior": "include"}
        if coupon:
            params["discounts"] = [{"coupon": coupon["id"]}]
        created = s.create("invoices", params)
        s.action("invoices", created["id"], "pay")
        return created["id"], lines

    found["thirds"] = invoice([1_000, 2_000], ten_off)
    found["three_lines"] = invoice([100, 100, 100], one_off)
    found["months"] = invoice([1_200] * len(MONTH_COUNTS), periods=[m[:2] for m in MONTH_COUNTS])
    return s.build(tmp_path_factory.mktemp("examples")), found


def by_line(warehouse: Warehouse, invoice_id: str, aggregate: str) -> dict[str, int]:
    """An aggregate of each line's revenue items, by the line's description."""
    rows = warehouse.rows(
        f"""SELECT l.description, {aggregate} FROM revenue_analytics.revenue_item AS r
            JOIN stripe.invoice_line_item AS l ON l.id = r.invoice_item_id
            WHERE r.invoice_id = ? AND r.kind = 'invoice_line' GROUP BY 1""",
        invoice_id,
    )
    return dict(rows)


def test_an_invoice_discount_splits_by_cumulative_rounding(company) -> None:
    warehouse, found = company
    invoice_id, lines = found["thirds"]
    net = by_line(warehouse, invoice_id, "sum(r.original_amount)")
    assert [net[line] for line in lines] == [667, 1_333]
    invoice_id, lines = found["three_lines"]
    net = by_line(warehouse, invoice_id, "sum(r.original_amount)")
    assert [net[line] for line in lines] == [67, 66, 67]


def test_reference_month_counts(company) -> None:
    warehouse, found = company
    invoice_id, lines = found["months"]
    counts = by_line(warehouse, invoice_id, "count(*)")
    assert [counts[line] for line in lines] == [months for _, _, months in MONTH_COUNTS]
