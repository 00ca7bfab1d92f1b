"""`demo --live`: the synced demo company keeps living, and the product follows it on its own.

After the demo's sync, the sandbox keeps serving the company while `CompanyLife` changes it;
the sandbox delivers each change's events as signed webhooks to the receiver
(`revenue-assets webhooks serve`, a child process, registered as the company's endpoint), and
`dagster dev` (a child process: webserver, daemon, code server) runs the product's sensors and
automation on the demo warehouse: raw tables, revenue layer and dashboard follow by themselves.

Ctrl-C stops everything the demo started, in order: the company's clock, queued runs (canceled,
so the daemon launches no more), runs in progress (given a moment to finish), `dagster dev`
and all its children, the receiver, then the sandbox. Runs that could not finish are recorded
as canceled in the instance, so the UI shows none running at the next start.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from revenue_assets.demo.company_life import CompanyLife
from revenue_assets.demo.processes import ChildProcess

RECEIVER_PATH = "/stripe/webhooks"
DEFAULT_RECEIVER_PORT = 8787  # the port `revenue-assets webhooks serve` uses by default
STARTUP_TIMEOUT_S = 240
RUNS_GRACE_S = 15  # how long runs in progress get to finish on Ctrl-C
STATUS_EVERY_S = 30
UNFINISHED = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """`preferred` when nothing listens there, else any free port (0: any free port)."""
    from revenue_assets.webhooks.sockets import bind

    for port in (preferred, 0) if preferred else (0,):
        try:
            sock = bind(host, port)
        except OSError:
            continue
        chosen = sock.getsockname()[1]
        sock.close()
        return chosen
    raise OSError("no free port")


def wait_until(check: Any, what: str, process: ChildProcess, timeout_s: float) -> None:
    """Poll `check()` until true; fail early when the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited early; its log: {process.log}")
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer within {timeout_s:.0f} s; log: {process.log}")


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # everything here is on loopback: never through a proxy
    return session


def wait_for_receiver(port: int, process: ChildProcess) -> None:
    """Until the webhook receiver on `port` answers its health check."""
    http = _http()
    health = f"http://127.0.0.1:{port}/healthz"
    wait_until(lambda: http.get(health, timeout=2).status_code < 500, "the receiver", process, 60)


def start_dagster_dev(
    target: list[str], *, port: int, env: Mapping[str, str], log: Path, cwd: Path
) -> tuple[ChildProcess, str]:
    """`dagster dev TARGET` on loopback `port` (the demo's, and the end-to-end tests' stack);
    returns the child and the UI's address once the UI answers."""
    url = f"http://127.0.0.1:{port}"
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster)] if dagster.exists() else [sys.executable, "-m", "dagster"]
    process = ChildProcess.start(
        "dagster dev",
        [*command, "dev", *target, "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        log=log,
        cwd=cwd,
    )
    http = _http()
    try:
        wait_until(
            lambda: http.get(f"{url}/server_info", timeout=2).ok,
            "the Dagster UI",
            process,
            STARTUP_TIMEOUT_S,
        )
    except BaseException:
        process.stop()  # not handed to the caller yet: nobody else would stop it
        raise
    return process, url


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM both stop the demo, with the same clean-up.

    SIGINT too, explicitly: a process started in the background of a non-interactive shell (a
    script's `demo --live &`, a CI step) inherits SIGINT ignored, and Python leaves it ignored,
    so Ctrl-C or `kill -INT` would never reach the demo."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class LiveDemo:
    """The processes and the company of one `demo --live` session."""

    def __init__(
        self,
        paths: Any,
        sandbox: Any,
        *,
        speed: float,
        every: float = 6.0,
        ui_port: int,
        webhook_port: int = DEFAULT_RECEIVER_PORT,
        out: Console,
        seed: int | None = None,
    ) -> None:
        self.paths = paths
        self.sandbox = sandbox
        self.speed = speed
        self.every = every
        self.ui_port = ui_port
        self.webhook_port = webhook_port
        self.out = out
        self.seed = seed
        self.children: list[ChildProcess] = []
        self.ui_url = ""
        self.receiver_url = ""
        self.live_state = paths.root / "live.json"

    # -- start -----------------------------------------------------------------------------------

    def start_receiver(self) -> None:
        """Register the receiver as the company's endpoint (removing those of earlier runs),
        then start it: it reads the signing secret the registration stored."""
        from revenue_assets.settings import Settings
        from revenue_assets.state.store import StateStore
        from revenue_assets.webhooks.registration import register_endpoint, stripe_client

        # The port of the last session when free: its endpoint is then kept as it is.
        saved = self._saved().get("receiver_port")
        port = free_port(int(saved) if saved and self.webhook_port else self.webhook_port)
        self.receiver_url = f"http://127.0.0.1:{port}{RECEIVER_PATH}"
        settings = Settings.from_env()
        client = stripe_client(settings)
        for endpoint in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
            if endpoint.url != self.receiver_url:
                client.v1.webhook_endpoints.delete(endpoint.id)
        with StateStore(settings.state_path) as inbox:
            register_endpoint(client, inbox, self.receiver_url)
        self._save(receiver_port=port)
        receiver = self._spawn(
            "the webhook receiver",
            ["-m", "revenue_assets.cli", "webhooks", "serve", "--port", str(port)],
            self.paths.root / "receiver.log",
        )
        wait_for_receiver(port, receiver)

    def start_dagster(self) -> None:
        """`dagster dev` on the demo's instance and warehouse; returns once the UI answers."""
        workspace = Path.cwd() / "workspace.yaml"
        target = (
            ["-w", str(workspace)] if workspace.is_file() else ["-m", "revenue_assets.definitions"]
        )
        process, self.ui_url = start_dagster_dev(
            target,
            port=free_port(self.ui_port),
            env=os.environ,
            log=self.paths.root / "dagster_dev.log",
            cwd=Path.cwd(),
        )
        self.children.append(process)

    def _spawn(self, name: str, args: list[str], log: Path) -> ChildProcess:
        process = ChildProcess.start(
            name, [sys.executable, *args], env=os.environ, log=log, cwd=Path.cwd()
        )
        self.children.append(process)
        return process

    def _saved(self) -> dict[str, Any]:
        try:
            return json.loads(self.live_state.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, **values: Any) -> None:
        self.live_state.write_text(json.dumps({**self._saved(), **values}, indent=2) + "\n")

    # -- run -------------------------------------------------------------------------------------

    def run(self) -> None:
        """Start everything, then live until Ctrl-C (or SIGTERM); stop everything."""
        life = CompanyLife(
            self.sandbox.base_url,
            self.sandbox.secret_key,
            speed=self.speed,
            clock_file=self.paths.clock,
            mean_interval_s=self.every,
            seed=self.seed,
            on_action=self._print_action,
        )
        self.life = life
        try:
            with stop_signals_interrupt():
                self.out.print("Starting the webhook receiver and the Dagster UI (dagster dev) …")
                self.start_receiver()
                self.start_dagster()
                life.start()
                self._announce()
                self._save(**self.describe())
                last_status = time.monotonic()
                while True:
                    time.sleep(1.0)
                    life.step()
                    if time.monotonic() - last_status >= STATUS_EVERY_S:
                        last_status = time.monotonic()
                        self._print_status()
        except KeyboardInterrupt:
            self.out.print("\nStopping: the company's clock, Dagster's runs, dagster dev, …")
        finally:
            with stop_signals_interrupt():
                self.stop()

    def describe(self) -> dict[str, Any]:
        """Where everything of this session runs (kept in live.json while it runs)."""
        return {
            "pid": os.getpid(),
            "ui_url": self.ui_url,
            "receiver_url": self.receiver_url,
            "sandbox_url": self.sandbox.base_url,
            "children": [child.pid for child in self.children],
            "clock_file": str(self.paths.clock),
        }

    def _announce(self) -> None:
        from revenue_assets.dashboard.build import dashboard_path

        dashboard = dashboard_path(self.paths.warehouse)
        self.out.print(
            f"\n[bold]Live.[/] The company's app acts every {self.every:g} s on average; its "
            f"clock runs {self.speed:g} simulated minutes per second.\n"
            f"  [bold]Dagster UI[/]   {self.ui_url}  (asset graph: {self.ui_url}/asset-groups)\n"
            f"  [bold]Dashboard[/]    {dashboard.as_uri()}  (reloads itself when rebuilt)\n"
            f"  Webhooks     sandbox → {self.receiver_url}\n"
            f"  Logs         {self.paths.root}/dagster_dev.log, receiver.log\n"
            "Ctrl-C stops everything.\n",
            soft_wrap=True,
        )

    def _print_action(self, what: str) -> None:
        clock = datetime.fromtimestamp(self.life.stats.clock, UTC).strftime("%Y-%m-%d %H:%M")
        self.out.print(f"  [dim]{clock}[/]  {what}", soft_wrap=True, highlight=False)

    def _print_status(self) -> None:
        counts = run_counts(self.paths.dagster_home)
        edge = "  (at the partitions' edge: real time)" if self.life.stats.at_edge else ""
        self.out.print(
            f"[dim]  runs: {counts.get('SUCCESS', 0)} succeeded, {counts.get('FAILURE', 0)} "
            f"failed, {sum(counts.get(s, 0) for s in UNFINISHED)} queued or running{edge}[/]"
        )

    # -- stop ------------------------------------------------------------------------------------

    def stop(self) -> None:
        started = time.monotonic()
        dagster = next((c for c in self.children if c.name == "dagster dev"), None)
        # each phase says what it waits for: on a loaded machine stopping takes a while, and
        # the last line printed tells where it is
        if dagster is not None:
            cancel_queued_runs(self.paths.dagster_home)
            self.out.print(f"  Runs in progress: given up to {RUNS_GRACE_S} s to finish …")
            wait_for_runs(self.paths.dagster_home, RUNS_GRACE_S)
        names = ", ".join(child.name for child in self.children)
        self.out.print(f"  Stopping {names} …")
        # together: each may take its grace period, and one after the other they added up
        # to minutes on a loaded machine
        with ThreadPoolExecutor(max_workers=max(len(self.children), 1)) as pool:
            list(pool.map(lambda child: child.stop(), self.children))
        if dagster is not None:
            left = cancel_unfinished_runs(self.paths.dagster_home)
            if left:
                self.out.print(f"  {left} run(s) could not finish: recorded as canceled.")
        self.live_state.write_text(
            json.dumps({"receiver_port": self._saved().get("receiver_port")}, indent=2) + "\n"
        )
        self.out.print(
            f"Stopped in {time.monotonic() - started:.0f} s: no process of the demo is left running."
        )


def _instance(dagster_home: Path) -> Any:
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home))


def _runs(instance: Any, statuses: tuple[str, ...]) -> list[Any]:
    import dagster as dg

    wanted = [dg.DagsterRunStatus[name] for name in statuses]
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=wanted)))


def run_counts(dagster_home: Path) -> dict[str, int]:
    """Runs of the demo's instance by status name."""
    with _instance(dagster_home) as instance:
        counts: dict[str, int] = {}
        for record in instance.get_run_records():
            name = record.dagster_run.status.value
            counts[name] = counts.get(name, 0) + 1
        return counts


def cancel_queued_runs(dagster_home: Path) -> int:
    """Cancel runs not launched yet, so the daemon starts no more while the demo stops."""
    with _instance(dagster_home) as instance:
        queued = _runs(instance, ("QUEUED", "NOT_STARTED"))
        for run in queued:
            instance.report_run_canceled(run, message="The live demo stopped before it started.")
        return len(queued)


def wait_for_runs(dagster_home: Path, timeout_s: float) -> None:
    """Give runs in progress up to `timeout_s` to finish (a short rebuild usually does)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with _instance(dagster_home) as instance:
            cancel_queued_runs(dagster_home)
            if not _runs(instance, ("STARTING", "STARTED", "CANCELING")):
                return
        time.sleep(0.5)


def cancel_unfinished_runs(dagster_home: Path) -> int:
    """Once `dagster dev` and its run workers are gone: record every run still marked
    unfinished as canceled (nothing is executing it any more)."""
    with _instance(dagster_home) as instance:
        left = _runs(instance, UNFINISHED)
        for run in left:
            instance.report_run_canceled(run, message="The live demo stopped during this run.")
        return len(left)
