"""Resources shared by the domains, configured from the environment.

Secrets come in through `dg.EnvVar`, so the UI shows the variable's name, never its value.
Non-secret settings with defaults are read when the definitions load.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from revenue_assets.ingest.sync import DEFAULT_FLUSH_BYTES
from revenue_assets.revenue.clock import read_clock_file
from revenue_assets.revenue.runner import RevenueContext, revenue_schema
from revenue_assets.settings import (
    DEFAULT_API_BASE,
    DEFAULT_BASE_CURRENCY,
    DEFAULT_GROUP_KEY,
    DEFAULT_STATE,
    ConfigError,
    Settings,
    stripe_schema,
    sync_rate,
)
from revenue_assets.state.store import StateStore
from revenue_assets.stripe_api.client import RetryPolicy, StripeAccess
from revenue_assets.warehouse.connection import DEFAULT_LOCK_TIMEOUT_S, warehouse_connection

QUICK_RETRY = RetryPolicy(max_attempts=2, rate_limited_budget_s=10.0, base_delay_s=0.2)


class StripeResource(dg.ConfigurableResource):
    """Read access to one Stripe account through the official SDK."""

    api_key: str = Field(description="Restricted (rk_…) or secret (sk_…) key; read scopes suffice.")
    account_id: str | None = Field(
        default=None, description="Connected account to read (sent as Stripe-Account)."
    )
    api_base: str = Field(default=DEFAULT_API_BASE, description="API base URL.")
    rate_limit: float | None = Field(
        default=None,
        description=(
            "Requests per second the sync takes of the account's limit; default by the key's "
            "mode: live 50 of 100 (the rest is the app's), test all 25."
        ),
    )
    endpoint_rate_limit: str = Field(
        default="25",
        description=(
            "Requests per second per operation (Stripe's endpoint limit, 25 unless raised), "
            "'off', or with overrides, e.g. '25,GET /v1/charges=50'."
        ),
    )
    max_in_flight: int = Field(default=64, description="Concurrent requests at most.")

    def effective_rate_limit(self) -> float:
        return sync_rate(self.api_key, self.rate_limit)

    def access(self, *, quick: bool = False) -> StripeAccess:
        """A client for this run. Validates the settings first, with one message per problem.

        `quick`: for sensors, which must answer within the daemon's tick: few retries and a
        short timeout, so an unreachable API skips a tick instead of stalling every sensor."""
        env = {
            "STRIPE_API_KEY": self.api_key,
            "STRIPE_ACCOUNT_ID": self.account_id or "",
            "STRIPE_API_BASE": self.api_base,
            "STRIPE_ENDPOINT_RATE_LIMIT": self.endpoint_rate_limit,
        }
        try:
            settings = Settings.from_env(env)
        except ConfigError as error:
            raise dg.Failure(description=str(error)) from None
        return StripeAccess(
            self.api_key,
            api_base=self.api_base,
            account_id=self.account_id,
            rate_limit=self.effective_rate_limit(),
            operation_limits=settings.stripe_endpoint_rate_limit,
            max_in_flight=self.max_in_flight,
            **({"retry": QUICK_RETRY, "timeout_s": 15.0} if quick else {}),
        )


# The Dagster pool of the steps that hold the warehouse file for their whole duration (the
# revenue rebuild, the dashboard). The instance the CLI sets up limits it to one step at a time
# (its dagster.yaml), so such steps wait their turn visibly in the UI instead of behind the file
# lock; elsewhere `dagster instance concurrency set duckdb_write 1` does the same. The Stripe op is not in it: it takes the lock only for each merge, and
# holding a slot while it waits on Stripe would stall every webhook run behind a backfill.
WAREHOUSE_POOL = "duckdb_write"


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse, opened under an exclusive file lock for each unit of SQL work."""

    table_prefix: str | None = Field(
        default=None, description="Prefix so several accounts share one warehouse."
    )
    lock_timeout_s: float = Field(
        default=DEFAULT_LOCK_TIMEOUT_S,
        description="Seconds a write waits for the warehouse's file lock before failing.",
    )
    flush_mb: int = Field(
        default=DEFAULT_FLUSH_BYTES // 2**20,
        description=(
            "Merge fetched objects into DuckDB whenever the writer is free and at least this "
            "much has been spooled. Small batches leave little to merge after the last page; "
            "when fetching outpaces merging, batches grow on their own (up to 64 MB, or twice "
            "this), since each merge ends with a checkpoint and larger ones cost less CPU."
        ),
    )

    @property
    def stripe_schema(self) -> str:
        return stripe_schema(self.table_prefix)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:  # type: ignore[override]
        with warehouse_connection(self.database, timeout_s=self.lock_timeout_s) as connection:
            yield connection


class StateResource(dg.ConfigurableResource):
    """The SQLite file beside the warehouse: event inbox, webhook secret, sync watermarks."""

    path: str = Field(default=DEFAULT_STATE)

    @contextmanager
    def store(self) -> Iterator[StateStore]:
        inbox = StateStore(self.path)
        try:
            yield inbox
        finally:
            inbox.close()


class RevenueResource(dg.ConfigurableResource):
    """How revenue is computed and reported: currency, options, linkage files, evaluation time."""

    base_currency: str = Field(
        default=DEFAULT_BASE_CURRENCY,
        description="Reporting currency (REVENUE_ASSETS_BASE_CURRENCY).",
    )
    include_charges_without_invoice: bool = Field(
        default=True,
        description="Count succeeded charges that no invoice paid as revenue items.",
    )
    group_key: str = Field(
        default=DEFAULT_GROUP_KEY,
        description="Metadata key holding a customer's group key (REVENUE_ASSETS_GROUP_KEY).",
    )
    persons_path: str | None = Field(
        default=None, description="CSV or Parquet file of persons (REVENUE_ASSETS_PERSONS)."
    )
    groups_path: str | None = Field(
        default=None, description="CSV or Parquet file of groups (REVENUE_ASSETS_GROUPS)."
    )
    as_of: str | None = Field(
        default=None,
        description=(
            "Evaluate MRR and month ranges at this ISO instant instead of now (for replays, "
            "tests and sandboxes whose clock is not the wall clock)."
        ),
    )
    clock_file: str | None = Field(
        default=None,
        description=(
            "A file holding the Unix time to evaluate at, read at each run "
            "(REVENUE_ASSETS_CLOCK_FILE): for a sandbox whose clock runs ahead of the wall "
            "clock, like `revenue-assets demo --live`, which writes its company's clock there. "
            "Ignored while missing or empty; `as_of` wins when both are set."
        ),
    )
    memory_limit: str = Field(
        default="4GB",
        description="DuckDB memory limit while rebuilding (the sync's own limit is lower).",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> RevenueResource:
        return cls(
            base_currency=settings.base_currency,
            include_charges_without_invoice=settings.include_charges_without_invoice,
            group_key=settings.group_key,
            persons_path=str(settings.persons_path) if settings.persons_path else None,
            groups_path=str(settings.groups_path) if settings.groups_path else None,
            clock_file=str(settings.clock_file) if settings.clock_file else None,
        )

    def evaluation_time(self) -> datetime:
        """The instant MRR is evaluated at and the last month reported (UTC)."""
        if self.as_of:
            moment = datetime.fromisoformat(self.as_of)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        clock = read_clock_file(self.clock_file) if self.clock_file else None
        return clock or datetime.now(UTC)


def default_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """Resources of the code location. Settings are validated here, at load time, so a wrong
    value shows up in the UI as a list of problems before any run starts."""
    settings = settings or Settings.from_env(require_key=False)
    return {
        "stripe": StripeResource(
            api_key=dg.EnvVar("STRIPE_API_KEY"),
            account_id=settings.stripe_account_id,
            api_base=settings.stripe_api_base,
            rate_limit=settings.stripe_rate_limit,
            endpoint_rate_limit=str(settings.stripe_endpoint_rate_limit),
        ),
        "warehouse": WarehouseResource(
            database=str(settings.duckdb_path), table_prefix=settings.table_prefix
        ),
        "state": StateResource(path=str(settings.state_path)),
        "revenue": RevenueResource.from_settings(settings),
    }


def revenue_context(warehouse: WarehouseResource, revenue: RevenueResource) -> RevenueContext:
    """What one run of the revenue layer's SQL needs, resolved once from both resources."""
    return RevenueContext(
        database=warehouse.database,
        stripe_schema=warehouse.stripe_schema,
        revenue_schema=revenue_schema(warehouse.table_prefix),
        base_currency=revenue.base_currency.upper(),
        include_charges_without_invoice=revenue.include_charges_without_invoice,
        group_key=revenue.group_key,
        as_of=revenue.evaluation_time(),
        persons_path=revenue.persons_path,
        groups_path=revenue.groups_path,
        lock_timeout_s=warehouse.lock_timeout_s,
        memory_limit=revenue.memory_limit,
    )
