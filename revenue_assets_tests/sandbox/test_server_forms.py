"""Decoding of Stripe's form encoding, as the official SDK and other clients send it."""

from __future__ import annotations

import pytest
from stripe._encode import _api_encode  # the SDK's own encoder: what the server must decode

from revenue_assets.sandbox.errors import SandboxError
from revenue_assets.sandbox.faults import FaultSpec, parse_latency
from revenue_assets.sandbox.forms import parse_query
from revenue_assets.sandbox.ratelimit import RateLimiter, RatePolicy


def _sdk_query(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(list(_api_encode(params)))


def test_sdk_encoding_round_trips() -> None:
    params = {
        "customer": "cus_1",
        "items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "metadata": {"plan": "pro", "empty": ""},
        "expand": ["latest_invoice", "customer"],
        "created": {"gte": "10", "lt": "20"},
    }
    assert parse_query(_sdk_query(params)) == params


def test_brackets_without_index_append() -> None:
    assert parse_query("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert parse_query("types[]=x") == {"types": ["x"]}


def test_indexes_sort_numerically_and_last_plain_value_wins() -> None:
    assert parse_query("a[10]=k&a[2]=c&a[0]=a") == {"a": ["a", "c", "k"]}
    assert parse_query("limit=1&limit=3") == {"limit": "3"}


def test_malformed_brackets_stay_part_of_the_name() -> None:
    assert parse_query("a[b=1") == {"a[b": "1"}
    assert parse_query("") == {}


def test_invalid_utf8_is_a_stripe_400() -> None:
    with pytest.raises(SandboxError) as raised:
        parse_query(b"name=%ff%fe")
    assert raised.value.status == 400


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse("500:0.02,503:0.01,reset:0.01,truncate:0.01")
    assert spec.as_dict() == {"500": 0.02, "503": 0.01, "reset": 0.01, "truncate": 0.01}
    assert str(FaultSpec.parse("off")) == "off"
    for bad in ("boom:0.1", "500", "500:2", "500:0.6,503:0.6"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)


def test_latency_and_rate_limit_specs() -> None:
    assert parse_latency("20-120") == (0.02, 0.12)
    assert parse_latency((5, 5)) == (0.005, 0.005)
    with pytest.raises(ValueError):
        parse_latency("9-3")
    assert RatePolicy.parse("live").rate_for(False) == 100
    assert RatePolicy.parse("auto").rate_for(True) == 100
    assert RatePolicy.parse("auto").rate_for(False) == 25
    assert RatePolicy.parse("off").rate_for(True) is None
    assert RatePolicy.parse("7").rate_for(False) == 7


def test_token_bucket_refills_at_the_rate() -> None:
    limiter = RateLimiter(10)
    allowed = sum(limiter.allow("k", False, now=0.0) for _ in range(50))
    assert allowed == 10  # one second of burst
    assert sum(limiter.allow("k", False, now=0.5) for _ in range(50)) == 5
    assert limiter.allow("other", False, now=0.5)  # buckets are per key
