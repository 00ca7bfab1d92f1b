"""The raw layer's one op: any subset of Stripe tables over any range of monthly partitions.

Each table is its own asset (specs.py), but they are materialized by one subsettable
multi-asset so that every table selected in a run lists concurrently under ONE rate limiter:
separate ops would each pace themselves at the account's limit and meet in 429 storms, or run
one after the other with idle tails. A table that fails (a missing permission) fails alone: the
others are materialized and the step then fails, naming what to grant.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from revenue_assets.catalog.tables import CHILD_TABLES, TABLES, StripeTable
from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
from revenue_assets.defs.stripe.config import STRIPE_OP, StripeSyncConfig
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.ingest import progress
from revenue_assets.ingest.sync import (
    SyncTarget,
    TableOutcome,
    apply_events,
    month_partitions,
    sync_tables,
)
from revenue_assets.stripe_api.errors import StripeAuthenticationError, StripePermissionError
from revenue_assets.stripe_api.ratelimit import PacingStats
from revenue_assets.warehouse.spool import SpoolError, spool_root


def selected_tables(keys: set[dg.AssetKey] | frozenset[dg.AssetKey]) -> list[StripeTable]:
    """Parent tables to list for a selection (a selected child table needs its parent listed)."""
    return [
        table
        for table in TABLES
        if any(table_key(name) in keys for name in (table.name, *table.child_names))
    ]


def skipped_children(
    tables: list[StripeTable], keys: set[dg.AssetKey] | frozenset[dg.AssetKey]
) -> frozenset[str]:
    """Child tables listed per parent that a selection leaves out: they cost a request per
    parent, so they are not listed. (Embedded children come with their parents' pages.)"""
    return frozenset(
        child.name
        for table in tables
        for child in table.children
        if not child.embedded and table_key(child.name) not in keys
    )


def stripe_tables_asset(specs: list[dg.AssetSpec]) -> dg.AssetsDefinition:
    """The one multi-asset over every table's specs. Its specs carry their own partitions
    (monthly, or none for the full-refresh tables), so a run of both kinds is still one op
    under one rate limiter and one request scheduler."""
    return dg.multi_asset(
        name=STRIPE_OP,
        specs=specs,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )(sync_selection)


def sync_selection(
    context: dg.AssetExecutionContext,
    config: StripeSyncConfig,
    stripe: StripeResource,
    warehouse: WarehouseResource,
    state: StateResource,
) -> Iterator[dg.MaterializeResult]:
    """Sync the run's tables over its partitions, yielding a result per table synced."""
    tables = selected_tables(context.selected_asset_keys)
    skip_children = skipped_children(tables, context.selected_asset_keys)
    # A run of full-refresh tables alone has no partition; they are listed whole anyway.
    partitioned = context.has_partition_key or context.has_partition_key_range
    partitions = month_partitions(context.partition_keys) if partitioned else []
    target = SyncTarget(
        Path(warehouse.database),
        warehouse.stripe_schema,
        lock_timeout_s=warehouse.lock_timeout_s,
        spool_root=spool_root(Path(state.path)),
    )
    since = config.since if config.mode == "new" else None
    span = f" ({partitions[0].key} … {partitions[-1].key})" if partitions else ""
    context.log.info(
        f"{config.mode}: {', '.join(t.name for t in tables)} over {len(partitions)} "
        f"partition(s){span} at {stripe.effective_rate_limit():g} req/s"
        + (f", objects created after {since}" if since is not None else "")
    )
    access = stripe.access()
    try:
        with state.store() as inbox:
            if config.mode == "events":
                outcomes = apply_events(
                    access,
                    target,
                    inbox,
                    tables,
                    partitions,
                    after_seq=config.after_seq,
                    through_seq=config.through_seq,
                    skip_children=skip_children,
                )
            else:
                outcomes = sync_tables(
                    access,
                    target,
                    tables,
                    partitions,
                    since=since,
                    max_workers=stripe.max_in_flight,
                    flush_bytes=warehouse.flush_mb * 1024 * 1024,
                    on_progress=progress.report,
                    inbox=inbox,
                    skip_children=skip_children,
                )
    except StripeAuthenticationError as error:
        raise dg.Failure(description=str(error)) from None
    except SpoolError as error:  # the full disk's OSError stays in the run's logs
        raise dg.Failure(description=str(error)) from error
    finally:
        _record_pacing(context, access.pacer.stats())

    failures = []
    for outcome in outcomes.values():
        if outcome.ok:
            yield from _results(context, outcome)
            failures += [
                _failure_message(
                    name, error, CHILD_TABLES[name][1].permission or outcome.table.permission
                )
                for name, error in outcome.child_errors.items()
            ]
        else:
            failures.append(
                _failure_message(outcome.table.name, outcome.error, outcome.table.permission)
            )
    if failures:
        raise dg.Failure(
            description="Some Stripe tables could not be synced (the others were):\n"
            + "\n".join(f"- {message}" for message in failures)
        )


def _results(
    context: dg.AssetExecutionContext, outcome: TableOutcome
) -> Iterator[dg.MaterializeResult]:
    table = outcome.table
    for name in (table.name, *table.child_names):
        if table_key(name) not in context.selected_asset_keys or name in outcome.child_errors:
            continue
        stats = outcome.stats if name == table.name else outcome.child_stats[name]
        yield dg.MaterializeResult(
            asset_key=table_key(name),
            metadata={
                "dagster/row_count": outcome.row_counts.get(name, 0),
                "objects_fetched": stats.objects,
                "api_calls": stats.calls,
                "pages": stats.pages,
                "rate_limited_429": stats.rate_limited,
                "retries": stats.retries,
                "throttle_wait_s": round(stats.throttle_seconds, 2),
                "duration_s": round(outcome.seconds, 2),
                "marked_deleted": outcome.marked_deleted.get(name, 0),
                "events_applied": outcome.events_applied if name == table.name else 0,
                "partitions_completed": len(outcome.completed_partitions),
            },
        )


PACING_TAG = "revenue_assets/pacing"


def _record_pacing(context: dg.AssetExecutionContext, stats: PacingStats) -> None:
    """The run's pacing figures, as a run tag (shown with the run in the UI, read by the CLI's
    summary) and a log line: requests, effective rate against the budget, 429s by reason and
    operation, seconds spent waiting for the limits."""
    figures = {
        "requests": stats.requests,
        "effective_req_per_s": round(stats.effective_rate, 2),
        "budget_req_per_s": stats.rate,
        "lowest_req_per_s": round(stats.lowest_rate, 2),
        "rate_limited_429": stats.rate_limited,
        "rate_limited_by_reason": stats.rate_limited_by_reason,
        "rate_limited_by_operation": stats.rate_limited_by_operation,
        "wait_s": round(stats.wait_s, 2),
    }
    context.instance.add_run_tags(context.run_id, {PACING_TAG: json.dumps(figures)})
    context.log.info(
        f"Stripe API: {stats.requests} requests at {stats.effective_rate:.1f} req/s "
        f"(budget {stats.rate:g}), {stats.rate_limited} answered 429"
        + (f" {stats.rate_limited_by_reason}" if stats.rate_limited else "")
        + f", lowest pace {stats.lowest_rate:.1f} req/s"
    )


def _failure_message(table: str, error: Exception | None, permission: str | None) -> str:
    """One actionable line for a table that failed: the permission to grant when the key
    lacks one (Stripe's own name for it when its answer says)."""
    if isinstance(error, StripePermissionError):
        permission = error.permission or permission
        return (
            f"stripe.{table}: the API key may not read {error.path}. Grant the "
            f"restricted key the '{permission}' permission (Stripe Dashboard → Developers → "
            "API keys → edit the key), then re-run."
        )
    return f"stripe.{table}: {error}"
