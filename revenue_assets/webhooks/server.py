"""Serving the receiver with uvicorn: in the foreground (the CLI), or on a background thread
(tests, the demo). httptools parses HTTP and uvloop runs the loop when installed; the socket
is bound before the server starts, so port 0 gives a free port whose URL is known up front.
What a client may hold (time, a place among the connections) is bounded by connections.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Sequence

import uvicorn

from revenue_assets.webhooks.connections import connection_cap
from revenue_assets.webhooks.receiver import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Receiver,
    ReceiverConfig,
    create_receiver,
)
from revenue_assets.webhooks.sockets import bind, url_of


def uvicorn_config(
    receiver: Receiver,
    *,
    log_level: str = "info",
    access_log: bool = False,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> uvicorn.Config:
    limits = receiver.connections
    limits.max_connections = connection_cap(receiver.config.max_connections)
    return uvicorn.Config(
        receiver.app,
        http=limits.protocol(),  # httptools, with a deadline per request and a connection cap
        loop="auto",  # uvloop when installed
        lifespan="on",
        interface="asgi3",  # a bound method: uvicorn's detection would guess ASGI2
        access_log=access_log,
        log_level=log_level,
        server_header=False,
        date_header=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=10,
        backlog=2048,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


class BackgroundReceiver:
    """The receiver on a daemon thread of this process (tests, the demo).

    with BackgroundReceiver(config) as rx:
        rx.url  # http://127.0.0.1:<free port>
        rx.receiver.writer.status  # what /healthz shows
    """

    def __init__(
        self,
        config: ReceiverConfig,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        """`sock`: a socket from `bind()`, when the URL must be known before the receiver can
        start (register the endpoint, which stores the secret, then serve)."""
        self.receiver = create_receiver(config)
        self._socket = sock or bind(host, port)
        self.url = url_of(self._socket)
        self._server = uvicorn.Server(uvicorn_config(self.receiver, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver failed to start")
            time.sleep(0.01)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> BackgroundReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    config: ReceiverConfig,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str, Receiver], None] | None = None,
    log_level: str = "info",
    access_log: bool = False,
    ssl: Sequence[str] | None = None,
) -> None:
    """Serve in the calling thread until SIGINT/SIGTERM (then finish in-flight requests)."""
    receiver = create_receiver(config)
    sock = bind(host, port)
    url = url_of(sock, "https" if ssl else "http")
    if on_ready is not None:
        receiver.ready_callbacks.append(lambda: on_ready(url, receiver))
    certfile, keyfile = (ssl[0], ssl[1]) if ssl else (None, None)
    server = uvicorn.Server(
        uvicorn_config(
            receiver,
            log_level=log_level,
            access_log=access_log,
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        with contextlib.suppress(OSError):
            sock.close()
