"""Writing a generated company fast into a new store file: chunks of simulated customers are
streamed into it (by two processes for large companies, taking turns so the file is the same as a
single-process run), then the platform's Connect money movements, payouts, catalogs and
accounts."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import Counter
from queue import Empty
from typing import Any

from revenue_assets.sandbox import catalog as catalog_module
from revenue_assets.sandbox import money, shapes
from revenue_assets.sandbox.catalog import Catalog
from revenue_assets.sandbox.company import connect, simulation
from revenue_assets.sandbox.company.plan import ChunkResult, Generated, Obj, Plan
from revenue_assets.sandbox.ids import Ids
from revenue_assets.sandbox.store import BulkLoader, Row, row_for

PLATFORM_NAME = "Acme Cloud"
CHUNK = 500  # customers per unit of work


def _summary(result: ChunkResult) -> ChunkResult:
    """What crosses processes: everything but the rows (those go straight to the store)."""
    return ChunkResult([], result.due, result.balance, result.redemptions, len(result.rows))


def _put(loader: BulkLoader, result: ChunkResult) -> None:
    loader.put_rows(result.rows)
    loader.put_persons(result.persons)


def _write_chunks(work: list[tuple[str, int, int]], path: str, processes: int) -> list[ChunkResult]:
    """Simulate every chunk and write its rows to the store file, in chunk order.

    With several processes, worker k simulates chunks k, k+n, k+2n... and they take turns
    writing (chunk i is written right after chunk i-1), so the file is identical to a
    single-process run. Only small summaries come back to this process.
    """
    if processes <= 1 or len(work) < 2 * processes:
        loader = BulkLoader(path, fresh=False)
        summaries = []
        try:
            for args in work:
                result = simulation.simulate_chunk(*args)
                _put(loader, result)
                summaries.append(_summary(result))
        finally:
            loader.close()
        return summaries
    context = multiprocessing.get_context("fork")
    turn = context.Value("i", 0)
    condition = context.Condition()
    queue = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(k, processes, work, path, turn, condition, queue), daemon=True
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    found: dict[int, ChunkResult] = {}
    try:
        while len(found) < len(work):
            try:
                index, summary = queue.get(timeout=1)
            except Empty:
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise RuntimeError("a sandbox generator process died") from None
                continue
            if index < 0:
                raise RuntimeError(f"sandbox generator failed: {summary}")
            found[index] = summary
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
    return [found[index] for index in range(len(work))]


def _worker(
    k: int,
    processes: int,
    work: list[tuple[str, int, int]],
    path: str,
    turn: Any,
    condition: Any,
    queue: Any,
) -> None:
    try:
        loader = BulkLoader(path, fresh=False)
        for index in range(k, len(work), processes):
            result = simulation.simulate_chunk(*work[index])
            with condition:
                condition.wait_for(lambda index=index: turn.value == index)
                _put(loader, result)
                turn.value = index + 1
                condition.notify_all()
            queue.put((index, _summary(result)))
        loader.close()
    except BaseException as error:  # reported to the parent, which stops everything
        queue.put((-1, repr(error)))
        raise


def generate(
    *,
    seed: int,
    customers_count: int,
    months: int,
    now: int,
    connected_accounts: int,
    api_version: str,
    path: str,
    processes: int | None = None,
    chunk: int = CHUNK,
) -> Generated:
    """Generate the company into a new store file at `path` (overwritten)."""
    start = money.add_interval(now, "month", -months, now)
    ids = Ids.for_stream(seed, "platform")
    platform = ids.new("acct")
    connected = [ids.new("acct") for _ in range(connected_accounts)]
    catalogs = {platform: catalog_module.build(seed, start)}
    for number, account in enumerate(connected, start=1):
        catalogs[account] = catalog_module.build(
            seed, start, stream=f"catalog/{account}", coupon_suffix=f"_{number}"
        )
    plan = Plan(seed, start, now, platform, api_version, catalogs)
    simulation.PLAN = plan
    started = time.perf_counter()
    BulkLoader(path).close()  # a fresh file with the tables; the chunks write into it
    generated = Generated(platform=platform, connected=connected, start=start, now=now)
    redemptions: Counter[str] = Counter()
    due: list[tuple[str, str, int]] = []
    if processes is None:
        processes = min(2, os.cpu_count() or 1) if customers_count >= 4 * CHUNK else 1
    try:
        for summary in _write_chunks(
            simulation.chunks(platform, customers_count, connected, chunk), path, processes
        ):
            generated.objects += summary.count
            due.extend(summary.due)
            redemptions.update(summary.redemptions)
            for key, amount in summary.balance.items():
                generated.balance[key] = generated.balance.get(key, 0) + amount
    finally:
        simulation.PLAN = None
    generated.timings["customers"] = time.perf_counter() - started
    loader = BulkLoader(path, fresh=False)
    connect_rows, connect_due = connect.platform_money(plan, generated)  # before the payouts
    rows, payout_due = simulation.payouts(plan, generated, [platform, *connected])
    rows = connect_rows + rows
    due.extend(connect_due)
    due.extend(payout_due)
    for account, catalog in catalogs.items():
        rows.extend(_catalog_rows(plan, catalog, redemptions, account))
    rows.extend(_account_rows(plan, platform, connected))
    loader.put_rows(rows)
    generated.objects += len(rows)
    loader.set_due_rows(due)
    for catalog in catalogs.values():
        generated.tombstones.update(tombstones(catalog, now))
    for object_id, body in generated.tombstones.items():
        loader.set_meta(f"tombstone:{object_id}", body)
    generated.timings["payouts_catalog"] = (
        time.perf_counter() - started - generated.timings["customers"]
    )
    generated.timings.update(loader.finish())
    return generated


def _catalog_rows(
    plan: Plan, catalog: Catalog, redemptions: Counter[str], account: str
) -> list[Row]:
    rows = []
    deleted = {object_id for object_id, when in catalog.deletions if when <= plan.now}
    for obj in catalog.objects.values():
        if obj["object"] in ("coupon", "promotion_code"):
            obj = dict(obj, times_redeemed=redemptions.get(obj["id"], 0))
        if obj["id"] in deleted:
            row = row_for(shapes.deleted_stub(obj["id"], obj["object"]), account)
            rows.append((*row[:3], obj["created"], *row[4:]))
        else:
            rows.append(row_for(obj, account))
    return rows


def tombstones(plan_catalog: Catalog, now: int) -> dict[str, Obj]:
    """Full bodies of deleted catalog objects (existing discounts and lines still use them)."""
    return {
        object_id: plan_catalog.objects[object_id]
        for object_id, when in plan_catalog.deletions
        if when <= now
    }


def _account_rows(plan: Plan, platform: str, connected: list[str]) -> list[Row]:
    created = plan.start - 30 * money.DAY
    rows = [
        row_for(
            shapes.account(
                platform,
                created,
                name=PLATFORM_NAME,
                country="US",
                currency="usd",
                email="billing@acme-cloud.example.com",
            ),
            platform,
        )
    ]
    for index, account in enumerate(connected):
        rows.append(
            row_for(
                shapes.account(
                    account,
                    created + index * money.DAY,
                    name=f"Acme Partner {index + 1}",
                    country="US",
                    currency="usd",
                    email=f"partner{index + 1}@acme-cloud.example.com",
                ),
                account,
            )
        )
    return rows
