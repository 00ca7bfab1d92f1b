"""Benchmark: how many list pages of 100 objects per second the sandbox serves.

Starts the sandbox as a subprocess with a generated company (its own CPU accounting), then
pages through lists with several concurrent keep-alive clients and prints the generation time,
pages/s, objects/s and the server's CPU time per page. No latency, no rate limit, no faults.

The client is deliberately cheap so it does not starve the server on a 2-core machine: raw
HTTP/1.1 on blocking keep-alive sockets, one thread per connection, bodies read into a reused
buffer, and the cursor found with a byte search (`"id":"<prefix>` of the last object) instead of
a JSON parse; one page in 50 (and each list's first and last page) is parsed to verify it.
Each client pages lists (customers, charges, invoices, ...) to the end, one after the other,
until the duration is up.

    .venv/bin/python bench/sandbox_pages.py --customers 20000 --duration 20 --clients 4
    .venv/bin/python bench/sandbox_pages.py --base-url http://127.0.0.1:12111 --key sk_test_...
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
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
    checked: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, other: Tally) -> None:
        with self.lock:
            for name in ("pages", "objects", "bytes", "full_pages", "errors", "checked"):
                setattr(self, name, getattr(self, name) + getattr(other, name))
            self.latencies.extend(other.latencies)


class Connection:
    """One keep-alive HTTP/1.1 connection on a blocking socket: just enough HTTP to read a
    Content-Length body into a reused buffer (recv releases the GIL, so threads overlap)."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.auth = f"Bearer {key}".encode()
        self.buffer = bytearray(8 << 20)
        self.view = memoryview(self.buffer)

    def get(self, path: str) -> tuple[int, bytes]:
        self.sock.sendall(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: sandbox\r\nAuthorization: "
            + self.auth
            + b"\r\n\r\n"
        )
        filled = 0
        while True:
            received = self.sock.recv_into(self.view[filled:])
            if not received:
                raise ConnectionError("server closed the connection")
            filled += received
            end = self.buffer.find(b"\r\n\r\n", 0, filled)
            if end >= 0:
                break
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
        total = end + 4 + length
        if total > len(self.buffer):
            self.buffer.extend(bytes(total - len(self.buffer)))
            self.view = memoryview(self.buffer)
        while filled < total:
            received = self.sock.recv_into(self.view[filled:total])
            if not received:
                raise ConnectionError("server closed the connection")
            filled += received
        return status, bytes(self.view[end + 4 : total])

    def close(self) -> None:
        self.sock.close()


def last_id(body: bytes, prefix: bytes) -> bytes:
    """The id of the last object of a page without parsing it: the last `"id":"<prefix>`.
    A list's objects share an id prefix that nested objects do not use as their own id."""
    at = body.rfind(b'"id":"' + prefix)
    start = at + 6
    return body[start : body.index(b'"', start)]


def page_forever(
    base_url: str, key: str, lists: list[str], deadline: float, limit: int, tally: Tally
) -> None:
    parts = urlsplit(base_url)
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80, key)
    mine = Tally()
    prefixes: dict[str, bytes] = {}
    try:
        for base in itertools.cycle(lists):
            if time.monotonic() >= deadline:
                break
            separator = "&" if "?" in base else "?"
            cursor = None
            while time.monotonic() < deadline:
                path = f"{base}{separator}limit={limit}" + (
                    f"&starting_after={cursor}" if cursor else ""
                )
                started = time.perf_counter()
                status, body = conn.get(path)
                mine.latencies.append(time.perf_counter() - started)
                if status != 200:
                    mine.errors += 1
                    break
                has_more = b'"has_more":true' in body[-400:]
                mine.pages += 1
                mine.bytes += len(body)
                check = base not in prefixes or not has_more or mine.pages % 50 == 0
                if check:  # parse some pages: learn the id prefix, count, verify the cheap path
                    data = orjson.loads(body)["data"]
                    if not data:
                        break
                    prefixes.setdefault(base, data[0]["id"].split("_", 1)[0].encode() + b"_")
                    if last_id(body, prefixes[base]).decode() != data[-1]["id"]:
                        raise AssertionError(f"cursor extraction failed on {base}")
                    mine.checked += 1
                    count = len(data)
                else:
                    count = limit
                mine.objects += count
                mine.full_pages += count == limit
                if not has_more:
                    break
                cursor = last_id(body, prefixes[base]).decode()
    finally:
        conn.close()
        tally.add(mine)


def run_clients(base_url: str, key: str, clients: int, duration: float, limit: int) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + duration
    threads = []
    for n in range(clients):
        order = list(LISTS[n % len(LISTS) :] + LISTS[: n % len(LISTS)])
        threads.append(
            threading.Thread(
                target=page_forever, args=(base_url, key, order, deadline, limit, tally)
            )
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def server_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None without a pid."""
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    parser.add_argument(
        "--server-pid", type=int, help="pid of --base-url's server, for its CPU time"
    )
    args = parser.parse_args()

    process = None
    if args.base_url:
        base_url, key = args.base_url, args.key
    else:
        from revenue_assets.sandbox.runner import SandboxProcess
        from revenue_assets.sandbox.world import CompanySpec

        spec = CompanySpec(seed=args.seed, customers=args.customers, months=args.months)
        reused = args.data is not None and Path(args.data).exists()
        if reused:
            print(f"reopening the company in {args.data} (no generation) ...", flush=True)
        else:
            print(
                f"generating {args.customers} customers over {args.months} months "
                f"(seed {args.seed}) ...",
                flush=True,
            )
        process = SandboxProcess.spawn(spec, data=args.data, rate_limit="off")
        base_url, key = process.base_url, process.secret_key
        what = "reopen" if reused else "generation"
        print(
            f"{what}: {process.generation_seconds:.1f} s (server pid {process.pid}, {base_url})",
            flush=True,
        )

    try:
        # Warm-up: page cache and connections.
        run_clients(base_url, key, args.clients, 2.0, args.limit)
        cpu_before = server_cpu_seconds(process.pid if process else args.server_pid)
        client_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        tally = run_clients(base_url, key, args.clients, args.duration, args.limit)
        elapsed = time.perf_counter() - started
        client_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu_after = server_cpu_seconds(process.pid if process else args.server_pid)
        server_cpu = (
            cpu_after - cpu_before if cpu_after is not None and cpu_before is not None else None
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
