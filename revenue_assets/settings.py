"""Configuration: every setting in one place, read from the environment and validated
once, with one clear message per problem.

Dagster resources are built from the same environment variables through `dg.EnvVar`, so the UI
shows the variable names and never their values. The command line validates here first, so a
user sees every problem at once instead of a stack trace from the first one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from revenue_assets.catalog.keys import key_mode, mask_key
from revenue_assets.stripe_api.ratelimit import OperationLimits

DEFAULT_API_BASE = "https://api.stripe.com"
DEFAULT_DUCKDB = "data/revenue_assets.duckdb"
DEFAULT_STATE = "data/revenue_assets_state.sqlite"
DEFAULT_SYNC_START = "2011-01-01"  # Stripe's launch: nothing older exists
DEFAULT_BASE_CURRENCY = "USD"
DEFAULT_GROUP_KEY = "posthog_group_key"
STRIPE_LAUNCH = date(2011, 1, 1)

# Requests per second Stripe allows an account, by key mode.
RATE_LIMITS = {"live": 100.0, "test": 25.0}
# What a sync takes by default. The budget is the account's, shared with its own app (checkout,
# customer pages): Stripe's advice is to keep background jobs to a subset of the maximum so that
# live charges still succeed. Half of a live account's 100 req/s leaves the app 50, about twice
# what a busy SaaS backend sends, and loses little: a first sync of one big table is bound by its
# 25 req/s endpoint limit anyway. Test mode has no production traffic, so a sync takes it all.
DEFAULT_SHARES = {"live": 50.0, "test": 25.0}

_KEY_PATTERN = re.compile(r"^(sk|rk)_(live|test)_[A-Za-z0-9_]+$")
_PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_ACCOUNT_PATTERN = re.compile(r"^acct_[A-Za-z0-9]+$")


class ConfigError(ValueError):
    """One or more settings are wrong. `problems` holds one actionable message per setting."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Configuration problems:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    """Validated settings. Build with `Settings.from_env()`."""

    stripe_api_key: str | None
    stripe_account_id: str | None
    stripe_api_base: str
    stripe_rate_limit: float | None
    stripe_endpoint_rate_limit: OperationLimits
    duckdb_path: Path
    state_path: Path
    table_prefix: str | None
    base_currency: str
    sync_start: date
    group_key: str
    persons_path: Path | None
    groups_path: Path | None
    include_charges_without_invoice: bool
    webhook_secret: str | None
    clock_file: Path | None = None

    @property
    def rate_limit(self) -> float:
        """The most a sync may take, requests per second: the override, else the account's
        whole limit for the key's mode (what `--max` takes)."""
        if self.stripe_rate_limit is not None:
            return self.stripe_rate_limit
        return RATE_LIMITS[key_mode(self.stripe_api_key or "sk_test_")]

    @property
    def sync_rate(self) -> float:
        """What a sync takes by default, requests per second: the override, else the share of
        the account's limit that leaves its own app room."""
        return sync_rate(self.stripe_api_key or "sk_test_", self.stripe_rate_limit)

    @property
    def stripe_schema(self) -> str:
        return stripe_schema(self.table_prefix)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require_key: bool = True
    ) -> Settings:
        """Read and validate every setting; raise ConfigError listing all problems at once."""
        env = os.environ if env is None else env
        problems: list[str] = []

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        api_key = get("STRIPE_API_KEY")
        if api_key is None:
            if require_key:
                problems.append(
                    "STRIPE_API_KEY is not set: use a restricted key (rk_live_…) with read "
                    "permissions, or a secret key (sk_live_…). `revenue-assets demo` needs none."
                )
        elif not _KEY_PATTERN.match(api_key):
            problems.append(
                f"STRIPE_API_KEY ({mask_key(api_key)}) does not look like a Stripe secret or "
                "restricted key: it must start with sk_live_, sk_test_, rk_live_ or rk_test_ "
                "(publishable keys, pk_…, cannot read data)."
            )

        account_id = get("STRIPE_ACCOUNT_ID")
        if account_id is not None and not _ACCOUNT_PATTERN.match(account_id):
            problems.append(
                f"STRIPE_ACCOUNT_ID={account_id!r} is not a Stripe account id (acct_…)."
            )

        api_base = (get("STRIPE_API_BASE", DEFAULT_API_BASE) or "").rstrip("/")
        parts = urlsplit(api_base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"STRIPE_API_BASE={api_base!r} is not an http(s) URL, e.g. {DEFAULT_API_BASE}."
            )

        rate_limit: float | None = None
        raw_rate = get("STRIPE_RATE_LIMIT")
        try:
            rate_limit = parse_rate_limit(raw_rate)
        except ValueError:
            problems.append(
                f"STRIPE_RATE_LIMIT={raw_rate!r} must be 'live' (the whole live limit, "
                "100), 'test' (25) or a positive number of requests per second."
            )

        endpoint_limits = OperationLimits()
        raw_endpoints = get("STRIPE_ENDPOINT_RATE_LIMIT")
        try:
            endpoint_limits = OperationLimits.parse(raw_endpoints)
        except ValueError as error:
            problems.append(
                f"STRIPE_ENDPOINT_RATE_LIMIT={raw_endpoints!r}: {error}. Give requests per "
                "second per operation (Stripe's default is 25), 'off', and overrides for limits "
                "Stripe raised, e.g. '25,GET /v1/charges=50'."
            )

        duckdb_path = Path(get("REVENUE_ASSETS_DUCKDB", DEFAULT_DUCKDB) or DEFAULT_DUCKDB)
        state_path = Path(get("REVENUE_ASSETS_STATE", DEFAULT_STATE) or DEFAULT_STATE)
        for name, path in (
            ("REVENUE_ASSETS_DUCKDB", duckdb_path),
            ("REVENUE_ASSETS_STATE", state_path),
        ):
            if path.exists() and path.is_dir():
                problems.append(f"{name}={path} is a directory; it must name a file.")
        if duckdb_path.resolve() == state_path.resolve():
            problems.append(
                "REVENUE_ASSETS_DUCKDB and REVENUE_ASSETS_STATE name the same file; the event "
                "inbox must live outside the DuckDB file (DuckDB allows one process per file)."
            )

        prefix = get("REVENUE_ASSETS_TABLE_PREFIX")
        if prefix is not None and not _PREFIX_PATTERN.match(prefix):
            problems.append(
                f"REVENUE_ASSETS_TABLE_PREFIX={prefix!r} must be lowercase letters, digits and "
                "underscores, starting with a letter (it becomes part of a schema name)."
            )

        base_currency = (get("REVENUE_ASSETS_BASE_CURRENCY", DEFAULT_BASE_CURRENCY) or "").upper()
        if not re.fullmatch(r"[A-Z]{3}", base_currency):
            problems.append(
                f"REVENUE_ASSETS_BASE_CURRENCY={base_currency!r} must be a three-letter ISO "
                "currency code such as USD or EUR."
            )

        sync_start = STRIPE_LAUNCH
        raw_start = get("REVENUE_ASSETS_SYNC_START", DEFAULT_SYNC_START) or DEFAULT_SYNC_START
        try:
            sync_start = date.fromisoformat(raw_start)
            if sync_start.day != 1:
                problems.append(
                    f"REVENUE_ASSETS_SYNC_START={raw_start} must be the first day of a month "
                    "(partitions are monthly)."
                )
            if sync_start < STRIPE_LAUNCH:
                problems.append(
                    f"REVENUE_ASSETS_SYNC_START={raw_start} is before Stripe's launch "
                    f"({STRIPE_LAUNCH}); nothing older exists."
                )
        except ValueError:
            problems.append(f"REVENUE_ASSETS_SYNC_START={raw_start!r} is not a date (YYYY-MM-01).")

        persons_path = _optional_file(
            get("REVENUE_ASSETS_PERSONS"), "REVENUE_ASSETS_PERSONS", problems
        )
        groups_path = _optional_file(
            get("REVENUE_ASSETS_GROUPS"), "REVENUE_ASSETS_GROUPS", problems
        )

        include_charges = get("REVENUE_ASSETS_CHARGES_WITHOUT_INVOICE", "true") or "true"
        if include_charges.lower() not in ("true", "false", "1", "0", "yes", "no"):
            problems.append(
                f"REVENUE_ASSETS_CHARGES_WITHOUT_INVOICE={include_charges!r} must be true or false."
            )

        webhook_secret = get("STRIPE_WEBHOOK_SECRET")
        if webhook_secret is not None and not webhook_secret.startswith("whsec_"):
            problems.append("STRIPE_WEBHOOK_SECRET must be an endpoint signing secret (whsec_…).")

        clock = get("REVENUE_ASSETS_CLOCK_FILE")
        clock_file = Path(clock) if clock else None
        if clock_file is not None and clock_file.is_dir():
            problems.append(
                f"REVENUE_ASSETS_CLOCK_FILE={clock} is a directory; it must name a file."
            )

        if problems:
            raise ConfigError(problems)
        return cls(
            stripe_api_key=api_key,
            stripe_account_id=account_id,
            stripe_api_base=api_base,
            stripe_rate_limit=rate_limit,
            stripe_endpoint_rate_limit=endpoint_limits,
            duckdb_path=duckdb_path,
            state_path=state_path,
            table_prefix=prefix,
            base_currency=base_currency,
            sync_start=sync_start,
            group_key=get("REVENUE_ASSETS_GROUP_KEY", DEFAULT_GROUP_KEY) or DEFAULT_GROUP_KEY,
            persons_path=persons_path,
            groups_path=groups_path,
            include_charges_without_invoice=include_charges.lower() in ("true", "1", "yes"),
            webhook_secret=webhook_secret,
            clock_file=clock_file,
        )


def _optional_file(value: str | None, name: str, problems: list[str]) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        problems.append(f"{name}={value} does not exist or is not a file (CSV or Parquet).")
    elif path.suffix.lower() not in (".csv", ".parquet"):
        problems.append(f"{name}={value} must be a .csv or .parquet file.")
    return path


def parse_rate_limit(raw: str | None) -> float | None:
    """'live', 'test' or a number of requests per second; None when unset."""
    if raw is None or not raw.strip():
        return None
    rate = RATE_LIMITS[raw] if raw in RATE_LIMITS else float(raw)
    if rate <= 0:
        raise ValueError(raw)
    return rate


def sync_rate(api_key: str, override: float | None) -> float:
    """Requests per second a sync takes: `override` (STRIPE_RATE_LIMIT), else the default
    share of the key's mode."""
    return override if override is not None else DEFAULT_SHARES[key_mode(api_key)]


def stripe_schema(table_prefix: str | None) -> str:
    """Schema of the raw Stripe tables: `stripe`, or `stripe_<prefix>`."""
    return f"stripe_{table_prefix}" if table_prefix else "stripe"


def sync_start_from_env() -> str:
    """First monthly partition, read at definition time (partitions cannot wait for run time)."""
    try:
        return Settings.from_env(require_key=False).sync_start.isoformat()
    except ConfigError:
        # Definitions must still load so the UI can show the problem; runs re-validate.
        return DEFAULT_SYNC_START


# Months past the current one that monthly partitions reach while a clock file is set: a
# sandbox clock may run that far ahead of the wall clock (`revenue-assets demo --live`).
CLOCK_AHEAD_MONTHS = 2


def partition_end_offset_from_env() -> int:
    """How many partitions past the last complete month exist, read at definition time: the
    current month, plus CLOCK_AHEAD_MONTHS when the evaluation clock comes from a clock file
    (objects of a sandbox ahead of the wall clock must land in a partition)."""
    return 1 + (
        CLOCK_AHEAD_MONTHS if os.environ.get("REVENUE_ASSETS_CLOCK_FILE", "").strip() else 0
    )
