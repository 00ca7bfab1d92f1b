"""What a client may hold of the receiver process: slow clients are cut, valid deliveries are
answered while they try; signatures dated ahead of the clock are refused."""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from revenue_assets.state.store import StateStore
from revenue_assets_tests.webhooks.helpers import SECRET, ReceiverProcess, payload, signed

SLOW_CLIENTS = 1_100
VALID_DELIVERIES = 100


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> requests.Response:
    with requests.Session() as client:
        client.trust_env = False
        return client.post(f"{url}/", data=body, headers=headers, timeout=timeout)


def test_a_signature_dated_beyond_the_tolerance_ahead_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with ReceiverProcess(state, {"STRIPE_WEBHOOK_SECRET": SECRET}) as rx:
        now = int(time.time())
        ahead = payload("evt_ahead")
        refused = _post(rx.url, ahead, signed(ahead, timestamp=now + 3600), 10)
        # Clocks drift: 290 s ahead is still inside the 300 s tolerance.
        skewed = payload("evt_skewed")
        accepted = _post(rx.url, skewed, signed(skewed, timestamp=now + 290), 10)
    assert refused.status_code == 400
    assert "ahead of the receiver's clock" in refused.json()["error"]
    assert accepted.status_code == 200
    with StateStore(state) as inbox:
        assert [row.event_id for row in inbox.read_after(0)] == ["evt_skewed"]
        assert inbox.health().signature_failures == 1


def test_the_receiver_raises_its_soft_open_file_limit_as_far_as_the_hard_one(
    tmp_path: Path,
) -> None:
    with ReceiverProcess(
        tmp_path / "state.sqlite", {"STRIPE_WEBHOOK_SECRET": SECRET}, open_files=(256, 2048)
    ) as rx:
        limits = Path(f"/proc/{rx.process.pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3:5] == ["2048", "2048"]
        # The cap leaves descriptors for the state file, logs and bursts of accepts.
        assert 1024 < rx.info["max_connections"] < 2048


class SlowClients:
    """Connections that send a request a few bytes at a time, and never finish it: half stop
    inside the headers, half inside a body that Content-Length says is 100 kB."""

    def __init__(self, url: str, count: int) -> None:
        parts = urlsplit(url)
        self.sockets: list[socket.socket] = []
        for n in range(count):
            client = socket.create_connection((parts.hostname, parts.port), timeout=10)
            head = b"POST / HTTP/1.1\r\nHost: receiver\r\n"
            if n % 2:
                head += b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            client.sendall(head)
            client.setblocking(False)
            self.sockets.append(client)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(0.25):
            for n, client in enumerate(self.sockets):
                with contextlib.suppress(OSError):  # cut by the receiver
                    client.send(b" " if n % 2 else b"X-Slow: 1\r\n")

    def cut(self) -> list[socket.socket]:
        """The connections the receiver closed (readable: its 408, or the end of the stream)."""
        cut: list[socket.socket] = []
        for start in range(0, len(self.sockets), 500):
            chunk = self.sockets[start : start + 500]
            poller = select.poll()
            for client in chunk:
                poller.register(client, select.POLLIN | select.POLLHUP | select.POLLERR)
            by_fd = {client.fileno(): client for client in chunk}
            cut += [by_fd[fd] for fd, _ in poller.poll(0)]
        return cut

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for client in self.sockets:
            client.close()


def test_slow_clients_cannot_starve_valid_deliveries(tmp_path: Path) -> None:
    """1,100 slow clients against a receiver limited to 1,024 descriptors (a common default):
    every valid delivery still gets its 200, well before the slow ones would time out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SLOW_CLIENTS + 200:  # this process holds the slow clients' sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    state = tmp_path / "state.sqlite"
    read_timeout = 8.0
    with ReceiverProcess(
        state,
        {"STRIPE_WEBHOOK_SECRET": SECRET},
        "--read-timeout",
        str(read_timeout),
        "--synchronous",
        "normal",
        open_files=(1024, 1024),
    ) as rx:
        cap = rx.info["max_connections"]
        assert cap < 1024 - 64
        started = time.monotonic()
        slow = SlowClients(rx.url, SLOW_CLIENTS)
        try:
            latencies: list[float] = []
            statuses: list[int | str] = []
            lock = threading.Lock()

            def deliver(worker: int) -> None:
                for n in range(VALID_DELIVERIES // 4):
                    body = payload(f"evt_{worker}_{n}")
                    sent = time.monotonic()
                    try:
                        # Half the read timeout: an answer that waited for slow clients to
                        # time out would come too late.
                        status = _post(rx.url, body, signed(body), read_timeout / 2).status_code
                    except requests.RequestException as error:
                        status = type(error).__name__
                    with lock:
                        latencies.append(time.monotonic() - sent)
                        statuses.append(status)

            workers = [threading.Thread(target=deliver, args=(w,)) for w in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            held = len(slow.sockets) - len(slow.cut())
            within = time.monotonic() - started < read_timeout
            assert statuses == [200] * VALID_DELIVERIES
            # While the deliveries went through, the slow clients filled the cap.
            assert within, "the deliveries outlasted the read timeout: the test proves nothing"
            assert cap - VALID_DELIVERIES - 8 <= held <= cap, (held, cap)
            print(
                f"\nslow clients held: {held} of {SLOW_CLIENTS} (cap {cap}); valid deliveries: "
                f"median {statistics.median(latencies) * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms"
            )

            # The rest are cut once their read timeout passes, trickling or not.
            deadline = time.monotonic() + read_timeout + 10
            while len(slow.cut()) < len(slow.sockets) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(slow.cut()) == len(slow.sockets)
            answer = slow.sockets[-1].recv(200)
            assert answer.startswith(b"HTTP/1.1 408 "), answer
        finally:
            slow.close()
        health = requests.get(f"{rx.url}/healthz", timeout=10).json()
        assert health["status"] == "ok" and health["stored"] == VALID_DELIVERIES
        assert health["slow_clients_cut"] >= SLOW_CLIENTS
    assert "Too many open files" not in "".join(rx.stderr)
    with StateStore(state) as inbox:
        assert len(inbox.read_after(0, limit=1_000)) == VALID_DELIVERIES
