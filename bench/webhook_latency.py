"""Benchmark: from a Stripe change to its row in DuckDB, under `dagster dev`.

Everything runs as a user would run it, each in its own process: the sandbox (Stripe), our
webhook receiver (`revenue-assets webhooks serve`), and `dagster dev -w workspace.yaml` with
default settings (daemon, sensors, queued runs). After an initial sync, the script changes a
customer in Stripe every few seconds and polls the warehouse (under its lock, as every reader
does) until the change is visible; it prints the latency of each change and p50/p95/max.

    .venv/bin/python bench/webhook_latency.py --changes 30 --every 2
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def wait_for(predicate, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def main(args: argparse.Namespace) -> None:
    from bench.sync import company_span, months
    from revenue_assets.catalog.tables import TABLES
    from revenue_assets.ingest.sync import SyncTarget, month_partitions, sync_tables
    from revenue_assets.sandbox.runner import SandboxProcess
    from revenue_assets.sandbox.world import CompanySpec
    from revenue_assets.stripe_api.client import StripeAccess
    from revenue_assets.webhooks.sockets import bind

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    atexit.register(shutil.rmtree, work, True)  # a run leaves gigabytes otherwise
    database, state, home = work / "w.duckdb", work / "state.sqlite", work / "dagster_home"
    home.mkdir()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; files in {work}"
    )
    spec = CompanySpec(seed=11, customers=args.customers, months=2)
    with SandboxProcess.spawn(spec, data=work / "company.sqlite", rate_limit="live") as sandbox:
        access = StripeAccess(sandbox.secret_key, api_base=sandbox.base_url, rate_limit=25.0)
        keys = months(*company_span(work / "company.sqlite", sandbox.account_id))
        sync_tables(access, SyncTarget(database), list(TABLES), month_partitions(keys))
        customers = [
            row[0]
            for row in _query(
                database, "SELECT id FROM stripe.customer WHERE NOT _deleted LIMIT 200"
            )
        ]
        print(f"initial sync done: {len(customers)} customers sampled")

        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        sock.close()
        url = f"http://127.0.0.1:{port}/stripe/webhooks"
        env = {
            **os.environ,
            "STRIPE_API_KEY": sandbox.secret_key,
            "STRIPE_API_BASE": sandbox.base_url,
            "REVENUE_ASSETS_DUCKDB": str(database),
            "REVENUE_ASSETS_STATE": str(state),
            "REVENUE_ASSETS_SYNC_START": keys[0],
            "DAGSTER_HOME": str(home),
        }
        client = httpx.Client(
            base_url=sandbox.base_url,
            headers={"Authorization": f"Bearer {sandbox.secret_key}"},
            timeout=30,
            trust_env=False,
        )
        endpoint = client.post(
            "/v1/webhook_endpoints", data={"url": url, "enabled_events[0]": "*"}
        ).json()
        env["STRIPE_WEBHOOK_SECRET"] = endpoint["secret"]
        receiver = subprocess.Popen(
            [sys.executable, "-m", "revenue_assets.cli", "webhooks", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
        )
        dagster = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert wait_for(lambda: _up(f"http://127.0.0.1:{port}/healthz"), 30), "receiver down"
            started = time.monotonic()
            assert wait_for(lambda: _sensors_ticking(home), 180, 1.0), "dagster dev did not start"
            print(f"dagster dev up and sensors ticking after {time.monotonic() - started:.0f} s")
            time.sleep(args.warmup)
            latencies = []
            for n in range(args.changes):
                customer = customers[n % len(customers)]
                marker = f"bench-{n}"
                changed = time.monotonic()
                client.post(f"/v1/customers/{customer}", data={"metadata[bench]": marker})
                visible = wait_for(
                    lambda customer=customer, marker=marker: _visible(database, customer, marker),
                    args.timeout,
                    0.2,
                )
                latency = time.monotonic() - changed if visible else float("inf")
                latencies.append(latency)
                print(f"change {n + 1:>3}: visible in DuckDB after {latency:.1f} s", flush=True)
                time.sleep(max(0.0, args.every - latency))
        finally:
            dagster.terminate()
            receiver.terminate()
            dagster.wait(timeout=60)
            receiver.wait(timeout=30)
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"\nevent -> row in DuckDB under dagster dev ({args.changes} changes): "
        f"p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, max {ordered[-1]:.1f} s "
        f"(target p95 <= 20 s); load average {os.getloadavg()[0]:.2f}"
    )


def _query(database: Path, sql: str, *params) -> list[tuple]:
    from revenue_assets.warehouse.connection import warehouse_connection

    with warehouse_connection(database) as connection:
        return connection.execute(sql, list(params)).fetchall()


def _visible(database: Path, customer: str, marker: str) -> bool:
    rows = _query(
        database, "SELECT metadata ->> '$.bench' FROM stripe.customer WHERE id = ?", customer
    )
    return bool(rows) and rows[0][0] == marker


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _sensors_ticking(home: Path) -> bool:
    """The daemon has evaluated the customer webhook sensor at least once."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with dg.DagsterInstance.get() as instance:
            states = instance.all_instigator_state()
            return any(
                s.name == "customer_webhooks"
                and instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1)
                for s in states
            )
    except Exception:
        return False


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between changes")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    main(parser.parse_args())
