"""The sandbox's listening socket, bound before the server starts.

The sandbox keeps its own copy rather than borrowing the product's: it emulates Stripe and must
run (and be judged) without importing any of the code it serves.
"""

from __future__ import annotations

import socket


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), bound before its server starts, so the URL
    is known first (tests in parallel never collide; an endpoint can be registered first)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock
