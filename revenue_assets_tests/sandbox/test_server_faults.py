"""Misbehaviour on demand: rate limit, random 500/503, resets mid-body, truncated bodies,
latency, and their counters and runtime controls. Observed from the client side (SDK errors)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from revenue_assets.sandbox.runner import Sandbox


def burst(client: stripe.StripeClient, count: int, workers: int = 8) -> list[int | str]:
    """Fire `count` list requests as fast as possible; the status (or reason) of each."""

    def one(_: int) -> int | str:
        try:
            client.v1.customers.list({"limit": 1})
            return 200
        except stripe.RateLimitError as error:
            assert error.http_status == 429
            assert error.json_body["error"]["code"] == "rate_limit"
            return str(error.headers.get("Stripe-Rate-Limited-Reason"))

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.sandbox(rate_limit=20)
def test_rate_limit_answers_429_above_the_configured_rate(sandbox: Sandbox) -> None:
    started = time.monotonic()
    results = burst(sandbox.client(), 150)
    elapsed = time.monotonic() - started
    allowed = results.count(200)
    # A full bucket (one second of requests) plus what refills while the burst runs.
    assert 20 <= allowed <= 20 + 20 * elapsed + 2
    assert set(results) - {200} == {"global-rate"}
    assert sandbox.counters()["rate_limited"] == 150 - allowed
    time.sleep(0.3)  # the bucket refills at the rate
    assert burst(sandbox.client(), 3, workers=1) == [200, 200, 200]


@pytest.mark.sandbox(rate_limit="auto")
def test_auto_rate_limit_follows_the_key_mode(sandbox: Sandbox) -> None:
    for key, rate, count in ((sandbox.secret_key, 25, 60), (sandbox.live_key, 100, 200)):
        started = time.monotonic()
        allowed = burst(sandbox.client(key), count).count(200)
        elapsed = time.monotonic() - started
        assert rate <= allowed <= rate + rate * elapsed + 2, key[:8]


def test_rate_limit_is_per_key_and_changeable_at_runtime(sandbox: Sandbox) -> None:
    assert burst(sandbox.client(), 60).count(200) == 60  # off by default
    response = requests.post(
        f"{sandbox.base_url}/_sandbox/rate_limit",
        data={"rate_limit": "5"},
        auth=(sandbox.secret_key, ""),
        timeout=5,
    )
    assert response.status_code == 200 and response.json()["rate_limit"] == "5 req/s per key"
    assert burst(sandbox.client(), 30).count(200) <= 8
    other = sandbox.restricted_key(["rak_customer_read"])
    assert burst(sandbox.client(other), 3, workers=1) == [200, 200, 200]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("500", stripe.APIError),
        ("503", stripe.APIError),
        ("reset", stripe.APIConnectionError),
        ("truncate", stripe.APIError),
    ],
)
def test_each_fault_kind_occurs_when_asked_for(sandbox: Sandbox, kind: str, error: type) -> None:
    client = sandbox.client()  # no retries: every fault reaches the caller
    sandbox.set_faults(f"{kind}:1")
    for _ in range(3):
        with pytest.raises(error) as raised:
            client.v1.customers.list({"limit": 100})
        assert type(raised.value) is error
        if kind in ("500", "503"):
            assert raised.value.http_status == int(kind)
            assert raised.value.json_body["error"]["type"] == "api_error"
        if kind == "truncate":
            assert raised.value.http_status == 200
            assert "Invalid response body" in str(raised.value)
    assert sandbox.counters()["faults"] == {kind: 3}
    sandbox.set_faults("off")
    assert client.v1.customers.list({"limit": 100}).data


def test_reset_happens_mid_body(sandbox: Sandbox) -> None:
    """Headers and part of the body arrive, then the connection dies."""
    sandbox.set_faults("reset:1")
    with requests.get(
        f"{sandbox.base_url}/v1/customers?limit=100",
        auth=(sandbox.secret_key, ""),
        stream=True,
        timeout=5,
    ) as response:
        assert response.status_code == 200
        announced = int(response.headers["Content-Length"])
        received = bytearray()
        with pytest.raises(requests.exceptions.RequestException):
            for chunk in response.iter_content(4096):
                received.extend(chunk)
        assert len(received) < announced


def test_sdk_retries_absorb_server_errors(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, retries: 0.001)
    sandbox.set_faults("500:0.3,503:0.2")
    client = sandbox.client(max_network_retries=10)
    for _ in range(10):
        assert len(client.v1.customers.list({"limit": 5}).data) == 5
    assert sum(sandbox.counters()["faults"].values()) > 0


@pytest.mark.sandbox(faults="500:0.5", fault_seed=7)
def test_fault_rates_apply_per_request(sandbox: Sandbox) -> None:
    client = sandbox.client()
    failures = 0
    for _ in range(200):
        try:
            client.v1.customers.list({"limit": 1})
        except stripe.APIError:
            failures += 1
    assert 70 <= failures <= 130
    counters = sandbox.counters()
    assert counters["faults"]["500"] == failures
    assert counters["by_status"]["500"] == failures


@pytest.mark.sandbox(latency_ms=(150, 150))
def test_latency_overlaps_across_concurrent_requests(sandbox: Sandbox) -> None:
    client = sandbox.client()
    started = time.monotonic()
    client.v1.customers.list({"limit": 1})
    single = time.monotonic() - started
    assert single >= 0.15
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: client.v1.customers.list({"limit": 1}), range(16)))
    assert time.monotonic() - started < 0.15 * 4  # 16 sleeps overlap: not 16 x 150 ms


def test_private_routes_control_faults_keys_and_counters(sandbox: Sandbox) -> None:
    auth = (sandbox.secret_key, "")
    base = f"{sandbox.base_url}/_sandbox"
    response = requests.post(f"{base}/faults", data={"faults": "503:1"}, auth=auth, timeout=5)
    assert response.json()["faults"] == "503:1"
    with pytest.raises(stripe.APIError):
        sandbox.client().v1.customers.list()
    requests.post(f"{base}/faults", json={"faults": "off"}, auth=auth, timeout=5)
    bad = requests.post(f"{base}/faults", data={"faults": "boom:1"}, auth=auth, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"

    key = requests.post(
        f"{base}/keys", json={"permissions": ["rak_charge_read"]}, auth=auth, timeout=5
    ).json()["key"]
    assert key.startswith("rk_test_")
    assert sandbox.client(key).v1.charges.list({"limit": 1}).data
    with pytest.raises(stripe.PermissionError):
        sandbox.client(key).v1.customers.list()

    counters = requests.get(f"{base}/counters", auth=auth, timeout=5).json()
    assert counters["requests"] >= 3
    assert counters["by_path"]["GET /v1/customers"] >= 2
    assert counters["faults"] == {"503": 1}
    assert any(label.startswith("rk_test_") for label in counters["by_key"])
    assert all(sandbox.secret_key != label for label in counters["by_key"])
    info = requests.get(f"{base}/info", auth=auth, timeout=5).json()
    assert info["account_id"] == sandbox.account_id
    assert requests.get(f"{base}/counters", timeout=5).status_code == 401
