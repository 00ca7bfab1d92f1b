"""The receiver as its own process: killed mid-burst it loses no acknowledged event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from revenue_assets.state.store import StateStore
from revenue_assets_tests.webhooks.helpers import SECRET, ReceiverProcess, payload, signed


def _burst_then_kill(state: Path, cycle: int, acknowledged: list[str]) -> bool:
    """Fire deliveries from 16 threads, SIGKILL the receiver mid-burst; True if some request
    was cut off by the kill (the burst was still going)."""
    lock = threading.Lock()
    stop = threading.Event()
    cut_off = threading.Event()
    before = len(acknowledged)
    with ReceiverProcess(state, {"STRIPE_WEBHOOK_SECRET": SECRET}) as rx:

        def fire(worker: int) -> None:
            with requests.Session() as client:
                client.trust_env = False
                n = 0
                while not stop.is_set():
                    event_id = f"evt_{cycle}_{worker}_{n}"
                    body = payload(event_id)
                    n += 1
                    try:
                        response = client.post(
                            f"{rx.url}/", data=body, headers=signed(body), timeout=10
                        )
                    except requests.RequestException:
                        cut_off.set()
                        return
                    if response.status_code == 200:
                        with lock:
                            acknowledged.append(event_id)

        threads = [threading.Thread(target=fire, args=(w,)) for w in range(16)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < before + 300 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(rx.process.pid, signal.SIGKILL)
        rx.process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert rx.process.returncode == -signal.SIGKILL
    return cut_off.is_set()


def test_sigkill_mid_burst_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """Three kill cycles on one state file: each restart also recovers the WAL of the last."""
    state = tmp_path / "state.sqlite"
    acknowledged: list[str] = []
    cut_offs = [_burst_then_kill(state, cycle, acknowledged) for cycle in range(3)]
    assert all(cut_offs), "each kill should land while requests are in flight"
    assert len(acknowledged) >= 900
    with StateStore(state) as inbox:
        stored = {row.event_id for row in inbox.read_after(0, limit=1_000_000)}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged events lost"


def test_cli_serve_without_a_secret_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STRIPE_WEBHOOK_SECRET"}
    env["REVENUE_ASSETS_STATE"] = str(tmp_path / "state.sqlite")
    result = subprocess.run(
        [sys.executable, "-m", "revenue_assets.cli.webhooks", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "No webhook signing secret" in result.stderr
    assert "webhooks register" in result.stderr
