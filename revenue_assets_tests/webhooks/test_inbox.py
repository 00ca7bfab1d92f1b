"""The inbox contract the sensors build on: dedupe, cursor order, mapping, pending, applied."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import orjson
import pytest

from revenue_assets.catalog.months import key_of_timestamp
from revenue_assets.state.events import InvalidEvent, summarize
from revenue_assets.state.store import SIGNATURE_FAILURES, SIGNATURE_STREAK, StateStore
from revenue_assets.webhooks.secrets import (
    SecretError,
    parse_secrets,
    resolve_secrets,
    store_secret,
    stored_secrets,
)
from revenue_assets_tests.webhooks.helpers import OTHER_SECRET, SECRET, event, payload


@pytest.fixture
def inbox(tmp_path: Path) -> StateStore:
    with StateStore(tmp_path / "state.sqlite") as opened:
        yield opened


def test_duplicates_give_one_row_and_the_first_copy_wins(inbox: StateStore) -> None:
    assert inbox.add(payload("evt_1"), "webhook") is True
    assert inbox.add(payload("evt_1"), "webhook") is False
    assert inbox.add_many([event("evt_1"), payload("evt_2")], "events_api") == 1
    rows = inbox.read_after(0)
    assert [(row.event_id, row.source) for row in rows] == [
        ("evt_1", "webhook"),
        ("evt_2", "events_api"),
    ]
    assert inbox.count() == 2
    assert rows[0].payload == payload("evt_1")  # the raw bytes as received


def test_columns_map_object_to_table_and_partition(inbox: StateStore) -> None:
    inbox.add_many(
        [
            # a subscription event carries a subscription: table by data.object.object
            event(
                "evt_sub",
                object_type="subscription",
                event_type="customer.subscription.updated",
                object_created=1_706_745_599,  # 2024-01-31T23:59:59Z
                account="acct_123",
            ),
            event("evt_dispute", object_type="dispute", event_type="charge.dispute.created"),
            event("evt_card", object_type="card"),  # not a synced table
            event("evt_nocreated", object_type="customer", object_created=None),
            # an invoice rendered at an API version older than 2019-03-14: `date`, no `created`
            event(
                "evt_old_invoice",
                object_type="invoice",
                object_created=None,
                api_version="2017-08-15",
                data={"object": {"id": "in_1", "object": "invoice", "date": 1_704_067_200}},
            ),
        ],
        "events_api",
    )
    rows = {row.event_id: row for row in inbox.read_after(0)}
    sub = rows["evt_sub"]
    assert (sub.table, sub.partition_key, sub.object_type) == (
        "subscription",
        "2024-01-01",
        "subscription",
    )
    assert (sub.account, sub.livemode, sub.api_version, sub.created) == (
        "acct_123",
        False,
        "2025-01-27.acacia",
        1_700_000_000,
    )
    assert sub.type == "customer.subscription.updated" and sub.object_id == "sub_evt_sub"
    assert rows["evt_dispute"].table == "dispute"
    assert (rows["evt_card"].table, rows["evt_card"].partition_key) == (None, None)
    assert (rows["evt_nocreated"].table, rows["evt_nocreated"].partition_key) == ("customer", None)
    old_invoice = rows["evt_old_invoice"]
    assert (old_invoice.table, old_invoice.partition_key) == ("invoice", "2024-01-01")
    assert old_invoice.api_version == "2017-08-15"
    assert key_of_timestamp(1_704_067_200) == "2024-01-01"  # midnight UTC belongs to its month
    assert key_of_timestamp(1_704_067_199) == "2023-12-01"
    assert key_of_timestamp(True) is None and key_of_timestamp("1704067200") is None


@pytest.mark.parametrize(
    "bad",
    [
        {"object": "event", "type": "x", "created": 1, "data": {"object": {}}},  # no id
        {"id": "evt_1", "object": "event", "created": 1, "data": {"object": {}}},  # no type
        {"id": "evt_1", "object": "event", "type": "x", "created": "1", "data": {"object": {}}},
        {"id": "evt_1", "object": "event", "type": "x", "created": 1, "data": {}},
        {"id": "evt_1", "object": "v2.core.event", "type": "x", "created": 1},
        [1, 2],
    ],
)
def test_invalid_events_are_refused(inbox: StateStore, bad: object) -> None:
    with pytest.raises(InvalidEvent):
        inbox.add(orjson.dumps(bad), "webhook")
    with pytest.raises(InvalidEvent):  # one bad event in a batch stores nothing
        inbox.add_many([event("evt_ok"), orjson.dumps(bad)], "events_api")
    with pytest.raises(InvalidEvent):
        inbox.add(b"{not json", "webhook")
    assert inbox.count() == 0
    with pytest.raises(InvalidEvent):
        summarize({"id": "evt", "type": "t", "created": True, "data": {"object": {}}})


def test_cursor_reads_pending_order_and_mark_applied(inbox: StateStore) -> None:
    # Arrival order differs from event order: pending() orders by event created, then seq.
    inbox.add(payload("evt_b", object_id="cus_1", created=200), "webhook")
    inbox.add(payload("evt_a", object_id="cus_1", created=100), "webhook")
    inbox.add(payload("evt_c", object_id="cus_2", created=100), "webhook")
    inbox.add(payload("evt_p", object_type="price", created=50), "webhook")
    all_rows = inbox.read_after(0)
    seqs = [row.seq for row in all_rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert inbox.last_seq() == seqs[-1]
    assert inbox.last_seq("price") == seqs[-1]
    assert [r.event_id for r in inbox.read_after(seqs[0], limit=2)] == ["evt_a", "evt_c"]
    light = inbox.read_after(0, table="customer", with_payload=False)
    assert [r.event_id for r in light] == ["evt_b", "evt_a", "evt_c"]
    assert all(r.payload == b"" for r in light)

    pending = inbox.pending("customer", "2023-11-01")
    assert [r.event_id for r in pending] == ["evt_a", "evt_c", "evt_b"]
    groups = inbox.pending_partitions()
    assert [(g.table, g.partition_key, g.events) for g in groups] == [
        ("customer", "2023-11-01", 3),
        ("price", "2023-11-01", 1),
    ]
    assert inbox.health().backlog == 4

    assert inbox.mark_applied([pending[0].seq, pending[1].seq], applied_at=1000.0) == 2
    assert inbox.mark_applied([pending[0].seq], applied_at=2000.0) == 0  # keeps the first time
    assert [r.event_id for r in inbox.pending("customer", "2023-11-01")] == ["evt_b"]
    assert inbox.get("evt_a").applied_at == 1000.0
    health = inbox.health()
    assert (health.backlog, health.last_applied_at) == (2, 1000.0)

    # Pruning applied rows never recycles a seq: the cursor stays valid.
    top = inbox.last_seq()
    inbox.mark_applied([r.seq for r in inbox.read_after(0)], applied_at=1500.0)
    assert inbox.prune(applied_before=1600.0) == 4
    inbox.add(payload("evt_new"), "webhook")
    assert inbox.read_after(top)[0].seq > top


def test_concurrent_writers_on_one_file_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    StateStore(path).close()

    def write(worker: int) -> None:
        with StateStore(path) as own:
            for n in range(50):
                own.add(payload(f"evt_{n % 25}_{worker % 2}"), "webhook")
                own.add_many([event(f"evt_pull_{worker}_{n}")], "events_api")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with StateStore(path) as check:
        assert check.count() == 50 + 4 * 50
        seqs = [r.seq for r in check.read_after(0, limit=10_000)]
        assert seqs == sorted(seqs)


def test_state_file_and_companions_are_private(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.sqlite"
    with StateStore(path) as inbox:
        inbox.add(payload("evt_1"), "webhook")
        store_secret(inbox, SECRET, endpoint_id="we_1", url="https://x.test/hook")
        for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
    # A file created loosely by hand is tightened, never loosened.
    loose = tmp_path / "loose.sqlite"
    StateStore(loose).close()
    os.chmod(loose, 0o644)
    StateStore(loose).close()
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600


def test_secrets_env_overrides_stored_and_previous_has_grace(inbox: StateStore) -> None:
    assert resolve_secrets((), inbox).origin == "none"
    store_secret(inbox, SECRET, endpoint_id="we_1")
    assert stored_secrets(inbox) == [SECRET]
    store_secret(inbox, OTHER_SECRET, grace_s=3600)
    assert stored_secrets(inbox) == [OTHER_SECRET, SECRET]
    assert stored_secrets(inbox, now=4e10) == [OTHER_SECRET]  # grace over
    source = resolve_secrets(parse_secrets(f"{SECRET}, {OTHER_SECRET}"), inbox)
    assert source.origin == "STRIPE_WEBHOOK_SECRET" and source.secrets == (SECRET, OTHER_SECRET)
    assert "whsec" not in source.describe
    with pytest.raises(SecretError) as raised:
        parse_secrets(f"{SECRET},sk_test_oops123456789")
    assert "sk_test_oops" not in str(raised.value)


def test_counters(inbox: StateStore) -> None:
    inbox.bump({SIGNATURE_FAILURES: 2, SIGNATURE_STREAK: 2}, at=10.0)
    assert inbox.counter(SIGNATURE_FAILURES).value == 2
    health = inbox.health()
    assert (health.signature_failures, health.last_signature_failure_at) == (2, 10.0)
    inbox.add(payload("evt_ok"), "webhook")  # a verified webhook event ends the streak
    assert inbox.health().signature_failures_since_success == 0
    assert inbox.health().signature_failures == 2
