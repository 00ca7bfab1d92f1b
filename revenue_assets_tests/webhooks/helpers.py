"""Shared by the webhook suites: event payloads, signing, a receiver subprocess."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import stripe

SECRET = "whsec_test0123456789abcdefABCDEF"
OTHER_SECRET = "whsec_other0123456789abcdefABCDEF"


def event(
    event_id: str,
    *,
    object_type: str = "customer",
    event_type: str | None = None,
    created: int = 1_700_000_000,
    object_created: int | None = 1_699_000_000,
    object_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A minimal snapshot event (the fields the inbox reads, and a realistic envelope)."""
    obj: dict[str, Any] = {
        "id": object_id or f"{object_type[:3]}_{event_id}",
        "object": object_type,
    }
    if object_created is not None:
        obj["created"] = object_created
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type or f"{object_type}.updated",
        **extra,
    }


def payload(event_id: str, **options: Any) -> bytes:
    return orjson.dumps(event(event_id, **options))


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Headers of a delivery signed like Stripe's (the SDK's own header generator)."""
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"}


class ReceiverProcess:
    """`revenue-assets webhooks serve --port 0 --json` as a child process."""

    def __init__(
        self,
        state: Path,
        env: dict[str, str] | None = None,
        *args: str,
        open_files: tuple[int, int] | None = None,
    ) -> None:
        """`open_files`: the (soft, hard) descriptor limit the receiver starts with."""
        command = [sys.executable, "-m", "revenue_assets.cli.webhooks", "serve"]
        command += ["--port", "0", "--json", "--log-level", "warning", *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "REVENUE_ASSETS_STATE": str(state), **(env or {})},
            preexec_fn=(
                (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, open_files))
                if open_files
                else None
            ),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("{"):
            self.process.kill()
            raise RuntimeError(f"receiver did not start: {line}{self.process.stderr.read()}")
        self.info = json.loads(line)
        self.url: str = self.info["url"]
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ReceiverProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
