"""The revenue layer's settings as a resource (DESIGN §2, §5), built from `Settings`."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from revenue_assets.settings import DEFAULT_BASE_CURRENCY, DEFAULT_GROUP_KEY, Settings


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
        )

    def evaluation_time(self) -> datetime:
        """The instant MRR is evaluated at and the last month reported (UTC)."""
        if self.as_of:
            moment = datetime.fromisoformat(self.as_of)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.now(UTC)
