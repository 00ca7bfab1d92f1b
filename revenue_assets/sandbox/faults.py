"""Misbehaviour on demand: latency, random 500/503, connection resets mid-body, truncated bodies.

Real syncs meet all of these over hours of paging (a truncated list body is a known way for
long syncs to crash), so the code under test must survive them; the sandbox produces them at chosen
rates. A fault SPEC is a comma-separated list of `kind:probability`, e.g.
`500:0.02,503:0.01,reset:0.01,truncate:0.01`; kinds:

- `500`, `503`: the request fails before it is handled, with Stripe's `api_error` body;
- `reset`: the request is handled, then the response headers and part of the body are sent and
  the connection is aborted (TCP reset);
- `truncate`: the request is handled and answered with valid HTTP whose JSON body is cut short.

`off` (or an empty SPEC) disables faults. Probabilities are per API request and must sum to ≤ 1.
Private `/_sandbox` routes never fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("500", "503", "reset", "truncate")

FAULT_BODIES: dict[str, bytes] = {
    "500": b'{"error":{"message":"An unknown error occurred","type":"api_error"}}',
    "503": (
        b'{"error":{"message":"Stripe is temporarily unavailable. Please try again later.",'
        b'"type":"api_error"}}'
    ),
}


@dataclass(frozen=True)
class FaultSpec:
    """Probabilities of each fault kind per request."""

    rates: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str | Mapping[str, float] | FaultSpec | None) -> FaultSpec:
        if isinstance(spec, FaultSpec):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, Mapping):
            items = [(str(kind), float(rate)) for kind, rate in spec.items()]
        else:
            text = spec.strip().lower()
            if text in ("", "off", "none"):
                return cls()
            items = []
            for part in text.split(","):
                kind, sep, rate = part.strip().partition(":")
                if not sep:
                    raise ValueError(f"invalid fault {part!r}: expected kind:probability")
                try:
                    items.append((kind.strip(), float(rate)))
                except ValueError:
                    raise ValueError(f"invalid fault probability in {part!r}") from None
        merged: dict[str, float] = {}
        for kind, rate in items:
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r}: use one of {', '.join(FAULT_KINDS)}"
                )
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault probability of {kind} must be within 0..1, got {rate}")
            merged[kind] = merged.get(kind, 0.0) + rate
        if sum(merged.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities sum to more than 1")
        return cls(tuple((kind, rate) for kind, rate in merged.items() if rate > 0))

    def __str__(self) -> str:
        return ",".join(f"{kind}:{rate:g}" for kind, rate in self.rates) or "off"

    def as_dict(self) -> dict[str, float]:
        return dict(self.rates)


def parse_latency(spec: str | tuple[float, float] | float | None) -> tuple[float, float]:
    """Latency range in milliseconds: `"50-200"`, `"100"`, `(50, 200)` -> seconds `(lo, hi)`."""
    if spec is None:
        return (0.0, 0.0)
    if isinstance(spec, tuple | list):
        low, high = float(spec[0]), float(spec[1])
    elif isinstance(spec, int | float):
        low = high = float(spec)
    else:
        text = spec.strip()
        if text in ("", "0", "off"):
            return (0.0, 0.0)
        low_text, sep, high_text = text.partition("-")
        try:
            low = float(low_text)
            high = float(high_text) if sep else low
        except ValueError:
            raise ValueError(f"invalid latency {spec!r}: expected LO-HI in milliseconds") from None
    if low < 0 or high < low:
        raise ValueError(f"invalid latency range {spec!r}")
    return (low / 1000.0, high / 1000.0)


class Misbehaviour:
    """The current latency range and fault rates, changeable at runtime from any thread."""

    def __init__(
        self,
        faults: str | Mapping[str, float] | FaultSpec | None = None,
        latency_ms: str | tuple[float, float] | float | None = None,
        seed: int | None = None,
    ) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.spec = FaultSpec.parse(faults)
        self.latency = parse_latency(latency_ms)

    def configure(
        self,
        faults: str | Mapping[str, float] | FaultSpec | None = None,
        latency_ms: str | tuple[float, float] | float | None = None,
    ) -> None:
        """Replace the fault rates and/or the latency range (None leaves one unchanged)."""
        with self._lock:
            if faults is not None:
                self.spec = FaultSpec.parse(faults)
            if latency_ms is not None:
                self.latency = parse_latency(latency_ms)

    def delay(self) -> float:
        """Seconds to wait before answering this request."""
        low, high = self.latency
        if high <= 0:
            return 0.0
        return low if high == low else self._random.uniform(low, high)

    def draw(self) -> str | None:
        """The fault kind to inflict on this request, if any."""
        rates = self.spec.rates
        if not rates:
            return None
        point = self._random.random()
        for kind, rate in rates:
            if point < rate:
                return kind
            point -= rate
        return None

    def describe(self) -> dict[str, Any]:
        low, high = self.latency
        return {"faults": str(self.spec), "latency_ms": [low * 1000.0, high * 1000.0]}


def truncate(body: bytes) -> bytes:
    """A JSON body cut short (at least one byte removed, so it never parses)."""
    return body[: max(0, min(len(body) - 1, len(body) // 2))]


async def reset_mid_body(
    scope: Any, send: Any, status: int, headers: list[Any], body: bytes
) -> None:
    """Send the headers announcing the whole body and part of it, then reset the connection.

    The server protocol exposes its transport as `scope["sandbox.transport"]`; with it the
    socket is closed with SO_LINGER 0, which makes the kernel send a TCP RST. Without it the
    exception makes the ASGI server drop the connection, which the client sees alike.
    """
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": truncate(body), "more_body": True})
    transport = scope.get("sandbox.transport")
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: connection reset mid-body")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let the server see the connection lost before the app returns, so it does not log an
    # incomplete response as an application error.
    for _ in range(3):
        await asyncio.sleep(0)
