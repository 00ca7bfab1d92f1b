"""The revenue layer's settings as a resource (DESIGN §2, §5), built from `Settings`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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


def read_clock_file(path: str) -> datetime | None:
    """The instant a clock file holds (Unix seconds), or None while it is missing or empty.
    Its writer replaces it atomically, so a half-written number is never read."""
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        raise ValueError(
            f"REVENUE_ASSETS_CLOCK_FILE={path} must hold a Unix time in seconds, not {text[:40]!r}"
        ) from None
