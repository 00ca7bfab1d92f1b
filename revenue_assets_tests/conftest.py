"""Shared pytest configuration: every suite can use the Stripe sandbox fixtures, and the long
tests start first, spread over the workers."""

import os

import pytest

pytest_plugins = [
    "revenue_assets_tests.sandbox_fixtures",
    "revenue_assets_tests.synced_fixtures",
]

# Session fixtures that take half a minute or more to set up (see `pytest_collection_modifyitems`).
LONG_SESSION_FIXTURES = ("synced_session_company",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "long: takes half a minute or more; started first, dealt out over the workers"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each worker's share of the long tests at the head of its share of the suite.

    xdist's work-stealing scheduler hands each worker a contiguous slice of the collection and
    later lets an idle worker take the tail of a busy one's queue. A test of a minute or two
    that comes last keeps one worker busy while the other has nothing left: in collection
    order, the suite ran its last minutes on one core. So the long tests are dealt out first,
    one slice each, and the short ones fill in and are stolen at the end. (Every worker
    collects and orders the same way, which the scheduler checks.)
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    # A module marked long as a whole shares a module fixture, and the users of a long session
    # fixture share it: each group stays together, on one worker, so its setup runs once.
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.get_closest_marker("long"):
            whole_module = not any(mark.name == "long" for mark in item.own_markers)
            shared = [name for name in LONG_SESSION_FIXTURES if name in item.fixturenames]
            if shared:
                key = shared[0]
            else:
                key = item.module.__name__ if whole_module and item.module else item.nodeid
            groups.setdefault(key, []).append(item)
    long = list(groups.values())
    short = [item for item in items if not item.get_closest_marker("long")]
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        share = (len(items) - len(ordered)) // (workers - worker)
        mine = [item for group in long[worker::workers] for item in group]
        fill = max(0, share - len(mine))
        ordered += mine + short[:fill]
        del short[:fill]
    items[:] = ordered + short
