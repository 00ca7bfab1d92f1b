"""What the Dagster daemon does with the sync's sensors, done in-process by the sync tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from revenue_assets.defs.stripe.definitions import stripe_tables
from revenue_assets_tests.synced_fixtures import raw_resources


def sync_resources(sandbox: Any, database: Path, state: Path) -> dict[str, Any]:
    """The sync's resources pointed at a sandbox, a warehouse file and a state file; the rate
    limits are the sandbox's (far above a real account's, no per-endpoint limit unless a test
    sets one), so tests do not wait on pacing."""
    return raw_resources(sandbox, database, state=state, endpoint_rate_limit="off")


def run_request(
    request: dg.RunRequest, instance: dg.DagsterInstance, resources: dict[str, Any]
) -> None:
    """Execute a sensor's run request as the daemon would (same partition, selection, config,
    tags), and fail the test if the run fails."""
    result = dg.materialize(
        [stripe_tables],
        instance=instance,
        resources=resources,
        partition_key=request.partition_key,
        selection=request.asset_selection,
        run_config=request.run_config,
        tags=request.tags,
    )
    assert result.success
