"""Benchmark: the webhook receiver.

Target: ≥ 1,000 events/s sustained with p99 acknowledgement < 50 ms on loopback, where an
acknowledgement is a 200 sent only after the event is committed (synchronous=FULL) to the inbox.

The receiver runs as its own process (`revenue-assets webhooks serve`), exactly as users run
it, on a fresh state file. Payloads are realistic events (Stripe's example customer,
subscription, invoice and charge objects, 0.9 to 4 KiB), each with a unique id, all signed
before the clock starts. The client is deliberately cheap so that it does not starve the
server on a 2-core machine: pre-built raw HTTP/1.1 requests written on keep-alive asyncio
connections (uvloop), with just enough parsing to read the status and skip the body.

Two phases:
1. open loop: requests are scheduled at a fixed rate (default 1,000/s) and each latency is
   measured from its scheduled time, so a stalled server is charged for the requests that
   queue behind it (no coordinated omission). On a shared machine the client can be the one
   stalled, so the p99 from the actual send is printed too;
2. closed loop: N connections send back to back, to find the ceiling.

Every acknowledged id is then looked up in the inbox (all must be there, once).

    .venv/bin/python bench/webhooks.py                      # 1,000/s for 10 s, then max
    .venv/bin/python bench/webhooks.py --rate 1500 --duration 20 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import urlopen

import orjson
import stripe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from revenue_assets.state.store import StateStore  # noqa: E402

SECRET = "whsec_benchmark0123456789abcdefABCDEF"
FIXTURES = ROOT / "revenue_assets" / "sandbox" / "stripe_fixtures.json"
KINDS = (
    ("customer", "customer.updated"),
    ("subscription", "customer.subscription.updated"),
    ("invoice", "invoice.paid"),
    ("charge", "charge.succeeded"),
)


def make_requests(count: int, host: str, port: int, prefix: str) -> list[tuple[str, bytes]]:
    """(event id, raw HTTP request) pairs, signed now (valid for the 300 s tolerance)."""
    templates = orjson.loads(FIXTURES.read_bytes())["resources"]
    now = int(time.time())
    requests = []
    for n in range(count):
        kind, event_type = KINDS[n % len(KINDS)]
        obj = dict(templates[kind], id=f"{kind[:3]}_{prefix}{n}", created=now - n * 3600)
        event_id = f"evt_{prefix}{n:09d}"
        body = orjson.dumps(
            {
                "id": event_id,
                "object": "event",
                "api_version": stripe.api_version,
                "created": now,
                "data": {"object": obj, "previous_attributes": {"metadata": {}}},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": f"req_{n}", "idempotency_key": None},
                "type": event_type,
            }
        )
        signature = stripe.WebhookSignature.generate_signature_header(
            body.decode(), SECRET, timestamp=now
        )
        head = (
            f"POST /stripe/webhooks HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nStripe-Signature: {signature}\r\n\r\n"
        )
        requests.append((event_id, head.encode() + body))
    return requests


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # from the due (or send) time
    service: list[float] = field(default_factory=list)  # from the moment the request went out
    acknowledged: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed(self) -> float:
        return max(1e-9, self.finished - self.started)


class Connection:
    """One keep-alive HTTP/1.1 connection: write a pre-built request, read the answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def open_loop(
    host: str, port: int, requests: list[tuple[str, bytes]], rate: float, connections: int
) -> Tally:
    """Requests due at t0 + i/rate; latency from the due time, whoever sends it."""
    tally = Tally()
    pool = [Connection(host, port) for _ in range(connections)]
    next_index = 0
    start = time.perf_counter() + 0.05

    async def worker(connection: Connection) -> None:
        nonlocal next_index
        while next_index < len(requests):
            index = next_index
            next_index += 1
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await one(connection, requests[index], due, tally)

    tally.started = start
    await asyncio.gather(*(worker(c) for c in pool))
    tally.finished = time.perf_counter()
    for connection in pool:
        connection.close()
    return tally


async def closed_loop(
    host: str, port: int, requests: list[tuple[str, bytes]], connections: int, duration: float
) -> Tally:
    """Back to back on every connection until `duration` or the requests run out."""
    tally = Tally()
    pool = [Connection(host, port) for _ in range(connections)]
    next_index = 0
    tally.started = time.perf_counter()
    deadline = tally.started + duration

    async def worker(connection: Connection) -> None:
        nonlocal next_index
        while next_index < len(requests) and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            await one(connection, requests[index], time.perf_counter(), tally)

    await asyncio.gather(*(worker(c) for c in pool))
    tally.finished = time.perf_counter()
    for connection in pool:
        connection.close()
    return tally


async def one(
    connection: Connection, request: tuple[str, bytes], since: float, tally: Tally
) -> None:
    event_id, raw = request
    sent = time.perf_counter()
    try:
        status = await connection.send(raw)
    except (OSError, asyncio.IncompleteReadError):
        tally.errors += 1
        connection.close()
        return
    done = time.perf_counter()
    tally.latencies.append(done - since)
    tally.service.append(done - sent)
    tally.statuses[status] = tally.statuses.get(status, 0) + 1
    if status == 200:
        tally.acknowledged.append(event_id)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def report(name: str, tally: Tally, server_cpu: float) -> dict[str, float]:
    acked = len(tally.acknowledged)
    figures = {
        "acknowledged": acked,
        "throughput_per_s": acked / tally.elapsed,
        "p50_ms": percentile(tally.latencies, 50) * 1000,
        "p95_ms": percentile(tally.latencies, 95) * 1000,
        "p99_ms": percentile(tally.latencies, 99) * 1000,
        "max_ms": max(tally.latencies, default=float("nan")) * 1000,
        "service_p99_ms": percentile(tally.service, 99) * 1000,
        "errors": tally.errors,
        "server_cpu_ms_per_event": server_cpu / max(1, acked) * 1000,
    }
    print(
        f"{name}: {acked} acknowledged in {tally.elapsed:.2f} s = "
        f"{figures['throughput_per_s']:,.0f} events/s; ack latency p50 {figures['p50_ms']:.2f} ms, "
        f"p95 {figures['p95_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms, "
        f"max {figures['max_ms']:.2f} ms (p99 from the actual send, without client lag: "
        f"{figures['service_p99_ms']:.2f} ms); statuses {dict(sorted(tally.statuses.items()))}, "
        f"connection errors {tally.errors}; receiver CPU "
        f"{figures['server_cpu_ms_per_event']:.3f} ms/event"
    )
    return figures


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_receiver(state: Path, synchronous: str) -> tuple[subprocess.Popen[str], str, int]:
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET, "REVENUE_ASSETS_STATE": str(state)}
    command = [sys.executable, "-m", "revenue_assets.cli.webhooks", "serve", "--port", "0"]
    command += ["--json", "--log-level", "warning", "--synchronous", synchronous]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert process.stdout is not None
    info = json.loads(process.stdout.readline())
    host_port = info["url"].split("://")[1]
    host, port = host_port.rsplit(":", 1)
    return process, host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop events/s")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=64, help="open-loop connections")
    parser.add_argument("--closed-connections", type=int, default=16)
    parser.add_argument("--state", type=Path, help="state file (default: a temporary one)")
    parser.add_argument("--synchronous", default="full", choices=["full", "normal"])
    args = parser.parse_args()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    atexit.register(shutil.rmtree, workdir, True)  # a run leaves gigabytes otherwise
    state = args.state or workdir / "state.sqlite"
    process, host, port = start_receiver(state, args.synchronous)
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
        f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; receiver pid {process.pid} on "
        f"{host}:{port}; state {state} (WAL, synchronous={args.synchronous.upper()})"
    )
    try:
        count = int(args.rate * args.duration)
        ceiling_count = int(max(args.rate, 3000) * args.duration)
        prepared = time.perf_counter()
        steady = make_requests(count, host, port, "a")
        ceiling = make_requests(ceiling_count, host, port, "b")
        print(
            f"prepared {count + ceiling_count:,} signed events in "
            f"{time.perf_counter() - prepared:.1f} s, {len(steady[0][1]):,} to "
            f"{max(len(r[1]) for r in steady[:4]):,} bytes per request"
        )
        client_cpu = resource.getrusage(resource.RUSAGE_SELF)
        cpu = cpu_seconds(process.pid)
        tally = asyncio.run(open_loop(host, port, steady, args.rate, args.connections))
        open_figures = report(
            f"open loop at {args.rate:,.0f}/s", tally, cpu_seconds(process.pid) - cpu
        )
        cpu = cpu_seconds(process.pid)
        max_tally = asyncio.run(
            closed_loop(host, port, ceiling, args.closed_connections, args.duration)
        )
        report(
            f"closed loop, {args.closed_connections} connections",
            max_tally,
            cpu_seconds(process.pid) - cpu,
        )
        health = json.loads(urlopen(f"http://{host}:{port}/healthz").read())
        print(
            f"receiver group commit: {health['batches']:,} transactions, mean "
            f"{health['mean_batch']} events (max {health['max_batch']}), commit mean "
            f"{health['mean_commit_ms']} ms, max {health['max_commit_ms']} ms"
        )
        used = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"client CPU {used.ru_utime + used.ru_stime - client_cpu.ru_utime - client_cpu.ru_stime:.1f} s; "
            f"load average after {os.getloadavg()[0]:.2f}"
        )
    finally:
        process.terminate()
        process.wait(timeout=30)

    with StateStore(state) as inbox:
        acknowledged = tally.acknowledged + max_tally.acknowledged
        stored = {row.event_id for row in inbox.read_after(0, 10_000_000, with_payload=False)}
        missing = [event_id for event_id in acknowledged if event_id not in stored]
        print(
            f"inbox: {inbox.count():,} rows, {len(acknowledged):,} acknowledged, "
            f"{len(missing)} acknowledged but missing"
        )
    met = open_figures["throughput_per_s"] >= 0.98 * args.rate and open_figures["p99_ms"] < 50
    print(
        f"target (>= {args.rate:,.0f} events/s sustained, p99 < 50 ms): "
        f"{'met' if met and not missing else 'NOT met'}"
    )
    sys.exit(0 if met and not missing else 1)


if __name__ == "__main__":
    main()
