"""Point-in-time months and customer-level movements, on a company synced from the sandbox twice:
once just after March closed, and again after later events changed what is true *now*.

The company ($100 a month each unless said; clock 2024-01-01 → 2024-06-15):
- P from Jan 5: its card starts failing, the Mar 5 renewal stays open (past_due), written off
  (marked uncollectible) and canceled on Apr 2;
- Q from Jan 20: same card, the Mar 20 renewal stays open, voided and canceled on Apr 3;
- R from Jan 10: canceled at period end (Mar 10), back on a new $50 subscription on May 12;
- S from Jan 15: a second subscription ($50) on Mar 25, canceled on Apr 6; $30 of its Mar 15
  payment refunded on Apr 4.
The first warehouse is built on Apr 1 at noon, the second on Jun 15.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from revenue_assets.defs.resources import revenue_context
from revenue_assets.defs.revenue.checks import CHECKS, run_check
from revenue_assets_tests.revenue.scenario import Scenario, Warehouse, utc

FAILING_CARD = "pm_card_chargeCustomerFail"  # Stripe's test card: attaches, charges fail

# revenue_metrics columns a closed month must keep whatever happens later (the deferral's
# columns and what derives from them are evaluated by the deferral's own tests).
CLOSED_MONTH_COLUMNS = (
    "month, gross_revenue, refunds, net_revenue, mrr, arr, new_mrr, expansion_mrr, "
    "contraction_mrr, churned_mrr, reactivation_mrr, fx_effect_mrr, customers, new_customers, "
    "churned_customers, subscriptions, customer_churn_rate"
)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict:
    s = Scenario(utc(2024, 1, 1))
    p100, p50 = s.price(10_000), s.price(5_000)
    people = {name: s.customer(email=f"{name.lower()}@example.com") for name in "PQRS"}
    subs: dict[str, dict] = {}
    for name, day in (("P", 5), ("R", 10), ("S", 15), ("Q", 20)):
        s.advance_to(utc(2024, 1, day, 9))
        subs[name] = s.subscribe(people[name], p100)
    s.advance_to(utc(2024, 2, 16))
    s.update("subscriptions", subs["R"]["id"], {"cancel_at_period_end": True})
    s.advance_to(utc(2024, 2, 21))
    for name in "PQ":
        settings = {"invoice_settings": {"default_payment_method": FAILING_CARD}}
        s.update("customers", people[name]["id"], settings)
    s.advance_to(utc(2024, 3, 25, 9))
    subs["S2"] = s.subscribe(people["S"], p50)
    s.advance_to(utc(2024, 4, 1, 12))
    open_invoices = {
        name: s.world.store.get(s.world.store.get(subs[name]["id"])["latest_invoice"])
        for name in "PQ"
    }
    before = s.build(tmp_path_factory.mktemp("march_closed"))

    s.advance_to(utc(2024, 4, 2))
    s.action("invoices", open_invoices["P"]["id"], "mark_uncollectible")
    s.action("subscriptions", subs["P"]["id"], "cancel")
    s.advance_to(utc(2024, 4, 3))
    s.action("invoices", open_invoices["Q"]["id"], "void")
    s.action("subscriptions", subs["Q"]["id"], "cancel")
    s.advance_to(utc(2024, 4, 4))
    s_invoice = s.world.store.get(s.world.store.get(subs["S"]["id"])["latest_invoice"])
    s_charge = next(
        c for c in s.world.store.iter_objects("charge", s.world.account_id)
        if c.get("customer") == people["S"]["id"] and c["created"] == s_invoice["created"]
    )  # fmt: skip
    s.create("refunds", {"charge": s_charge["id"], "amount": 3_000})
    s.advance_to(utc(2024, 4, 6))
    s.action("subscriptions", subs["S2"]["id"], "cancel")
    s.advance_to(utc(2024, 5, 12, 9))
    subs["R2"] = s.subscribe(people["R"], p50)
    s.advance_to(utc(2024, 6, 15))
    after = s.build(tmp_path_factory.mktemp("june"))
    return {
        "before": before,
        "after": after,
        "people": {name: c["id"] for name, c in people.items()},
        "subs": {name: sub["id"] for name, sub in subs.items()},
        "open_invoices": {name: i["id"] for name, i in open_invoices.items()},
    }


def customer_history(warehouse: Warehouse, customer: str) -> list[tuple]:
    return warehouse.rows(
        """SELECT month, original_mrr, movement, original_mrr_change
           FROM revenue_analytics.customer_mrr_history WHERE customer_id = ? ORDER BY month""",
        customer,
    )


def subscription_movements(warehouse: Warehouse, subscription: str) -> list[tuple]:
    """(month, movement) of one subscription in mrr_history, which stays per subscription."""
    return warehouse.rows(
        "SELECT month, movement FROM revenue_analytics.mrr_history WHERE subscription_id = ? "
        "ORDER BY month",
        subscription,
    )


def metrics(warehouse: Warehouse, month: date) -> dict:
    return warehouse.dicts(
        "SELECT * FROM revenue_analytics.revenue_metrics WHERE month = ?", month
    )[0]


def test_the_sandbox_left_the_renewals_open_until_april(company) -> None:
    before: Warehouse = company["before"]
    after: Warehouse = company["after"]
    ids = list(company["open_invoices"].values())
    states = "SELECT id, status FROM stripe.invoice WHERE id IN (?, ?) ORDER BY id"
    assert {s for _, s in before.rows(states, *ids)} == {"open"}
    assert dict(after.rows(states, *ids)) == {
        company["open_invoices"]["P"]: "uncollectible",
        company["open_invoices"]["Q"]: "void",
    }


def test_an_open_invoice_written_off_next_month_still_counts_in_its_month(company) -> None:
    after: Warehouse = company["after"]
    # P: $100 paid Jan 5 and Feb 5; the Mar 5 renewal open at Mar 31 (written off Apr 2),
    # so March still counts it; canceled Apr 2, so April's end is 0: the churn is April's.
    assert customer_history(after, company["people"]["P"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 10_000, "unchanged", 0),
        (date(2024, 4, 1), 0, "churn", -10_000),
    ]
    # Q: the same with a void on Apr 3 instead of a write-off.
    assert customer_history(after, company["people"]["Q"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 10_000, "unchanged", 0),
        (date(2024, 4, 1), 0, "churn", -10_000),
    ]


def test_a_returning_customer_is_a_reactivation_not_new(company) -> None:
    after: Warehouse = company["after"]
    # R: $100 from Jan 10, ended Mar 10 (March end: 0, churn), nothing in April, a new $50
    # subscription on May 12: the customer's MRR goes 0 → 50, a reactivation.
    assert customer_history(after, company["people"]["R"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 0, "churn", -10_000),
        (date(2024, 5, 1), 5_000, "reactivation", 5_000),
        (date(2024, 6, 1), 5_000, "unchanged", 0),
    ]
    # the new subscription itself is new in mrr_history, which stays per subscription
    rows = subscription_movements(after, company["subs"]["R2"])
    assert rows[0] == (date(2024, 5, 1), "new")


def test_a_second_subscription_of_a_paying_customer_is_an_expansion(company) -> None:
    after: Warehouse = company["after"]
    # S: $100 from Jan 15; + $50 on Mar 25 → 150 at March end (+50, expansion); the $50 one
    # canceled Apr 6 → 100 at April end (−50, contraction). The refund changes no MRR.
    assert customer_history(after, company["people"]["S"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 15_000, "expansion", 5_000),
        (date(2024, 4, 1), 10_000, "contraction", -5_000),
        (date(2024, 5, 1), 10_000, "unchanged", 0),
        (date(2024, 6, 1), 10_000, "unchanged", 0),
    ]
    second = subscription_movements(after, company["subs"]["S2"])
    assert second == [(date(2024, 3, 1), "new"), (date(2024, 4, 1), "churn")]


def test_monthly_metrics_classify_per_customer(company) -> None:
    after: Warehouse = company["after"]
    jan, mar, apr, may = (metrics(after, date(2024, m, 1)) for m in (1, 3, 4, 5))
    # January: P, Q, R, S start at $100 each: new 4 × 100 = 400, four new customers.
    assert (jan["mrr"], jan["new_mrr"], jan["new_customers"], jan["customers"]) == (
        Decimal("400"), Decimal("400"), 4, 4,
    )  # fmt: skip
    # March: P 100 (open) + Q 100 (open) + S 150 = 350; R churns (−100); S expands (+50);
    # S's second subscription is not new MRR; 4 paying subscriptions (P, Q, S, S2).
    assert mar["mrr"] == Decimal("350")
    assert (mar["new_mrr"], mar["expansion_mrr"], mar["churned_mrr"]) == (
        Decimal("0"), Decimal("50"), Decimal("-100"),
    )  # fmt: skip
    assert (mar["customers"], mar["new_customers"], mar["churned_customers"]) == (3, 0, 1)
    assert mar["subscriptions"] == 4
    # April: P and Q churn (−200), S contracts (−50): 350 − 250 = 100; one customer left.
    assert (apr["mrr"], apr["churned_mrr"], apr["contraction_mrr"]) == (
        Decimal("100"), Decimal("-200"), Decimal("-50"),
    )  # fmt: skip
    assert (apr["customers"], apr["churned_customers"]) == (1, 2)
    # May: R returns at $50: 100 + 50 = 150, a reactivation; nobody is new.
    assert (may["mrr"], may["reactivation_mrr"], may["new_mrr"], may["new_customers"]) == (
        Decimal("150"), Decimal("50"), Decimal("0"), 0,
    )  # fmt: skip
    assert may["customers"] == 2
    for month in after.dicts("SELECT * FROM revenue_analytics.revenue_metrics"):
        assert (month["new_mrr"] > 0) == (month["new_customers"] > 0), month


def test_later_events_leave_closed_months_unchanged(company) -> None:
    """A write-off, a void, two cancellations and a refund in April, and a resubscription in
    May, change nothing of January to March."""
    before: Warehouse = company["before"]
    after: Warehouse = company["after"]
    closed = "month < DATE '2024-04-01'"
    for table, order in (
        ("mrr_history", "subscription_id, month"),
        ("customer_mrr_history", "customer_id, month"),
    ):
        sql = f"SELECT * FROM revenue_analytics.{table} WHERE {closed} ORDER BY {order}"
        assert before.rows(sql) == after.rows(sql)
    sql = f"SELECT {CLOSED_MONTH_COLUMNS} FROM revenue_analytics.revenue_metrics "
    sql += f"WHERE {closed} ORDER BY month"
    rows = before.rows(sql)
    assert [r[0] for r in rows] == [date(2024, m, 1) for m in (1, 2, 3)]
    assert rows == after.rows(sql)


def test_finance_checks_pass(company) -> None:
    for warehouse in (company["before"], company["after"]):
        checks = warehouse.checks()
        assert checks["mrr_bridge_reconciles"] and all(checks.values()), checks


def test_the_bridge_check_catches_a_broken_month(company, tmp_path: Path) -> None:
    """The check fails on a revenue_metrics month whose movements do not add up."""
    after: Warehouse = company["after"]
    copy = tmp_path / "broken.duckdb"
    shutil.copy(after.database, copy)
    connection = duckdb.connect(str(copy))
    connection.execute(
        "UPDATE revenue_analytics.revenue_metrics SET expansion_mrr = expansion_mrr + 1 "
        "WHERE month = '2024-03-01'"
    )
    connection.close()
    broken = Warehouse(copy, after.as_of, dict(after.options))
    resources = broken.resources()
    context = revenue_context(resources["warehouse"], resources["revenue"])
    check = next(c for c in CHECKS if c.name == "mrr_bridge_reconciles")
    result = run_check(check, context)
    assert not result.passed
    # March (start + movements ≠ end) only: April starts from March's end, which is unchanged
    assert result.metadata["violations"].value == 1


def test_without_status_transitions_the_event_dates_the_void(company, tmp_path: Path) -> None:
    """A payload lacking `voided_at` (older API versions): the `invoice.voided` event says when,
    while Stripe still keeps it (30 days; the June sync no longer sees April's, so the test
    puts back the one Stripe sent on Apr 3); without either, only the current status is known
    and the invoice never counts (March drops to 0, the churn moves to March)."""
    after: Warehouse = company["after"]
    copy = tmp_path / "no_transitions.duckdb"
    shutil.copy(after.database, copy)
    invoice = company["open_invoices"]["Q"]
    connection = duckdb.connect(str(copy))
    connection.execute("SET TimeZone = 'UTC'")
    voided_at = connection.execute(
        "SELECT status_transitions ->> '$.voided_at' FROM stripe.invoice WHERE id = ?", [invoice]
    ).fetchone()[0]
    assert int(voided_at) == int(utc(2024, 4, 3).timestamp())
    connection.execute(
        "UPDATE stripe.invoice SET status_transitions = json_object('finalized_at', "
        "status_transitions ->> '$.finalized_at') WHERE id = ?",
        [invoice],
    )
    connection.execute(
        """INSERT INTO stripe.event (id, type, created, object_id, object_type, _raw, _deleted)
           VALUES ('evt_voided', 'invoice.voided', to_timestamp(?), ?, 'invoice', '{}', false)""",
        [int(voided_at), invoice],
    )
    connection.close()
    stripped = Warehouse(copy, after.as_of, dict(after.options))
    assert stripped.materialize().success
    history = customer_history(stripped, company["people"]["Q"])
    assert history == customer_history(after, company["people"]["Q"])  # March: 10,000

    connection = duckdb.connect(str(copy))
    connection.execute("DELETE FROM stripe.event WHERE id = 'evt_voided'")
    connection.close()
    assert stripped.materialize().success
    # Q: 100 in January and February; March's only line is on the void invoice: 0, churn
    assert customer_history(stripped, company["people"]["Q"]) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 10_000, "unchanged", 0),
        (date(2024, 3, 1), 0, "churn", -10_000),
    ]


def test_without_ended_at_the_deletion_event_dates_the_end(company, tmp_path: Path) -> None:
    """A canceled subscription's snapshot lacking `ended_at` (an older payload): its
    `customer.subscription.deleted` event (Mar 10, still kept on Apr 1) says when it ended;
    without it, `canceled_at` is all there is, and for R, canceled at period end, that is when
    the cancellation was asked for (Feb 16): February would drop to 0."""
    before: Warehouse = company["before"]
    copy = tmp_path / "no_ended_at.duckdb"
    shutil.copy(before.database, copy)
    subscription = company["subs"]["R"]
    connection = duckdb.connect(str(copy))
    connection.execute("SET TimeZone = 'UTC'")
    assert connection.execute(
        "SELECT ended_at, canceled_at FROM stripe.subscription WHERE id = ?", [subscription]
    ).fetchone() == (utc(2024, 3, 10, 9), utc(2024, 2, 16))
    connection.execute(
        "UPDATE stripe.subscription SET ended_at = NULL WHERE id = ?", [subscription]
    )
    deletions = connection.execute(
        "SELECT count(*) FROM stripe.event WHERE type = 'customer.subscription.deleted' "
        "AND object_id = ?",
        [subscription],
    ).fetchone()[0]
    connection.close()
    assert deletions == 1
    stripped = Warehouse(copy, before.as_of, dict(before.options))
    assert stripped.materialize().success
    r = company["people"]["R"]
    assert (
        customer_history(stripped, r)
        == customer_history(before, r)
        == [
            (date(2024, 1, 1), 10_000, "new", 10_000),
            (date(2024, 2, 1), 10_000, "unchanged", 0),
            (date(2024, 3, 1), 0, "churn", -10_000),
        ]
    )

    connection = duckdb.connect(str(copy))
    connection.execute("DELETE FROM stripe.event WHERE object_id = ?", [subscription])
    connection.close()
    assert stripped.materialize().success
    assert customer_history(stripped, r) == [
        (date(2024, 1, 1), 10_000, "new", 10_000),
        (date(2024, 2, 1), 0, "churn", -10_000),
    ]
