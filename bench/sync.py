"""Benchmark: a full backfill of every Stripe table against the sandbox.

`--scenarios end-to-end` (what users wait for) times the whole `revenue-assets sync` command,
start-up to a checked warehouse with revenue tables, in a subprocess, against the sandbox at
250-350 ms per request with Stripe's two levels of limits on (global per key mode, 25 req/s per
operation). Each run prints the ceiling its requests allow, max(requests / global limit, the
busiest operation's requests / 25) seconds, the figure reached, 429s by operation, and the
load average beside it (the machine is shared):

- whole live budget (`--max`), two-level pacing, on the batched event log the CLI configures;
  the baselines: the same run on Dagster's stock SQLite event log (a dagster.yaml choosing it,
  written before the command), and with the previous pacing (one global bucket, no
  per-operation pacing);
- `--max` with the partitions starting at the company's first month instead of 2011: the same
  figure as the first run if the empty partitions before cost nothing;
- one table alone (charges, the biggest: the most skewed company there is), both pacings;
- the default share (50 req/s) while the account's own app sends 40 req/s: the app's 429s and
  how much of what the app leaves the sync uses.

`--runs` picks and orders them, `--repeat N` runs them N times (the machine is noisy: compare
runs taken side by side). `--scenarios history` times `--max` on the same customers over
`--history-months` (120) instead of `--months`: ten years of partitions with data.

`--scenarios engine` (the default also runs it) prints, in one run:

1. ceiling: the sync engine with the live rate limit (100 req/s) and 300 ms latency per request
   over a company of >= 200k objects: objects/s against Stripe's ceiling of 10,000 objects/s
   (100 req/s x 100 objects), requests, 429s, retries, and a completeness check (the warehouse
   holds every object the sandbox has: no request lost);
2. CPU: the same sync with no latency and no rate limit, our process's CPU seconds (every
   thread, DuckDB's included) per 10k objects, end to end (fetch, parse, write);
3. memory: the peak RSS of a sync process, at two company sizes;
4. baseline: one request in flight, one cursor per table, as the tools we replace list, at the
   same latency and limit; its objects/s and our ratio to it.

The sandbox runs as a separate process (its CPU is not ours). Each measured sync runs in a
fresh child process, so its CPU time and peak memory are its own.

    .venv/bin/python bench/sync.py                     # defaults: 20k customers, 24 months
    .venv/bin/python bench/sync.py --customers 4000 --baseline-seconds 20   # quick look
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CEILING_OBJECTS_PER_S = 100 * 100  # live rate limit x page size


def months_of(first: int, last: int) -> list[str]:
    start, end = datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)
    keys, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        keys.append(f"{year:04d}-{month:02d}-01")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def company_span(data: Path, account: str) -> tuple[int, int]:
    connection = sqlite3.connect(f"file:{data}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT min(created), max(created) FROM objects WHERE account = ? AND created > 0",
            (account,),
        ).fetchone()
    finally:
        connection.close()


def listable_counts(data: Path, account: str) -> dict[str, int]:
    """Objects per kind that lists return (not deleted), as the sandbox stores them."""
    connection = sqlite3.connect(f"file:{data}?mode=ro", uri=True)
    try:
        return dict(
            connection.execute(
                "SELECT kind, count(*) FROM objects WHERE account = ? AND deleted = 0 GROUP BY kind",
                (account,),
            ).fetchall()
        )
    finally:
        connection.close()


# -- the measured sync (runs in a child process) -------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from revenue_assets.catalog.tables import TABLES
    from revenue_assets.ingest.sync import SyncTarget, month_partitions, sync_tables
    from revenue_assets.stripe_api.client import StripeAccess

    access = StripeAccess(
        args.key, api_base=args.base_url, rate_limit=args.rate, operation_limits="off"
    )
    partitions = month_partitions(args.partitions.split(","))
    started, cpu_started = time.monotonic(), time.process_time()
    outcomes = sync_tables(access, SyncTarget(Path(args.database)), list(TABLES), partitions)
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    listed = sum(
        o.stats.objects + sum(s.objects for s in o.child_stats.values()) for o in outcomes.values()
    )
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "objects": listed,
                "calls": sum(
                    o.stats.calls + sum(s.calls for s in o.child_stats.values())
                    for o in outcomes.values()
                ),
                "rate_limited": sum(o.stats.rate_limited for o in outcomes.values()),
                "retries": sum(o.stats.retries for o in outcomes.values()),
                "errors": {n: str(o.error) for n, o in outcomes.items() if o.error},
                "rows": {name: n for o in outcomes.values() for name, n in o.row_counts.items()},
            }
        )
    )


def run_child(sandbox, key: str, rate: float, partitions: list[str], database: Path) -> dict:
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--base-url",
            sandbox.base_url,
            "--key",
            key,
            "--rate",
            str(rate),
            "--partitions",
            ",".join(partitions),
            "--database",
            str(database),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if output.returncode:
        raise SystemExit(f"the measured sync failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# -- the baseline: one cursor, one request in flight ----------------------------------------------


def baseline(sandbox, key: str, seconds: float) -> tuple[int, float]:
    """Objects/s of plain sequential cursor paging (every table newest first, one at a time)."""
    from revenue_assets.catalog.tables import TABLES
    from revenue_assets.stripe_api.client import StripeAccess

    access = StripeAccess(key, api_base=sandbox.base_url, rate_limit=100.0, operation_limits="off")
    objects, started = 0, time.monotonic()
    for table in TABLES:
        cursor = None
        while time.monotonic() - started < seconds:
            params = {"limit": 100, **table.list_params}
            if cursor:
                params["starting_after"] = cursor
            page = access.get(table.path, params, expect_list=True)
            objects += len(page["data"])
            if not page["has_more"] or not page["data"]:
                break
            cursor = page["data"][-1]["id"]
    return objects, time.monotonic() - started


# -- the benchmark ---------------------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def run_command(
    sandbox,
    work: Path,
    label: str,
    extra_env: dict[str, str],
    args: list[str],
    dagster_yaml: str | None = None,
) -> dict:
    """`revenue-assets sync ARGS` in a subprocess against `sandbox`; wall time and its output.
    `dagster_yaml`: the instance's dagster.yaml before the command (else none: the CLI's own)."""
    home = work / f"{label}-home"
    home.mkdir()
    if dagster_yaml is not None:
        (home / "dagster.yaml").write_text(dagster_yaml)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "REVENUE_ASSETS_"))},
        "STRIPE_API_KEY": sandbox.live_key,
        "STRIPE_API_BASE": sandbox.base_url,
        "REVENUE_ASSETS_DUCKDB": str(work / f"{label}.duckdb"),
        "REVENUE_ASSETS_STATE": str(work / f"{label}.sqlite"),
        "DAGSTER_HOME": str(home),
        "COLUMNS": "200",
        **extra_env,
    }
    started = time.monotonic()
    output = subprocess.run(
        [sys.executable, "-m", "revenue_assets.cli", "sync", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    if output.returncode:
        print(f"[{label}] the command failed ({output.returncode}):\n{output.stderr[-3000:]}")
    pacing = next((line for line in output.stderr.splitlines() if "Stripe API:" in line), "")
    syncing = next(
        (line for line in output.stderr.splitlines() if "monthly partitions" in line), ""
    )
    return {
        "wall_s": wall,
        "ok": output.returncode == 0,
        "pacing": pacing.strip(),
        "partitions": syncing.split(" over ")[-1].split(" (")[0] if syncing else "?",
    }


def ceiling_of(counters: dict, global_limit: float, endpoint_limit: float) -> tuple[float, str]:
    """Seconds the requests that succeeded need at best: all of them at the global limit, or
    the busiest operation's at its own, whichever is longer."""
    refused = counters.get("rate_limited_by_path", {})
    served = {path: n - refused.get(path, 0) for path, n in counters["by_path"].items()}
    busiest = max(served, key=served.get)
    global_s = sum(served.values()) / global_limit
    endpoint_s = served[busiest] / endpoint_limit
    return max(global_s, endpoint_s), (
        f"{sum(served.values()):,} requests / {global_limit:g} = {global_s:.1f} s, "
        f"{busiest} {served[busiest]:,} / {endpoint_limit:g} = {endpoint_s:.1f} s"
    )


# Dagster's stock SQLite storage at the same place: the baseline of the batched event log.
STOCK_STORAGE = "storage:\n  sqlite:\n    base_dir:\n      env: DAGSTER_HOME\n"
PREVIOUS_PACING = {"STRIPE_ENDPOINT_RATE_LIMIT": "off"}
CHARGE_ALONE = ["--max", "--no-downstream", "--table", "charge"]
# name: (label, environment, arguments, app traffic req/s, dagster.yaml before the command)
RUNS = {
    "max": ("max", {}, ["--max"], 0.0, None),
    "max-stock": ("max, Dagster's stock event log (baseline)", {}, ["--max"], 0.0, STOCK_STORAGE),
    "max-from-first-month": (
        "max, partitions from the first month with data",
        None,
        ["--max"],
        0.0,
        None,
    ),
    "max-previous": ("max, previous pacing (baseline)", PREVIOUS_PACING, ["--max"], 0.0, None),
    # A customer's payment methods cost a request per customer with a saved card, all on one
    # operation (25 req/s): the same sync without them shows that price.
    "max-skip-payment-methods": (
        "max, --skip payment_method",
        {},
        ["--max", "--skip", "payment_method"],
        0.0,
        None,
    ),
    "charge": ("charge alone", {}, CHARGE_ALONE, 0.0, None),
    "charge-previous": ("charge alone, previous pacing", PREVIOUS_PACING, CHARGE_ALONE, 0.0, None),
    "share": ("default share, app at 40 req/s", {}, [], 40.0, None),
}


def end_to_end(args: argparse.Namespace, work: Path, months: int, names: list[str]) -> None:
    from revenue_assets.sandbox.runner import SandboxProcess
    from revenue_assets.sandbox.world import CompanySpec

    data = work / f"company-e2e-{months}.sqlite"
    spec = CompanySpec(seed=args.seed, customers=args.customers, months=months)
    latency = f"{args.latency_ms - 50}-{args.latency_ms + 50}"
    started = time.monotonic()
    with SandboxProcess.spawn(
        spec, data=data, latency_ms=latency, rate_limit="auto", endpoint_limit="25"
    ) as sandbox:
        counts = listable_counts(data, sandbox.account_id)
        first_month = months_of(*company_span(data, sandbox.account_id))[0]
        print(
            f"\n[end to end] company: {args.customers:,} customers, {months} months, "
            f"{sum(counts.values()):,} listable objects (ready in {time.monotonic() - started:.0f} s); "
            f"latency {latency} ms, live limit 100 req/s, 25 req/s per operation"
        )
        for repeat in range(args.repeat):
            for name in names:
                label, env, cli_args, app, dagster_yaml = RUNS[name]
                # None: the partitions start at the company's first month (no empty one before)
                env = {"REVENUE_ASSETS_SYNC_START": first_month} if env is None else env
                if app:
                    sandbox.set_app_traffic(app)
                sandbox.control("DELETE", "counters")
                before = load()
                directory = f"{months}m-{repeat}-" + "".join(
                    c if c.isalnum() else "-" for c in label
                )
                result = run_command(sandbox, work, directory, env, cli_args, dagster_yaml)
                counters = sandbox.counters()
                sandbox.set_app_traffic(0)
                budget = 100.0 if "--max" in cli_args else 50.0
                ceiling, how = ceiling_of(counters, 100.0 - app if app else budget, 25.0)
                requests = counters["requests"]
                share = 100 * counters["rate_limited"] / requests if requests else 0.0
                print(
                    f"\n[{label}{f' #{repeat + 1}' if args.repeat > 1 else ''}] whole command "
                    f"{result['wall_s']:.1f} s ({'ok' if result['ok'] else 'FAILED'}) over "
                    f"{result['partitions']}; {before} before, {load()} after"
                )
                print(
                    f"  ceiling {ceiling:.1f} s ({how}): reached {100 * ceiling / result['wall_s']:.0f}%"
                )
                print(
                    f"  {requests:,} requests, {counters['rate_limited']:,} answered 429 ({share:.2f}%): "
                    f"{counters.get('rate_limited_by_path') or 'none'} "
                    f"{counters.get('rate_limited_by_reason') or ''}"
                )
                print(f"  CLI: {result['pacing']}")
                if app:
                    traffic = counters["app_traffic"]
                    served = requests - counters["rate_limited"]
                    used = served / traffic["seconds"] if traffic["seconds"] else 0.0
                    print(
                        f"  app: {traffic['requests']:,} requests, {traffic['rate_limited']} answered "
                        f"429 ({100 * traffic['rate_limited_share']:.2f}%); the sync averaged "
                        f"{used:.1f} req/s over the command (the app leaves {100 - app:g})"
                    )


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    atexit.register(shutil.rmtree, work, True)  # a run leaves gigabytes otherwise
    print(f"machine: {load()}")
    scenarios = set(args.scenarios.split(","))
    if "end-to-end" in scenarios:
        end_to_end(args, work, args.months, args.runs.split(","))
    if "history" in scenarios:  # the same customers over ten years: more partitions, with data
        end_to_end(args, work, args.history_months, ["max"])
    if "engine" in scenarios:
        engine(args, work)
    print(f"\nmachine at the end: {load()}")


def engine(args: argparse.Namespace, work: Path) -> None:
    from revenue_assets.sandbox.runner import SandboxProcess
    from revenue_assets.sandbox.world import CompanySpec

    results = {}
    for label, customers in (("small", args.customers // 4), ("full", args.customers)):
        data = work / f"company-{label}.sqlite"
        spec = CompanySpec(seed=args.seed, customers=customers, months=args.months)
        started = time.monotonic()
        with SandboxProcess.spawn(spec, data=data, rate_limit="off") as sandbox:
            generated = time.monotonic() - started
            span = company_span(data, sandbox.account_id)
            partitions = months_of(*span)
            counts = listable_counts(data, sandbox.account_id)
            print(
                f"\n[{label}] company: {customers:,} customers, {sum(counts.values()):,} listable "
                f"objects, {len(partitions)} monthly partitions (ready in {generated:.1f} s)"
            )
            cpu = run_child(
                sandbox, sandbox.live_key, 100_000.0, partitions, work / f"cpu-{label}.duckdb"
            )
            results[label] = cpu
            per_10k = cpu["cpu_s"] / cpu["objects"] * 10_000
            print(
                f"[{label}] no latency, no limit: {cpu['objects']:,} objects in {cpu['wall_s']:.1f} s, "
                f"CPU {cpu['cpu_s']:.1f} s = {per_10k:.2f} core-s per 10k objects "
                f"(budget 1.0), peak RSS {cpu['peak_rss_mb']:.0f} MB (budget 1024); "
                f"errors: {cpu['errors'] or 'none'}"
            )
        if label == "small":
            continue
        with SandboxProcess.spawn(
            data=data, latency_ms=f"{args.latency_ms}-{args.latency_ms}", rate_limit="live"
        ) as sandbox:
            before = sandbox.counters()
            ceiling = run_child(
                sandbox, sandbox.live_key, 100.0, partitions, work / "ceiling.duckdb"
            )
            after = sandbox.counters()
            rate = ceiling["objects"] / ceiling["wall_s"]
            print(
                f"\n[ceiling] {args.latency_ms} ms latency, live limit (100 req/s): "
                f"{ceiling['objects']:,} objects in {ceiling['wall_s']:.1f} s = {rate:,.0f} objects/s "
                f"= {100 * rate / CEILING_OBJECTS_PER_S:.0f}% of the 10,000 objects/s ceiling (target 80%)"
            )
            print(
                f"[ceiling] {ceiling['calls']:,} requests ({ceiling['calls'] / ceiling['wall_s']:.0f}/s, "
                f"{ceiling['objects'] / ceiling['calls']:.1f} objects each), "
                f"{ceiling['rate_limited']} answered 429, {ceiling['retries']} retried, "
                f"server saw {after['requests'] - before['requests']:,} requests; "
                f"errors: {ceiling['errors'] or 'none'}; peak RSS {ceiling['peak_rss_mb']:.0f} MB"
            )
            _completeness(ceiling["rows"], counts)
            objects, seconds = baseline(sandbox, sandbox.live_key, args.baseline_seconds)
            base_rate = objects / seconds
            print(
                f"\n[baseline] one cursor, one request in flight: {objects:,} objects in "
                f"{seconds:.1f} s = {base_rate:,.0f} objects/s; ours is {rate / base_rate:.1f}x faster "
                f"(a full baseline backfill would take {ceiling['objects'] / base_rate / 60:.0f} min "
                f"instead of {ceiling['wall_s'] / 60:.1f})"
            )
    small, full = results["small"], results["full"]
    print(
        f"\n[memory] peak RSS {small['peak_rss_mb']:.0f} MB for {small['objects']:,} objects, "
        f"{full['peak_rss_mb']:.0f} MB for {full['objects']:,} objects"
    )


def _completeness(rows: dict[str, int], counts: dict[str, int]) -> None:
    """Every object the sandbox lists is in the warehouse (sandbox kinds -> tables)."""
    kinds = {"invoice_line_item": "line_item"}
    missing = {
        table: (rows[table], counts.get(kinds.get(table, table), 0))
        for table in rows
        if rows[table] != counts.get(kinds.get(table, table), 0)
    }
    print(f"[ceiling] completeness: {missing if missing else 'every object synced'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument(
        "--scenarios",
        default="end-to-end,engine",
        help="end-to-end, history (end to end over --history-months), engine (comma-separated)",
    )
    parser.add_argument(
        "--runs",
        default="max,max-stock,max-from-first-month,max-previous,charge,charge-previous,share",
        help=f"end-to-end runs, in order (comma-separated): {', '.join(RUNS)}",
    )
    parser.add_argument("--repeat", type=int, default=1, help="run the end-to-end runs N times")
    parser.add_argument("--history-months", type=int, default=120)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--partitions", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    child(arguments) if arguments.child else main(arguments)
