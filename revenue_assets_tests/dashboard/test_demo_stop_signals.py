"""Ctrl-C stops the live demo even when it was started with SIGINT ignored.

A process started in the background of a non-interactive shell (`revenue-assets demo --live &`
in a script, a CI step, a test runner started that way) inherits SIGINT ignored, and Python
keeps it ignored: the demo then never saw the Ctrl-C (or `kill -INT`) it promises to stop on.
"""

from __future__ import annotations

import signal
import subprocess
import sys

# Inside the demo's stop-signal scope, the process sends itself `signal`; it must arrive as a
# KeyboardInterrupt, as Ctrl-C does (exit 0), not be ignored (exit 1).
CHILD = """
import os, signal, sys, time
from revenue_assets.demo.live import stop_signals_interrupt
with stop_signals_interrupt():
    try:
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        time.sleep(5)
    except KeyboardInterrupt:
        sys.exit(0)
sys.exit(1)
"""


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_sigint_and_sigterm_interrupt_the_demo_even_if_sigint_was_ignored() -> None:
    for name in ("SIGINT", "SIGTERM"):
        child = subprocess.run(
            [sys.executable, "-c", CHILD, name],
            preexec_fn=_ignore_sigint,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 0, (name, child.stderr[-2000:])
