"""The product as a user runs it, as child processes on one small sandbox company: the Stripe
sandbox (`revenue-assets sandbox serve`), `revenue-assets sync`, `revenue-assets webhooks
register`, the receiver (`webhooks serve`) and `dagster dev -w workspace.yaml` (webserver,
daemon and code server, default settings), on free ports, in one temporary directory with its
own DAGSTER_HOME.

Processes are started and stopped by the product's own `ChildProcess` (the one `demo --live`
uses): each in a process group of its own, stopped with everything it spawned, its output in
a log file that a failing test quotes.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe

from revenue_assets.demo.live import (
    RECEIVER_PATH,
    STARTUP_TIMEOUT_S,
    free_port,
    start_dagster_dev,
    wait_for_receiver,
    wait_until,
)
from revenue_assets.demo.processes import ChildProcess
from revenue_assets_tests.helpers import REPO, clean_env


@dataclass
class Stack:
    """The running product on a sandbox company; `close()` stops every process it started."""

    directory: Path
    company: tuple[str, ...] = ("--customers", "40", "--months", "2", "--seed", "7")
    children: list[ChildProcess] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)
    ui_url: str = ""

    @property
    def dagster_home(self) -> Path:
        return self.directory / "dagster_home"

    @property
    def database(self) -> Path:
        return self.directory / "revenue_assets.duckdb"

    @property
    def state(self) -> Path:
        return self.directory / "revenue_assets_state.sqlite"

    def env(self) -> dict[str, str]:
        """What a user exports: key, API base, warehouse, state file, DAGSTER_HOME."""
        return clean_env(
            STRIPE_API_KEY=self.sandbox["secret_key"],
            STRIPE_API_BASE=self.sandbox["base_url"],
            REVENUE_ASSETS_DUCKDB=str(self.database),
            REVENUE_ASSETS_STATE=str(self.state),
            DAGSTER_HOME=str(self.dagster_home),
            PYTHONUNBUFFERED="1",
        )

    def stripe_client(self) -> stripe.StripeClient:
        """The official SDK on the sandbox, as the company's own app would use it."""
        return stripe.StripeClient(
            self.sandbox["secret_key"], base_addresses={"api": self.sandbox["base_url"]}
        )

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> ChildProcess:
        """`revenue-assets ARGS` as a child process of the stack."""
        log = self.directory / f"{name}.log"
        command = [sys.executable, "-m", "revenue_assets.cli", *args]
        child = ChildProcess.start(name, command, env=env or self.env(), log=log, cwd=REPO)
        self.children.append(child)
        return child

    def run(self, name: str, *args: str, timeout_s: float = 300) -> str:
        """`revenue-assets ARGS` to completion; its output, or the test fails with it."""
        child = self.start(name, *args)
        code = child.process.wait(timeout=timeout_s)
        self.children.remove(child)
        output = child.log.read_text()
        assert code == 0, f"revenue-assets {' '.join(args)} exited {code}:\n{output[-4000:]}"
        return output

    def start_sandbox(self) -> None:
        data = str(self.directory / "company.sqlite")
        args = ("sandbox", "serve", "--port", "0", "--json", "--data", data, *self.company)
        child = self.start("sandbox", *args, env=clean_env(PYTHONUNBUFFERED="1"))
        wait_until(lambda: first_json_line(child.log), "the sandbox", child, STARTUP_TIMEOUT_S)
        self.sandbox = first_json_line(child.log) or {}

    def start_receiver(self) -> None:
        """Register the endpoint (which stores its signing secret), then serve it."""
        port = free_port(0)
        url = f"http://127.0.0.1:{port}{RECEIVER_PATH}"
        self.run("register", "webhooks", "register", "--url", url)
        child = self.start("receiver", "webhooks", "serve", "--port", str(port), "--json")
        wait_for_receiver(port, child)

    def start_dagster(self) -> None:
        """`dagster dev -w workspace.yaml` on a free port; returns once the UI answers."""
        child, self.ui_url = start_dagster_dev(
            ["-w", "workspace.yaml"],
            port=free_port(0),
            env=self.env(),
            log=self.directory / "dagster_dev.log",
            cwd=REPO,
        )
        self.children.append(child)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = httpx.post(
            f"{self.ui_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
            trust_env=False,
        )
        reply.raise_for_status()
        body = reply.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def logs(self) -> str:
        """The end of every child's log, for a failure message."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.directory.glob("*.log"))
        )

    def close(self) -> None:
        while self.children:
            self.children.pop().stop()

    def __enter__(self) -> Stack:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dagster_home.mkdir(exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_json_line(log: Path) -> dict[str, Any] | None:
    """The first line of a log that is a JSON object (the `--json` start-up line)."""
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return None


def poll(check: Any, timeout_s: float, interval_s: float = 1.0) -> Any:
    """`check()`'s first truthy value within `timeout_s`, else its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)
