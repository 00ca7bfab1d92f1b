"""First come, first served access to the warehouse's file lock.

`filelock` polls: whoever tries at the right moment wins, and the likeliest winner is the process
that has just released it. A run of several warehouse steps (the revenue rebuild, then the
dashboard, then the checks) therefore kept the file for all of them back to back, while a
webhook's merge of a few milliseconds, waiting since the start of the rebuild, waited for all
three. Here each process takes a ticket when it starts waiting and takes the lock only when no
older ticket is left: the merge goes between the steps.

A ticket is a file in a directory beside the lock, named by the time it was taken, and held
open under an exclusive `flock` by its owner; an older ticket whose `flock` can be taken has no
live owner (the kernel releases it when a process dies, kill -9 included) and is removed by
whoever finds it. The file lock itself still guarantees exclusion: a process that takes it
without a ticket (an older version, a test, another tool), or whose ticket sorts wrong because
the wall clock stepped back, is only not served in turn.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

POLL_S = 0.02


def queue_path(lock: Path) -> Path:
    return lock.with_name(lock.name + ".queue")


@contextmanager
def lock_in_turn(lock: Path, timeout_s: float) -> Iterator[None]:
    """Hold `lock` (a `filelock` lock file) once every process that asked before has had it.

    Raises `filelock.Timeout` after `timeout_s` seconds of waiting, in the queue or for the lock.
    """
    deadline = time.monotonic() + timeout_s
    queue = queue_path(lock)
    queue.mkdir(parents=True, exist_ok=True)
    ticket, descriptor = _take_ticket(queue)
    try:
        while (ahead := _oldest_live_ticket(queue)) is not None and ahead < ticket.name:
            if time.monotonic() >= deadline:
                raise Timeout(str(lock))
            time.sleep(POLL_S)
        with FileLock(str(lock), timeout=max(0.0, deadline - time.monotonic())):
            yield
    finally:
        ticket.unlink(missing_ok=True)
        os.close(descriptor)


def others_waiting(lock: Path) -> bool:
    """Whether a process other than the holder waits for `lock` in turn (the holder's own ticket
    is the oldest live one). For a long holder that can let them in between two units of work."""
    queue = queue_path(lock)
    return queue.exists() and sum(map(_alive, queue.iterdir())) > 1


def _take_ticket(queue: Path) -> tuple[Path, int]:
    """A new ticket, held: its name sorts after every ticket taken before it."""
    while True:
        ticket = queue / f"{time.time_ns():020d}-{os.getpid()}-{threading.get_ident()}"
        try:
            descriptor = os.open(ticket, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:  # the same nanosecond in the same thread: the clock is coarse
            continue
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        # Another waiter may have found it unlocked between its creation and the flock above,
        # taken it for a dead process's and removed it: then take another.
        try:
            if os.stat(ticket).st_ino == os.fstat(descriptor).st_ino:
                return ticket, descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


def _oldest_live_ticket(queue: Path) -> str | None:
    """The name of the oldest ticket whose owner is alive."""
    return next((name for name in sorted(os.listdir(queue)) if _alive(queue / name)), None)


def _alive(ticket: Path) -> bool:
    """Whether the ticket's owner holds it; a dead owner's ticket is removed."""
    try:
        descriptor = os.open(ticket, os.O_RDONLY)
    except FileNotFoundError:
        return False  # its owner is done with it
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        # Nobody holds it: its owner died (or has only just created it, and sees it gone once
        # this lock is released). Removed while locked, so that no owner can take it in
        # between and keep a ticket nobody else sees.
        ticket.unlink(missing_ok=True)
        return False
    finally:
        os.close(descriptor)
