"""Credit notes and refunds in the accounting deferral (Stripe Revenue Recognition's method), on
a company synced from the sandbox (clock 2024-01-01 → 2024-04-15):

- annual: $1,200 a year from 2024-01-01 (366 days, a leap year); on 2024-04-01 a $300 credit
  note on its invoice (refunded on its charge);
- quarterly: $300 every 3 months from 2024-01-01 (91 days); on 2024-02-01 a $90 refund of its
  first charge, without a credit note; it renews on 2024-04-01.

The line's own schedule (largest remainder by the second): $1,200 over 366 days gives
10,164 cents in each 31-day month (10,163.93), 9,836 in a 30-day one (9,836.07) and 9,508 in
February (9,508.20), so its balance is 109,836 / 100,328 / 90,164 / 80,328 / 70,164 / … at
the ends of January, February, March, April, May…
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, str]]:
    s = Scenario(utc(2024, 1, 1))
    found: dict[str, str] = {}
    annual = s.subscribe(s.customer(), s.price(120_000, interval="year", product="Annual"))
    quarterly = s.subscribe(s.customer(), s.price(30_000, interval_count=3, product="Quarterly"))
    found["annual_invoice"] = annual["latest_invoice"]
    found["quarterly_invoice"] = quarterly["latest_invoice"]
    s.advance_to(utc(2024, 2, 1))
    charge = s.world.store.ids("charge", parent=quarterly["latest_invoice"])[0]
    found["refund"] = s.create("refunds", {"charge": charge, "amount": 9_000})["id"]
    s.advance_to(utc(2024, 4, 1))
    note = s.create("credit_notes", {"invoice": annual["latest_invoice"], "amount": 30_000})
    found["note"] = note["id"]
    s.advance_to(utc(2024, 4, 15))
    return s.build(tmp_path_factory.mktemp("credits")), found


def schedule(warehouse: Warehouse, where: str, *params: object) -> list[tuple]:
    return warehouse.rows(
        f"""SELECT month, sum(recognized_original_amount), sum(deferred_original_amount)
            FROM revenue_analytics.deferred_revenue WHERE {where} GROUP BY month ORDER BY month""",
        *params,
    )


def test_a_credit_note_mid_period_on_a_paid_annual_invoice(company) -> None:
    warehouse, found = company
    credit = schedule(warehouse, "kind = 'credit_note'")
    # $300 issued on April 1st. At each month end from April it keeps deferred a quarter
    # (300 / 1,200) of the line's balance: 80,328 / 4 = 20,082, 70,164 / 4 = 17,541, 15,082,
    # 12,541, 10,000, 7,541, 5,000, 2,541, 0. April recognizes −30,000 + 20,082 = −9,918: the
    # 91 days already recognized (30,000 × 91/366 = 7,459.0) and April's 30 (2,459.0).
    assert credit == [
        (date(2024, 4, 1), -9_918, -20_082),
        (date(2024, 5, 1), -2_541, -17_541),
        (date(2024, 6, 1), -2_459, -15_082),
        (date(2024, 7, 1), -2_541, -12_541),
        (date(2024, 8, 1), -2_541, -10_000),
        (date(2024, 9, 1), -2_459, -7_541),
        (date(2024, 10, 1), -2_541, -5_000),
        (date(2024, 11, 1), -2_459, -2_541),
        (date(2024, 12, 1), -2_541, 0),
    ]
    assert sum(row[1] for row in credit) == -30_000
    # the months before the credit note keep what they showed at their end
    line = schedule(warehouse, "invoice_id = ?", found["annual_invoice"])
    assert line[:4] == [
        (date(2024, 1, 1), 10_164, 109_836),
        (date(2024, 2, 1), 9_508, 100_328),
        (date(2024, 3, 1), 10_164, 90_164),
        # 9,836 − 9,918 = −82; 80,328 − 20,082 = 60,246 (= 90,000 × 245/366, to the cent)
        (date(2024, 4, 1), -82, 60_246),
    ]
    # the rest of the year is recognized at three quarters of the rate: 10,164 − 2,541
    assert line[4] == (date(2024, 5, 1), 7_623, 52_623)
    assert line[-1] == (date(2024, 12, 1), 7_623, 0)


def test_a_refund_mid_period_without_a_credit_note(company) -> None:
    warehouse, found = company
    # $300 over Jan 1 → Apr 1 (91 days): 10,220 / 9,560 / 10,220 (10,219.78, 9,560.44,
    # 10,219.78; the two units left go to the tied January and March), balances 19,780 /
    # 10,220 / 0. The $90 refund on Feb 1 keeps 9,000 × 10,220 / 30,000 = 3,066 deferred at
    # February's end: February takes −9,000 + 3,066 = −5,934 (January's 31 days, 3,065.9, and
    # February's 29, 2,868.1), March −3,066.
    refund = schedule(warehouse, "invoice_item_id = ?", found["refund"])
    assert refund == [(date(2024, 2, 1), -5_934, -3_066), (date(2024, 3, 1), -3_066, 0)]
    credited = warehouse.rows(
        "SELECT DISTINCT credited_line_id FROM revenue_analytics.deferred_revenue "
        "WHERE invoice_item_id = ?",
        found["refund"],
    )
    line_ids = warehouse.rows(
        "SELECT id FROM revenue_analytics.revenue_line WHERE invoice_id = ? AND kind = 'invoice_line'",
        found["quarterly_invoice"],
    )
    assert credited == line_ids and len(line_ids) == 1


def test_recognized_revenue_and_deferred_balance_follow(company) -> None:
    warehouse, _ = company
    metrics = {
        row["month"]: row
        for row in warehouse.dicts(
            """SELECT month, recognized_revenue, deferred_revenue_balance, arpu
               FROM revenue_analytics.revenue_metrics"""
        )
    }
    # February: annual 9,508 + quarterly 9,560 − refund 5,934 = 13,134 cents
    assert metrics[date(2024, 2, 1)]["recognized_revenue"] == Decimal("131.34")
    # balance: annual 100,328 + quarterly 10,220 − refund 3,066 = 107,482
    assert metrics[date(2024, 2, 1)]["deferred_revenue_balance"] == Decimal("1074.82")
    # March: 10,164 + 10,220 − 3,066 = 17,318; balance 90,164 (the quarter is over)
    assert metrics[date(2024, 3, 1)]["recognized_revenue"] == Decimal("173.18")
    assert metrics[date(2024, 3, 1)]["deferred_revenue_balance"] == Decimal("901.64")
    # April: annual 9,836 − credit 9,918 + the renewed quarter's 9,890 (30,000 × 30/91 =
    # 9,890.1; of 9,890 / 10,220 / 9,890) = 9,808; balance 80,328 − 20,082 + 20,110 = 80,356
    april = metrics[date(2024, 4, 1)]
    assert april["recognized_revenue"] == Decimal("98.08")
    assert april["deferred_revenue_balance"] == Decimal("803.56")
    assert april["arpu"] == Decimal("49.04")  # 98.08 over the two paying customers


def test_finance_checks_cover_the_credit_rows(company) -> None:
    warehouse, _ = company
    assert all(warehouse.checks().values()), warehouse.checks()
    kinds = warehouse.rows(
        "SELECT DISTINCT kind FROM revenue_analytics.deferred_revenue ORDER BY kind"
    )
    assert kinds == [("credit_note",), ("invoice_line",), ("refund",)]
