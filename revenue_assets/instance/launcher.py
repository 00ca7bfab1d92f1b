"""A run launcher that starts each run from a process which has already imported Dagster.

Dagster's default launcher asks the code server to start a run, and the code server starts a
fresh interpreter for it (multiprocessing's `spawn`, fixed in Dagster): every run imports
Dagster, DuckDB, pandas and the Stripe SDK again before its first step, 2.5 s of CPU and 3-4
s of wall time. Under a stream of webhooks that import is most of what a run costs: with one
Stripe change a second, the runs' imports alone kept about one of two cores busy and delayed
the revenue rebuild running beside them.

This launcher starts runs through multiprocessing's fork server, whose one long-lived process
imports those libraries once and forks a child per run. The child executes the run exactly as
the code server's process would (Dagster's own run-in-subprocess entry point, on the job loaded
from the run's code origin), so events, logs, pids and failures look the same in the UI. Our
own package is not preloaded: each run imports it fresh from disk, so edited code is picked up
as with the default launcher. The fork server is started by the process that launches (the
daemon) from a clean interpreter, so no thread of the launcher is ever forked.

Runs whose code must run elsewhere (another Python executable, a code server not started by
this workspace) and platforms without a fork server go through Dagster's default launcher.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    ManagedGrpcPythonEnvCodeLocationOrigin,
)
from dagster._grpc.impl import IPCErrorMessage, StartRunInSubprocessSuccessful, _run_in_subprocess
from dagster._grpc.types import ExecuteExternalJobArgs
from dagster._serdes import (
    ConfigurableClass,
    ConfigurableClassData,
    serialize_value,
)
from dagster._utils.hosted_user_process import recon_job_from_origin
from dagster._utils.interrupts import capture_interrupts

from revenue_assets.run_health import report_dead_run, run_process

# What every run imports before its first step, by weight: Dagster, its SQLite storage (2.5 s
# of the 2.8 s it takes to import the code location and open the instance) and the libraries
# our steps use. Third-party only, so that our own code is read fresh.
PRELOADED_MODULES = [
    "dagster",
    "dagster._core.execution.api",
    "dagster._core.instance.factory",
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
    "dagster._core.storage.sqlite_storage",
    "dagster._grpc.impl",
    "dagster_duckdb",
    "duckdb",
    "pandas",
    "stripe",
]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Set on the runs this launcher forks, so the UI (and a test) can tell how a run was started.
FORKED_TAG = "revenue_assets/run_process"

# How long a launch waits for the run's process to load the run before calling it failed.
START_TIMEOUT_S = 120.0


def _fork_context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    return context


def _execute_run(serialized_args: str, recon_job: Any, started: Connection) -> None:
    """The run's process: Dagster's run-in-subprocess, reporting whether it started on
    `started` (only that: the rest of the run reports through the instance)."""
    reported = False

    def on_status(message: Any) -> None:
        nonlocal reported
        if not reported and isinstance(message, StartRunInSubprocessSuccessful | IPCErrorMessage):
            started.send(message)
            started.close()
            reported = True

    # never set: a run is terminated by SIGINT to its pid, from whichever process asks
    termination = multiprocessing.Event()
    with capture_interrupts():
        _run_in_subprocess(
            serialized_args,
            recon_job,
            termination,
            subprocess_status_handler=on_status,
            run_event_handler=lambda _event: None,
        )


class ForkserverRunLauncher(RunLauncher, ConfigurableClass):
    """Launches runs as forks of a process that has the heavy imports done."""

    def __init__(self, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._context: Any = None
        # the runs' processes this launcher started, by run id, until they exit
        self._processes: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._default = dg.DefaultRunLauncher()
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: dict
    ) -> ForkserverRunLauncher:
        return cls(inst_data=inst_data)

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        super().register_instance(instance)
        self._default.register_instance(instance)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if not _forkable(run):
            self._default.launch_run(context)
            return
        with self._lock:
            if self._context is None:
                self._context = _fork_context()
        args = ExecuteExternalJobArgs(
            job_origin=run.remote_job_origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
        )
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_execute_run,
            args=(serialize_value(args), recon_job_from_origin(run.job_code_origin), sender),
            name=f"dagster-run-{run.run_id[:8]}",
        )
        self._instance.add_run_tags(run.run_id, {FORKED_TAG: "forked from the fork server"})
        process.start()
        sender.close()
        try:
            _wait_started(process, receiver, run.run_id)
        finally:
            receiver.close()
        with self._lock:
            self._processes[run.run_id] = process
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="forkserver-run-watcher", daemon=True
                )
                self._watcher.start()

    def _watch(self) -> None:
        """Reap the runs' processes as they exit; a run whose process died before reporting
        its end (kill -9, the OOM killer) is marked failed at once, as Dagster's code server
        does for the runs it starts."""
        while True:
            with self._lock:
                if not self._processes:
                    self._watcher = None
                    return
                by_sentinel = {p.sentinel: (run_id, p) for run_id, p in self._processes.items()}
            for sentinel in multiprocessing.connection.wait(list(by_sentinel), timeout=1.0):
                run_id, process = by_sentinel[sentinel]
                process.join()
                with self._lock:
                    del self._processes[run_id]
                run = self._instance.get_run_by_id(run_id)
                if run is not None and not run.is_finished:
                    report_dead_run(self._instance, run, process.pid)

    def terminate(self, run_id: str) -> bool:
        """SIGINT to the run's process, as Dagster's own termination does: the run stops at
        its next interruptible point and is reported canceled."""
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if not _forkable(run):
            return self._default.terminate(run_id)
        process = run_process(self._instance, run_id)
        if process is None:
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(process[0], signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def join(self, timeout: int = 30) -> None:
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            process.join(timeout)
        self._default.join(timeout)

    def dispose(self) -> None:
        self._default.dispose()


def _forkable(run: dg.DagsterRun) -> bool:
    """Runs whose code this interpreter can load: from a code server on this machine, on this
    very Python, where there is a fork server (not on Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    code_origin = run.job_code_origin
    remote_origin = run.remote_job_origin
    if code_origin is None or remote_origin is None:
        return False
    location_origin = remote_origin.repository_origin.code_location_origin
    # `dagster dev` starts the code server itself and hands the webserver and the daemon its
    # local address; a workspace file's Python entries are started by whoever loads them
    local_server = isinstance(location_origin, GrpcServerCodeLocationOrigin) and (
        location_origin.socket is not None or location_origin.host in LOCAL_HOSTS
    )
    if not (local_server or isinstance(location_origin, ManagedGrpcPythonEnvCodeLocationOrigin)):
        return False
    executable = code_origin.executable_path
    return bool(executable) and os.path.realpath(executable) == os.path.realpath(sys.executable)


def _wait_started(process: Any, receiver: Connection, run_id: str) -> None:
    """Until the run's process has loaded the run (as Dagster's launcher waits), or failed."""
    if not receiver.poll(START_TIMEOUT_S):
        process.terminate()
        raise DagsterLaunchFailedError(
            f"The process of run {run_id} did not start within {START_TIMEOUT_S:.0f} s."
        )
    try:
        message = receiver.recv()
    except EOFError:
        process.join(5)
        raise DagsterLaunchFailedError(
            f"The process of run {run_id} exited (code {process.exitcode}) before it started."
        ) from None
    if isinstance(message, IPCErrorMessage):
        raise DagsterLaunchFailedError(
            message.message, serializable_error_info=message.serializable_error_info
        )
