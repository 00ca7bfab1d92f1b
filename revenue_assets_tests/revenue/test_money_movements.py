"""Discounts, prorations, charges without invoice, refunds and credit notes, trials, pauses and
reactivations, on a small company synced from the sandbox (clock 2024-02-01 → 2024-07-10)."""

from __future__ import annotations

from datetime import date

import pytest

from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict[str, dict]]:
    s = Scenario(utc(2024, 2, 1))
    found: dict[str, dict] = {}
    p50, p100 = s.price(5_000), s.price(10_000)
    forever = s.create("coupons", {"percent_off": 20, "duration": "forever"})
    once = s.create(
        "coupons",
        {"amount_off": 1_000, "currency": "usd", "duration": "repeating", "duration_in_months": 1},
    )
    # G: 20% off forever (a line-level discount); later a credit note on its first invoice.
    found["G"] = s.subscribe(s.customer(), p50, coupon=forever["id"])
    # H: $10 off for the first month (a repeating coupon of 1 month): MRR 90 then 100.
    found["H"] = s.subscribe(s.customer(), p100, coupon=once["id"])
    # J: a charge without invoice, partly refunded.
    customer_j = s.customer()
    found["J_charge"] = s.create(
        "charges", {"amount": 2_500, "currency": "usd", "customer": customer_j["id"]}
    )
    s.create("refunds", {"charge": found["J_charge"]["id"], "amount": 500})
    # K: downgraded mid-period from $100 to $50 (a negative proration line).
    found["K"] = s.subscribe(s.customer(), p100)
    # L: a 30-day free trial from Feb 10.  M: paused (invoices voided) in April and May.
    s.advance_to(utc(2024, 2, 10))
    found["L"] = s.subscribe(s.customer(), p100, trial_period_days=30)
    found["M"] = s.subscribe(s.customer(), p100)
    # N: $100 a month, downgraded to $50 in April: a contraction.
    found["N"] = s.subscribe(s.customer(), p100)
    s.advance_to(utc(2024, 2, 16))
    k_item = found["K"]["items"]["data"][0]["id"]
    s.update("subscriptions", found["K"]["id"], {"items": [{"id": k_item, "price": p50["id"]}]})
    first_g = s.world.store.get(found["G"]["latest_invoice"])
    found["G_invoice"] = first_g
    found["G_note"] = s.create("credit_notes", {"invoice": first_g["id"], "amount": 1_000})
    s.advance_to(utc(2024, 4, 1))
    s.update("subscriptions", found["M"]["id"], {"pause_collection": {"behavior": "void"}})
    s.advance_to(utc(2024, 4, 20))
    n_item = found["N"]["items"]["data"][0]["id"]
    s.update("subscriptions", found["N"]["id"], {"items": [{"id": n_item, "price": p50["id"]}]})
    s.advance_to(utc(2024, 5, 20))
    s.update("subscriptions", found["M"]["id"], {"pause_collection": ""})
    s.advance_to(utc(2024, 7, 10))
    warehouse = s.build(tmp_path_factory.mktemp("movements"))
    return warehouse, found


def mrr(warehouse: Warehouse, subscription: str) -> list[tuple]:
    return warehouse.rows(
        """SELECT month, original_mrr, movement FROM revenue_analytics.mrr_history
           WHERE subscription_id = ? ORDER BY month""",
        subscription,
    )


def items(warehouse: Warehouse, where: str, *params: object) -> list[dict]:
    return warehouse.dicts(
        f"SELECT * FROM revenue_analytics.revenue_item WHERE {where} ORDER BY timestamp, id",
        *params,
    )


def test_line_discounts_are_netted_from_items_and_mrr(company) -> None:
    warehouse, found = company
    g = items(warehouse, "subscription_id = ? AND kind = 'invoice_line'", found["G"]["id"])
    assert {i["original_amount"] for i in g} == {4_000}  # $50 − 20%
    assert {m[1] for m in mrr(warehouse, found["G"]["id"])} == {4_000}


def test_a_first_month_coupon_makes_the_first_month_lower_then_expansion(company) -> None:
    warehouse, found = company
    rows = mrr(warehouse, found["H"]["id"])
    assert rows[:2] == [(date(2024, 2, 1), 9_000, "new"), (date(2024, 3, 1), 10_000, "expansion")]


def test_negative_proration_stays_negative_and_contracts_mrr(company) -> None:
    warehouse, found = company
    lines = warehouse.rows(
        """SELECT original_amount, is_proration FROM revenue_analytics.revenue_line
           WHERE subscription_id = ? AND is_proration ORDER BY original_amount""",
        found["K"]["id"],
    )
    assert len(lines) == 2 and lines[0][0] < 0 < lines[1][0]
    negative = items(warehouse, "subscription_id = ? AND original_amount < 0", found["K"]["id"])
    assert [i["original_amount"] for i in negative] == [lines[0][0]]
    assert negative[0]["amount"] < 0
    rows = mrr(warehouse, found["K"]["id"])
    assert rows[0] == (date(2024, 2, 1), 5_000, "new")  # downgraded before the first month end
    assert {r[1] for r in rows} == {5_000}


def test_charge_without_invoice_and_its_refund_are_items(company) -> None:
    warehouse, found = company
    charge_id = found["J_charge"]["id"]
    charge = items(warehouse, "id = ?", charge_id)
    assert [(i["kind"], i["original_amount"]) for i in charge] == [("charge", 2_500)]
    refund = items(warehouse, "kind = 'refund'")
    assert [(i["original_amount"], i["customer_id"]) for i in refund] == [
        (-500, found["J_charge"]["customer"])
    ]


def test_credit_note_is_a_negative_item_and_its_refund_is_not_counted_twice(company) -> None:
    warehouse, found = company
    notes = items(warehouse, "kind = 'credit_note'")
    assert [(i["original_amount"], i["invoice_id"]) for i in notes] == [
        (-1_000, found["G_invoice"]["id"])
    ]
    assert notes[0]["timestamp"] == utc(2024, 2, 16)
    # the credit note was refunded on the invoice's charge: one refund exists, counted once
    refunds = warehouse.rows("SELECT count(*) FROM stripe.refund")
    assert refunds == [(2,)]
    assert len(items(warehouse, "kind = 'refund'")) == 1
    feb = warehouse.dicts(
        "SELECT refunds, gross_revenue, net_revenue FROM revenue_analytics.revenue_metrics "
        "WHERE month = '2024-02-01'"
    )[0]
    assert feb["refunds"] == 15  # $5 refund + $10 credit note
    assert feb["net_revenue"] == feb["gross_revenue"] - 15


def test_free_trial_months_have_no_mrr(company) -> None:
    warehouse, found = company
    rows = mrr(warehouse, found["L"]["id"])
    assert rows[0] == (date(2024, 3, 1), 10_000, "new")  # Feb 29 was inside the trial


def test_pause_churns_and_resume_reactivates(company) -> None:
    warehouse, found = company
    rows = mrr(warehouse, found["M"]["id"])
    movements = [(r[0].month, r[1], r[2]) for r in rows]
    assert movements[:2] == [(2, 10_000, "new"), (3, 10_000, "unchanged")]
    assert (4, 0, "churn") in movements
    assert (6, 10_000, "reactivation") in movements
    assert not any(month == 5 for month, _, _ in movements)  # still 0 in May: no row


def test_a_downgrade_is_a_contraction(company) -> None:
    warehouse, found = company
    rows = warehouse.rows(
        """SELECT month, original_mrr, movement, original_mrr_change
           FROM revenue_analytics.mrr_history WHERE subscription_id = ? ORDER BY month""",
        found["N"]["id"],
    )
    assert rows[0][1:3] == (10_000, "new") and rows[-1][1] == 5_000
    contractions = [r for r in rows if r[2] == "contraction"]
    assert [r[3] for r in contractions] == [-5_000]
    assert {r[2] for r in rows} == {"new", "unchanged", "contraction"}


def test_finance_checks_pass(company) -> None:
    warehouse, _ = company
    assert all(warehouse.checks().values()), warehouse.checks()


def test_charge_view_row_count(company) -> None:
    warehouse, _ = company
    assert warehouse.result is not None
    metadata = warehouse.materialization("charge").metadata
    counted = warehouse.rows("SELECT count(*) FROM revenue_analytics.charge")[0][0]
    assert metadata["dagster/row_count"].value == counted > 10


def test_charges_without_invoice_can_be_left_out(company) -> None:
    warehouse, _ = company
    warehouse.materialize(include_charges_without_invoice=False)
    try:
        assert items(warehouse, "kind IN ('charge', 'refund')") == []
        assert items(warehouse, "kind = 'credit_note'") != []
    finally:
        warehouse.materialize(include_charges_without_invoice=True)
