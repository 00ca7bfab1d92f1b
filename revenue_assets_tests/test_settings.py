"""Configuration is validated once, with one actionable message per problem, secrets masked."""

import pytest

from revenue_assets.settings import ConfigError, Settings, mask_key
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

    from revenue_assets.defs.revenue.resources import RevenueResource
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
