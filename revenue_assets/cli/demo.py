"""`revenue-assets demo`: the whole product on a generated company, offline, no key needed.

Starts the Stripe sandbox on a generated SaaS company (kept in `<dir>/company.sqlite`), points
the settings at it, runs the full sync and every downstream asset through Dagster (the same
`run_sync` as `revenue-assets sync`, on the persistent instance in `<dir>/dagster_home`), and
ends with the dashboard's path and the commands that open the Dagster UI on the same warehouse.

A second run reuses the company file and the warehouse. When the company's clock lags the wall
clock by more than ten minutes it first catches up (renewals, churn and new customers happen in
between, like a live account): MRR is evaluated at the wall clock, so a company left behind
would show renewals due in between as churn. When nothing changed in the company since the last
sync (no event while catching up), the Stripe listing is skipped and only the downstream assets
are rebuilt; otherwise everything is synced again.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shlex
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
from rich.console import Console

from revenue_assets.catalog.months import month_key
from revenue_assets.cli.common import output_console
from revenue_assets.demo.company_life import write_clock_file

DEFAULT_DIR = Path("data/demo")
DEFAULT_PORT = 12111  # the port `revenue-assets sandbox serve` uses by default
# Catch the company up with the wall clock when it lags by more than this (see module doc).
CLOCK_TOLERANCE_S = 600
# The demo's own sync may go faster than Stripe's test-mode limits: the sandbox runs unlimited.
DEMO_RATE_LIMIT = "200"
DEMO_ENDPOINT_RATE_LIMIT = "off"
# Settings of a real account that must not leak into the demo (it reads the sandbox only).
FOREIGN_SETTINGS = (
    "STRIPE_ACCOUNT_ID",
    "STRIPE_RATE_LIMIT",
    "STRIPE_ENDPOINT_RATE_LIMIT",
    "STRIPE_WEBHOOK_SECRET",
    "REVENUE_ASSETS_TABLE_PREFIX",
)


@dataclass(frozen=True)
class DemoPaths:
    """Everything the demo keeps, in one directory (delete it to start over)."""

    root: Path

    @property
    def company(self) -> Path:
        return self.root / "company.sqlite"

    @property
    def warehouse(self) -> Path:
        return self.root / "revenue_assets.duckdb"

    @property
    def state(self) -> Path:
        return self.root / "revenue_assets_state.sqlite"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def persons(self) -> Path:
        return self.root / "persons.csv"

    @property
    def groups(self) -> Path:
        return self.root / "groups.csv"

    @property
    def marker(self) -> Path:
        """What the last successful sync covered (company and clock)."""
        return self.root / "last_sync.json"

    @property
    def clock(self) -> Path:
        """The company's clock (Unix seconds), which the revenue layer evaluates at."""
        return self.root / "company_clock"

    @property
    def log(self) -> Path:
        """Dagster's own run log of the last demo (the terminal shows progress only)."""
        return self.root / "dagster.log"


@click.command()
@click.option(
    "--dir",
    "directory",
    default=str(DEFAULT_DIR),
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the company, warehouse, state and Dagster history are kept.",
)
@click.option(
    "--customers",
    default=3000,
    show_default=True,
    type=click.IntRange(1),
    help="Customers of the generated company (when it is first generated).",
)
@click.option(
    "--months", default=24, show_default=True, type=click.IntRange(1), help="Months of history."
)
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the company.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Sandbox port (another free one if taken; 0: any).",
)
@click.option("--resync", is_flag=True, help="Re-list every Stripe table even if unchanged.")
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in a browser.")
@click.option(
    "--live",
    is_flag=True,
    help="Then keep the company living (changes every few seconds, webhooks to the receiver) "
    "under `dagster dev`, until Ctrl-C.",
)
@click.option(
    "--speed",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="With --live: simulated minutes per real second of the company's clock.",
)
@click.option(
    "--every",
    default=6.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="With --live: mean real seconds between two actions of the company's app.",
)
@click.option(
    "--ui-port",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="With --live: port of the Dagster UI (another free one if taken; 0: any).",
)
@click.option(
    "--webhook-port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="With --live: port of the webhook receiver (another free one if taken; 0: any).",
)
def demo(
    directory: str,
    customers: int,
    months: int,
    seed: int,
    port: int,
    resync: bool,
    open_browser: bool,
    live: bool,
    speed: float,
    every: float,
    ui_port: int,
    webhook_port: int,
) -> None:
    """Run the whole product offline on a generated company: sandbox, sync, revenue, dashboard.

    With --live, it then stays up: the company keeps changing on an accelerated clock, its
    webhooks reach the receiver, and `dagster dev` keeps the warehouse and the dashboard current
    by itself; Ctrl-C stops every process it started."""
    started = time.monotonic()
    out = Console(highlight=False, soft_wrap=True)
    paths = DemoPaths(Path(directory).resolve())
    paths.root.mkdir(parents=True, exist_ok=True)

    from revenue_assets.sandbox.world import CompanySpec

    spec = CompanySpec(seed=seed, customers=customers, months=months)
    sandbox, unchanged_since = start_sandbox(paths, spec, port, out)
    try:
        first_month = company_first_month(paths.company)
        env = demo_environment(paths, sandbox, first_month)
        write_clock_file(paths.clock, sandbox.world.now)
        quiet_instance(paths.dagster_home)
        for name in FOREIGN_SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(
            env,
            STRIPE_RATE_LIMIT=DEMO_RATE_LIMIT,
            STRIPE_ENDPOINT_RATE_LIMIT=DEMO_ENDPOINT_RATE_LIMIT,
        )
        write_people_files(sandbox.world, paths)
        account, clock = sandbox.world.account_id, sandbox.world.now
        synced = not resync and already_synced(paths, account, unchanged_since)
        with dagster_output_to(paths.log) as console:
            if synced:
                console.print(
                    "Nothing changed in the company since the last sync: Stripe listing skipped "
                    "(--resync re-lists). Rebuilding the downstream assets…"
                )
                ok = rebuild_downstream(console)
            else:
                ok = full_sync(console)
        if ok:
            write_marker(paths, account, clock, sandbox.world.spec)
        elapsed = time.monotonic() - started
        if not ok:
            out.print(f"[red]The demo failed[/] after {elapsed:,.0f} s; Dagster's log: {paths.log}")
            sys.exit(1)
        dashboard = dashboard_summary(out)
        if dashboard is None:
            out.print(f"[red]No dashboard was materialized[/]; Dagster's log: {paths.log}")
            sys.exit(1)
        if open_browser:
            import webbrowser

            webbrowser.open(Path(dashboard).as_uri())
        if live:
            from revenue_assets.demo.live import LiveDemo

            out.print(f"Synced and built in {elapsed:,.1f} s.")
            LiveDemo(
                paths,
                sandbox,
                speed=speed,
                every=every,
                ui_port=ui_port,
                webhook_port=webhook_port,
                out=out,
                seed=seed,
            ).run()
            return
    finally:
        sandbox.close()
    print_instructions(out, paths, env, dashboard, port=sandbox.port, elapsed=elapsed)


def start_sandbox(paths: DemoPaths, spec: Any, port: int, out: Console) -> tuple[Any, int]:
    """Open the company (generate it the first time), catch its clock up, serve it. Also
    returns the clock since which nothing changed in the company (the clock before catching up
    when that produced no event)."""
    from revenue_assets.sandbox.runner import Sandbox, open_world

    reopened = paths.company.is_file() and paths.company.stat().st_size > 0
    began = time.monotonic()
    if not reopened:
        out.print(
            f"Generating a company of {spec.customers:,} customers over {spec.months} months "
            f"into {paths.company} …"
        )
    world = open_world(spec, paths.company)
    unchanged_since = world.now
    if reopened:
        kept = world.spec
        out.print(
            f"Reusing the company in {paths.company} ({kept.customers:,} customers, "
            f"{kept.months} months, seed {kept.seed})."
        )
        if (kept.customers, kept.months, kept.seed) != (spec.customers, spec.months, spec.seed):
            out.print(
                "  (it differs from the options given; delete the directory or use --dir "
                "for another company)"
            )
        lag = int(time.time()) - world.now
        if lag > CLOCK_TOLERANCE_S:
            events = world.advance(lag)
            if events:
                unchanged_since = world.now
            out.print(
                f"  Its clock caught up {_duration(lag)} with the wall clock: "
                f"{len(events):,} new events (renewals, upgrades, churn, new customers)."
            )
    else:
        out.print(f"  generated in {time.monotonic() - began:,.1f} s")
    try:
        sandbox = Sandbox.start(world, port=port, owns_world=True)
    except OSError:
        sandbox = Sandbox.start(world, port=0, owns_world=True)
        out.print(f"  port {port} is taken: the sandbox listens on {sandbox.port} instead")
    out.print(f"Stripe sandbox for {world.account_id} on {sandbox.base_url}")
    return sandbox, unchanged_since


def _duration(seconds: int) -> str:
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:,.0f} days"
    if seconds >= 2 * 3_600:
        return f"{seconds / 3_600:,.0f} hours"
    return f"{seconds / 60:,.0f} minutes"


def company_first_month(company: Path) -> str:
    """The first day of the month of the company's oldest object: REVENUE_ASSETS_SYNC_START
    (earlier partitions would only be empty rows in the UI). The account object itself is not
    synced: it does not count."""
    connection = sqlite3.connect(f"file:{company}?mode=ro", uri=True)
    try:
        oldest = connection.execute(
            "SELECT min(created) FROM objects WHERE created > 0 AND kind <> 'account'"
        ).fetchone()
    finally:
        connection.close()
    return month_key(datetime.fromtimestamp(oldest[0] or time.time(), UTC))


def demo_environment(paths: DemoPaths, sandbox: Any, first_month: str) -> dict[str, str]:
    """The settings that point revenue_assets at the demo (also printed for `dagster dev`).
    The revenue layer evaluates at the company's clock, which `--live` runs ahead of the wall
    clock."""
    return {
        "DAGSTER_HOME": str(paths.dagster_home),
        "STRIPE_API_KEY": sandbox.secret_key,
        "STRIPE_API_BASE": sandbox.base_url,
        "REVENUE_ASSETS_DUCKDB": str(paths.warehouse),
        "REVENUE_ASSETS_STATE": str(paths.state),
        "REVENUE_ASSETS_SYNC_START": first_month,
        "REVENUE_ASSETS_PERSONS": str(paths.persons),
        "REVENUE_ASSETS_GROUPS": str(paths.groups),
        "REVENUE_ASSETS_CLOCK_FILE": str(paths.clock),
    }


def quiet_instance(dagster_home: Path) -> None:
    """The demo's Dagster instance sends no telemetry: the demo stays offline."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.is_file() or not config.read_text().strip():
        config.write_text("telemetry:\n  enabled: false\n")


def write_people_files(world: Any, paths: DemoPaths) -> None:
    """The product-analytics side of the demo: the persons behind the account's customers and
    their groups, as the CSV files `customer_link` matches against."""
    persons = [p for p in world.persons() if p["account"] == world.account_id]
    with paths.persons.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["distinct_id", "email", "name"])
        writer.writerows([p["distinct_id"], p["email"], p["name"]] for p in persons)
    groups = sorted({p["group_key"] for p in persons if p.get("group_key")})
    with paths.groups.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["group_key"])
        writer.writerows([key] for key in groups)


def already_synced(paths: DemoPaths, account_id: str, clock: int) -> bool:
    """True when the last sync saw this company at `clock` or later and nothing changed since
    (nothing to list)."""
    if not (paths.marker.is_file() and paths.warehouse.is_file()):
        return False
    try:
        marker = json.loads(paths.marker.read_text())
    except ValueError:
        return False
    synced_clock = marker.get("company_clock")
    return (
        marker.get("account_id") == account_id
        and isinstance(synced_clock, int)
        and synced_clock >= clock
    )


def write_marker(paths: DemoPaths, account_id: str, clock: int, spec: Any) -> None:
    marker = {
        "account_id": account_id,
        "company_clock": clock,
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": {k: v for k, v in asdict(spec).items() if k in ("seed", "customers", "months")},
    }
    paths.marker.write_text(json.dumps(marker, indent=2) + "\n")


@contextlib.contextmanager
def dagster_output_to(log: Path) -> Iterator[Console]:
    """Dagster's event log lines (and its first-run banner) go to `log`; the yielded console
    writes progress to the terminal."""
    terminal: TextIO = sys.stdout
    with log.open("w") as file, contextlib.redirect_stdout(file), contextlib.redirect_stderr(file):
        yield output_console(file=terminal, highlight=False)


def full_sync(console: Console) -> bool:
    """Every Stripe table over every partition with data, then every downstream asset."""
    from revenue_assets.catalog.tables import TABLES
    from revenue_assets.cli.sync import run_sync
    from revenue_assets.settings import Settings

    return run_sync(Settings.from_env(), list(TABLES), downstream=True, console=console)


def rebuild_downstream(console: Console) -> bool:
    """Every asset downstream of the Stripe tables (revenue layer, dashboard) in one run."""
    import dagster as dg

    from revenue_assets.cli.common import dagster_instance
    from revenue_assets.definitions import defs

    selection = dg.AssetSelection.key_prefixes(["stripe"]).downstream(include_self=False)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        instance=dagster_instance(),
        resources=defs.resources,
        selection=selection,
        tags={"trigger": "revenue_assets_demo"},
        raise_on_error=False,
    )
    built = len(result.get_asset_materialization_events())
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    console.print(
        f"Downstream: {built} asset(s) materialized"
        + (f", [red]checks failed: {', '.join(failed)}[/]" if failed else ", checks passed")
    )
    return result.success and not failed


def dashboard_summary(out: Console) -> str | None:
    """The dashboard's path and headline, from its latest materialization in the instance."""
    from revenue_assets.cli.common import dagster_instance
    from revenue_assets.dashboard.formatting import money
    from revenue_assets.defs.dashboard.assets import KEY

    event = dagster_instance().get_latest_materialization_event(KEY)
    if event is None or event.asset_materialization is None:
        return None
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    currency = str(metadata.get("base_currency", "USD"))
    out.print(
        f"\nLatest month {metadata.get('latest_month')}: "
        f"MRR {money(_number(metadata.get('mrr')), currency)} · "
        f"ARR {money(_number(metadata.get('arr')), currency)} · "
        f"net revenue {money(_number(metadata.get('net_revenue')), currency)} · "
        f"{metadata.get('customers', 0):,} paying customers"
    )
    return str(metadata["path"])


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) else None


def print_instructions(
    out: Console,
    paths: DemoPaths,
    env: dict[str, str],
    dashboard: str,
    *,
    port: int,
    elapsed: float,
) -> None:
    """Where the dashboard is and how to look at the same warehouse in the Dagster UI."""
    workspace = (
        "-w workspace.yaml" if Path("workspace.yaml").is_file() else "-m revenue_assets.definitions"
    )
    assignments = " \\\n".join(f"  {name}={shlex.quote(value)}" for name, value in env.items())
    out.print(
        f"\n[bold]Dashboard[/]: {dashboard}\n  open {Path(dashboard).as_uri()}"
        "  (rebuild it any time: `revenue-assets dashboard --open` with the settings below)\n"
        f"\n[bold]Dagster UI[/] on the same warehouse and run history (then http://127.0.0.1:3000):\n"
        f"{assignments} \\\n  dagster dev {workspace}\n"
        "\nThe sandbox has stopped. For the UI's sensors to reach it, serve the same company in "
        f"another terminal:\n  revenue-assets sandbox serve --data {shlex.quote(str(paths.company))} "
        f"--port {port}\n"
        f"\nDemo finished in {elapsed:,.1f} s (everything is in {paths.root}; delete it to start "
        "over).",
        soft_wrap=True,
    )
