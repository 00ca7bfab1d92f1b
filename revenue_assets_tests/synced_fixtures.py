"""The session sandbox's company synced once per test process, through Dagster.

Every Stripe table over the company's partitions in one run, with the raw tables' checks, as a
backfill from the UI runs it. Several suites need exactly that warehouse to start from (the
dashboard page, the raw checks on broken data) and each used to sync it again: 35 to 50 s each
on two cores. Tests take copies (`copy_to`) and never write the shared files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
from revenue_assets.defs.stripe.definitions import stripe_table_checks, stripe_tables
from revenue_assets_tests.helpers import company_range


def raw_resources(
    sandbox: Any,
    database: Path,
    key: str | None = None,
    state: Path | None = None,
    **stripe_options: Any,
) -> dict[str, Any]:
    """The resources of a raw sync of `sandbox` into `database` (its state file beside it
    unless given), at the sandbox's rate limit unless `rate_limit` says otherwise."""
    return {
        "stripe": StripeResource(
            api_key=key or sandbox.secret_key,
            api_base=sandbox.base_url,
            rate_limit=stripe_options.pop("rate_limit", 1000.0),
            **stripe_options,
        ),
        "warehouse": WarehouseResource(database=str(database)),
        "state": StateResource(path=str(state or database.with_suffix(".sqlite"))),
    }


def range_tags(first: str, last: str) -> dict[str, str]:
    """A single-run backfill of the partitions `first` to `last`."""
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@dataclass(frozen=True)
class SyncedCompany:
    """The warehouse and state file of the synced company, and what the run recorded."""

    database: Path
    state: Path
    materializations: list[dg.AssetMaterialization]
    check_evaluations: list[dg.AssetCheckEvaluation]

    def copy_to(self, directory: Path) -> tuple[Path, Path]:
        """Copies of the warehouse and the state file in `directory`, named as the sync names
        them (`<warehouse>.sqlite` beside `<warehouse>.duckdb`)."""
        directory.mkdir(parents=True, exist_ok=True)
        database = directory / self.database.name
        state = database.with_suffix(".sqlite")
        shutil.copyfile(self.database, database)
        shutil.copyfile(self.state, state)
        return database, state


@pytest.fixture(scope="session")
def synced_session_company(
    sandbox_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> SyncedCompany:
    database = tmp_path_factory.mktemp("synced-session-company") / "warehouse.duckdb"
    first, last = company_range(sandbox_session)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [stripe_tables, stripe_table_checks],
            resources=raw_resources(sandbox_session, database),
            instance=instance,
            tags=range_tags(first, last),
        )
        assert result.success
        materializations = [
            event.event_specific_data.materialization
            for event in result.get_asset_materialization_events()
        ]
        evaluations = list(result.get_asset_check_evaluations())
    return SyncedCompany(database, database.with_suffix(".sqlite"), materializations, evaluations)
