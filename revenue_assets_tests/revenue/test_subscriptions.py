"""MRR, movements, deferral and currencies on one small company synced from the sandbox.

The company (clock from 2024-01-01, evaluated on 2024-07-15):
- A: monthly $100 from 2024-01-10, upgraded to $150 on 2024-03-25 (prorated), canceled at
  period end in June: the issue's worked example;
- B: an annual $1,200 plan from 2024-01-01;
- C: ¥3,000 a month (zero-decimal); D: 10.000 KWD a month (three-decimal, no ECB rate: the
  USD account settles it at Stripe's rate);
- E: $10 a week; F: $300 every 3 months.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from currency_converter import CurrencyConverter

from revenue_assets.dashboard.build import build_dashboard
from revenue_assets_tests.dashboard.browser import visit
from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc

MONTHS = [date(2024, m, 1) for m in range(1, 8)]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, str]]:
    s = Scenario(utc(2024, 1, 1))
    subs: dict[str, str] = {}
    annual = s.price(120_000, interval="year", product="Annual")
    subs["B"] = s.subscribe(s.customer(email="b@example.com"), annual)["id"]
    s.advance_to(utc(2024, 1, 10, 12))
    p100, p150 = s.price(10_000), s.price(15_000)
    sub_a = s.subscribe(s.customer(email="a@example.com"), p100)
    subs["A"] = sub_a["id"]
    subs["C"] = s.subscribe(s.customer(), s.price(3_000, currency="jpy", product="Yen"))["id"]
    subs["D"] = s.subscribe(s.customer(), s.price(10_000, currency="kwd", product="Dinar"))["id"]
    subs["E"] = s.subscribe(s.customer(), s.price(1_000, interval="week", product="Weekly"))["id"]
    subs["F"] = s.subscribe(s.customer(), s.price(30_000, interval_count=3, product="Quarterly"))[
        "id"
    ]
    s.advance_to(utc(2024, 3, 25, 12))
    item = sub_a["items"]["data"][0]["id"]
    s.update("subscriptions", subs["A"], {"items": [{"id": item, "price": p150["id"]}]})
    s.advance_to(utc(2024, 5, 20))
    s.update("subscriptions", subs["A"], {"cancel_at_period_end": True})
    s.advance_to(utc(2024, 7, 15))
    warehouse = s.build(tmp_path_factory.mktemp("subscriptions"))
    return warehouse, subs


def history(warehouse: Warehouse, subscription: str) -> list[tuple]:
    return warehouse.rows(
        """SELECT month, original_mrr, movement, original_mrr_change
           FROM revenue_analytics.mrr_history WHERE subscription_id = ? ORDER BY month""",
        subscription,
    )


def test_worked_example_upgrade_then_cancel_at_period_end(company) -> None:
    warehouse, subs = company
    assert history(warehouse, subs["A"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 15_000, "expansion", 5_000),
        (date(2024, 4, 1), 15_000, "unchanged", 0),
        (date(2024, 5, 1), 15_000, "unchanged", 0),
        (date(2024, 6, 1), 0, "churn", -15_000),
    ]
    usd = warehouse.rows(
        "SELECT mrr, arr FROM revenue_analytics.mrr_history WHERE subscription_id = ? "
        "AND month = '2024-03-01'",
        subs["A"],
    )
    assert usd == [(Decimal("150"), Decimal("1800"))]


def test_annual_plan_is_a_twelfth_each_month_end(company) -> None:
    warehouse, subs = company
    rows = history(warehouse, subs["B"])
    assert [r[0] for r in rows] == MONTHS
    assert {r[1] for r in rows} == {10_000}
    assert [r[2] for r in rows] == ["new"] + ["unchanged"] * 6


def test_weekly_and_multi_month_intervals_are_normalized(company) -> None:
    warehouse, subs = company
    weekly = history(warehouse, subs["E"])
    assert {r[1] for r in weekly} == {4_333}  # 1000 × 52 / 12 = 4333.33
    quarterly = history(warehouse, subs["F"])
    assert {r[1] for r in quarterly} == {10_000}  # 30000 / 3
    assert len(quarterly) == 7


def test_zero_decimal_currency_converts_at_the_row_date(company) -> None:
    warehouse, subs = company
    items = warehouse.dicts(
        """SELECT timestamp, original_currency, original_amount, currency_aware_divider,
                  enable_currency_aware_divider, currency_aware_amount, currency, amount
           FROM revenue_analytics.revenue_item WHERE subscription_id = ? ORDER BY timestamp""",
        subs["C"],
    )
    assert len(items) == 7  # Jan 10 … Jul 10
    converter = CurrencyConverter(
        fallback_on_missing_rate=True, fallback_on_missing_rate_method="last_known"
    )
    for item in items:
        assert item["original_currency"] == "JPY"
        assert item["original_amount"] == 3_000
        assert item["currency_aware_divider"] == 1
        assert item["enable_currency_aware_divider"] is True
        assert item["currency_aware_amount"] == Decimal("3000.000")
        assert item["currency"] == "USD"
        expected = converter.convert(3_000, "JPY", "USD", item["timestamp"].date())
        assert abs(float(item["amount"]) - expected) < 0.0001
    assert history(warehouse, subs["C"])[0][1] == 3_000


def test_a_euro_base_currency_converts_every_row_at_its_date(company) -> None:
    """REVENUE_ASSETS_BASE_CURRENCY=EUR: dollars and yen convert to euros at each row's ECB
    rate; the MRR history and the metrics follow; the originals stay as they were."""
    warehouse, subs = company
    converter = CurrencyConverter(
        fallback_on_missing_rate=True, fallback_on_missing_rate_method="last_known"
    )
    try:
        assert warehouse.materialize(base_currency="EUR").success
        items = warehouse.dicts(
            """SELECT timestamp, original_currency, original_amount, currency, amount
               FROM revenue_analytics.revenue_item WHERE subscription_id IN (?, ?)""",
            subs["A"],
            subs["C"],
        )
        assert {i["original_currency"] for i in items} == {"USD", "JPY"}
        for item in items:
            divider = 1 if item["original_currency"] == "JPY" else 100
            expected = converter.convert(
                item["original_amount"] / divider,
                item["original_currency"],
                "EUR",
                item["timestamp"].date(),
            )
            assert item["currency"] == "EUR"
            assert abs(float(item["amount"]) - expected) < 0.0001
        march = warehouse.dicts(
            "SELECT currency, mrr FROM revenue_analytics.mrr_history "
            "WHERE subscription_id = ? AND month = '2024-03-01'",
            subs["A"],
        )[0]
        assert march["currency"] == "EUR"
        assert (
            abs(float(march["mrr"]) - converter.convert(150, "USD", "EUR", date(2024, 3, 31)))
            < 0.01
        )
        metrics = warehouse.dicts("SELECT DISTINCT currency FROM revenue_analytics.revenue_metrics")
        assert metrics == [{"currency": "EUR"}]
    finally:
        assert warehouse.materialize(base_currency="USD").success


def test_three_decimal_currency_divides_by_1000_and_converts_at_stripes_settlement_rate(
    company,
) -> None:
    warehouse, subs = company
    items = warehouse.dicts(
        """SELECT original_amount, currency_aware_divider, currency_aware_amount, amount
           FROM revenue_analytics.revenue_item WHERE subscription_id = ?""",
        subs["D"],
    )
    assert items and all(i["original_amount"] == 10_000 for i in items)
    assert all(i["currency_aware_divider"] == 1000 for i in items)
    assert all(i["currency_aware_amount"] == Decimal("10.000") for i in items)
    # The ECB publishes no KWD rate; the USD account settled each payment at Stripe's rate:
    # exchange_rate 3.225806 USD per KWD, so 10.000 KWD = 32.25806 USD (the balance
    # transaction books 3,226 cents).
    assert all(i["amount"] == Decimal("32.258060") for i in items)
    settled = warehouse.rows(
        """SELECT DISTINCT b.amount, b.currency, b.exchange_rate
           FROM stripe.balance_transaction AS b JOIN stripe.charge AS c ON c.id = b.source
           WHERE c.currency = 'kwd'"""
    )
    assert settled == [(3_226, "usd", 3.225806)]
    sources = warehouse.rows(
        "SELECT DISTINCT rate_source FROM revenue_analytics.revenue_line WHERE subscription_id = ?",
        subs["D"],
    )
    assert sources == [("stripe_settlement",)]
    materialization = warehouse.materialization("revenue_line")
    assert materialization.metadata["currencies_without_rate"].value == {}
    # MRR converts at the last rate Stripe settled KWD at: 10.000 KWD = 32.258060 USD
    mrr = warehouse.rows(
        "SELECT mrr FROM revenue_analytics.mrr WHERE subscription_id = ?", subs["D"]
    )
    assert mrr == [(Decimal("32.258060"),)]


def test_what_cannot_be_converted_is_counted_and_warned_about(company, tmp_path: Path) -> None:
    """As if the account settled in KWD itself (no `exchange_rate` on its balance transactions):
    nothing converts KWD, so the lines are counted, by currency, and a warning names KWD."""
    warehouse, subs = company
    connection = duckdb.connect(str(warehouse.database))
    try:
        connection.execute(
            """CREATE TABLE stripe.kept_balance_transaction AS SELECT * FROM stripe.balance_transaction;
               UPDATE stripe.balance_transaction AS b SET exchange_rate = NULL, currency = 'kwd'
               FROM stripe.charge AS c WHERE c.id = b.source AND c.currency = 'kwd'"""
        )
    finally:
        connection.close()
    try:
        assert warehouse.materialize().success
        lines = warehouse.rows(
            """SELECT count(*), sum(original_amount) FROM revenue_analytics.revenue_line
               WHERE subscription_id = ? AND is_paid""",
            subs["D"],
        )[0]
        assert lines[0] >= 6  # one invoice a month from January to July
        metrics = warehouse.dicts(
            """SELECT month, unconverted_lines, unconverted_original_amounts
               FROM revenue_analytics.revenue_metrics ORDER BY month"""
        )
        feb = next(m for m in metrics if m["month"] == date(2024, 2, 1))
        assert feb["unconverted_lines"] == 1  # February's 10.000 KWD invoice line
        assert feb["unconverted_original_amounts"] == {"KWD": 10_000}
        assert sum(m["unconverted_lines"] for m in metrics) == lines[0]
        assert sum(m["unconverted_original_amounts"].get("KWD", 0) for m in metrics) == lines[1]
        evaluation = next(
            e
            for e in warehouse.result.get_asset_check_evaluations()
            if e.check_name == "revenue_fully_converted"
        )
        assert not evaluation.passed
        assert evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.description == "Left out of the base-currency figures: KWD."
        # the dashboard says the same, in a real browser
        page = build_dashboard(
            warehouse.database,
            stripe_schema="stripe",
            revenue_schema="revenue_analytics",
            base_currency="USD",
            output=tmp_path / "dashboard.html",
        )
        with visit(page.path) as seen:
            note = seen.page.locator("[data-unconverted]")
            assert note.get_attribute("data-unconverted") == "KWD"
            text = " ".join(note.inner_text().split())
        kwd = Decimal(lines[1]) / 1000
        assert f"{lines[0]} revenue lines in KWD (KWD {kwd:.3f})" in text
    finally:
        connection = duckdb.connect(str(warehouse.database))
        try:
            connection.execute(
                """DELETE FROM stripe.balance_transaction;
                   INSERT INTO stripe.balance_transaction SELECT * FROM stripe.kept_balance_transaction;
                   DROP TABLE stripe.kept_balance_transaction"""
            )
        finally:
            connection.close()
        assert warehouse.materialize().success


def test_annual_line_is_deferred_into_twelve_equal_compatible_items(company) -> None:
    warehouse, subs = company
    rows = warehouse.rows(
        """SELECT id, revenue_line_id, timestamp, original_amount, amount
           FROM revenue_analytics.revenue_item WHERE subscription_id = ? ORDER BY timestamp""",
        subs["B"],
    )
    assert len(rows) == 12
    line = rows[0][1]
    assert [r[0] for r in rows] == [f"{line}_{k}" for k in range(12)]
    assert [r[2] for r in rows] == [utc(2024, m, 1) for m in range(1, 13)]
    assert {r[3] for r in rows} == {10_000}
    assert {r[4] for r in rows} == {Decimal("100")}


def test_annual_line_is_recognized_by_the_second_with_a_running_balance(company) -> None:
    warehouse, subs = company
    rows = warehouse.rows(
        """SELECT month, recognized_original_amount, deferred_original_amount
           FROM revenue_analytics.deferred_revenue WHERE subscription_id = ? ORDER BY month""",
        subs["B"],
    )
    assert [r[0] for r in rows] == [date(2024, m, 1) for m in range(1, 13)]
    assert sum(r[1] for r in rows) == 120_000
    days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2024 is a leap year
    for (_, recognized, _), length in zip(rows, days, strict=True):
        exact = Decimal(120_000 * length) / 366
        assert abs(recognized - exact) < 1
    balance = 120_000
    for _, recognized, deferred in rows:
        balance -= recognized
        assert deferred == balance
    assert rows[-1][2] == 0


def test_metrics_and_current_mrr_agree_with_history(company) -> None:
    warehouse, subs = company
    current = dict(
        warehouse.rows("SELECT subscription_id, original_mrr FROM revenue_analytics.mrr")
    )
    assert current == {
        subs["B"]: 10_000,
        subs["C"]: 3_000,
        subs["D"]: 10_000,
        subs["E"]: 4_333,
        subs["F"]: 10_000,
    }
    june = warehouse.dicts(
        "SELECT * FROM revenue_analytics.revenue_metrics WHERE month = '2024-06-01'"
    )[0]
    assert june["churned_mrr"] == Decimal("-150")
    assert june["churned_customers"] == 1
    assert june["customers"] == 5
    assert june["customer_churn_rate"] == Decimal("0.166667")  # 1 of May's 6 customers
    # ARPU = the month's revenue (recognized: an annual plan counts a twelfth a month) per
    # paying customer; LTV = ARPU / churn rate = (revenue / 5) / (1 / 6), ARPU unrounded
    revenue = june["recognized_revenue"]
    assert revenue > june["mrr"]  # one-off revenue too, not only the recurring part
    assert june["arpu"] == (revenue / 5).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert june["ltv"] == (revenue * 6 / 5).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    march = warehouse.dicts(
        "SELECT * FROM revenue_analytics.revenue_metrics WHERE month = '2024-03-01'"
    )[0]
    assert march["expansion_mrr"] == Decimal("50")
    assert march["new_customers"] == 0
    jan = warehouse.dicts(
        "SELECT * FROM revenue_analytics.revenue_metrics WHERE month = '2024-01-01'"
    )[0]
    assert jan["new_customers"] == 6
    assert jan["customer_churn_rate"] is None  # nobody paid the month before
    assert jan["ltv"] is None


def test_finance_checks_pass(company) -> None:
    warehouse, _ = company
    assert warehouse.checks() == {
        "revenue_item_sums_to_invoice": True,
        "deferred_revenue_sums_to_lines": True,
        "deferred_balance_valid": True,
        "charges_reconcile": True,
        "mrr_movements_roll": True,
        "mrr_bridge_reconciles": True,
        "revenue_fully_converted": True,
    }
