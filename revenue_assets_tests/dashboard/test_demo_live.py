"""`revenue-assets demo --live` as a user runs it, on a tiny company: the command starts the
sandbox, the receiver and `dagster dev`; the company changes on its own; the raw tables, the
revenue layer and the dashboard follow under the real daemon; Ctrl-C (SIGINT) leaves no process,
no unfinished run and no held lock behind; a second start reuses the company."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from filelock import FileLock

from revenue_assets.dashboard.build import stamp_path
from revenue_assets.demo.processes import descendants
from revenue_assets.warehouse.connection import lock_path, warehouse_connection
from revenue_assets_tests.dashboard.browser import asset_graph_screenshot, chromium

pytestmark = pytest.mark.long

REPO = Path(__file__).resolve().parents[2]
COMPANY = ("--customers", "40", "--months", "2", "--seed", "11")
FOLLOW_TIMEOUT_S = 240
STOP_TIMEOUT_S = 120
UNFINISHED = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


class LiveRun:
    """One `demo --live` process, its output read as it comes."""

    def __init__(self, directory: Path, log: Path) -> None:
        self.directory = directory
        self.log = log
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("STRIPE_", "REVENUE_ASSETS_", "DAGSTER_"))
        }
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "revenue_assets.cli", "demo", "--dir", str(directory)]
        options = ["--port", "0", "--ui-port", "0", "--webhook-port", "0"]
        options += ["--speed", "120", "--every", "8"]
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [*command, *COMPANY, *options, "--live"],
                cwd=REPO,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output(), flags=re.MULTILINE)
            if found:
                return found
            assert self.process.poll() is None, f"demo exited:\n{self.output()[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {pattern!r} within {timeout_s} s:\n{self.output()[-4000:]}")

    def session(self) -> dict[str, Any]:
        return json.loads((self.directory / "live.json").read_text())

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # what it printed since Ctrl-C says where it hangs
            raise AssertionError(
                f"the demo still runs {STOP_TIMEOUT_S} s after Ctrl-C:\n{self.output()[-4000:]}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            for pid in descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()


def eventually(check: Callable[[], Any], what: str, timeout_s: float = FOLLOW_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def count(database: Path, sql: str, *params: Any) -> int:
    with warehouse_connection(database, timeout_s=60) as connection:
        return connection.execute(sql, list(params)).fetchone()[0]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_nothing_left(run: LiveRun, pids: set[int], session: dict[str, Any]) -> None:
    """No process, no unfinished run, no held lock, no listening port of the session."""
    assert not [pid for pid in pids if alive(pid)], run.output()[-3000:]
    home = run.directory / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = [record.dagster_run.status for record in instance.get_run_records()]
    assert statuses and not UNFINISHED & set(statuses)
    assert dg.DagsterRunStatus.FAILURE not in statuses
    with FileLock(str(lock_path(run.directory / "revenue_assets.duckdb")), timeout=0):
        pass  # nobody holds the warehouse
    for url in (session["ui_url"], session["receiver_url"], session["sandbox_url"]):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)


@pytest.mark.timeout(900)
def test_demo_live_follows_the_company_and_stops_cleanly(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    run = LiveRun(directory, tmp_path / "first.log")
    try:
        run.wait_for(r"^Live\.", timeout_s=420)
        session = run.session()
        ui = session["ui_url"]
        pids = set(descendants(run.process.pid))
        assert set(session["children"]) <= pids and len(pids) >= 4  # dagster dev has children

        # The UI serves the asset graph.
        graph = httpx.post(
            f"{ui}/graphql", json={"query": "{ assetNodes { assetKey { path } } }"}, timeout=30
        ).json()
        keys = {"/".join(node["assetKey"]["path"]) for node in graph["data"]["assetNodes"]}
        assert {"stripe/customer", "revenue_analytics/revenue_metrics", "revenue_dashboard"} <= keys

        # ... and draws it in a browser (the README's screenshot: SAVE_SCREENSHOTS=1 keeps it)
        shot = tmp_path / "asset_graph.png"
        wanted = {"revenue_metrics", "revenue_dashboard", "invoice_line_item"}
        with chromium() as browser:
            drawn = asset_graph_screenshot(browser, ui, shot, wanted)
        assert wanted <= set(drawn)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("SAVE_SCREENSHOTS"):
            shutil.copyfile(shot, REPO / "docs" / "asset_graph.png")

        # The company changes by itself: a signup, whose customer reaches the raw table, then
        # the revenue layer; the dashboard is rebuilt after the raw row arrived.
        database = directory / "revenue_assets.duckdb"
        stamp = stamp_path(directory / "revenue_dashboard.html")
        customer = run.wait_for(r"signup: (cus_\w+)", timeout_s=120).group(1)
        eventually(
            lambda: count(database, "SELECT count(*) FROM stripe.customer WHERE id = ?", customer),
            f"{customer} in stripe.customer",
        )
        raw_seen = stamp.read_text()
        eventually(
            lambda: count(
                database, "SELECT count(*) FROM revenue_analytics.customer WHERE id = ?", customer
            ),
            f"{customer} in revenue_analytics.customer",
        )
        eventually(lambda: stamp.read_text() != raw_seen, "the dashboard rebuilt")
        clock = int((directory / "company_clock").read_text())
        assert clock > time.time() + 3600  # the company's clock runs ahead: 2 hours a minute

        pids |= set(descendants(run.process.pid))
        assert run.interrupt() == 0, run.output()[-3000:]
        assert ": no process of the demo is left running." in run.output()
        assert_nothing_left(run, pids, session)
    finally:
        run.kill()

    # A second start reuses the company (and its clock, ahead of the wall clock) and stops
    # as cleanly.
    again = LiveRun(directory, tmp_path / "second.log")
    try:
        again.wait_for(r"^Live\.", timeout_s=420)
        assert "Reusing the company" in again.output() and "Generating" not in again.output()
        assert int((directory / "company_clock").read_text()) >= clock
        session = again.session()
        pids = set(descendants(again.process.pid))
        assert again.interrupt() == 0, again.output()[-3000:]
        assert_nothing_left(again, pids, session)
    finally:
        again.kill()
