"""Pytest fixtures that give any test suite a running Stripe sandbox (registered in conftest.py).

Fixtures:

- `sandbox_session` (session): one shared sandbox on the default small company. Read-only by
  convention: tests that write, advance the clock or change faults use a function-scoped one.
- `sandbox` (function): a fresh sandbox per test. Configure it with the `sandbox` marker:
  `@pytest.mark.sandbox(customers=50, months=6, seed=7, latency_ms=(5, 20), rate_limit=25,
  faults="reset:0.1", webhooks=DeliveryOptions(duplicates=0.5), connected_accounts=1)`.
- `sandbox_factory` (function) / `sandbox_session_factory` (session): `make(**options)` starts
  sandboxes with the same options as the marker; all are stopped at teardown.
- `stripe_client`: a `stripe.StripeClient` on `sandbox_session` (no network retries).
- `webhook_receiver` (function): a local HTTP endpoint recording deliveries (`.url`,
  `.deliveries`, `.wait(n)`, `.fail_next(k, status)`).

Companies are generated once per spec per test process and copied for each fresh sandbox when
the World can reopen a file, so a function-scoped sandbox costs a file copy, not a generation.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from revenue_assets.sandbox.delivery import DeliveryOptions
from revenue_assets.sandbox.runner import Sandbox

# Small enough to generate in under a second, big enough to hold every kind of object (disputes
# and credit notes are rare: smaller companies may have none).
DEFAULT_COMPANY: dict[str, Any] = {"seed": 42, "customers": 800, "months": 12}

__all__ = ["DeliveryOptions", "Sandbox", "SandboxFactory", "WebhookReceiver", "company_spec"]

SERVER_OPTIONS = (
    "latency_ms",
    "rate_limit",
    "endpoint_limit",
    "app_traffic",
    "faults",
    "webhooks",
    "fault_seed",
)


def company_spec(**overrides: Any) -> Any:
    """A CompanySpec from the defaults above and overrides (unknown names raise TypeError)."""
    from revenue_assets.sandbox.world import CompanySpec

    known = {f.name for f in fields(CompanySpec)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown company options: {', '.join(sorted(unknown))}")
    return CompanySpec(**{**DEFAULT_COMPANY, **overrides})


class CompanyCache:
    """Generated company files per spec, copied for each sandbox that needs its own World."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._files: dict[Any, Path] = {}

    def world(self, spec: Any) -> Any:
        from revenue_assets.sandbox.world import World

        opener = getattr(World, "open", None)
        if opener is None:  # the World cannot reopen a file: generate each time
            return World.generate(spec)
        with self._lock:
            source = self._files.get(spec)
            if source is None:
                source = self.directory / f"company-{len(self._files)}.sqlite"
                World.generate(spec, path=source).close()
                self._files[spec] = source
        copy = self.directory / f"copy-{time.monotonic_ns()}.sqlite"
        shutil.copyfile(source, copy)
        return opener(copy)


@dataclass
class SandboxFactory:
    """Starts sandboxes from marker-style options and stops them all at teardown."""

    cache: CompanyCache
    started: list[Sandbox] = field(default_factory=list)

    def __call__(self, world: Any = None, **options: Any) -> Sandbox:
        server = {name: options.pop(name) for name in SERVER_OPTIONS if name in options}
        if world is None:
            world = self.cache.world(company_spec(**options))
        elif options:
            raise TypeError("company options given together with a World")
        sandbox = Sandbox.start(world, owns_world=True, **server)
        self.started.append(sandbox)
        return sandbox

    def close(self) -> None:
        while self.started:
            self.started.pop().close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox(**options): options of the function-scoped `sandbox` fixture: company "
        "(customers, months, seed, connected_accounts, ...) and server (latency_ms, rate_limit, "
        "endpoint_limit, app_traffic, faults, webhooks, fault_seed).",
    )


@pytest.fixture(scope="session")
def sandbox_company_cache(tmp_path_factory: pytest.TempPathFactory) -> CompanyCache:
    return CompanyCache(tmp_path_factory.mktemp("sandbox-companies"))


@pytest.fixture(scope="session")
def sandbox_session_factory(sandbox_company_cache: CompanyCache) -> Iterator[SandboxFactory]:
    factory = SandboxFactory(sandbox_company_cache)
    yield factory
    factory.close()


@pytest.fixture
def sandbox_factory(sandbox_company_cache: CompanyCache) -> Iterator[SandboxFactory]:
    factory = SandboxFactory(sandbox_company_cache)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def sandbox_session(sandbox_session_factory: SandboxFactory) -> Sandbox:
    """The shared read-only sandbox on the default company."""
    return sandbox_session_factory()


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, sandbox_factory: SandboxFactory) -> Sandbox:
    """A fresh sandbox for one test, configured by `@pytest.mark.sandbox(...)`."""
    marker = request.node.get_closest_marker("sandbox")
    options = dict(marker.kwargs) if marker else {}
    return sandbox_factory(**options)


@pytest.fixture
def stripe_client(sandbox_session: Sandbox) -> Any:
    return sandbox_session.client()


# -- webhook receiver ------------------------------------------------------------------------------


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    path: str = ""

    @property
    def signature(self) -> str:
        return self.headers.get("stripe-signature", "")


class WebhookReceiver:
    """A local HTTP endpoint recording what the sandbox delivers; can fail on purpose."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.attempts = 0
        self._failures: list[int] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._cond:
                    receiver.attempts += 1
                    status = receiver._failures.pop(0) if receiver._failures else 200
                    if status == 200:
                        receiver.deliveries.append(
                            Delivery(
                                {k.lower(): v for k, v in self.headers.items()}, body, self.path
                            )
                        )
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhooks"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` deliveries with `status` (the sandbox must retry them)."""
        with self._cond:
            self._failures.extend([status] * count)

    def wait(
        self, count: int, timeout: float = 10.0, predicate: Callable[..., bool] | None = None
    ) -> list[Delivery]:
        """Wait until `count` deliveries (matching `predicate`, if given) were received."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [d for d in self.deliveries if predicate is None or predicate(d)]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(matching)} of {count} webhook deliveries received")
                self._cond.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
