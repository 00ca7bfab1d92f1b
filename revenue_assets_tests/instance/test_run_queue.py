"""The run queue the CLI sets up for `dagster dev`: queued runs are looked at every second and
launched in parallel threads (Dagster's default looks every 5 s and launches one at a time,
each launch waiting for the run's process to boot)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from revenue_assets.instance.config import (
    ensure_batched_storage,
    ensure_pool_limit,
    ensure_quick_run_queue,
)


def test_the_cli_instance_launches_queued_runs_at_once_and_in_parallel(tmp_path: Path) -> None:
    ensure_batched_storage(tmp_path)
    ensure_pool_limit(tmp_path)
    assert ensure_quick_run_queue(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, dg.QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == 1
        assert coordinator.dequeue_use_threads
        assert coordinator.dequeue_num_workers == 4
        # the pool limit written beside it still applies
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

    # Dagster's defaults, for contrast: what the section changes
    default = tmp_path / "default"
    default.mkdir()
    with dg.DagsterInstance.from_config(str(default)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 5
        assert not instance.run_coordinator.dequeue_use_threads
