"""Child processes of `demo --live`, each in its own process group, stopped without leftovers.

Every child starts a new session, so a Ctrl-C in the terminal reaches the demo alone, which
then stops the children in its own order. `dagster dev` has children of its own (webserver,
daemon, code server, run workers); stopping it asks it to shut them down (SIGINT, as a Ctrl-C
would), and whatever is still alive in its group after a grace period is terminated, then
killed: the group id is the child's pid, so nothing outside it is touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


class ChildProcess:
    """A started child and its process group; output goes to a log file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    def start(
        cls, name: str, args: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path
    ) -> ChildProcess:
        output: IO[bytes] = log.open("ab")
        try:
            process = subprocess.Popen(
                list(args),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            output.close()
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def group_members(self) -> list[int]:
        """Live processes of the child's group (the child and everything it started)."""
        return group_members(self.pid)

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGINT to the child, then SIGTERM and SIGKILL to whatever is left of its group."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace_s)
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if not self.group_members() and not self.alive():
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + wait_s
            while (self.group_members() or self.alive()) and time.monotonic() < deadline:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


def _live_processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live, not zombie, process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found.append((int(entry.name), int(fields[1]), int(fields[2])))
    return found


def group_members(group: int) -> list[int]:
    """Pids of live processes whose process group is `group`."""
    return [pid for pid, _, pgrp in _live_processes() if pgrp == group]


def descendants(pid: int) -> list[int]:
    """Pids of every live process below `pid` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for child, parent, _ in _live_processes():
        parents.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
