"""Runs that died are marked failed, so the Dagster UI never shows a dead run as running.

A run's process that is killed outright (kill -9, the OOM killer, a closed laptop) cannot
report its own end, and Dagster's run monitoring cannot see it either with the default run
launcher (it checks run workers' health only for launchers that support it, and the CLI's
runs have no launcher at all): the run stays STARTED forever. Every run records the pid of
the process that executes it in an engine event; a run still shown as running whose process
is gone, or is now another process with the same pid, died. This holds for the default
instance, whose runs all execute on this machine; a shared instance (Postgres, runs on
other hosts) is left to its own run monitoring.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def fail_dead_runs(instance: dg.DagsterInstance) -> list[tuple[str, int]]:
    """Mark as failed the runs shown as running whose process died: (run id, pid) of each."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=RUNNING)):
        process = run_process(instance, run.run_id)
        if process is None or _alive(*process):
            continue
        # The run may have ended between the listing and now, its process exiting after its
        # last event: read it again. A dead process writes nothing more, so this is final.
        run = instance.get_run_by_id(run.run_id)
        if run is None or run.status not in RUNNING:
            continue
        report_dead_run(instance, run, process[0])
        failed.append((run.run_id, process[0]))
    return failed


def report_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int) -> None:
    """Mark `run`, whose process `pid` died before reporting its end, failed."""
    instance.report_run_failed(
        run,
        f"The process that ran this run (pid {pid}) is gone: it was killed or crashed "
        "before it could report its end. What it merged into the warehouse is kept; "
        "materialize the same assets again to finish.",
    )
    # Dagster frees a run's pool slots when the run ends by itself; a dead one's slots
    # would stay claimed and stall every later step of the pool.
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid that executes the run and when it said so (its first engine event with one)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        metadata = event.event_specific_data.metadata if event and event.event_specific_data else {}
        pid = metadata.get("pid")
        if pid is not None:
            return int(pid.value), entry.timestamp
    return None


def _alive(pid: int, since: float) -> bool:
    """Whether `pid` is still the process that was running at `since` (unix time)."""
    if not Path("/proc/self/stat").exists():  # no /proc here: whether some process has it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if fields[0] in ("Z", "X"):  # a zombie: dead, only not reaped yet
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since + 1.0  # a process started later reuses the pid


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0
