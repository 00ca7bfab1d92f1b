"""The search for the account's oldest object against the sandbox: the first month of the
partitions a first sync runs, found with `limit=1` probes over every table at once."""

from __future__ import annotations

import sqlite3
from typing import Any

from revenue_assets.catalog.tables import TABLES
from revenue_assets.ingest.sync import PROBE_PRECISION_S, account_start
from revenue_assets_tests.helpers import access_for

STRIPE_LAUNCH = 1_293_840_000  # 2011-01-01


def oldest_listable(sandbox: Any, kinds: set[str]) -> int:
    """The oldest `created` among the objects of `kinds` that lists return, from the store."""
    connection = sqlite3.connect(sandbox.world.store.path)
    try:
        marks = ", ".join("?" * len(kinds))
        return connection.execute(
            f"SELECT min(created) FROM objects WHERE account = ? AND deleted = 0 "
            f"AND created > 0 AND kind IN ({marks})",
            (sandbox.world.account_id, *sorted(kinds)),
        ).fetchone()[0]
    finally:
        connection.close()


def test_the_bound_is_within_four_weeks_before_the_oldest_object(sandbox_session) -> None:
    end = sandbox_session.world.now + 86_400
    oldest = oldest_listable(sandbox_session, {t.name for t in TABLES})
    for rate in (25.0, 100.0, 1000.0):  # one probe per table and round, up to eight
        bound = account_start(access_for(sandbox_session), list(TABLES), STRIPE_LAUNCH, end, rate)
        assert oldest - PROBE_PRECISION_S <= bound <= oldest, (rate, oldest - bound)


def test_a_table_alone_and_a_range_without_objects(sandbox_session) -> None:
    end = sandbox_session.world.now + 86_400
    refunds = [t for t in TABLES if t.name == "refund"]
    oldest = oldest_listable(sandbox_session, {"refund"})
    bound = account_start(access_for(sandbox_session), refunds, STRIPE_LAUNCH, end, 100.0)
    assert oldest - PROBE_PRECISION_S <= bound <= oldest
    # nothing after the clock: the search says so at once, with `end`
    later = sandbox_session.world.now + 3600
    assert account_start(access_for(sandbox_session), list(TABLES), later, end, 100.0) == end
    assert account_start(access_for(sandbox_session), [], STRIPE_LAUNCH, end, 100.0) == end
