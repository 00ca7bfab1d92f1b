"""Concurrent listing over `created` windows against the sandbox: windows are split where it
pays, and every object is listed exactly once."""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

import pytest

from revenue_assets.catalog.pages import PageMeta
from revenue_assets.catalog.tables import TABLES_BY_NAME
from revenue_assets.stripe_api.listing import Lister, Window
from revenue_assets_tests.helpers import (
    access_for,
    company_range,
    sandbox_objects,
    sandbox_partitions,
)


class CountingSink:
    """Counts every object id the listing delivers, per table."""

    fatal_errors = ()

    def __init__(self) -> None:
        self.ids: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def page(self, table: str, body: memoryview, meta: PageMeta, **_: Any) -> None:
        with self._lock:
            self.ids.update((table, object_id) for object_id in meta.ids)

    def children_listed(self, table: str, parent: tuple[str, int]) -> None:
        pass


def list_charges(sandbox, **lister_options: Any) -> tuple[CountingSink, list[dict[str, Any]]]:
    """List every charge of the sandbox company; return the sink and the params of each request."""
    access = access_for(sandbox, rate_limit=200.0)
    requests: list[dict[str, Any]] = []
    fetch = access.fetch

    def recording_fetch(path: str, params: dict[str, Any] | None = None, *args, **kwargs):
        requests.append(dict(params or {}))
        return fetch(path, params, *args, **kwargs)

    access.fetch = recording_fetch  # observe the real requests; they still go to the sandbox
    # From the company's first month, as a sync after `account_start`.
    partitions = sandbox_partitions(sandbox, start=company_range(sandbox)[0])
    windows = [Window(p.start, p.end, (p.key,)) for p in partitions]
    sink = CountingSink()
    result = Lister(access, sink, **lister_options).run([(TABLES_BY_NAME["charge"], windows)])
    assert result["charge"].error is None
    assert result["charge"].completed_partitions == {p.key for p in partitions}
    return sink, requests


@pytest.mark.sandbox(latency_ms=(30, 30))
def test_a_long_table_is_split_into_windows_and_listed_once(sandbox) -> None:
    charges = set(sandbox_objects(sandbox.world, "charge"))
    sink, requests = list_charges(sandbox)

    assert {object_id for _, object_id in sink.ids} == charges
    assert set(sink.ids.values()) == {1}, "an object was listed twice"
    # Split: several windows (a window starts with a request without a cursor).
    windows = [r["created"] for r in requests if "starting_after" not in r]
    assert len(windows) > 3
    # Only where it pays: each window costs at most one request beyond full pages (its
    # partial last page), and there are not many more windows than requests in flight.
    assert len(requests) <= math.ceil(len(charges) / 100) + len(windows)
    assert len(windows) <= 4 * 11  # 200 req/s x 30 ms x 1.5 + 2 wanted in flight


@pytest.mark.sandbox(latency_ms=(30, 30))
def test_a_window_is_not_split_below_its_minimum_part(sandbox) -> None:
    charges = set(sandbox_objects(sandbox.world, "charge"))
    sink, requests = list_charges(sandbox, min_part_pages=10_000)

    assert {object_id for _, object_id in sink.ids} == charges
    windows = [r["created"] for r in requests if "starting_after" not in r]
    assert len(windows) == 1  # one span over every month, continued by cursor
    assert len(requests) == math.ceil(len(charges) / 100)


def test_a_page_ending_in_the_windows_first_second_continues_there(sandbox) -> None:
    """More than a page of objects created in one second, at the start of the window: the first
    page ends in the window's first second, and the rest of that second follows by cursor."""
    client = sandbox.client()
    second = sandbox.world.now  # the sandbox clock stands still: every create is this second
    created = {client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(150)}
    access = access_for(sandbox)
    sink = CountingSink()
    window = Window(second, second + 3600, ("now",))
    result = Lister(access, sink).run([(TABLES_BY_NAME["customer"], [window])])

    assert result["customer"].error is None
    listed = {object_id: n for (table, object_id), n in sink.ids.items() if table == "customer"}
    assert set(listed) == created
    assert set(listed.values()) == {1}
