"""`revenue-assets demo` end to end, as a newcomer runs it (a smaller company, to stay quick):
offline, no key, a dashboard at the end, the Dagster UI instructions; a second run reuses."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb

REPO = Path(__file__).resolve().parents[2]
COMPANY = ("--customers", "150", "--months", "4", "--seed", "3")


def run_demo(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # No Stripe key, no settings of a real account: the demo needs none and must ignore them.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "REVENUE_ASSETS_", "DAGSTER_"))
    }
    env["STRIPE_ACCOUNT_ID"] = "acct_1RealAccount"  # would misroute every request if kept
    command = [sys.executable, "-m", "revenue_assets.cli", "demo", "--dir", str(directory)]
    return subprocess.run(
        [*command, *COMPANY, "--port", "0", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def printed_settings(stdout: str) -> dict[str, str]:
    """The `NAME=value \\` lines printed for `dagster dev`."""
    return dict(re.findall(r"^\s+([A-Z_]+)=(\S+) \\$", stdout, flags=re.MULTILINE))


def test_demo_runs_everything_offline_and_a_second_run_reuses_it(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    first = run_demo(directory)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    assert "Generating a company of 150 customers over 4 months" in out

    dashboard = directory / "revenue_dashboard.html"
    assert f"Dashboard: {dashboard}" in out
    assert dashboard.is_file() and "plotly.js v" in dashboard.read_text()[:200_000]

    # The Dagster UI instructions: every setting, ready to paste, on the demo's own files.
    settings = printed_settings(out)
    assert settings["DAGSTER_HOME"] == str(directory / "dagster_home")
    assert settings["REVENUE_ASSETS_DUCKDB"] == str(directory / "revenue_assets.duckdb")
    assert settings["REVENUE_ASSETS_STATE"] == str(directory / "revenue_assets_state.sqlite")
    assert settings["STRIPE_API_KEY"].startswith("sk_test_")
    assert settings["STRIPE_API_BASE"].startswith("http://127.0.0.1:")
    assert re.fullmatch(r"\d{4}-\d{2}-01", settings["REVENUE_ASSETS_SYNC_START"])
    assert "dagster dev -w workspace.yaml" in out
    assert f"revenue-assets sandbox serve --data {directory / 'company.sqlite'}" in out
    assert re.search(r"Demo finished in [\d.]+ s", out)

    # Dagster's log went to a file, not the terminal; the runs are in the instance, succeeded.
    assert " - dagster - " not in out
    assert (directory / "dagster.log").exists()
    with dg.DagsterInstance.from_config(str(directory / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert runs and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
        # the Stripe tables and everything downstream, down to the dashboard
        assert instance.get_latest_materialization_event(dg.AssetKey(["revenue_dashboard"]))
        assert instance.get_latest_materialization_event(dg.AssetKey(["stripe", "charge"]))

    # The warehouse holds the company, with customers linked to the persons file.
    connection = duckdb.connect(str(directory / "revenue_assets.duckdb"), read_only=True)
    try:
        customers = connection.execute("SELECT count(*) FROM stripe.customer").fetchone()[0]
        linked = connection.execute(
            "SELECT count(*) FROM revenue_analytics.customer_link WHERE person_found"
        ).fetchone()[0]
        mrr = connection.execute(
            "SELECT mrr FROM revenue_analytics.revenue_metrics ORDER BY month DESC LIMIT 1"
        ).fetchone()[0]
    finally:
        connection.close()
    assert customers >= 140 and linked >= 140 and mrr > 0
    marker = json.loads((directory / "last_sync.json").read_text())
    assert marker["spec"] == {"seed": 3, "customers": 150, "months": 4}

    second = run_demo(directory)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Reusing the company" in second.stdout
    assert "Generating" not in second.stdout
    assert "Stripe listing skipped" in second.stdout
    assert printed_settings(second.stdout)["STRIPE_API_KEY"] == settings["STRIPE_API_KEY"]
    assert dashboard.is_file()


def company_at(path: Path, seconds_ago: int, customers: int, connected_accounts: int = 1) -> int:
    """A company file whose clock was left `seconds_ago`; returns that clock."""
    from revenue_assets.sandbox.world import CompanySpec, World

    clock = int(time.time()) - seconds_ago
    spec = CompanySpec(
        seed=5, customers=customers, months=2, now=clock, connected_accounts=connected_accounts
    )
    World.generate(spec, path=path).close()
    return clock


def test_a_company_left_behind_catches_up_and_is_resynced_only_if_it_changed(
    tmp_path: Path,
) -> None:
    from rich.console import Console

    from revenue_assets.cli.demo import DemoPaths, already_synced, start_sandbox, write_marker
    from revenue_assets.sandbox.world import CompanySpec

    quiet = Console(file=io.StringIO())
    spec = CompanySpec(seed=5, customers=0, months=2, connected_accounts=0)

    # An empty company an hour behind: it catches up without any event, nothing to re-list.
    idle = DemoPaths(tmp_path / "idle")
    idle.root.mkdir()
    # No connected account either: its customers' balance is paid out at midnight UTC, an
    # event whenever the test runs in the first hour of a day.
    clock = company_at(idle.company, 3600, customers=0, connected_accounts=0)
    idle.warehouse.write_bytes(b"")
    sandbox, unchanged_since = start_sandbox(idle, spec, 0, quiet)
    try:
        assert sandbox.world.now >= clock + 3600
        account = sandbox.world.account_id
    finally:
        sandbox.close()
    assert unchanged_since == clock
    write_marker(idle, account, clock, spec)
    assert already_synced(idle, account, unchanged_since)

    # A busy company forty days behind: renewals and churn happened, everything is re-listed.
    busy = DemoPaths(tmp_path / "busy")
    busy.root.mkdir()
    clock = company_at(busy.company, 40 * 86_400, customers=60)
    busy.warehouse.write_bytes(b"")
    sandbox, unchanged_since = start_sandbox(busy, spec, 0, quiet)
    try:
        account = sandbox.world.account_id
        assert unchanged_since == sandbox.world.now > clock
    finally:
        sandbox.close()
    write_marker(busy, account, clock, spec)
    assert not already_synced(busy, account, unchanged_since)
    assert "caught up 40 days" in quiet.file.getvalue()
