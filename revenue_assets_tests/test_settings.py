"""Configuration is validated once, with one actionable message per problem, secrets masked."""

import pytest

from revenue_assets.catalog.keys import mask_key
from revenue_assets.settings import ConfigError, Settings
from revenue_assets.stripe_api.errors import redact


def test_defaults_without_a_key_when_not_required() -> None:
    settings = Settings.from_env({}, require_key=False)
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert settings.stripe_schema == "stripe"
    assert settings.sync_start.isoformat() == "2011-01-01"
    assert settings.base_currency == "USD"
    assert settings.include_charges_without_invoice is True


def test_every_problem_is_reported_at_once() -> None:
    env = {
        "STRIPE_API_KEY": "pk_live_abcdefghijklmnop",
        "STRIPE_API_BASE": "ftp://example",
        "STRIPE_RATE_LIMIT": "fast",
        "STRIPE_ACCOUNT_ID": "12345",
        "REVENUE_ASSETS_TABLE_PREFIX": "Bad-Prefix",
        "REVENUE_ASSETS_BASE_CURRENCY": "dollars",
        "REVENUE_ASSETS_SYNC_START": "2010-05-15",
        "REVENUE_ASSETS_PERSONS": "/nonexistent/persons.csv",
    }
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    problems = raised.value.problems
    for name in env:
        assert any(name in problem for problem in problems), name
    # The sync start is wrong twice: not the first of a month, and before Stripe existed.
    assert sum("REVENUE_ASSETS_SYNC_START" in p for p in problems) == 2
    assert not any("abcdefghijklmnop" in p for p in problems)


def test_missing_key_says_what_to_use() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({})
    assert "STRIPE_API_KEY is not set" in raised.value.problems[0]


@pytest.mark.parametrize(
    ("key", "rate"), [("rk_live_abc123def456", 100.0), ("sk_test_abc123def456", 25.0)]
)
def test_rate_limit_follows_the_key_mode(key: str, rate: float) -> None:
    assert Settings.from_env({"STRIPE_API_KEY": key}).rate_limit == rate
    assert Settings.from_env({"STRIPE_API_KEY": key, "STRIPE_RATE_LIMIT": "7"}).rate_limit == 7


def test_prefix_puts_tables_in_their_own_schema() -> None:
    settings = Settings.from_env({"REVENUE_ASSETS_TABLE_PREFIX": "acme"}, require_key=False)
    assert settings.stripe_schema == "stripe_acme"


def test_secrets_are_masked_everywhere() -> None:
    assert mask_key("sk_live_51HxYzAbCdEfGhIjKlMn") == "sk_live_****KlMn"
    text = redact("Invalid API Key provided: sk_test_51HxYzAbCdEfGh and whsec_abcdefghijkl")
    assert "51HxYzAbCdEfGh" not in text and "abcdefghijkl" not in text
    assert "sk_test_****EfGh" in text


def test_a_clock_file_sets_the_evaluation_time(tmp_path, monkeypatch) -> None:
    """A sandbox clock ahead of the wall clock (the live demo): MRR is evaluated at the time
    the file holds, read at each run; partitions reach two months further."""
    from datetime import UTC, datetime

    from revenue_assets.defs.resources import RevenueResource
    from revenue_assets.settings import partition_end_offset_from_env

    clock = tmp_path / "clock"
    settings = Settings.from_env({"REVENUE_ASSETS_CLOCK_FILE": str(clock)}, require_key=False)
    revenue = RevenueResource.from_settings(settings)
    before = datetime.now(UTC)
    assert revenue.evaluation_time() >= before  # no file yet: the wall clock
    clock.write_text("1900000000\n")
    assert revenue.evaluation_time() == datetime.fromtimestamp(1_900_000_000, UTC)
    clock.write_text("soon")
    with pytest.raises(ValueError, match="REVENUE_ASSETS_CLOCK_FILE"):
        revenue.evaluation_time()
    with pytest.raises(ConfigError, match="directory"):
        Settings.from_env({"REVENUE_ASSETS_CLOCK_FILE": str(tmp_path)}, require_key=False)

    monkeypatch.delenv("REVENUE_ASSETS_CLOCK_FILE", raising=False)
    assert partition_end_offset_from_env() == 1
    monkeypatch.setenv("REVENUE_ASSETS_CLOCK_FILE", str(clock))
    assert partition_end_offset_from_env() == 3


@pytest.mark.parametrize(
    ("key", "share"), [("rk_live_abc123def456", 50.0), ("sk_test_abc123def456", 25.0)]
)
def test_a_live_sync_takes_a_share_of_the_limit_unless_told_otherwise(
    key: str, share: float
) -> None:
    settings = Settings.from_env({"STRIPE_API_KEY": key})
    assert settings.sync_rate == share  # live: half of 100, the rest is the app's
    whole = Settings.from_env({"STRIPE_API_KEY": key, "STRIPE_RATE_LIMIT": "live"})
    assert whole.sync_rate == whole.rate_limit == 100.0
    assert Settings.from_env({"STRIPE_API_KEY": key, "STRIPE_RATE_LIMIT": "7"}).sync_rate == 7


def test_endpoint_limits_default_to_stripes_and_take_overrides() -> None:
    key = {"STRIPE_API_KEY": "rk_live_abc123def456"}
    limits = Settings.from_env(key).stripe_endpoint_rate_limit
    assert limits.rate_for("GET /v1/charges") == 25.0
    raised = Settings.from_env(
        {**key, "STRIPE_ENDPOINT_RATE_LIMIT": "30,GET /v1/charges=80"}
    ).stripe_endpoint_rate_limit
    assert raised.rate_for("GET /v1/charges") == 80.0
    assert raised.rate_for("GET /v1/invoices/{id}/lines") == 30.0
    off = Settings.from_env({**key, "STRIPE_ENDPOINT_RATE_LIMIT": "off"})
    assert off.stripe_endpoint_rate_limit.rate_for("GET /v1/charges") is None


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("fast", "not a number"),
        ("-5", "negative"),
        ("charges=50", "is not an operation"),
        ("GET /v1/charges=lots", "not a number"),
    ],
)
def test_a_wrong_endpoint_limit_says_what_to_write(value: str, hint: str) -> None:
    env = {"STRIPE_API_KEY": "rk_live_abc123def456", "STRIPE_ENDPOINT_RATE_LIMIT": value}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    (problem,) = raised.value.problems
    assert problem.startswith("STRIPE_ENDPOINT_RATE_LIMIT=") and hint in problem
    assert "GET /v1/charges=50" in problem  # an example of the right form


def test_a_wrong_rate_limit_names_the_choices() -> None:
    env = {"STRIPE_API_KEY": "rk_live_abc123def456", "STRIPE_RATE_LIMIT": "0"}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert "'live'" in raised.value.problems[0] and "positive" in raised.value.problems[0]
