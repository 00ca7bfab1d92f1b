"""What one client may hold of the receiver: a connection for a bounded time, and one place
among a bounded number.

uvicorn waits forever for a request that arrives slowly (it times out only idle keep-alive
connections) and accepts connections until the process runs out of file descriptors: a
thousand clients that trickle their bodies a byte at a time then hold every descriptor, and
Stripe's deliveries get no answer at all. Two bounds keep them answered:

- a request, headers and body, must arrive whole within `read_timeout_s` of the connection
  (or, on a kept-alive connection, of its first byte); a slower one gets 408 and is closed;
- at most `max_connections` connections are open at once, fewer than the descriptors the
  process may hold. A connection beyond the cap closes the oldest one that is not being
  answered (still sending its request, or idle between requests): a client that holds a
  place without sending gives it up to the next one, so a delivery that sends its body at
  once is answered in milliseconds whatever the slow ones do, and one whose body has arrived
  is never cut.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from dataclasses import dataclass, field

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from revenue_assets.webhooks.log_limiter import LogLimiter

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 4096
DEFAULT_READ_TIMEOUT_S = 10.0  # Stripe sends an event's few KiB at once


def descriptor_reserve(soft_limit: int) -> int:
    """Descriptors kept out of the cap: the listening socket, the state file and its journal,
    logs, the event loop's own, and connections accepted in one burst before the ones they
    displace are closed (closing completes on the loop's next turn)."""
    return max(64, soft_limit // 8)


def connection_cap(wanted: int) -> int:
    """How many connections the receiver may hold: `wanted`, or fewer when the descriptor limit
    is lower. Raises the soft limit first, as far as the hard one allows (an unprivileged
    process may), since the soft default (often 1,024) is what a slow-client flood exhausts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    need = wanted + descriptor_reserve(wanted)
    if soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError) as error:
                log.warning("could not raise the open-file limit to %d: %s", target, error)
    cap = max(1, min(wanted, soft - descriptor_reserve(soft)))
    if cap < wanted:
        log.warning(
            "serving at most %d connections at once: the open-file limit is %d (raise it with "
            "`ulimit -n` to allow more)",
            cap,
            soft,
        )
    return cap


@dataclass
class ConnectionLimits:
    """The bounds, and the open connections oldest first (shared by one server's protocols)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    open: OrderedDict[BoundedHttpProtocol, None] = field(default_factory=OrderedDict)
    timed_out: int = 0
    displaced: int = 0
    refused: int = 0
    _log: LogLimiter = field(default_factory=lambda: LogLimiter(log))

    def protocol(self) -> type[BoundedHttpProtocol]:
        """The uvicorn HTTP protocol class to serve with (uvicorn builds one per connection)."""
        return type("BoundedHttpProtocol", (BoundedHttpProtocol,), {"limits": self})

    def admit(self, connection: BoundedHttpProtocol) -> None:
        """Note a new connection; over the cap, close the oldest one not being answered."""
        self.open[connection] = None
        if len(self.open) <= self.max_connections:
            return
        victim = next((c for c in self.open if c is not connection and not c.answering), None)
        if victim is None:  # every other connection is being answered: refuse this one
            self.refused += 1
            connection.cut(503)
        else:
            self.displaced += 1
            victim.cut(408)
        self._log.warning(
            "connection cap reached (%d): cut %d connection(s) that held a place without "
            "sending a request, refused %d",
            self.max_connections,
            self.displaced,
            self.refused,
        )

    def release(self, connection: BoundedHttpProtocol) -> None:
        self.open.pop(connection, None)

    def expired(self, connection: BoundedHttpProtocol) -> None:
        self.timed_out += 1
        self._log.warning(
            "cut %d connection(s) whose request did not arrive within %g s",
            self.timed_out,
            self.read_timeout_s,
        )
        connection.cut(408)


_STATUS_LINES = {408: b"408 Request Timeout", 503: b"503 Service Unavailable"}


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline per request and a place under the cap."""

    limits: ConnectionLimits  # set on the subclass `ConnectionLimits.protocol()` makes

    _deadline: asyncio.TimerHandle | None = None

    @property
    def answering(self) -> bool:
        """The request arrived whole and its answer is not sent yet: never cut."""
        cycle = self.cycle
        return cycle is not None and not cycle.more_body and not cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self.limits.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.limits.release(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.limits.read_timeout_s, self.limits.expired, self)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def cut(self, status: int) -> None:
        """Close the connection, answering `status` first if a request has begun and has no
        answer yet. The request's handler, if one waits for the body, sees the client gone."""
        begun = self._deadline is not None  # begun and not arrived whole (or not even begun)
        self._disarm()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        current = cycle is not None and cycle.scope is self.scope  # its headers arrived
        if begun and not (current and cycle.response_started):
            self.transport.write(
                b"HTTP/1.1 "
                + _STATUS_LINES[status]
                + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        if current:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()
