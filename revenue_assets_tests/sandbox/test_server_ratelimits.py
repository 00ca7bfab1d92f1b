"""Stripe's two rate limiters in the sandbox: the key's global limit and each operation's own,
the reason header that tells them apart, and the app-traffic load sharing the account's limit."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from revenue_assets.sandbox.ratelimit import EndpointPolicy, RateLimiter
from revenue_assets.sandbox.runner import Sandbox


def burst(call, count: int, workers: int = 8) -> list[int | str]:  # type: ignore[no-untyped-def]
    """Fire `count` calls as fast as possible; 200 or the Stripe-Rate-Limited-Reason of each."""

    def one(_: int) -> int | str:
        try:
            call()
            return 200
        except stripe.RateLimitError as error:
            assert error.http_status == 429
            return str(error.headers.get("Stripe-Rate-Limited-Reason"))

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def test_endpoint_policy_parses_defaults_and_overrides() -> None:
    policy = EndpointPolicy.parse("25,GET /v1/charges=50,GET /v1/invoices/{id}/lines=0")
    assert policy.rate_for("GET /v1/customers") == 25
    assert policy.rate_for("GET /v1/charges") == 50
    assert policy.rate_for("GET /v1/invoices/{id}/lines") is None  # 0: no limit
    assert EndpointPolicy.parse("off").rate_for("GET /v1/charges") is None
    for bad in ("fast", "GET /v1/charges=x", "charges=5", "-3"):
        with pytest.raises(ValueError):
            EndpointPolicy.parse(bad)


def test_a_request_refused_by_its_operation_still_counts_against_the_global_limit() -> None:
    limiter = RateLimiter(10, "4")
    outcomes = [limiter.check("k", False, "GET /v1/charges", now=0.0) for _ in range(6)]
    assert outcomes == [None] * 4 + ["endpoint-rate"] * 2
    # 6 of the 10 global tokens are gone: another operation gets the remaining 4.
    others = [limiter.check("k", False, "GET /v1/customers", now=0.0) for _ in range(6)]
    assert others == [None] * 4 + ["global-rate"] * 2


@pytest.mark.sandbox(endpoint_limit="10,GET /v1/charges=0")
def test_each_operation_has_its_own_limit(sandbox: Sandbox) -> None:
    client = sandbox.client()
    started = time.monotonic()
    results = burst(lambda: client.v1.customers.list({"limit": 1}), 60)
    elapsed = time.monotonic() - started
    allowed = results.count(200)
    assert 10 <= allowed <= 10 + 10 * elapsed + 2
    assert set(results) - {200} == {"endpoint-rate"}
    # Another operation is not held back by the one that ran out (charges: no endpoint limit).
    assert burst(lambda: client.v1.charges.list({"limit": 1}), 40).count(200) == 40
    counters = sandbox.counters()
    assert counters["rate_limited_by_reason"] == {"endpoint-rate": 60 - allowed}
    assert counters["rate_limited_by_path"] == {"GET /v1/customers": 60 - allowed}


@pytest.mark.sandbox(rate_limit="auto", app_traffic=50)
def test_app_traffic_shares_the_live_limit_and_counts_its_own_429s(sandbox: Sandbox) -> None:
    time.sleep(1.0)
    quiet = sandbox.counters()["app_traffic"]
    assert quiet["requests"] >= 20 and quiet["rate_limited"] == 0  # 50 of 100 req/s: room
    assert sandbox.counters()["requests"] == 0  # the app's load is counted apart
    # Someone else takes the whole live budget: the app's requests start to fail.
    client = sandbox.client(sandbox.live_key)
    results = burst(lambda: client.v1.customers.list({"limit": 1}), 400, workers=16)
    assert "global-rate" in results
    busy = sandbox.counters()["app_traffic"]
    assert busy["rate_limited"] > 0
    assert busy["by_reason"] == {"global-rate": busy["rate_limited"]}
    sandbox.set_app_traffic(0)
    sandbox.reset_counters()
    assert sandbox.counters()["app_traffic"]["requests"] == 0
