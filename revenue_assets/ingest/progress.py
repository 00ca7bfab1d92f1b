"""Progress of a running sync, for whoever watches in the same process (the CLI's bars).

The sync engine reports (table, objects fetched) as pages arrive. `revenue-assets sync` runs
Dagster in-process and listens here; under the daemon nobody listens and reports cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int], None]
_listeners: list[Listener] = []


def report(table: str, objects: int) -> None:
    for listener in _listeners:
        listener(table, objects)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)
