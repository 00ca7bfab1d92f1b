"""Run the sandbox: in a background thread (tests, the demo), in the foreground (the CLI), or as
a subprocess (benchmarks, which must account the server's CPU apart from the client's).

    with Sandbox.start(CompanySpec(customers=200), latency_ms=(5, 20)) as sb:
        client = sb.client()              # stripe.StripeClient bound to the sandbox
        client.v1.customers.list({"limit": 100})
        sb.restricted_key(["rak_charge_read"])

    with Sandbox.spawn(CompanySpec(customers=50_000)) as proc:   # a separate process
        proc.base_url, proc.secret_key, proc.cpu_seconds()

The server is uvicorn with httptools on a socket bound before start (port 0 picks a free port,
so parallel test workers never collide). The HTTP protocol is subclassed only to hand the
connection's transport to the app, which needs it to reset a connection mid-body on demand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from revenue_assets.sandbox.auth import KeyRing
from revenue_assets.sandbox.delivery import DeliveryOptions
from revenue_assets.sandbox.server import SandboxApp, WorldAPI
from revenue_assets.sandbox.sockets import bind

log = logging.getLogger(__name__)

KEYS_META = "sandbox.server.keys"


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, exposing the transport as `scope["sandbox.transport"]`."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["sandbox.transport"] = self.transport  # type: ignore[typeddict-unknown-key]


def open_world(spec: Any = None, data: str | os.PathLike[str] | None = None) -> WorldAPI:
    """Generate a company from `spec` (into `data` when given), or reopen an existing `data` file."""
    from revenue_assets.sandbox.world import CompanySpec, World

    if data is not None and Path(data).exists() and Path(data).stat().st_size > 0:
        opener = getattr(World, "open", None)
        if opener is not None:
            return opener(data)
    return World.generate(spec or CompanySpec(), path=data)


def keys_for(world: WorldAPI) -> KeyRing:
    """The world's keys, created once and kept in its store, so a reopened company keeps them."""
    saved = world.store.get_meta(KEYS_META)
    if saved:
        return KeyRing(saved["secret_key"], saved["live_key"], saved["read_key"])
    keys = KeyRing.generate()
    world.store.set_meta(KEYS_META, keys.as_dict())
    return keys


class Sandbox:
    """A running sandbox: its World, its keys, and the ASGI app served by uvicorn."""

    def __init__(
        self,
        world: WorldAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keys: KeyRing | None = None,
        latency_ms: Any = None,
        rate_limit: Any = None,
        endpoint_limit: Any = None,
        app_traffic: float = 0.0,
        faults: Any = None,
        webhooks: DeliveryOptions | None = None,
        fault_seed: int | None = None,
        owns_world: bool = False,
    ) -> None:
        self.world = world
        self.keys = keys or keys_for(world)
        self.app = SandboxApp(
            world,
            self.keys,
            rate_limit=rate_limit,
            endpoint_limit=endpoint_limit,
            app_traffic=app_traffic,
            faults=faults,
            latency_ms=latency_ms,
            webhooks=webhooks,
            fault_seed=fault_seed,
        )
        self._socket = bind(host, port)
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.host, self.port = bound_host, bound_port
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.base_url = f"http://{url_host}:{bound_port}"
        self._owns_world = owns_world
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        world_or_spec: Any = None,
        *,
        data: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: Any = None,
        rate_limit: Any = None,
        endpoint_limit: Any = None,
        app_traffic: float = 0.0,
        faults: Any = None,
        webhooks: DeliveryOptions | None = None,
        fault_seed: int | None = None,
        keys: KeyRing | None = None,
        owns_world: bool | None = None,
    ) -> Sandbox:
        """Serve a World (or a company generated from a CompanySpec) in a background thread.

        `latency_ms`: (lo, hi) or "lo-hi"; `rate_limit`: None/"off", "auto", "live", "test" or
        req/s; `endpoint_limit`: None/"off", req/s per operation, or "25,GET /v1/charges=50";
        `app_traffic`: req/s of the account's own app on the live key; `faults`: a SPEC string or {kind: probability} (see faults.py). A World made
        here is closed with the sandbox; a World passed in only when `owns_world=True`.
        """
        generate = world_or_spec is None or not hasattr(world_or_spec, "store")
        world = open_world(world_or_spec, data) if generate else world_or_spec
        owns = generate if owns_world is None else owns_world
        sandbox = cls(
            world,
            host=host,
            port=port,
            keys=keys,
            latency_ms=latency_ms,
            rate_limit=rate_limit,
            endpoint_limit=endpoint_limit,
            app_traffic=app_traffic,
            faults=faults,
            webhooks=webhooks,
            fault_seed=fault_seed,
            owns_world=owns,
        )
        sandbox.start_background()
        return sandbox

    @staticmethod
    def spawn(spec: Any = None, **options: Any) -> SandboxProcess:
        """Run the sandbox as a subprocess (see SandboxProcess.spawn)."""
        return SandboxProcess.spawn(spec, **options)

    def _config(self, log_level: str = "warning") -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            http=_Protocol,
            loop=_loop(),
            lifespan="off",
            access_log=False,
            date_header=False,  # the app sends Stripe's Date: the sandbox clock
            log_level=log_level,
            timeout_keep_alive=75,
            timeout_graceful_shutdown=3,
            backlog=2048,
        )

    def start_background(self) -> None:
        """Serve on a daemon thread; returns once the server accepts connections."""
        self.app.start()
        self._server = uvicorn.Server(self._config())
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True, name="sandbox"
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox server failed to start")
            time.sleep(0.01)

    def serve_forever(self, log_level: str = "warning") -> None:
        """Serve in the calling (main) thread until Ctrl-C or SIGTERM."""
        self.app.start()
        self._server = uvicorn.Server(self._config(log_level))
        try:
            self._server.run(sockets=[self._socket])
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.app.close()
        with contextlib.suppress(OSError):
            self._socket.close()
        if self._owns_world:
            closer = getattr(self.world, "close", None)
            if closer is not None:
                closer()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what tests and tools use ------------------------------------------------------------------

    @property
    def secret_key(self) -> str:
        return self.keys.secret_key

    @property
    def live_key(self) -> str:
        return self.keys.live_key

    @property
    def read_key(self) -> str:
        return self.keys.read_key

    @property
    def account_id(self) -> str:
        return self.world.account_id

    @property
    def connected_account_ids(self) -> list[str]:
        return list(self.world.connected_account_ids)

    def restricted_key(self, permissions: Iterable[str], livemode: bool = False) -> str:
        """A new `rk_…` key holding exactly these permissions (e.g. `rak_charge_read`)."""
        return self.keys.restricted_key(permissions, livemode)

    def client(self, key: str | None = None, **options: Any) -> Any:
        """A `stripe.StripeClient` on this sandbox (no network retries unless asked)."""
        import stripe

        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            key or self.secret_key, base_addresses={"api": self.base_url}, **options
        )

    def advance(self, seconds: int) -> list[dict[str, Any]]:
        """Move the clock (the billing engine runs); serialized with API writes."""
        with self.app.world_lock:
            return self.world.advance(seconds)

    def set_faults(self, faults: Any = None, latency_ms: Any = None) -> None:
        """Change fault rates and/or latency at runtime ("off" clears faults)."""
        self.app.misbehaviour.configure(faults, latency_ms)

    def set_rate_limit(self, rate_limit: Any = None, endpoint_limit: Any = None) -> None:
        """Change the global and/or per-operation limits (None leaves one unchanged)."""
        self.app.limiter.configure(rate_limit, endpoint_limit)

    def set_app_traffic(self, rate: float) -> None:
        """Requests per second of the account's own app (0 stops it)."""
        self.app.app_traffic.configure(rate)

    def set_webhooks(self, **changes: Any) -> None:
        """Change webhook delivery options at runtime (duplicates=, reorder_ms=, ...)."""
        self.app.delivery.configure(**changes)

    def counters(self) -> dict[str, Any]:
        return self.app.counters_snapshot()

    def reset_counters(self) -> None:
        self.app.reset_counters()

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """Wait until every webhook delivery so far succeeded or was given up."""
        return self.app.delivery.wait_idle(timeout)


def _loop() -> str:
    try:
        import uvloop  # noqa: F401

        return "uvloop"
    except ImportError:
        return "asyncio"


class SandboxProcess:
    """A sandbox in a child process, driven by its CLI and private routes."""

    def __init__(self, process: subprocess.Popen[str], info: Mapping[str, Any]) -> None:
        self.process = process
        self.info = dict(info)
        self.base_url: str = info["base_url"]
        self.secret_key: str = info["secret_key"]
        self.live_key: str = info["live_key"]
        self.read_key: str = info["read_key"]
        self.account_id: str = info["account_id"]
        self.generation_seconds: float = float(info.get("generation_seconds") or 0.0)
        self._http = requests.Session()
        self._http.trust_env = False  # the sandbox is on loopback: never through a proxy
        self._http.headers["Authorization"] = f"Bearer {self.secret_key}"

    @classmethod
    def spawn(
        cls,
        spec: Any = None,
        *,
        data: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: str | None = None,
        rate_limit: str | None = "off",
        endpoint_limit: str | None = "off",
        app_traffic: float = 0.0,
        faults: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 900,
    ) -> SandboxProcess:
        """Start `revenue-assets sandbox serve` and wait for its ready line."""
        args = [sys.executable, "-m", "revenue_assets.cli.sandbox", "serve", "--json"]
        args += ["--host", host, "--port", str(port)]
        if spec is not None:
            args += ["--seed", str(spec.seed), "--customers", str(spec.customers)]
            args += ["--months", str(spec.months)]
            if getattr(spec, "connected_accounts", None) is not None:
                args += ["--connected-accounts", str(spec.connected_accounts)]
        if data is not None:
            args += ["--data", str(data)]
        if latency_ms:
            args += ["--latency-ms", latency_ms]
        if rate_limit:
            args += ["--rate-limit", rate_limit]
        if endpoint_limit:
            args += ["--endpoint-limit", endpoint_limit]
        if app_traffic:
            args += ["--app-traffic", str(app_traffic)]
        if faults:
            args += ["--faults", faults]
        args += list(extra_args)
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert process.stdout is not None
        ready: dict[str, Any] | None = None
        deadline = time.monotonic() + timeout
        while ready is None:
            line = process.stdout.readline()
            if not line:
                process.wait(timeout=5)
                raise RuntimeError(f"the sandbox process exited with {process.returncode}")
            if line.startswith("{"):
                ready = json.loads(line)
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError("the sandbox process did not become ready")
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        return cls(process, ready)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def control(self, method: str, name: str, **params: Any) -> dict[str, Any]:
        """Call a private `/_sandbox/<name>` route."""
        response = self._http.request(
            method, f"{self.base_url}/_sandbox/{name}", json=params or None, timeout=600
        )
        response.raise_for_status()
        return response.json()

    def restricted_key(self, permissions: Iterable[str], livemode: bool = False) -> str:
        return self.control("POST", "keys", permissions=list(permissions), livemode=livemode)["key"]

    def counters(self) -> dict[str, Any]:
        return self.control("GET", "counters")

    def advance(self, seconds: int) -> dict[str, Any]:
        return self.control("POST", "clock", seconds=seconds)

    def set_faults(self, faults: str | None = None, latency_ms: str | None = None) -> None:
        self.control("POST", "faults", faults=faults, latency_ms=latency_ms)

    def set_rate_limit(
        self, rate_limit: str | None = None, endpoint_limit: str | None = None
    ) -> None:
        self.control("POST", "rate_limit", rate_limit=rate_limit, endpoint_limit=endpoint_limit)

    def set_app_traffic(self, rate: float) -> None:
        self.control("POST", "app_traffic", rate=rate)

    def close(self) -> None:
        self._http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drain(stream: Any) -> None:
    for _ in stream:
        pass
