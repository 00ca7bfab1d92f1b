"""Stripe's MRR beside ours, per subscription, with every difference explained: a company synced
from the sandbox (clock 2024-01-10 → evaluated 2024-03-15).

- steady: $100 a month, nothing happens: both say 100;
- forever: $50 a month at 20% off forever: both say 40 (Stripe nets active discounts);
- trial: $100 a month with a 30-day trial from March 1st: trialing, Stripe counts 0 (so do we);
- ended_discount: $1,200 a year with $120 off for one month (a repeating coupon): the annual
  invoice was $1,080, so our MRR is 90; the discount ended on February 10th, so Stripe's is
  100: +10 `discount_changed`;
- pending: $100 a month upgraded to $150 on March 12th with prorations left for the next
  invoice: Stripe's items say 150, the invoice behind ours says 100: +50
  `price_or_quantity_changed`;
- written_off: $100 a month, collection paused (invoices marked uncollectible) from March 1st:
  the March 10th invoice was written off, so no invoice covers now and ours is 0; the
  subscription is still active, so Stripe's is 100: +100 `unpaid_invoice`;
- past_due: $100 a month whose card declines from March on: the March 10th invoice stays open
  and the subscription past_due. Stripe counts a past_due subscription; the open invoice covers
  now, so ours says 100 as well: no difference.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, str]]:
    s = Scenario(utc(2024, 1, 10))
    subs: dict[str, str] = {}
    p100, p150, p50 = s.price(10_000), s.price(15_000), s.price(5_000)
    annual = s.price(120_000, interval="year", product="Annual")
    forever = s.create("coupons", {"percent_off": 20, "duration": "forever"})
    one_month = s.create(
        "coupons",
        {"amount_off": 12_000, "currency": "usd", "duration": "repeating", "duration_in_months": 1},
    )
    subs["steady"] = s.subscribe(s.customer(), p100)["id"]
    subs["forever"] = s.subscribe(s.customer(), p50, coupon=forever["id"])["id"]
    subs["ended_discount"] = s.subscribe(s.customer(), annual, coupon=one_month["id"])["id"]
    pending = s.subscribe(s.customer(), p100)
    subs["pending"] = pending["id"]
    subs["written_off"] = s.subscribe(s.customer(), p100)["id"]
    declining = s.customer()
    subs["past_due"] = s.subscribe(declining, p100)["id"]
    s.advance_to(utc(2024, 3, 1))
    s.update(
        "customers",
        declining["id"],
        {"invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"}},
    )
    subs["trial"] = s.subscribe(s.customer(), p100, trial_period_days=30)["id"]
    s.update(
        "subscriptions",
        subs["written_off"],
        {"pause_collection": {"behavior": "mark_uncollectible"}},
    )
    s.advance_to(utc(2024, 3, 12))
    item = pending["items"]["data"][0]["id"]
    s.update("subscriptions", subs["pending"], {"items": [{"id": item, "price": p150["id"]}]})
    s.advance_to(utc(2024, 3, 15))
    return s.build(tmp_path_factory.mktemp("subscription_mrr")), subs


def test_stripes_mrr_beside_ours(company) -> None:
    warehouse, subs = company
    rows = {
        row["subscription_id"]: row
        for row in warehouse.dicts("SELECT * FROM revenue_analytics.subscription_mrr")
    }
    figures = {
        name: (
            rows[sub]["status"],
            rows[sub]["stripe_original_mrr"],
            rows[sub]["invoice_original_mrr"],
        )
        for name, sub in subs.items()
    }
    assert figures == {
        "steady": ("active", 10_000, 10_000),
        "forever": ("active", 4_000, 4_000),  # 5,000 − 20%
        "trial": ("trialing", 0, 0),
        "ended_discount": ("active", 10_000, 9_000),  # 120,000 / 12; (120,000 − 12,000) / 12
        "pending": ("active", 15_000, 10_000),
        "written_off": ("active", 10_000, 0),
        "past_due": ("past_due", 10_000, 10_000),
    }
    forever = rows[subs["forever"]]
    assert (forever["list_original_mrr"], forever["discount_original_mrr"]) == (5_000, 1_000)
    assert forever["finite_discount_original_mrr"] == 0
    assert rows[subs["ended_discount"]]["invoice_discount_original_mrr"] == 1_000  # 12,000 / 12
    assert rows[subs["written_off"]]["latest_invoice_status"] == "uncollectible"
    assert rows[subs["past_due"]]["latest_invoice_status"] == "open"
    assert rows[subs["pending"]]["stripe_mrr"] == Decimal("150")


def test_every_difference_has_its_reason(company) -> None:
    warehouse, subs = company
    names = {sub: name for name, sub in subs.items()}
    found = warehouse.rows(
        """SELECT subscription_id, reason, original_amount
           FROM revenue_analytics.subscription_mrr_difference ORDER BY ALL"""
    )
    assert sorted((names[sub], reason, amount) for sub, reason, amount in found) == [
        ("ended_discount", "discount_changed", 1_000),
        ("pending", "price_or_quantity_changed", 5_000),
        ("written_off", "unpaid_invoice", 10_000),
    ]
    # the reasons explain every cent: they sum to the difference of the totals
    totals = warehouse.rows(
        """SELECT sum(stripe_original_mrr) - sum(invoice_original_mrr)
           FROM revenue_analytics.subscription_mrr"""
    )[0][0]
    assert totals == sum(amount for _, _, amount in found) == 16_000
