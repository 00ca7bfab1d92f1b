"""Benchmark: freshness under sustained change, under `dagster dev` (the daemon, default settings).

For each warehouse size, raw Stripe tables of N invoice lines are generated directly in DuckDB
(`bench/revenue_raw.sql`, as `bench/revenue.py` does), a small sandbox company is synced into
the same warehouse, and then, as a user runs it: the sandbox (Stripe, its own process), our
webhook receiver (`revenue-assets webhooks serve`) and `dagster dev -w workspace.yaml`. Once the
daemon has built the revenue layer and the dashboard, one change a second goes to Stripe for
`--minutes` (alternately a customer update and a new one-off charge; the sandbox's clock keeps
up with the wall clock), and the script measures, per change:

- raw: from the API call's return to the change's row in its raw table (polled every second
  under the warehouse lock, as every reader does: an upper bound by up to a second);
- revenue / dashboard: to the end of the first `revenue_metrics` / `revenue_dashboard`
  materialization whose run started after the raw row was seen (a run reads the raw tables as
  they are when it starts; attributing by the observed time may skip one rebuild that started
  in between: an upper bound too).

It also samples the runs queued or in progress every 10 s (the backlog must stay bounded) and
sums the CPU time of `dagster dev` and every process below it (webserver, daemon, code server
and the run workers it reaps) over the stream. Changes still unreached after a drain period
count as missing. Prints the machine's load average beside the figures.

    .venv/bin/python bench/live.py                         # 250k and 1M lines, 10 minutes
    .venv/bin/python bench/live.py --lines 250000 --minutes 2
    .venv/bin/python bench/live.py --baseline   # each size with Dagster's run launcher first
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UNFINISHED = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


@dataclass
class Change:
    n: int
    table: str
    object_id: str
    marker: str | None
    sent_at: float  # wall clock, when the API call returned
    raw_at: float | None = None
    revenue_at: float | None = None
    dashboard_at: float | None = None


@dataclass
class Backlog:
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, queued, running)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


# The instance as the CLI sets it up, and the same before its fork-server run launcher.
CLI_SETUP = "the CLI's instance"
BASELINE_SETUP = "Dagster's run launcher"


def process_cpu(pid: int) -> float:
    """utime + stime + the children it reaped (cutime + cstime), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds of `root` and every live process below it, by role."""
    from revenue_assets.demo.processes import descendants

    roles: dict[str, float] = {}
    for pid in [root, *descendants(root)]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cpu = process_cpu(pid)
        except OSError:
            continue
        if "dagster._daemon" in command or "dagster-daemon" in command:
            role = "daemon"
        elif "webserver" in command:
            role = "webserver"
        elif "api grpc" in command or "code-server" in command:
            role = "code server + runs it reaped"
        elif "forkserver" in command:  # its forked run workers share its command line
            role = "fork server + runs (live and reaped)"
        elif "execute_run" in command or "api execute" in command:
            role = "run workers (live)"
        elif pid == root:
            role = "dagster dev"
        else:
            role = "other"
        roles[role] = roles.get(role, 0.0) + cpu
    return roles


def materializations(instance, key) -> list[tuple[float, float]]:
    """(run start, materialization time) of every materialization of `key`."""
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey(key), limit=10_000).records
    starts: dict[str, float] = {}
    found = []
    for record in records:
        run_id = record.run_id
        if run_id not in starts:
            run = instance.get_run_record_by_id(run_id)
            starts[run_id] = (run.start_time or run.create_timestamp.timestamp()) if run else 0.0
        found.append((starts[run_id], record.timestamp))
    return sorted(found)


def first_after(materialized: list[tuple[float, float]], seen: float) -> float | None:
    done = [at for started, at in materialized if started > seen]
    return min(done) if done else None


def run_kind(tags: dict[str, str]) -> str:
    """What requested a run: a Stripe sensor (by table), the automation, or something else."""
    if "stripe_table" in tags:
        return f"stripe {tags.get('trigger', '?')} {tags['stripe_table']}"
    if tags.get("dagster/from_automation_condition") or "automation" in tags.get(
        "dagster/sensor_name", ""
    ):
        return "automation"
    return tags.get("dagster/sensor_name") or "other"


def run_profile(instance, since: float) -> list[dict]:
    """Where each run created after `since` spent its time, from the instance's event log:
    queued (created -> dequeued, when the queue hands it to the launcher: PIPELINE_STARTING),
    launch (dequeued -> RUN_START: a fresh process importing the definitions), steps (each step's start -> end), finish (last step -> run end)."""
    import dagster as dg

    found = []
    for record in instance.get_run_records(dg.RunsFilter(created_after=_utc(since))):
        run = record.dagster_run
        times: dict[str, float] = {}
        steps: dict[str, list[float]] = {}
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            if kind in (
                "PIPELINE_STARTING",
                "PIPELINE_START",
                "PIPELINE_SUCCESS",
                "PIPELINE_FAILURE",
            ):
                times.setdefault(kind, entry.timestamp)
            elif kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE") and event.step_key:
                steps.setdefault(event.step_key, []).append(entry.timestamp)
        created = record.create_timestamp.timestamp()
        dequeued = times.get("PIPELINE_STARTING", created)
        started = times.get("PIPELINE_START")
        ended = times.get("PIPELINE_SUCCESS") or times.get("PIPELINE_FAILURE")
        step_s = {key: max(ts) - min(ts) for key, ts in steps.items()}
        last_step = max((max(ts) for ts in steps.values()), default=started)
        found.append(
            {
                "kind": run_kind(run.tags),
                "status": run.status.value,
                "created": created,
                "queued": dequeued - created,
                "launch": (started - dequeued) if started else None,
                "steps": step_s,
                "step_total": sum(step_s.values()),
                "finish": (ended - last_step) if ended and last_step else None,
                "total": (ended - created) if ended else None,
            }
        )
    return found


def _utc(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


def print_profile(profile: list[dict]) -> None:
    """Per kind of run: how many, and the median of each phase."""
    by_kind: dict[str, list[dict]] = {}
    for run in profile:
        by_kind.setdefault(run["kind"], []).append(run)

    def med(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{statistics.median(known):5.1f}" if known else "    -"

    print("  runs created during the stream, median seconds per phase:")
    print(
        f"    {'kind':<34} {'runs':>4} {'queued':>6} {'launch':>6} {'steps':>6} {'finish':>6} {'total':>6}"
    )
    for kind, runs in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        print(
            f"    {kind:<34} {len(runs):>4} {med([r['queued'] for r in runs])} "
            f"{med([r['launch'] for r in runs])} {med([r['step_total'] for r in runs])} "
            f"{med([r['finish'] for r in runs])} {med([r['total'] for r in runs])}"
        )
    automation = [r for r in profile if r["kind"] == "automation"]
    slowest: dict[str, float] = {}
    for run in automation:
        for step, seconds in run["steps"].items():
            slowest.setdefault(step, 0.0)
            slowest[step] += seconds / len(automation)
    if slowest:
        top = sorted(slowest.items(), key=lambda item: -item[1])[:8]
        print(
            "    automation runs' slowest steps (mean s): "
            + ", ".join(f"{step} {seconds:.1f}" for step, seconds in top)
        )


def run_size(args: argparse.Namespace, lines: int, setup: str) -> dict:
    import dagster as dg
    import stripe

    from bench.revenue import generate
    from bench.sync import company_span, months_of
    from revenue_assets.catalog.tables import TABLES
    from revenue_assets.demo.live import free_port, start_dagster_dev, wait_for_receiver
    from revenue_assets.demo.processes import ChildProcess
    from revenue_assets.ingest.sync import SyncTarget, month_partitions, sync_tables
    from revenue_assets.instance.config import ensure_instance_config
    from revenue_assets.sandbox.runner import SandboxProcess
    from revenue_assets.sandbox.world import CompanySpec
    from revenue_assets.stripe_api.client import StripeAccess
    from revenue_assets.warehouse.connection import warehouse_connection

    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    if not args.keep:
        atexit.register(shutil.rmtree, work, True)
    database, state, home = work / "w.duckdb", work / "state.sqlite", work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # the instance as the CLI sets it up for `dagster dev`; the baseline chooses Dagster's own
    # run launcher first, which the CLI's setup then leaves as it is
    if setup == BASELINE_SETUP:
        with (home / "dagster.yaml").open("a") as config:
            config.write("run_launcher:\n  module: dagster\n  class: DefaultRunLauncher\n")
    ensure_instance_config(home)
    print(f"\n== {lines:,} invoice lines, {setup} (files in {work}) ==", flush=True)
    generated = generate(database, lines)
    print(f"raw tables generated in {generated:.0f} s", flush=True)

    spec = CompanySpec(seed=13, customers=args.customers, months=2)
    sandbox = SandboxProcess.spawn(spec, data=work / "company.sqlite", rate_limit="off")
    children: list[ChildProcess] = []
    try:
        access = StripeAccess(sandbox.secret_key, api_base=sandbox.base_url, rate_limit=100.0)
        keys = months_of(*company_span(work / "company.sqlite", sandbox.account_id))
        sync_tables(access, SyncTarget(database), list(TABLES), month_partitions(keys))
        with warehouse_connection(database) as connection:
            customers = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM stripe.customer WHERE id NOT LIKE 'cus_00%' AND NOT _deleted "
                    "LIMIT 200"
                ).fetchall()
            ]
        client = stripe.StripeClient(
            sandbox.secret_key, base_addresses={"api": sandbox.base_url}, max_network_retries=2
        )
        port = free_port(0)
        endpoint = client.v1.webhook_endpoints.create(
            {"url": f"http://127.0.0.1:{port}/stripe/webhooks", "enabled_events": ["*"]}
        )
        env = {
            **os.environ,
            "STRIPE_API_KEY": sandbox.secret_key,
            "STRIPE_API_BASE": sandbox.base_url,
            "STRIPE_WEBHOOK_SECRET": endpoint.secret,
            "REVENUE_ASSETS_DUCKDB": str(database),
            "REVENUE_ASSETS_STATE": str(state),
            "REVENUE_ASSETS_SYNC_START": keys[0],
            "DAGSTER_HOME": str(home),
        }
        children.append(
            ChildProcess.start(
                "receiver",
                [
                    sys.executable,
                    "-m",
                    "revenue_assets.cli",
                    "webhooks",
                    "serve",
                    "--port",
                    str(port),
                ],
                env=env,
                log=work / "receiver.log",
                cwd=REPO,
            )
        )
        wait_for_receiver(port, children[-1])
        # The instance is opened only once the UI answers: dagster dev creates (migrates) the
        # fresh instance's SQLite storage as it starts, and a second process doing it at the
        # same moment makes both fail.
        dagster, _ = start_dagster_dev(
            ["-w", "workspace.yaml"],
            port=free_port(0),
            env=env,
            log=work / "dagster_dev.log",
            cwd=REPO,
        )
        children.append(dagster)
        os.environ["DAGSTER_HOME"] = str(home)
        instance = dg.DagsterInstance.get()
        started = time.monotonic()
        while not instance.get_latest_materialization_event(dg.AssetKey("revenue_dashboard")):
            assert dagster.alive(), f"dagster dev exited: {work / 'dagster_dev.log'}"
            assert time.monotonic() - started < 900, "no first rebuild within 15 minutes"
            time.sleep(2)
        first_build = time.monotonic() - started
        print(f"dagster dev up; first revenue build by the daemon after {first_build:.0f} s")

        changes: list[Change] = []
        backlog = Backlog()
        stop = threading.Event()
        lock = threading.Lock()

        def poll_raw() -> None:
            while not stop.is_set():
                with lock:
                    pending = [c for c in changes if c.raw_at is None]
                if pending:
                    seen_at = time.time()
                    with warehouse_connection(database, timeout_s=120) as connection:
                        customer_ids = [c.object_id for c in pending if c.table == "customer"]
                        charge_ids = [c.object_id for c in pending if c.table == "charge"]
                        markers = dict(
                            connection.execute(
                                "SELECT id, metadata ->> '$.bench' FROM stripe.customer "
                                "WHERE list_contains(?, id)",
                                [customer_ids],
                            ).fetchall()
                        )
                        charges = {
                            row[0]
                            for row in connection.execute(
                                "SELECT id FROM stripe.charge WHERE list_contains(?, id)",
                                [charge_ids],
                            ).fetchall()
                        }
                    for change in pending:
                        if (
                            change.table == "customer"
                            and markers.get(change.object_id) == change.marker
                        ) or (change.table == "charge" and change.object_id in charges):
                            change.raw_at = seen_at
                stop.wait(1.0)

        def sample_backlog() -> None:
            while not stop.is_set():
                queued = len(
                    instance.get_run_ids(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
                )
                running = len(
                    instance.get_run_ids(
                        dg.RunsFilter(
                            statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
                        )
                    )
                )
                backlog.samples.append((time.time(), queued, running))
                stop.wait(10.0)

        threads = [threading.Thread(target=f, daemon=True) for f in (poll_raw, sample_backlog)]
        for thread in threads:
            thread.start()
        cpu_before = tree_cpu(dagster.pid)
        load_before = os.getloadavg()
        total = int(args.minutes * 60 * args.rate)
        t0, stream_started = time.monotonic(), time.time()
        advanced = 0
        for n in range(total):
            time.sleep(max(0.0, t0 + n / args.rate - time.monotonic()))
            # Stripe's clock runs: each change is created in its own second, as on a live
            # account (a frozen sandbox clock put every object of the stream in one second,
            # and every cursor sensor's listing since its watermark re-read all of them).
            elapsed = int(time.monotonic() - t0)
            if elapsed > advanced:
                sandbox.advance(elapsed - advanced)
                advanced = elapsed
            if n % 2 == 0:
                customer = customers[n % len(customers)]
                marker = f"bench-{n}"
                client.v1.customers.update(customer, {"metadata": {"bench": marker}})
                change = Change(n, "customer", customer, marker, time.time())
            else:
                charge = client.v1.charges.create(
                    {
                        "amount": 1_000 + n,
                        "currency": "usd",
                        "customer": customers[n % len(customers)],
                    }
                )
                change = Change(n, "charge", charge.id, None, time.time())
            with lock:
                changes.append(change)
            if (n + 1) % 60 == 0:
                queued, running = backlog.samples[-1][1:] if backlog.samples else (0, 0)
                print(
                    f"  {n + 1:>4} changes sent; runs queued {queued}, running {running}; "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        stream_s = time.monotonic() - t0
        cpu_after = tree_cpu(dagster.pid)
        load_after = os.getloadavg()
        end_backlog = backlog.samples[-1] if backlog.samples else (0, 0, 0)
        # drain: let the last changes land
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            last = [
                materializations(instance, key)
                for key in (["revenue_analytics", "revenue_metrics"], ["revenue_dashboard"])
            ]
            if all(c.raw_at for c in changes) and all(
                found and found[-1][0] > max(c.raw_at for c in changes) for found in last
            ):
                break  # the page too: it may come a rebuild after the tables
            time.sleep(5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        revenue = materializations(instance, ["revenue_analytics", "revenue_metrics"])
        dashboard = materializations(instance, ["revenue_dashboard"])
        for change in changes:
            if change.raw_at is not None:
                change.revenue_at = first_after(revenue, change.raw_at)
                change.dashboard_at = first_after(dashboard, change.raw_at)
        in_stream = [(s, e) for s, e in revenue if s >= stream_started]
        rebuild_s = [e - s for s, e in in_stream]
        profile = run_profile(instance, stream_started)
        statuses: dict[str, int] = {}
        for record in instance.get_run_records():
            statuses[record.dagster_run.status.value] = (
                statuses.get(record.dagster_run.status.value, 0) + 1
            )
        instance.dispose()
    finally:
        for child in reversed(children):
            child.stop()
        sandbox.close()

    def latencies(attribute: str) -> tuple[list[float], int]:
        values = [
            getattr(c, attribute) - c.sent_at for c in changes if getattr(c, attribute) is not None
        ]
        return values, len(changes) - len(values)

    result = {"lines": lines, "changes": len(changes), "stream_s": stream_s}
    print(
        f"\n{len(changes)} changes in {stream_s:.0f} s; load average {load_before} before, "
        f"{load_after} after the stream"
    )
    for name, attribute, target in (
        ("raw row", "raw_at", 20),
        ("revenue_metrics", "revenue_at", 60),
        ("dashboard", "dashboard_at", 60),
    ):
        values, missing = latencies(attribute)
        if values:
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(
                f"  change -> {name:<16} p50 {p50:6.1f} s  p95 {p95:6.1f} s  max {max(values):6.1f} s"
                f"  (target p95 <= {target} s){f'; {missing} never reached' if missing else ''}"
            )
            result[name] = (p50, p95, max(values), missing)
        else:
            print(f"  change -> {name:<16} never reached ({missing} changes)")
            result[name] = (None, None, None, missing)
    if rebuild_s:
        print(
            f"  revenue rebuilds started from the stream on: {len(rebuild_s)}, run start -> "
            "revenue_metrics "
            f"p50 {statistics.median(rebuild_s):.1f} s, max {max(rebuild_s):.1f} s"
        )
    queued = [q for _, q, _ in backlog.samples]
    if queued:
        third = max(1, len(queued) // 3)
        print(
            f"  runs queued: max {max(queued)}, mean over the first third {statistics.mean(queued[:third]):.1f}, "
            f"last third {statistics.mean(queued[-third:]):.1f}; at the end of the stream "
            f"{end_backlog[1]} queued, {end_backlog[2]} running"
        )
    print(f"  runs by status at the end: {statuses}")
    print_profile(profile)
    cpu = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in cpu_after}
    total_cpu = sum(cpu.values())
    print(
        f"  CPU of dagster dev and below over the stream: {total_cpu:.0f} s "
        f"({total_cpu / stream_s:.2f} cores): "
        + ", ".join(f"{role} {seconds:.0f} s" for role, seconds in sorted(cpu.items()))
    )
    result.update(cpu=total_cpu, queued_end=end_backlog[1], queued_max=max(queued or [0]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="*", default=[250_000, 1_000_000])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1.0, help="changes per second")
    parser.add_argument("--customers", type=int, default=200, help="of the sandbox company")
    parser.add_argument("--keep", action="store_true", help="keep the warehouse and instance")
    parser.add_argument("--drain", type=float, default=180.0, help="seconds after the stream")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first the same stream with runs launched by Dagster's launcher (a fresh process)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}")
    setups = [BASELINE_SETUP, CLI_SETUP] if args.baseline else [CLI_SETUP]
    for lines in args.lines:
        for setup in setups:
            run_size(args, lines, setup)


if __name__ == "__main__":
    main()
