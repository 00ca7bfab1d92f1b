"""Helpers shared by the suites: syncing a sandbox into a DuckDB file and reading both back,
and running the command line as a user would."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from revenue_assets.catalog.months import keys_between
from revenue_assets.catalog.tables import (
    CHILD_TABLES,
    PERMISSIONS,
    TABLES,
    TABLES_BY_NAME,
    StripeTable,
)
from revenue_assets.ingest.sync import (
    Partition,
    SyncTarget,
    TableOutcome,
    month_partitions,
    sync_tables,
)
from revenue_assets.sandbox import shapes
from revenue_assets.stripe_api.client import RetryPolicy, StripeAccess
from revenue_assets.warehouse.connection import lock_path
from revenue_assets.warehouse.turns import queue_path
from revenue_assets.webhooks.receiver import ReceiverConfig
from revenue_assets.webhooks.server import BackgroundReceiver
from revenue_assets.webhooks.sockets import bind

# The sandbox's object kinds of the warehouse's child tables.
CHILD_KINDS = {
    "invoice_line_item": "line_item",
    "subscription_item": "subscription_item",
    "credit_note_line_item": "credit_note_line_item",
}
REPO = Path(__file__).resolve().parents[1]
FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.2, rate_limited_budget_s=120)


def sandbox_partitions(sandbox: Any, start: str = "2011-01-01") -> list[Partition]:
    """Every monthly partition from `start` to the sandbox clock's month."""
    now = datetime.fromtimestamp(sandbox.world.now, UTC)
    return month_partitions(keys_between(datetime.fromisoformat(start), now))


def company_range(sandbox: Any) -> tuple[str, str]:
    """First and last partition keys of the sandbox company: its oldest object's month to the
    clock's month. (Every partition since 2011 would only add Dagster bookkeeping: the engine's
    skipping of empty years is tested in test_sync_engine.py.)"""
    connection = sqlite3.connect(sandbox.world.store.path)
    try:
        oldest = connection.execute("SELECT min(created) FROM objects WHERE created > 0").fetchone()
    finally:
        connection.close()
    keys = keys_between(
        datetime.fromtimestamp(oldest[0], UTC), datetime.fromtimestamp(sandbox.world.now, UTC)
    )
    return keys[0], keys[-1]


def access_for(sandbox: Any, key: str | None = None, **options: Any) -> StripeAccess:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("rate_limit", 1000.0)
    # The sandbox models no per-endpoint limit unless a test sets one (the pacing tests do):
    # at Stripe's 25 req/s, a customer's payment methods alone would take a minute per sync.
    options.setdefault("operation_limits", "off")
    return StripeAccess(key or sandbox.secret_key, api_base=sandbox.base_url, **options)


def sync_sandbox(
    sandbox: Any,
    database: Path,
    tables: list[StripeTable] | None = None,
    partitions: list[Partition] | None = None,
    **options: Any,
) -> dict[str, TableOutcome]:
    access = options.pop("access", None) or access_for(sandbox)
    return sync_tables(
        access,
        SyncTarget(database),
        tables if tables is not None else list(TABLES),
        partitions if partitions is not None else sandbox_partitions(sandbox),
        **options,
    )


def served(sandbox: Any, path: str, **params: Any) -> dict[str, dict[str, Any]]:
    """Every object of a list endpoint as the sandbox serves it, paged through the SDK."""
    client = sandbox.client()
    found: dict[str, dict[str, Any]] = {}
    cursor: dict[str, str] = {}
    while True:
        page = client.raw_request("get", path, limit=100, **params, **cursor).data
        found.update((obj["id"], obj) for obj in page["data"])
        if not page["has_more"]:
            return found
        cursor = {"starting_after": page["data"][-1]["id"]}


def assert_rows_are_served(
    sandbox: Any, database: Path, table: str, fields: tuple[str, ...]
) -> None:
    """The synced `table` holds exactly the objects its list serves: each whole in `_raw`, its
    creation time and `fields` (those the object has as scalars) in their typed columns."""
    expected = served(sandbox, TABLES_BY_NAME[table].path)
    assert expected, f"the sandbox company has no {table}"
    rows = warehouse_rows(database, table)
    assert set(rows) == set(expected)
    for object_id, obj in expected.items():
        row = rows[object_id]
        assert row["_raw"] == obj
        if TABLES_BY_NAME[table].created_field == "created":  # payment links have none
            assert int(row["created"].timestamp()) == obj["created"]
        for name in fields:
            if name in obj and not isinstance(obj[name], dict):
                assert row[name] == obj[name], (object_id, name)


def assert_missing_permission_fails_that_table_alone(
    sandbox: Any, database: Path, table: str
) -> None:
    """Synced with a restricted key lacking `table`'s permission: the tables needing it fail
    naming it (tables may share one: plans and prices), the others still sync."""
    permission = TABLES_BY_NAME[table].permission
    failing = {t.name for t in TABLES if t.permission == permission}
    key = sandbox.restricted_key(sorted(set(PERMISSIONS) - {permission}))
    tables = [TABLES_BY_NAME[name] for name in sorted({*failing, "charge"})]
    outcomes = sync_sandbox(sandbox, database, tables=tables, access=access_for(sandbox, key=key))
    for name, outcome in outcomes.items():
        if name in failing:
            assert not outcome.ok and outcome.error.permission == permission, name
            assert permission in str(outcome.error)
        else:
            assert outcome.ok, (name, outcome.error)
    assert warehouse_rows(database, "charge")


def warehouse_rows(database: Path, table: str, schema: str = "stripe") -> dict[str, dict[str, Any]]:
    """Rows of a raw table keyed by id (children: parent/id), with `_raw` parsed."""
    connection = duckdb.connect(str(database), read_only=True)
    try:
        cursor = connection.execute(f"SELECT * FROM {schema}.{table}")
        names = [d[0] for d in cursor.description]
        rows = {}
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            row["_raw"] = orjson.loads(row["_raw"])
            parent = next((row[n] for n in names if n.endswith("_id") and n != "id"), None)
            rows[f"{parent}/{row['id']}" if parent and table in CHILD_TABLES else row["id"]] = row
        return rows
    finally:
        connection.close()


def collapse_expanded(value: Any) -> Any:
    """An object with expanded discounts put back to their ids, as Stripe sends it unexpanded
    (the sync expands discounts to learn their coupons)."""
    if isinstance(value, dict):
        if value.get("object") == "discount" and "id" in value:
            return value["id"]
        return {key: collapse_expanded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [collapse_expanded(item) for item in value]
    return value


def warehouse_snapshot(database: Path, tables: list[str]) -> dict[str, list[tuple]]:
    """What must be equal between two syncs of the same account: ids, Stripe data, deletion."""
    connection = duckdb.connect(str(database), read_only=True)
    try:
        return {
            table: connection.execute(
                f"SELECT id, _raw::VARCHAR, _deleted FROM stripe.{table} ORDER BY ALL"
            ).fetchall()
            for table in tables
        }
    finally:
        connection.close()


def sandbox_objects(world: Any, kind: str) -> dict[str, dict[str, Any]]:
    """Objects of a kind in the sandbox's platform account that a list returns (not deleted).
    Plans are not stored: the sandbox serves each recurring price as one."""
    if kind == "plan":
        prices = world.store.iter_objects("price", world.account_id, include_deleted=False)
        return {p["id"]: plan for p in prices if (plan := shapes.plan_of(p)) is not None}
    return {
        obj["id"]: obj
        for obj in world.store.iter_objects(kind, world.account_id, include_deleted=False)
    }


@contextmanager
def sandbox_receiver(world: Any, state: Path) -> Iterator[BackgroundReceiver]:
    """Our webhook receiver on a free port, storing into the inbox of `state`, registered as an
    endpoint of the sandbox for every event type."""
    sock = bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/stripe/webhooks"
    endpoint = world.create("webhook_endpoints", {"url": url, "enabled_events": ["*"]})
    config = ReceiverConfig(state_path=state, env_secrets=(endpoint["secret"],))
    with BackgroundReceiver(config, sock=sock) as receiver:
        yield receiver


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any of our settings, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "REVENUE_ASSETS_", "DAGSTER_"))
    }
    return {**env, **settings}


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`revenue-assets ARGS` in a subprocess, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "revenue_assets.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def warehouse_tickets(database: Path) -> list[str]:
    """The tickets in the warehouse lock's queue: its holder's and its waiters'."""
    queue = queue_path(lock_path(database))
    return sorted(os.listdir(queue)) if queue.exists() else []


def wait_for_warehouse_tickets(
    database: Path, count: int, process: subprocess.Popen | None = None
) -> None:
    """Until `count` processes (or threads) hold or wait for the warehouse; `process` is one of
    them, which must not end before it queued."""
    deadline = time.monotonic() + 120
    while len(warehouse_tickets(database)) < count:
        assert process is None or process.poll() is None, "the waiting process ended early"
        assert time.monotonic() < deadline, f"{len(warehouse_tickets(database))} of {count} queued"
        time.sleep(0.01)
