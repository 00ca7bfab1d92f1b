"""Promotion codes, booked schedule changes and failed payments, on a small company synced from
the sandbox and evaluated on 2024-01-20:

- P subscribes on 2024-01-02 to $100 a month with the promotion code SPRING10 ($10 off once),
  and books nothing;
- D subscribes on 2024-01-10 12:00 to $100 a month and books a downgrade to $40 a month from
  its next period;
- X's card declines a $25 payment intent on 2024-01-12 (never retried);
- Y's card declines the first invoice of a €50 a month subscription on 2024-01-05; Y changes
  card and pays it on 2024-01-08;
- Z's card declines a $30 intent on 2024-01-12, which Z confirms again with another card;
- C subscribes on 2024-01-12 to $40 a month and schedules its cancellation at period end.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from currency_converter import CurrencyConverter

from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc

FAILING_CARD = "pm_card_chargeCustomerFail"  # Stripe's test card: attaches, charges fail


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, Any]]:
    s = Scenario(utc(2024, 1, 1))
    found: dict[str, Any] = {}
    p100, p40 = s.price(10_000), s.price(4_000)
    coupon = s.create("coupons", {"amount_off": 1_000, "currency": "usd", "duration": "once"})
    code = s.create("promotion_codes", {"promotion": {"coupon": coupon["id"]}, "code": "SPRING10"})
    found["coupon"], found["code"] = coupon["id"], code["id"]

    s.advance_to(utc(2024, 1, 2))
    found["P"] = s.subscribe(s.customer(), p100, discounts=[{"promotion_code": code["id"]}])

    s.advance_to(utc(2024, 1, 5))
    y = s.customer()
    s.update("customers", y["id"], {"invoice_settings": {"default_payment_method": FAILING_CARD}})
    found["Y"] = s.subscribe(y, s.price(5_000, currency="eur", product="Euro"))

    s.advance_to(utc(2024, 1, 8))
    s.update("customers", y["id"], {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    s.action("invoices", found["Y"]["latest_invoice"], "pay")

    s.advance_to(utc(2024, 1, 10, 12))
    found["D"] = s.subscribe(s.customer(), p100)
    found["schedule"] = s.book_downgrade(found["D"]["id"], p40)

    s.advance_to(utc(2024, 1, 12))
    x = s.customer()
    s.update("customers", x["id"], {"invoice_settings": {"default_payment_method": FAILING_CARD}})
    found["X"] = s.create(
        "payment_intents",
        {"customer": x["id"], "amount": 2_500, "currency": "usd", "confirm": True},
    )
    found["x_customer"] = x["id"]
    # Z's card declines a $30 intent on 2024-01-12; Z changes card and confirms it again at once.
    z = s.customer()
    s.update("customers", z["id"], {"invoice_settings": {"default_payment_method": FAILING_CARD}})
    retried = s.create(
        "payment_intents",
        {"customer": z["id"], "amount": 3_000, "currency": "usd", "confirm": True},
    )
    s.update("customers", z["id"], {"invoice_settings": {"default_payment_method": "pm_card_visa"}})
    found["Z"] = s.action("payment_intents", retried["id"], "confirm")

    # C (a $40 subscription) is put on a schedule through the API, which just releases it,
    # then the schedule is set to cancel the subscription at its end instead.
    found["C"] = s.subscribe(s.customer(), p40)
    found["C_schedule"] = s.create(
        "subscription_schedules", {"from_subscription": found["C"]["id"]}
    )
    s.update("subscription_schedules", found["C_schedule"]["id"], {"end_behavior": "cancel"})
    s.advance_to(utc(2024, 1, 20))
    return s.build(tmp_path_factory.mktemp("payments")), found


def test_a_discount_names_the_promotion_code_it_came_from(company) -> None:
    warehouse, found = company
    items = warehouse.dicts(
        """SELECT original_amount, coupon_id, promotion_code_id, promotion_code
           FROM revenue_analytics.revenue_item WHERE subscription_id = ?""",
        found["P"]["id"],
    )
    # one month (2024-01-02 to 02-02: 31 days / 30.44 rounds to 1) of $100 − $10 off once
    assert items == [
        {
            "original_amount": 9_000,
            "coupon_id": found["coupon"],
            "promotion_code_id": found["code"],
            "promotion_code": "SPRING10",
        }
    ]
    # a line without a discount names no code
    plain = warehouse.rows(
        "SELECT promotion_code_id, promotion_code FROM revenue_analytics.revenue_item "
        "WHERE subscription_id = ?",
        found["D"]["id"],
    )
    assert plain == [(None, None)]


def test_a_booked_downgrade_and_a_subscription_without_schedule(company) -> None:
    warehouse, found = company
    rows = {
        row["id"]: row
        for row in warehouse.dicts(
            """SELECT id, schedule_id, scheduled_change, scheduled_change_at
               FROM revenue_analytics.subscription"""
        )
    }
    # D's current phase bills $100 a month (10,000 minor units) until its period ends on
    # 2024-02-10 12:00; the next phase bills $40 (4,000 < 10,000): a downgrade from then on.
    assert rows[found["D"]["id"]] == {
        "id": found["D"]["id"],
        "schedule_id": found["schedule"]["id"],
        "scheduled_change": "downgrade",
        "scheduled_change_at": utc(2024, 2, 10, 12),
    }
    # C's one phase is its current period (2024-01-12 to 02-12), ending in `cancel`.
    assert rows[found["C"]["id"]] == {
        "id": found["C"]["id"],
        "schedule_id": found["C_schedule"]["id"],
        "scheduled_change": "cancel",
        "scheduled_change_at": utc(2024, 2, 12),
    }
    for name in ("P", "Y"):
        assert rows[found[name]["id"]] == {
            "id": found[name]["id"],
            "schedule_id": None,
            "scheduled_change": None,
            "scheduled_change_at": None,
        }


def test_declined_payments_and_their_recovery(company) -> None:
    warehouse, found = company
    failures = warehouse.dicts(
        """SELECT kind, customer_id, invoice_id, original_currency, original_amount, currency, amount,
                  failure_code, decline_code, failed_at, recovered, month
           FROM revenue_analytics.payment_failures ORDER BY failed_at"""
    )
    converter = CurrencyConverter(
        fallback_on_missing_rate=True, fallback_on_missing_rate_method="last_known"
    )
    # Z's declined charge is not a failure: its intent succeeded with the next card.
    assert found["Z"]["status"] == "succeeded"
    z_charges = warehouse.rows(
        "SELECT status FROM stripe.charge WHERE payment_intent = ? ORDER BY created, status",
        found["Z"]["id"],
    )
    assert sorted(z_charges) == [("failed",), ("succeeded",)]
    # Y: €50.00 asked on 2024-01-05 (the automatic attempt's failed charge), at that day's ECB
    # rate. The sandbox's failed attempt is a bare charge that names no invoice, so recovery is
    # the customer rule: Y's new card paid 3 days later (within 7 days): recovered.
    y, x = failures
    assert y["kind"] == "charge" and y["customer_id"] == found["Y"]["customer"]
    assert y["invoice_id"] is None
    assert (y["original_currency"], y["original_amount"], y["currency"]) == ("EUR", 5_000, "USD")
    assert abs(float(y["amount"]) - converter.convert(50, "EUR", "USD", date(2024, 1, 5))) < 1e-4
    assert (y["failure_code"], y["decline_code"]) == ("card_declined", "generic_decline")
    assert (y["failed_at"], y["recovered"], y["month"]) == (utc(2024, 1, 5), True, date(2024, 1, 1))
    # X: the $25.00 intent itself, declined on 2024-01-12 and never retried: not recovered.
    assert x == {
        "kind": "payment_intent",
        "customer_id": found["x_customer"],
        "invoice_id": None,
        "original_currency": "USD",
        "original_amount": 2_500,
        "currency": "USD",
        "amount": Decimal("25"),
        "failure_code": "card_declined",
        "decline_code": "generic_decline",
        "failed_at": utc(2024, 1, 12),
        "recovered": False,
        "month": date(2024, 1, 1),
    }
