"""Cursor pagination at scale: 12,000 customers, many created in the same second.

Stripe orders lists by creation time, newest first, and objects created in the same second
still page without gaps or repeats. The company here is a small generated one plus 12,000
minimal customers written straight into the World's store in bursts of 37 per second (the
server serves whatever the store holds), so the test stays fast while every cursor lands on
a tie.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from revenue_assets.sandbox.runner import Sandbox
from revenue_assets.sandbox.store import row_for
from revenue_assets_tests.sandbox_fixtures import CompanyCache, SandboxFactory

EXTRA_CUSTOMERS = 12_000
PER_SECOND = 37


@pytest.fixture(scope="module")
def crowded(sandbox_company_cache: CompanyCache) -> Iterator[Sandbox]:
    factory = SandboxFactory(sandbox_company_cache)
    sandbox = factory(customers=20, months=2, seed=3)
    start = sandbox.world.now - 400 * 86_400
    sandbox.world.store.put_rows(
        row_for(
            {
                "id": f"cus_crowd{n:06d}",
                "object": "customer",
                "created": start + n // PER_SECOND,
                "livemode": False,
            },
            sandbox.account_id,
        )
        for n in range(EXTRA_CUSTOMERS)
    )
    yield sandbox
    factory.close()


def expected_order(sandbox: Sandbox) -> list[str]:
    live = list(
        sandbox.world.store.iter_objects("customer", sandbox.account_id, include_deleted=False)
    )
    indexed = sorted(enumerate(live), key=lambda item: (item[1]["created"], item[0]), reverse=True)
    return [obj["id"] for _, obj in indexed]


def test_auto_pagination_yields_every_id_once_in_order(crowded: Sandbox) -> None:
    client = crowded.client()
    expected = expected_order(crowded)
    assert len(expected) > 10_000
    got = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert len(got) == len(set(got)) == len(expected)
    assert got == expected


def test_backward_pagination_yields_every_id_once(crowded: Sandbox) -> None:
    client = crowded.client()
    expected = expected_order(crowded)
    oldest = expected[-1]
    pages = client.v1.customers.list({"limit": 100, "ending_before": oldest}).auto_paging_iter()
    got = [c.id for c in pages]
    assert len(got) == len(set(got)) == len(expected) - 1
    assert set(got) == set(expected[:-1])


def test_created_windows_split_on_ties_are_exact(crowded: Sandbox) -> None:
    client = crowded.client()
    objects = list(
        crowded.world.store.iter_objects("customer", crowded.account_id, include_deleted=False)
    )
    crowd = [o for o in objects if o["id"].startswith("cus_crowd")]
    t = crowd[len(crowd) // 2]["created"]
    for window in ({"gte": t, "lt": t + 3}, {"gt": t, "lte": t + 3}, {"gte": t, "lte": t}):
        got = {
            c.id
            for c in client.v1.customers.list({"limit": 7, "created": window}).auto_paging_iter()
        }
        want = {
            o["id"]
            for o in objects
            if all(
                {
                    "gt": o["created"] > v,
                    "gte": o["created"] >= v,
                    "lt": o["created"] < v,
                    "lte": o["created"] <= v,
                }[op]
                for op, v in window.items()
            )
        }
        assert got == want and want
