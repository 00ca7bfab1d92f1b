"""The run launcher the CLI sets up: runs start as forks of multiprocessing's fork server (which
has Dagster imported), run as Dagster's own launcher runs them, and a run whose process dies is
marked failed at once; termination cancels the run.

A real instance (the CLI's dagster.yaml), a real code server started from a workspace file, as
`dagster dev` starts it, and real run processes.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from revenue_assets.instance.config import (
    ensure_instance_config,
)
from revenue_assets.instance.launcher import FORKED_TAG, ForkserverRunLauncher
from revenue_assets.run_health import run_process

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "launcher_location"
WHERE = dg.AssetKey("where_it_ran")
WAITS = dg.AssetKey("waits_a_minute")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[dg.DagsterInstance, WorkspaceRequestContext]]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_instance_config(home)
    workspace_file = tmp_path / "workspace.yaml"
    workspace_file.write_text(
        "load_from:\n  - python_module:\n"
        "      module_name: revenue_assets_tests.instance.launcher_location\n"
        f"      working_directory: {ROOT}\n      location_name: {LOCATION}\n"
    )
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace_file)])) as process,
    ):
        yield instance, process.create_request_context()


def launch(instance: dg.DagsterInstance, workspace: WorkspaceRequestContext, key: dg.AssetKey):
    """A run of `key`, created and launched as the daemon's run queue launches one."""
    location = workspace.get_code_location(LOCATION)
    job = location.get_job(
        JobSubsetSelector(
            location_name=LOCATION,
            repository_name="__repository__",
            job_name="__ASSET_JOB",
            op_selection=None,
            asset_selection=[key],
        )
    )
    plan = location.get_execution_plan(
        job, {}, step_keys_to_execute=None, known_state=None, instance=instance
    )
    run = instance.create_run(
        job_name="__ASSET_JOB",
        run_id=None,
        run_config={},
        resolved_op_selection=None,
        step_keys_to_execute=None,
        status=dg.DagsterRunStatus.NOT_STARTED,
        op_selection=None,
        root_run_id=None,
        parent_run_id=None,
        tags={},
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=job.parent_job_snapshot,
        asset_selection=frozenset([key]),
        asset_check_selection=None,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_graph=workspace.asset_graph,
    )
    instance.launch_run(run.run_id, workspace)
    return run.run_id


def wait_for(instance: dg.DagsterInstance, run_id: str, timeout_s: float = 60) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while True:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        if run.is_finished or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def started_pid(instance: dg.DagsterInstance, run_id: str, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        process = run_process(instance, run_id)
        if run is not None and run.status == dg.DagsterRunStatus.STARTED and process:
            return process[0]
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} never started")


def test_runs_are_forks_of_the_fork_server_and_succeed(workspace) -> None:
    instance, context = workspace
    assert isinstance(instance.run_launcher, ForkserverRunLauncher)
    pids = []
    for _ in range(2):  # the second reuses the fork server the first started
        run_id = launch(instance, context, WHERE)
        run = wait_for(instance, run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert FORKED_TAG in run.tags
        metadata = instance.get_latest_materialization_event(WHERE).asset_materialization.metadata
        assert "multiprocessing.forkserver" in metadata["parent_command"].value
        # the pid the run worker recorded (what the dead-run check reads) is the run's process
        assert run_process(instance, run_id)[0] == metadata["pid"].value
        pids.append(metadata["pid"].value)
    assert pids[0] != pids[1]


def test_a_run_killed_outright_is_marked_failed_at_once(workspace) -> None:
    instance, context = workspace
    run_id = launch(instance, context, WAITS)
    pid = started_pid(instance, run_id)
    os.kill(pid, signal.SIGKILL)
    # the launcher's watcher notices the exit (no sensor runs here); bound: 1 s polls
    run = wait_for(instance, run_id, timeout_s=10)
    assert run.status == dg.DagsterRunStatus.FAILURE
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert f"(pid {pid}) is gone" in failures[0].dagster_event.message


def test_terminating_a_run_cancels_it(workspace) -> None:
    instance, context = workspace
    run_id = launch(instance, context, WAITS)
    started_pid(instance, run_id)
    assert instance.run_launcher.terminate(run_id)
    assert wait_for(instance, run_id, timeout_s=30).status == dg.DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(run_id)  # already over
