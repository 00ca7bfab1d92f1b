"""The arithmetic rules on literal raw rows, run through the real SQL files: the compatible
month counts, cumulative rounding of invoice-level discounts, largest-remainder recognition."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from revenue_assets.revenue.tables import TABLES_BY_NAME
from revenue_assets.warehouse.connection import warehouse_connection
from revenue_assets_tests.revenue.scenario import Warehouse, utc

# (start, end, months) — the reference cases for `months = max(1, round(days / 30.44))`
MONTH_COUNTS = [
    (date(2021, 1, 1), date(2021, 1, 31), 1),
    (date(2021, 1, 1), date(2021, 2, 15), 1),
    (date(2021, 1, 1), date(2021, 2, 16), 2),
    (date(2021, 1, 1), date(2021, 3, 31), 3),
    (date(2021, 1, 1), date(2021, 12, 31), 12),
    (date(2021, 12, 1), date(2022, 1, 31), 2),
    (date(2021, 1, 1), date(2022, 12, 31), 24),
    (date(2020, 1, 1), date(2020, 12, 31), 12),
]


JAN_15, MAR_15 = utc(2024, 1, 15), utc(2024, 3, 15)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class RawRows:
    """Minimal current-shape invoices and lines, inserted into the typed raw columns."""

    def __init__(self) -> None:
        self.invoices: list[dict[str, Any]] = []
        self.lines: list[dict[str, Any]] = []

    def invoice(
        self,
        invoice_id: str,
        lines: list[tuple[str, int, bool]],
        *,
        invoice_discount: int = 0,
        start: datetime = JAN_15,
        end: datetime = MAR_15,
        currency: str = "usd",
    ) -> None:
        subtotal = sum(amount for _, amount, _ in lines)
        self.invoices.append(
            {
                "id": invoice_id,
                "created": start,
                "currency": currency,
                "subtotal": subtotal,
                "discount": invoice_discount,
                "line_ids": [line_id for line_id, _, _ in lines],
            }
        )
        for line_id, amount, discountable in lines:
            self.lines.append(
                {
                    "id": line_id,
                    "invoice": invoice_id,
                    "amount": amount,
                    "discountable": discountable,
                    "start": start,
                    "end": end,
                    "currency": currency,
                }
            )

    def write(self, database: Path) -> None:
        from revenue_assets.catalog.tables import ALL_TABLE_NAMES
        from revenue_assets.warehouse.merge import ensure_tables

        with warehouse_connection(database) as connection:
            ensure_tables(connection, "stripe", list(ALL_TABLE_NAMES))
            for inv in self.invoices:
                raw = {"id": inv["id"], "lines": {"data": [{"id": i} for i in inv["line_ids"]]}}
                discounts = (
                    [{"amount": inv["discount"], "discount": "di_x"}] if inv["discount"] else []
                )
                connection.execute(
                    """INSERT INTO stripe.invoice (id, customer, created, currency, status,
                           subtotal, total_excluding_tax, total_discount_amounts, discounts,
                           _raw, _deleted)
                       VALUES (?, 'cus_rules', ?, ?, 'paid', ?, ?, ?, '[]', ?, false)""",
                    [
                        inv["id"],
                        inv["created"],
                        inv["currency"],
                        inv["subtotal"],
                        inv["subtotal"] - inv["discount"],
                        json.dumps(discounts),
                        json.dumps(raw),
                    ],
                )
            for line in self.lines:
                connection.execute(
                    """INSERT INTO stripe.invoice_line_item (id, invoice_id, invoice, amount,
                           currency, discountable, discount_amounts, discounts, period_start,
                           period_end, quantity, _raw, _deleted)
                       VALUES (?, ?, ?, ?, ?, ?, '[]', '[]', ?, ?, 1, '{}', false)""",
                    [
                        line["id"],
                        line["invoice"],
                        line["invoice"],
                        line["amount"],
                        line["currency"],
                        line["discountable"],
                        line["start"],
                        line["end"],
                    ],
                )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    rows = RawRows()
    for n, (start, end, _) in enumerate(MONTH_COUNTS):
        rows.invoice(f"in_m{n}", [(f"il_m{n}", 120_000, True)], start=_at(start), end=_at(end))
    rows.invoice("in_a", [("il_a1", 1_000, True), ("il_a2", 2_000, True)], invoice_discount=1_000)
    rows.invoice(
        "in_b",
        [("il_b3", 100, True), ("il_b1", 100, True), ("il_b2", 100, True)],
        invoice_discount=100,
    )
    rows.invoice("in_c", [("il_c1", 500, False), ("il_c2", 1_000, True)], invoice_discount=100)
    rows.invoice("in_d", [("il_d1", 1_000, True)])  # Jan 15 → Mar 15, 2024
    rows.invoice("in_e", [("il_e1", -1_000, True)])  # a credit over the same period
    rows.invoice("in_f", [("il_f1", 7, True)], start=utc(2024, 1, 1), end=utc(2025, 1, 1))
    database = tmp_path_factory.mktemp("rules") / "warehouse.duckdb"
    rows.write(database)
    built = Warehouse(database, utc(2025, 6, 1))
    assert built.materialize().success
    return built


def net(warehouse: Warehouse, *line_ids: str) -> list[int]:
    found = dict(
        warehouse.rows(
            "SELECT id, original_amount FROM revenue_analytics.revenue_line WHERE kind = 'invoice_line'"
        )
    )
    return [found[line_id] for line_id in line_ids]


@pytest.mark.parametrize(("case", "expected"), [(n, c[2]) for n, c in enumerate(MONTH_COUNTS)])
def test_compatible_month_count(warehouse: Warehouse, case: int, expected: int) -> None:
    rows = warehouse.rows(
        """SELECT id, timestamp, original_amount FROM revenue_analytics.revenue_item
           WHERE revenue_line_id = ? ORDER BY deferral_index""",
        f"il_m{case}",
    )
    assert len(rows) == expected
    assert sum(r[2] for r in rows) == 120_000
    assert {r[2] for r in rows} == {120_000 // expected}
    if expected > 1:
        assert [r[0] for r in rows] == [f"il_m{case}_{k}" for k in range(expected)]
        start = _at(MONTH_COUNTS[case][0])
        assert rows[1][1] == start.replace(
            month=start.month % 12 + 1, year=start.year + (start.month == 12)
        )
    else:
        assert rows[0][0] == f"il_m{case}"


def test_invoice_discount_is_allocated_by_cumulative_rounding(warehouse: Warehouse) -> None:
    assert net(warehouse, "il_a1", "il_a2") == [667, 1_333]
    # in the invoice's own line order (b3, b1, b2), not the ids' order
    assert net(warehouse, "il_b3", "il_b1", "il_b2") == [67, 66, 67]


def test_non_discountable_line_keeps_its_amount(warehouse: Warehouse) -> None:
    assert net(warehouse, "il_c1", "il_c2") == [500, 900]


def test_equal_split_keeps_every_minor_unit(warehouse: Warehouse) -> None:
    parts = warehouse.rows(
        """SELECT original_amount FROM revenue_analytics.revenue_item
           WHERE revenue_line_id = 'il_f1' ORDER BY deferral_index"""
    )
    assert [p[0] for p in parts] == [1] * 7 + [0] * 5  # 7 cents over 12 months


def test_largest_remainder_recognition_and_balance(warehouse: Warehouse) -> None:
    # 1000 over Jan 15 → Mar 15 2024 (60 days): 17, 29 and 14 days → 283.3, 483.3, 233.3
    rows = warehouse.rows(
        """SELECT month, recognized_original_amount, deferred_original_amount
           FROM revenue_analytics.deferred_revenue WHERE invoice_item_id = ? ORDER BY month""",
        "il_d1",
    )
    assert rows == [
        (date(2024, 1, 1), 284, 716),  # the tie of remainders goes to the earliest month
        (date(2024, 2, 1), 483, 233),
        (date(2024, 3, 1), 233, 0),
    ]
    credit = warehouse.rows(
        """SELECT recognized_original_amount, deferred_original_amount
           FROM revenue_analytics.deferred_revenue WHERE invoice_item_id = 'il_e1' ORDER BY month"""
    )
    assert credit == [(-284, -716), (-483, -233), (-233, 0)]


def test_the_finance_checks_pass_on_literal_rows(warehouse: Warehouse) -> None:
    checks = warehouse.checks()
    assert checks["revenue_item_sums_to_invoice"]
    assert checks["deferred_revenue_sums_to_lines"]
    assert checks["deferred_balance_valid"]


def test_tables_have_the_columns_their_metadata_declares(warehouse: Warehouse) -> None:
    for table in TABLES_BY_NAME.values():
        found = warehouse.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'revenue_analytics' AND table_name = ? ORDER BY ordinal_position",
            table.name,
        )
        declared = [(name, type_) for name, type_, _ in table.columns]
        assert found == declared, table.name


MONEY = [
    "currency",
    "amount",
    "original_currency",
    "original_amount",
    "enable_currency_aware_divider",
    "currency_aware_divider",
    "currency_aware_amount",
]
# The columns of the product we replace, so its users' queries keep working.
COMPATIBLE_COLUMNS = {
    "charge": ["id", "source_label", "timestamp", "customer_id", "invoice_id", *MONEY],
    "customer": [
        "id", "source_label", "timestamp", "name", "email", "phone", "address", "metadata",
        "country", "cohort", "initial_coupon", "initial_coupon_id",
    ],
    "product": ["id", "source_label", "name"],
    "subscription": [
        "id", "source_label", "plan_id", "product_id", "customer_id", "status", "started_at",
        "ended_at", "metadata",
    ],
    "revenue_item": [
        "id", "invoice_item_id", "source_label", "timestamp", "created_at", "is_recurring",
        "product_id", "customer_id", "invoice_id", "subscription_id", "coupon", "coupon_id",
        *MONEY,
    ],
    "mrr": ["source_label", "customer_id", "subscription_id", "mrr"],
}  # fmt: skip


@pytest.mark.parametrize("view", list(COMPATIBLE_COLUMNS))
def test_managed_views_have_the_compatible_columns(warehouse: Warehouse, view: str) -> None:
    found = {
        row[0]
        for row in warehouse.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'revenue_analytics' AND table_name = ?",
            view,
        )
    }
    assert set(COMPATIBLE_COLUMNS[view]) <= found, set(COMPATIBLE_COLUMNS[view]) - found


def test_view_row_counts_are_counted_without_computing_the_view(warehouse: Warehouse) -> None:
    assert warehouse.result is not None
    metadata = warehouse.materialization("revenue_item").metadata
    counted = warehouse.rows("SELECT count(*) FROM revenue_analytics.revenue_item")[0][0]
    # 57 parts of the month-count lines, 2 parts for each of the 9 two-month lines, 12 for il_f1
    assert metadata["dagster/row_count"].value == counted == 57 + 2 * 9 + 12


def test_the_finance_checks_catch_broken_data(tmp_path: Path) -> None:
    """Each check fails on the defect it exists for (a missing line, a deferral that does not
    add up, MRR that does not roll), naming the culprit."""
    from revenue_assets.defs.resources import RevenueResource, WarehouseResource, revenue_context
    from revenue_assets.defs.revenue.checks import CHECKS, run_check

    rows = RawRows()
    rows.invoice("in_ok", [("il_ok", 1_000, True)])
    rows.invoice("in_cut", [("il_cut1", 1_000, True), ("il_cut2", 500, True)])
    database = tmp_path / "warehouse.duckdb"
    rows.write(database)
    with warehouse_connection(database) as connection:  # a line lost by a truncated listing
        connection.execute("DELETE FROM stripe.invoice_line_item WHERE id = 'il_cut2'")
    built = Warehouse(database, utc(2025, 6, 1))
    built.materialize()
    assert built.checks()["revenue_item_sums_to_invoice"] is False
    with warehouse_connection(database) as connection:
        connection.execute(
            "UPDATE revenue_analytics.deferred_revenue SET recognized_original_amount = 0, "
            "deferred_original_amount = -1 WHERE invoice_item_id = 'il_ok'"
        )
        connection.execute(
            "INSERT INTO revenue_analytics.mrr_history (month, subscription_id, original_currency,"
            " original_mrr, previous_original_mrr, original_mrr_change, movement) VALUES "
            "('2024-02-01', 'sub_x', 'USD', 100, 50, 10, 'expansion')"
        )
        connection.execute(  # a charge whose balance transaction carries another amount
            "INSERT INTO stripe.charge (id, amount, amount_captured, amount_refunded, captured,"
            " status, currency, balance_transaction, _deleted) VALUES"
            " ('ch_x', 1000, 1000, 0, true, 'succeeded', 'usd', 'txn_x', false)"
        )
        connection.execute(
            "INSERT INTO stripe.balance_transaction (id, amount, currency, source, _deleted)"
            " VALUES ('txn_x', 900, 'usd', 'ch_x', false)"
        )
    context = revenue_context(
        WarehouseResource(database=str(database)), RevenueResource(as_of="2025-06-01T00:00:00Z")
    )
    outcomes = {check.name: run_check(check, context) for check in CHECKS}
    assert outcomes["revenue_item_sums_to_invoice"].metadata["violations"].value == 1
    assert "in_cut" in outcomes["revenue_item_sums_to_invoice"].metadata["first_violations"].value
    assert not outcomes["deferred_revenue_sums_to_lines"].passed
    assert not outcomes["deferred_balance_valid"].passed
    assert not outcomes["mrr_movements_roll"].passed
    assert "ch_x" in outcomes["charges_reconcile"].metadata["first_violations"].value


def test_an_unchanged_customer_moves_by_exactly_zero_in_a_converted_currency(
    tmp_path: Path,
) -> None:
    """A customer with two unchanged ¥ subscriptions (¥1,234 and ¥5,678) at two month ends: each
    subscription's MRR is converted and rounded to the millionth on its own, so their sum
    (46.040307 on Feb 29, 2024) differs from the converted sum of ¥6,912 (46.040308). The
    customer's movement is unchanged and exactly 0; the millionth goes to the FX effect, and the
    bridge (previous + movement + FX = MRR) still holds to the millionth."""
    from revenue_assets.defs.resources import RevenueResource, WarehouseResource, revenue_context
    from revenue_assets.defs.revenue.checks import CHECKS, run_check
    from revenue_assets.revenue.runner import revenue_connection, run

    database = tmp_path / "warehouse.duckdb"
    rows = RawRows()
    rows.invoice("in_yen", [("il_yen", 1_000, True)], currency="jpy")  # the account uses ¥
    rows.write(database)
    built = Warehouse(database, utc(2024, 2, 29, 23, 59, 59))  # February is the last month
    assert built.materialize().success
    context = revenue_context(
        WarehouseResource(database=str(database)), RevenueResource(as_of="2024-02-29T23:59:59Z")
    )
    with revenue_connection(context) as connection:
        connection.execute(
            """INSERT INTO revenue_analytics.mrr_history
                   (month, customer_id, subscription_id, evaluated_at, original_currency,
                    original_mrr, previous_original_mrr, original_mrr_change, movement, mrr,
                    mrr_change, arr)
               SELECT m.month, 'cus_yen', s.id, m.instant, 'JPY', s.amount,
                   CASE WHEN m.month = DATE '2024-01-01' THEN 0 ELSE s.amount END,
                   CASE WHEN m.month = DATE '2024-01-01' THEN s.amount ELSE 0 END,
                   CASE WHEN m.month = DATE '2024-01-01' THEN 'new' ELSE 'unchanged' END,
                   CAST(s.amount * fx.minor_to_base AS DECIMAL(18, 6)), 0,
                   CAST(12 * s.amount * fx.minor_to_base AS DECIMAL(18, 6))
               FROM (VALUES ('sub_a', 1234), ('sub_b', 5678)) AS s(id, amount)
               CROSS JOIN (VALUES (DATE '2024-01-01', TIMESTAMPTZ '2024-01-31 23:59:59+00'),
                                  (DATE '2024-02-01', TIMESTAMPTZ '2024-02-29 23:59:59+00'))
                   AS m(month, instant)
               JOIN revenue_analytics.exchange_rate AS fx
                   ON fx.currency = 'JPY' AND fx.date = CAST(m.month + INTERVAL 1 MONTH
                       - INTERVAL 1 DAY AS DATE)"""
        )
        per_subscription = connection.execute(
            "SELECT sum(mrr) FROM revenue_analytics.mrr_history WHERE month = '2024-02-01'"
        ).fetchone()[0]
        converted_sum = connection.execute(
            "SELECT CAST(6912 * minor_to_base AS DECIMAL(18, 6)) FROM "
            "revenue_analytics.exchange_rate WHERE currency = 'JPY' AND date = '2024-02-29'"
        ).fetchone()[0]
        assert per_subscription != converted_sum  # the case this test exists for
        run(connection, "customer_mrr_history", context)
        run(connection, "revenue_metrics", context)
        february = connection.execute(
            """SELECT movement, original_mrr_change, mrr_change, previous_mrr + fx_effect, mrr
               FROM revenue_analytics.customer_mrr_history WHERE month = '2024-02-01'"""
        ).fetchall()
        metrics = connection.execute(
            """SELECT new_mrr + expansion_mrr + contraction_mrr + churned_mrr + reactivation_mrr
               FROM revenue_analytics.revenue_metrics WHERE month = '2024-02-01'"""
        ).fetchone()[0]
    assert february == [("unchanged", 0, Decimal("0"), per_subscription, per_subscription)]
    assert metrics == 0
    bridge = next(check for check in CHECKS if check.name == "mrr_bridge_reconciles")
    assert run_check(bridge, context).passed


def test_a_late_payment_is_recognized_from_its_payment_month(tmp_path: Path) -> None:
    """Point in time: an invoice paid on Feb 10 was not revenue at January's end. January keeps
    nothing; February catches up on January's share, and the deferral runs on from there."""
    rows = RawRows()
    rows.invoice("in_late", [("il_late", 1_000, True)])  # Jan 15 → Mar 15, 2024
    database = tmp_path / "warehouse.duckdb"
    rows.write(database)
    paid_at = int(utc(2024, 2, 10).timestamp())
    with warehouse_connection(database) as connection:
        connection.execute(
            "UPDATE stripe.invoice SET status_transitions = ? WHERE id = 'in_late'",
            [json.dumps({"finalized_at": int(JAN_15.timestamp()), "paid_at": paid_at})],
        )
    built = Warehouse(database, utc(2024, 6, 1))
    assert built.materialize().success
    rows_found = built.rows(
        """SELECT month, recognized_original_amount, deferred_original_amount
           FROM revenue_analytics.deferred_revenue WHERE invoice_item_id = 'il_late'
           ORDER BY month"""
    )
    # the schedule of il_d1 (284 / 483 / 233), January's 284 taken in February: 284 + 483
    assert rows_found == [(date(2024, 2, 1), 767, 233), (date(2024, 3, 1), 233, 0)]
    booked = built.rows("SELECT booked_at FROM revenue_analytics.revenue_line")
    assert booked == [(utc(2024, 2, 10),)]
    assert all(built.checks().values()), built.checks()
