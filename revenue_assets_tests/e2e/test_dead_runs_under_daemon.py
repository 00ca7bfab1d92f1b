"""Runs killed outright show up failed under `dagster dev` alone, with no command typed.

Two runs are killed with kill -9 while `dagster dev` (default settings) runs: one it launched
itself, from the UI's GraphQL API, and one of `revenue-assets sync`, which executes in the
command's own process. Each is found by the pid its run worker records, killed, and must read
FAILURE in the instance within a bound, the second with the reason the dead-run sensor gives
(nothing else in `dagster dev` knows that process). No other run and no sensor tick may fail.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from revenue_assets.defs.run_health import RUN_HEALTH_INTERVAL_S, RUN_HEALTH_SENSOR_NAME
from revenue_assets_tests.e2e.stack import Stack, poll
from revenue_assets_tests.e2e.test_live_under_daemon import failed_ticks

pytestmark = pytest.mark.long

# From kill -9 to FAILURE: one sensor interval, plus the daemon's loop over every sensor of the
# code location on a CPU shared with the rest of the suite.
CLI_RUN_BOUND_S = RUN_HEALTH_INTERVAL_S + 45.0
UI_RUN_BOUND_S = 60.0
# Requests per second of the killed runs: slow enough that they are still running when killed.
# (The command first probes each of the 30-odd tables for its oldest object at that rate too:
# a few rounds of one to three requests per table.)
CRAWL = 0.2
CLI_CRAWL = 5.0
GONE = "is gone: it was killed or crashed before it could report its end"

STRIPE_KEYS = "{ assetNodes { assetKey { path } } }"
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """Once the run has started, the pid its worker records in an engine event."""
    if status(instance, run_id) != dg.DagsterRunStatus.STARTED:
        return None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return int(pid.value)
    return None


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    return " | ".join(
        entry.dagster_event.message or ""
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        if entry.dagster_event
    )


def kill(instance: dg.DagsterInstance, run_id: str, pid: int) -> float:
    """kill -9 the run's process, while it runs; when (monotonic seconds)."""
    assert status(instance, run_id) == dg.DagsterRunStatus.STARTED, "finished before the kill"
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def seconds_to_failure(
    instance: dg.DagsterInstance, run_id: str, killed: float, bound_s: float
) -> float:
    """Seconds from the kill until the instance reads the run FAILURE, or the test fails."""
    failed = poll(
        lambda: status(instance, run_id) == dg.DagsterRunStatus.FAILURE,
        bound_s - (time.monotonic() - killed),
        interval_s=0.25,
    )
    elapsed = time.monotonic() - killed
    assert failed, f"run {run_id} still {status(instance, run_id)} {elapsed:.0f} s after kill -9"
    return elapsed


def launch_from_the_ui(stack: Stack) -> str:
    """A run of every Stripe table on this month's partition, launched as the UI launches one,
    crawling at CRAWL req/s (run config of the Stripe resource)."""
    keys = [
        node["assetKey"]["path"]
        for node in stack.graphql(STRIPE_KEYS)["assetNodes"]
        if node["assetKey"]["path"][0] == "stripe"
    ]
    params = {
        "selector": {
            "repositoryLocationName": "revenue_assets",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": key} for key in keys],
        },
        "runConfigData": {
            "resources": {
                "stripe": {"config": {"api_key": {"env": "STRIPE_API_KEY"}, "rate_limit": CRAWL}}
            }
        },
        "executionMetadata": {
            "tags": [{"key": "dagster/partition", "value": f"{datetime.now(UTC):%Y-%m}-01"}]
        },
    }
    launched = stack.graphql(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


@pytest.mark.timeout(420)
def test_runs_killed_outright_show_up_failed_under_dagster_dev(tmp_path: Path) -> None:
    started = time.monotonic()
    with Stack(tmp_path / "dead") as stack:
        stack.start_sandbox()
        stack.run("sync", "sync")
        stack.start_dagster()
        up = time.monotonic()
        with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            ticked = poll(lambda: RUN_HEALTH_SENSOR_NAME in failed_ticks(instance)[0], 120)
            assert ticked, f"the dead-run sensor never ticked\n{stack.logs()}"
            first_tick = time.monotonic()

            # A run of `revenue-assets sync`, crawling: its worker is the command's own process.
            crawl = {**stack.env(), "STRIPE_RATE_LIMIT": str(CLI_CRAWL)}
            cli = stack.start("crawling_sync", "sync", "--no-downstream", env=crawl)
            cli_run = poll(lambda: running_sync(instance), 120, interval_s=0.1)
            assert cli_run, f"the sync's run never started\n{stack.logs()}"
            pid = poll(lambda: worker_pid(instance, cli_run), 60, interval_s=0.1)
            assert pid == cli.pid
            cli_killed = kill(instance, cli_run, pid)

            # Meanwhile, a run `dagster dev` launched: its worker is a child of the code server.
            ui_run = launch_from_the_ui(stack)
            pid = poll(lambda: worker_pid(instance, ui_run), 120, interval_s=0.1)
            assert pid, f"run {ui_run} never started\n{stack.logs()}"
            ui_killed = kill(instance, ui_run, pid)
            ui_seconds = seconds_to_failure(instance, ui_run, ui_killed, UI_RUN_BOUND_S)

            cli_seconds = seconds_to_failure(instance, cli_run, cli_killed, CLI_RUN_BOUND_S)
            assert f"(pid {cli.pid}) {GONE}" in failure_message(instance, cli_run)
            print(
                f"\nstack up after {up - started:.0f} s, first dead-run tick {first_tick - up:.0f} s "
                f"later, both runs failed {time.monotonic() - first_tick:.0f} s after that; kill -9 to FAILURE: run launched by dagster dev {ui_seconds:.1f} s "
                f"({failure_message(instance, ui_run)!r}); run of revenue-assets sync "
                f"{cli_seconds:.1f} s (dead-run sensor, every {RUN_HEALTH_INTERVAL_S} s)"
            )

            # The sensor's tick says which run it failed; nothing else failed.
            state = next(
                s
                for s in instance.all_instigator_state()
                if s.instigator_name == RUN_HEALTH_SENSOR_NAME
            )
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            assert any(cli_run in (tick.skip_reason or "") for tick in ticks)
            _, failures = failed_ticks(instance)
            assert not failures, failures
            others = {
                r.run_id: r.status for r in instance.get_runs() if r.run_id not in (ui_run, cli_run)
            }
            assert dg.DagsterRunStatus.FAILURE not in others.values(), others
    print(f"wall time {time.monotonic() - started:.0f} s")


def running_sync(instance: dg.DagsterInstance) -> str | None:
    """The run of a `revenue-assets sync` in progress, if any."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED], tags={"trigger": "revenue_assets_sync"}
        )
    )
    return runs[0].run_id if runs else None
