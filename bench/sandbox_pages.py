"""Benchmark: how many list pages of 100 objects per second the sandbox serves (issue 2 item 7).

Starts the sandbox as a subprocess with a generated company (its own CPU accounting), then
pages through lists with several concurrent keep-alive clients and prints the generation time,
pages/s, objects/s and the server's CPU time per page. No latency, no rate limit, no faults.

The client is deliberately cheap so it does not starve the server on a 2-core machine: raw
HTTP/1.1 over asyncio streams (no SDK, no requests), and one orjson parse per page to read the
cursor. Each client pages one list (customers, charges, invoices, ...) to the end, then starts
over, until the duration is up.

    .venv/bin/python bench/sandbox_pages.py --customers 20000 --duration 20 --clients 4
    .venv/bin/python bench/sandbox_pages.py --base-url http://127.0.0.1:12111 --key sk_test_...
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

LISTS = (
    "/v1/customers",
    "/v1/charges",
    "/v1/invoices",
    "/v1/subscriptions?status=all",
    "/v1/balance_transactions",
    "/v1/events",
    "/v1/invoiceitems",
    "/v1/prices",
)


@dataclass
class Tally:
    pages: int = 0
    objects: int = 0
    bytes: int = 0
    full_pages: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


class Connection:
    """One keep-alive HTTP/1.1 connection with just enough HTTP to read JSON bodies."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Bearer {key}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 24
            )
        assert self.reader is not None
        self.writer.write(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: sandbox\r\nAuthorization: "
            + self.auth
            + b"\r\n\r\n"
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        body = await self.reader.readexactly(length)
        return status, body


async def page_forever(
    conn: Connection, paths: itertools.cycle, deadline: float, tally: Tally, limit: int
) -> None:
    while time.monotonic() < deadline:
        base = next(paths)
        separator = "&" if "?" in base else "?"
        cursor = None
        while time.monotonic() < deadline:
            path = f"{base}{separator}limit={limit}" + (
                f"&starting_after={cursor}" if cursor else ""
            )
            started = time.perf_counter()
            status, body = await conn.get(path)
            tally.latencies.append(time.perf_counter() - started)
            if status != 200:
                tally.errors += 1
                break
            page = orjson.loads(body)
            data = page["data"]
            tally.pages += 1
            tally.objects += len(data)
            tally.bytes += len(body)
            tally.full_pages += len(data) == limit
            if not page["has_more"] or not data:
                break
            cursor = data[-1]["id"]


async def run_clients(base_url: str, key: str, clients: int, duration: float, limit: int) -> Tally:
    parts = urlsplit(base_url)
    tally = Tally()
    deadline = time.monotonic() + duration
    tasks = []
    for n in range(clients):
        conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80, key)
        order = itertools.cycle(LISTS[n % len(LISTS) :] + LISTS[: n % len(LISTS)])
        tasks.append(page_forever(conn, order, deadline, tally, limit))
    await asyncio.gather(*tasks)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", help="company file to reuse (generated there if missing)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of paging")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--base-url", help="bench an already running sandbox instead")
    parser.add_argument("--key", help="secret key of --base-url")
    args = parser.parse_args()

    process = None
    if args.base_url:
        base_url, key, generation = args.base_url, args.key, None
    else:
        from revenue_assets.sandbox.runner import SandboxProcess
        from revenue_assets.sandbox.world import CompanySpec

        spec = CompanySpec(seed=args.seed, customers=args.customers, months=args.months)
        print(
            f"generating {args.customers} customers over {args.months} months (seed {args.seed}) ...",
            flush=True,
        )
        started = time.perf_counter()
        process = SandboxProcess.spawn(spec, data=args.data, rate_limit="off")
        generation = process.generation_seconds or (time.perf_counter() - started)
        base_url, key = process.base_url, process.secret_key
        print(f"generation: {generation:.1f} s (server pid {process.pid}, {base_url})", flush=True)

    try:
        # Warm-up: page cache and connections.
        asyncio.run(run_clients(base_url, key, args.clients, 2.0, args.limit))
        cpu_before = process.cpu_seconds() if process else None
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        tally = asyncio.run(run_clients(base_url, key, args.clients, args.duration, args.limit))
        elapsed = time.perf_counter() - started
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu = (
            (process.cpu_seconds() - cpu_before) if process and cpu_before is not None else None
        )
    finally:
        if process is not None:
            process.close()

    client_cpu = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    latencies = sorted(tally.latencies) or [0.0]
    print(f"clients: {args.clients} keep-alive connections, {elapsed:.1f} s, limit={args.limit}")
    print(f"pages: {tally.pages} ({tally.full_pages} full), errors: {tally.errors}")
    print(f"pages/s: {tally.pages / elapsed:.0f}")
    print(f"objects/s: {tally.objects / elapsed:.0f}")
    print(
        f"MB/s: {tally.bytes / elapsed / 1e6:.1f} (avg page {tally.bytes / max(1, tally.pages) / 1e3:.0f} kB)"
    )
    print(
        f"latency ms: p50 {latencies[len(latencies) // 2] * 1e3:.1f}, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.1f}"
    )
    if server_cpu is not None:
        print(
            f"server CPU: {server_cpu:.1f} s ({server_cpu / elapsed * 100:.0f}% of a core), "
            f"{server_cpu / max(1, tally.pages) * 1e3:.2f} ms per page"
        )
    print(f"client CPU: {client_cpu:.1f} s ({client_cpu / elapsed * 100:.0f}% of a core)")
    return 0 if tally.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
