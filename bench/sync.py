"""Benchmark: a full backfill of every Stripe table against the sandbox (issue 3).

Prints, in one run:

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


def months(first: int, last: int) -> list[str]:
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
    from revenue_assets.stripe_api.client import StripeAccess
    from revenue_assets.stripe_api.tables import TABLES
    from revenue_assets.sync import SyncTarget, month_partitions, sync_tables

    access = StripeAccess(args.key, api_base=args.base_url, rate_limit=args.rate)
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
    from revenue_assets.stripe_api.client import StripeAccess
    from revenue_assets.stripe_api.tables import TABLES

    access = StripeAccess(key, api_base=sandbox.base_url, rate_limit=100.0)
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


def main(args: argparse.Namespace) -> None:
    from revenue_assets.sandbox.runner import SandboxProcess
    from revenue_assets.sandbox.world import CompanySpec

    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    atexit.register(shutil.rmtree, work, True)  # a run leaves gigabytes otherwise
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    results = {}
    for label, customers in (("small", args.customers // 4), ("full", args.customers)):
        data = work / f"company-{label}.sqlite"
        spec = CompanySpec(seed=args.seed, customers=customers, months=args.months)
        started = time.monotonic()
        with SandboxProcess.spawn(spec, data=data, rate_limit="off") as sandbox:
            generated = time.monotonic() - started
            span = company_span(data, sandbox.account_id)
            partitions = months(*span)
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
    print(f"machine load average at the end: {os.getloadavg()[0]:.2f}")


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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--partitions", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    child(arguments) if arguments.child else main(arguments)
