"""`stripe.discount`, an events-only table (Stripe has no list of discounts), synced from the
sandbox over HTTP: a first sync builds it from the `customer.discount.*` events it lists into
`stripe.event`, webhooks keep it current afterwards, a removed discount stays as a `_deleted`
row, and a key that may not read events fails it (with the event table) and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from revenue_assets.catalog.tables import EVENTS_ONLY_TABLES, TABLES_BY_NAME
from revenue_assets.definitions import defs
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.ingest.event_apply import rebuild_from_event_history
from revenue_assets.ingest.sync import SyncTarget, apply_events, month_partitions
from revenue_assets.state.store import StateStore
from revenue_assets_tests.helpers import (
    access_for,
    assert_missing_permission_fails_that_table_alone,
    sandbox_receiver,
    served,
    sync_sandbox,
    warehouse_rows,
)

DISCOUNT = TABLES_BY_NAME["discount"]
EVENT = TABLES_BY_NAME["event"]
TYPES = set(DISCOUNT.event_types)


def _newest_discount_events(sandbox: Any) -> dict[str, dict[str, Any]]:
    """The newest `customer.discount.*` event of each discount, as the sandbox's Events API
    serves them (ties: a deletion last, then the greater id, as the product decides)."""
    newest: dict[str, dict[str, Any]] = {}
    for event in served(sandbox, "/v1/events").values():
        if event["type"] not in TYPES:
            continue
        key = (event["created"], event["type"].endswith(".deleted"), event["id"])
        found = newest.get(event["data"]["object"]["id"])
        if found is None or key > (
            found["created"],
            found["type"].endswith(".deleted"),
            found["id"],
        ):
            newest[event["data"]["object"]["id"]] = event
    return newest


def _without_sync_time(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {key: {k: v for k, v in row.items() if k != "_synced_at"} for key, row in rows.items()}


def _customer(sandbox: Any, skip: set[str] = frozenset()) -> str:
    world = sandbox.world
    return next(
        c["id"]
        for c in world.store.iter_objects("customer", world.account_id, include_deleted=False)
        if not c.get("discount") and c["id"] not in skip
    )


def _coupons(sandbox: Any) -> list[str]:
    return sorted(served(sandbox, "/v1/coupons"))


def _apply_update_remove(sandbox: Any, customer: str) -> str:
    """Through the SDK over HTTP: a coupon applied to a customer, switched to another, then the
    discount removed. Returns the discount's id."""
    client = sandbox.client()
    first, second = _coupons(sandbox)[:2]
    applied = client.raw_request("post", f"/v1/customers/{customer}", coupon=first).data
    discount = applied["discount"]["id"]
    sandbox.world.advance(2)
    switched = client.raw_request("post", f"/v1/customers/{customer}", coupon=second).data
    assert switched["discount"]["id"] == discount  # the same discount, another coupon
    sandbox.world.advance(2)
    removed = client.raw_request("delete", f"/v1/customers/{customer}/discount").data
    assert removed["deleted"] and removed["id"] == discount
    return discount


def test_discount_is_an_unpartitioned_asset_read_from_the_event_history() -> None:
    assert [t.name for t in EVENTS_ONLY_TABLES] == ["discount"]
    assert DISCOUNT.path is None and DISCOUNT.permission == EVENT.permission
    node = defs.resolve_asset_graph().get(table_key("discount"))
    assert node.partitions_def is None
    assert table_key("event") in node.parent_keys
    description = node.description or ""
    assert "30 days" in description and "stripe.event" in description
    checks = {key.name for key in node.check_keys}
    assert "nothing_before_first_partition" not in checks  # no list to ask


def test_a_first_sync_builds_discounts_from_the_events_it_lists(sandbox, tmp_path: Path) -> None:
    world = sandbox.world
    world.advance(60)
    removed = _apply_update_remove(sandbox, _customer(sandbox))
    client = sandbox.client()
    kept_customer = _customer(sandbox)
    coupon = _coupons(sandbox)[0]
    kept = client.raw_request("post", f"/v1/customers/{kept_customer}", coupon=coupon).data[
        "discount"
    ]["id"]
    subscription = next(
        s
        for s in world.store.iter_objects("subscription", world.account_id, include_deleted=False)
        if s["status"] == "active" and not s["discounts"]
    )
    on_subscription = client.raw_request(
        "post", f"/v1/subscriptions/{subscription['id']}", discounts=[{"coupon": coupon}]
    ).data["discounts"][0]

    database = tmp_path / "w.duckdb"
    outcomes = sync_sandbox(sandbox, database, tables=[DISCOUNT, EVENT])
    assert outcomes["discount"].ok, outcomes["discount"].error
    assert outcomes["discount"].stats.calls == 0  # built from what the event listing brought

    expected = _newest_discount_events(sandbox)
    assert {removed, kept, on_subscription} <= set(expected)
    rows = warehouse_rows(database, "discount")
    assert set(rows) == set(expected)
    for discount_id, event in expected.items():
        row = rows[discount_id]
        payload = event["data"]["object"]
        assert row["_raw"] == payload
        assert row["_deleted"] is event["type"].endswith(".deleted"), discount_id
        assert int(row["_version"].timestamp()) == event["created"]
        assert row["coupon"] == payload["source"]["coupon"]
        assert (row["customer"], row["subscription"]) == (
            payload["customer"],
            payload["subscription"],
        )
        assert int(row["start"].timestamp()) == payload["start"]
    assert rows[removed]["_deleted"] and rows[removed]["coupon"] == _coupons(sandbox)[1]
    assert not rows[kept]["_deleted"] and rows[kept]["customer"] == kept_customer
    assert rows[on_subscription]["subscription"] == subscription["id"]
    assert rows[on_subscription]["source_type"] == "coupon"

    # Run again, the discount table alone (it probes that the key may read events): unchanged.
    again = sync_sandbox(sandbox, database, tables=[DISCOUNT])
    assert again["discount"].ok and again["discount"].stats.calls == 1
    assert _without_sync_time(warehouse_rows(database, "discount")) == _without_sync_time(rows)


def test_webhooks_keep_discounts_current_after_a_first_sync(sandbox, tmp_path: Path) -> None:
    database, state = tmp_path / "w.duckdb", tmp_path / "state.sqlite"
    assert sync_sandbox(sandbox, database, tables=[DISCOUNT, EVENT])["discount"].ok
    before = warehouse_rows(database, "discount")
    world = sandbox.world
    with sandbox_receiver(world, state):
        world.advance(60)
        discount = _apply_update_remove(sandbox, _customer(sandbox))
        assert sandbox.wait_for_deliveries(timeout=30)
    assert discount not in before

    inbox = StateStore(state)
    try:
        outcomes = apply_events(access_for(sandbox), SyncTarget(database), inbox, [DISCOUNT], [])
    finally:
        inbox.close()
    assert outcomes["discount"].ok and outcomes["discount"].events_applied == 3
    assert outcomes["discount"].stats.calls == 0  # nothing to re-fetch: Stripe cannot
    row = warehouse_rows(database, "discount")[discount]
    assert row["_deleted"] is True  # removed, and kept as it was when removed
    assert row["_source"] == "webhook"
    assert row["coupon"] == _coupons(sandbox)[1]
    assert row["_raw"]["customer"] and row["_raw"]["source"]["coupon"] == row["coupon"]

    # A later first-sync-style rebuild from stripe.event does not undo what webhooks brought.
    outcome = sync_sandbox(sandbox, database, tables=[DISCOUNT, EVENT])["discount"]
    assert outcome.ok
    rebuilt = warehouse_rows(database, "discount")[discount]
    assert rebuilt["_deleted"] is True and rebuilt["_raw"] == row["_raw"]


def test_a_key_that_may_not_read_events_fails_discounts_and_events_alone(
    sandbox_session, tmp_path: Path
) -> None:
    assert_missing_permission_fails_that_table_alone(
        sandbox_session, tmp_path / "w.duckdb", "discount"
    )


def test_discounts_alone_with_a_key_that_may_not_read_events_fail_naming_it(
    sandbox_session, tmp_path: Path
) -> None:
    key = sandbox_session.restricted_key(["rak_charge_read"])
    outcome = sync_sandbox(
        sandbox_session,
        tmp_path / "w.duckdb",
        tables=[DISCOUNT],
        access=access_for(sandbox_session, key=key),
    )["discount"]
    assert not outcome.ok and outcome.error.permission == "rak_event_read"


@pytest.mark.parametrize("order", ["deleted_first", "deleted_last"])
def test_a_deletion_in_the_same_second_wins(tmp_path: Path, order: str) -> None:
    """Two events of one discount in one second have no knowable order, and Stripe cannot be
    asked: both paths (rebuild and webhooks) take the deletion, whatever order they came in."""
    discount = {
        "id": "di_tie",
        "object": "discount",
        "customer": "cus_1",
        "subscription": None,
        "source": {"coupon": "C1", "type": "coupon"},
        "start": 1_700_000_000,
        "end": None,
    }
    events = [
        {
            "id": f"evt_{name}",
            "object": "event",
            "type": f"customer.discount.{name}",
            "created": 1_700_000_100,
            "data": {"object": discount},
        }
        for name in ("updated", "deleted")
    ]
    if order == "deleted_first":
        events.reverse()
        events[0]["id"], events[1]["id"] = "evt_b", "evt_a"  # the deletion has the greater id
    state = tmp_path / "state.sqlite"
    inbox = StateStore(state)
    try:
        inbox.add_many([orjson.loads(orjson.dumps(e)) for e in events], "webhook")
        target = SyncTarget(tmp_path / "hooks.duckdb")
        apply_events(None, target, inbox, [DISCOUNT], [])  # type: ignore[arg-type]
        assert warehouse_rows(target.database, "discount")["di_tie"]["_deleted"] is True
        history = SyncTarget(tmp_path / "history.duckdb")
        month = month_partitions(["2023-11-01"])
        apply_events(None, history, inbox, [EVENT], month)  # type: ignore[arg-type]
    finally:
        inbox.close()
    rebuild_from_event_history(history.database, "stripe", DISCOUNT, tmp_path / "spool")
    assert warehouse_rows(history.database, "discount")["di_tie"]["_deleted"] is True
