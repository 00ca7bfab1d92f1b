"""Pacing against Stripe's two levels of limits, and yielding to the account's own app.

Asserted on counts the sandbox and the pacer keep (never on durations): no request refused by
an operation's limit when one table is listed alone at the whole live budget, none of the app's
requests refused while a sync takes its default share, and a sync that still lands every
object after a storm of 429s of both kinds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from revenue_assets.catalog.tables import TABLES_BY_NAME
from revenue_assets.settings import DEFAULT_SHARES
from revenue_assets.stripe_api.ratelimit import OperationLimits, Pacer, operation_of
from revenue_assets_tests.helpers import (
    access_for,
    sync_sandbox,
    warehouse_rows,
    warehouse_snapshot,
)


def test_operations_are_named_as_stripe_counts_endpoints() -> None:
    assert operation_of("/v1/charges") == "GET /v1/charges"
    assert operation_of("/v1/invoices/in_123/lines") == "GET /v1/invoices/{id}/lines"
    assert operation_of("/v1/invoices/{id}/lines") == "GET /v1/invoices/{id}/lines"
    assert operation_of("/v1/customers/cus_1") == "GET /v1/customers/{id}"


def test_a_request_needs_a_token_of_both_levels() -> None:
    # Charges at most 25 req/s, customers without a limit of their own; one token at a time.
    pacer = Pacer(100.0, OperationLimits.parse("25,GET /v1/customers=0"), burst_s=0.0)
    charges, customers = "GET /v1/charges", "GET /v1/customers"
    t = time.monotonic() + 10.0  # the buckets were full before
    assert pacer.try_acquire(charges, now=t) == 0.0
    # The operation's bucket refills at 25/s, the global one at 100/s.
    assert pacer.try_acquire(charges, now=t + 0.01) == pytest.approx(0.03)
    assert pacer.try_acquire(customers, now=t + 0.01) == 0.0
    assert pacer.try_acquire(customers, now=t + 0.015) == pytest.approx(0.005)  # global: 100/s
    assert pacer.stats().requests == 2


def test_a_429_halves_the_limiter_it_names_and_the_rate_grows_back() -> None:
    pacer = Pacer(100.0, OperationLimits(25.0))
    pacer.rate_limited("GET /v1/charges", "endpoint-rate")
    assert pacer.current_rate() == 100.0  # the operation's limit, not the global one
    pacer.rate_limited("GET /v1/customers", "global-rate")
    assert pacer.current_rate() == 50.0
    pacer.rate_limited("GET /v1/customers", "global-rate")  # an answer already in flight
    assert pacer.current_rate() == 50.0
    stats = pacer.stats()
    assert stats.rate_limited_by_reason == {"endpoint-rate": 1, "global-rate": 2}
    assert stats.lowest_rate == 50.0
    # Additive recovery: steady success brings the whole budget back.
    bucket = pacer._global
    bucket.refill(bucket.held_until + 5.0)
    assert 50.0 < pacer.current_rate() <= 100.0
    bucket.refill(bucket.held_until + 60.0)
    assert pacer.current_rate() == 100.0


# The endpoint limit is scaled down (an account's limits are 6 req/s per operation here) so
# that the small company's one table lasts several seconds of its own limit.
@pytest.mark.sandbox(rate_limit="auto", endpoint_limit=6, latency_ms=(10, 30))
def test_one_table_alone_at_the_whole_budget_meets_no_endpoint_limit(
    sandbox, tmp_path: Path
) -> None:
    charge = TABLES_BY_NAME["charge"]
    access = access_for(sandbox, sandbox.live_key, rate_limit=100.0, operation_limits="6")
    sandbox.reset_counters()
    outcomes = sync_sandbox(sandbox, tmp_path / "w.duckdb", tables=[charge], access=access)
    counters = sandbox.counters()
    assert counters["by_path"]["GET /v1/charges"] > 12  # more than twice the bucket
    assert counters["rate_limited"] == 0, counters["rate_limited_by_reason"]
    assert outcomes["charge"].stats.rate_limited == 0
    assert outcomes["charge"].stats.objects == len(
        set(warehouse_rows(tmp_path / "w.duckdb", "charge"))
    )


@pytest.mark.sandbox(
    rate_limit="auto", endpoint_limit=25, latency_ms=(10, 30), app_traffic=40, customers=200
)
def test_a_sync_at_its_default_share_leaves_the_app_its_requests(sandbox, tmp_path: Path) -> None:
    access = access_for(
        sandbox, sandbox.live_key, rate_limit=DEFAULT_SHARES["live"], operation_limits=None
    )  # Stripe's own per-endpoint limit, as the sandbox enforces it here
    sandbox.reset_counters()
    outcomes = sync_sandbox(sandbox, tmp_path / "w.duckdb", access=access)
    assert all(o.ok for o in outcomes.values())
    counters = sandbox.counters()
    app = counters["app_traffic"]
    assert counters["requests"] > 100 and app["requests"] > 40
    assert app["rate_limited"] == 0, app
    assert counters["rate_limited"] == 0, counters["rate_limited_by_reason"]


# An account limited to 30 req/s (scaled down so the small company's sync lasts seconds).
@pytest.mark.sandbox(rate_limit=30, latency_ms=(10, 30), app_traffic=20, customers=200)
def test_a_sync_taking_the_whole_budget_yields_to_a_busy_app(sandbox, tmp_path: Path) -> None:
    access = access_for(sandbox, sandbox.live_key, rate_limit=30.0, operation_limits="off")
    outcomes = sync_sandbox(sandbox, tmp_path / "w.duckdb", access=access)
    assert all(o.ok for o in outcomes.values())
    stats = access.pacer.stats()
    # 30 + 20 req/s do not fit in 30: Stripe says so, and the sync gives way.
    assert stats.rate_limited_by_reason.get("global-rate", 0) > 0
    assert stats.lowest_rate <= 15.0
    assert sandbox.counters()["app_traffic"]["rate_limited"] > 0  # why a share is the default


@pytest.mark.sandbox(rate_limit=30, endpoint_limit=6, customers=200)
@pytest.mark.long
def test_a_storm_of_429s_of_both_kinds_loses_nothing(sandbox, tmp_path: Path) -> None:
    # We believe in limits far above the server's: every limiter answers 429 many times.
    noisy = access_for(sandbox, rate_limit=300.0, operation_limits="off")
    outcomes = sync_sandbox(sandbox, tmp_path / "noisy.duckdb", access=noisy)
    assert all(o.ok for o in outcomes.values()), {n: o.error for n, o in outcomes.items()}
    reasons = noisy.pacer.stats().rate_limited_by_reason
    assert reasons.get("global-rate", 0) > 5 and reasons.get("endpoint-rate", 0) > 5, reasons
    assert sandbox.counters()["rate_limited"] == sum(reasons.values())
    sandbox.set_rate_limit("off", "off")
    clean = sync_sandbox(sandbox, tmp_path / "clean.duckdb")
    tables = [name for o in clean.values() for name in (o.table.name, *o.table.child_names)]
    noisy_rows = warehouse_snapshot(tmp_path / "noisy.duckdb", tables)
    assert noisy_rows == warehouse_snapshot(tmp_path / "clean.duckdb", tables)
    assert sum(map(len, noisy_rows.values())) > 1000
