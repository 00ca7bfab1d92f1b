"""The dead-run sensor on a real Dagster instance: it fails the runs shown as running whose
process is gone, with the reason in the run's log, and nothing else (queued runs, runs still
starting, live runs, runs of a shared instance, runs that ended meanwhile)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.utils import make_new_run_id

from revenue_assets import run_health
from revenue_assets.definitions import defs
from revenue_assets.defs.resources import WAREHOUSE_POOL
from revenue_assets.defs.run_health import RUN_HEALTH_SENSOR_NAME, dead_runs_failed

GONE = "is gone: it was killed or crashed"
JOB = "a_job"
# Where a run launched from `dagster dev` comes from (a queued run must have one).
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="revenue_assets.definitions")),
        "__repository__",
    ),
    JOB,
)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A persistent instance like the CLI's and `dagster dev`'s: SQLite under a DAGSTER_HOME."""
    (tmp_path / "dagster.yaml").touch()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def dead_pid() -> int:
    """The pid of a process that ran and exited (reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def a_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus, pid: int | None = None) -> str:
    """A run in `status`; with `pid`, the engine event a run worker records when it starts."""
    run = instance.add_run(
        dg.DagsterRun(
            job_name=JOB, run_id=make_new_run_id(), status=status, remote_job_origin=ORIGIN
        )
    )
    if pid is not None:
        instance.report_engine_event(
            f"Executing steps in process (pid: {pid})", run, EngineEventData.in_process(pid)
        )
    return run.run_id


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def failure_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [
        entry.dagster_event.message or ""
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        if entry.dagster_event
    ]


def test_the_sensor_fails_only_the_runs_whose_process_is_gone(
    instance: dg.DagsterInstance,
) -> None:
    S = dg.DagsterRunStatus
    gone = dead_pid()
    dead = a_run(instance, S.STARTED, gone)
    dead_canceling = a_run(instance, S.CANCELING, dead_pid())
    alive = a_run(instance, S.STARTED, os.getpid())
    queued = a_run(instance, S.QUEUED)
    starting = a_run(instance, S.STARTING)  # launched, its worker has not recorded its pid yet
    not_started = a_run(instance, S.NOT_STARTED)
    done = a_run(instance, S.SUCCESS, dead_pid())

    result = dead_runs_failed(dg.build_sensor_context(instance=instance))

    assert isinstance(result, dg.SkipReason)  # it requests no run
    assert dead in (result.skip_message or "") and dead_canceling in (result.skip_message or "")
    assert status(instance, dead) == S.FAILURE
    assert status(instance, dead_canceling) == S.FAILURE
    [message] = failure_messages(instance, dead)
    assert f"(pid {gone}) {GONE}" in message
    kept = {alive: S.STARTED, queued: S.QUEUED, starting: S.STARTING}
    kept |= {not_started: S.NOT_STARTED, done: S.SUCCESS}
    assert {run_id: status(instance, run_id) for run_id in kept} == kept

    # The next tick finds nothing more to do and writes no second failure.
    again = dead_runs_failed(dg.build_sensor_context(instance=instance))
    assert isinstance(again, dg.SkipReason) and dead not in (again.skip_message or "")
    assert len(failure_messages(instance, dead)) == 1


def test_a_run_that_ended_while_its_process_was_checked_is_left_as_it_ended(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process reports success and exits between the listing and the liveness check: the
    run succeeded and must not be marked failed. (The interleaving is forced: the check is
    where the run ends.)"""
    run_id = a_run(instance, dg.DagsterRunStatus.STARTED, dead_pid())

    def ends_then_dead(pid: int, since: float) -> bool:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        instance.handle_new_event(
            dg.EventLogEntry(
                error_info=None,
                level="DEBUG",
                user_message="",
                run_id=run_id,
                timestamp=since + 1,
                dagster_event=dg.DagsterEvent(
                    event_type_value=dg.DagsterEventType.RUN_SUCCESS.value,
                    job_name=run.job_name,
                ),
            )
        )
        return False

    monkeypatch.setattr(run_health, "_alive", ends_then_dead)
    assert run_health.fail_dead_runs(instance) == []
    assert status(instance, run_id) == dg.DagsterRunStatus.SUCCESS
    assert failure_messages(instance, run_id) == []


def test_a_shared_instance_is_left_to_its_own_run_monitoring() -> None:
    """Runs of an instance that is not the local SQLite one may execute on other hosts, where
    this machine's process table says nothing: none is touched."""
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = a_run(instance, dg.DagsterRunStatus.STARTED, dead_pid())
        result = dead_runs_failed(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)
        assert status(instance, run_id) == dg.DagsterRunStatus.STARTED


def test_the_sensor_is_in_the_code_location_and_runs_by_default() -> None:
    sensor = defs.resolve_sensor_def(RUN_HEALTH_SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30


def test_a_dead_runs_pool_slot_is_freed_for_the_next_step(instance: dg.DagsterInstance) -> None:
    """Left claimed, a dead run's slot of a pool limited to one would stall the pool for good."""
    storage = instance.event_log_storage
    storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
    dead = a_run(instance, dg.DagsterRunStatus.STARTED, dead_pid())
    alive = a_run(instance, dg.DagsterRunStatus.STARTED, os.getpid())
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, dead, "revenue_tables").is_claimed
    assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, alive, "revenue_tables").is_claimed

    run_health.fail_dead_runs(instance)

    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, alive, "revenue_tables").is_claimed
