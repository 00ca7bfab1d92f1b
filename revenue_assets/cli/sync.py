"""`revenue-assets sync`: every Stripe table over every partition, then everything downstream.

It runs the very assets the Dagster UI runs (in-process, against the persistent instance at
DAGSTER_HOME), so the warehouse it leaves is the one the same materializations launched from the
UI would leave, and the UI shows these runs. Progress bars come from the sync engine's progress
reports; the summary from the runs' materialization metadata and check results.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from revenue_assets.cli.common import dagster_instance, load_settings, output_console
from revenue_assets.stripe_api.errors import StripeAccessError

# Dagster's console logger shows every event at DEBUG, and a failure as a traceback of a hundred
# lines; the bars, the summary and one line per failure say it better. The run's full event log,
# tracebacks included, stays in the instance (and the UI); --verbose shows them here too.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VERBOSE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Dagster writes one ASSET_MATERIALIZATION_PLANNED event per asset and partition before a
# partition-range run starts, each its own SQLite transaction: 18 assets over 26 months took
# half of a small sync's 78 s on a loaded machine. With this option it writes one per asset,
# naming the range (41 s). The price: if the run fails, its partitions show as missing rather
# than failed in the UI; the CLI prints the failure itself.
PLANNED_EVENTS_OPTION = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


@dataclass
class TableLine:
    """One row of the summary."""

    status: str = "…"
    rows: int | None = None
    fetched: int = 0
    calls: int = 0
    rate_limited: int = 0
    seconds: float | None = None
    checks: list[str] = field(default_factory=list)


@click.command()
@click.option(
    "--table",
    "tables",
    multiple=True,
    help="Sync only these tables (repeatable). Default: every table.",
)
@click.option(
    "--skip",
    "skipped",
    multiple=True,
    help="Leave this table out (repeatable). A table listed per parent costs a request per "
    "parent: `--skip payment_method` saves one per customer with a saved card.",
)
@click.option("--no-downstream", is_flag=True, help="Skip the revenue assets and the dashboard.")
@click.option(
    "--max",
    "take_all",
    is_flag=True,
    help="Take the account's whole rate limit (live 100 req/s) instead of the default share "
    "(live 50): for a first sync at a quiet hour. Same as STRIPE_RATE_LIMIT=live.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also print Dagster's warnings and the full traceback of a failure (always in the "
    "run's logs in the UI).",
)
def sync(
    tables: tuple[str, ...],
    skipped: tuple[str, ...],
    no_downstream: bool,
    take_all: bool,
    verbose: bool,
) -> None:
    """Sync every Stripe table over all partitions into DuckDB, then rebuild what depends on them.

    \b
    Exit codes: 0 every table synced and every check passed; 1 a sync or a rebuild failed, or a
    check failed (one line per cause); 2 the settings or the command line are wrong (nothing
    was run)."""
    settings = load_settings()
    if take_all:
        if settings.stripe_rate_limit is not None:
            raise click.UsageError(
                f"--max takes the whole limit, but STRIPE_RATE_LIMIT={os.environ['STRIPE_RATE_LIMIT']} "
                "sets the rate already: drop one of them."
            )
        from revenue_assets.catalog.keys import key_mode

        # The code location's resources read the environment when the definitions load.
        os.environ["STRIPE_RATE_LIMIT"] = key_mode(settings.stripe_api_key or "")
        settings = load_settings()
    from revenue_assets.catalog.tables import CHILD_TABLES, TABLES, TABLES_BY_NAME

    unknown = [name for name in tables if name not in TABLES_BY_NAME]
    if unknown:
        raise click.BadParameter(
            f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES_BY_NAME)}"
        )
    chosen = [TABLES_BY_NAME[name] for name in tables] if tables else list(TABLES)
    skippable = {*TABLES_BY_NAME, *(n for n, (_, c) in CHILD_TABLES.items() if not c.embedded)}
    wrong = [name for name in skipped if name not in skippable]
    if wrong:
        raise click.BadParameter(
            f"cannot skip {', '.join(wrong)}: choose a table or a child table listed per parent "
            f"({', '.join(sorted(skippable))}); tables embedded in their parent come with it",
            param_hint="--skip",
        )
    chosen = [table for table in chosen if table.name not in skipped]
    ok = run_sync(
        settings,
        chosen,
        skip_children=frozenset(skipped),
        downstream=not no_downstream,
        console=output_console(stderr=True),
        verbose=verbose,
    )
    sys.exit(0 if ok else 1)


def run_sync(
    settings,
    tables,
    *,
    downstream: bool,
    console: Console,
    verbose: bool = False,
    skip_children: frozenset[str] = frozenset(),
) -> bool:
    """Materialize `tables` (but not their child tables in `skip_children`) over every
    partition with data, then (optionally) everything downstream, through Dagster in this
    process. Prints progress and a summary; True if all
    materializations succeeded and no check failed. Reads the code location's resources,
    which come from the environment (`settings` must be the same environment's)."""
    # The probe's round trips to Stripe overlap loading Dagster and the code location.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as pool:
        probing = pool.submit(_account_start, settings, tables)
        import dagster as dg

        from revenue_assets.definitions import defs
        from revenue_assets.defs.stripe.specs import table_key
        from revenue_assets.ingest import progress

        names = [n for t in tables for n in (t.name, *t.child_names) if n not in skip_children]
        keys = [table_key(name) for name in names]
        os.environ.setdefault(PLANNED_EVENTS_OPTION, "true")
        instance = dagster_instance()
        partition_keys = _partitions_with_data(probing.result(), console)
    console.print(
        f"Syncing {len(tables)} Stripe table(s) over {len(partition_keys)} monthly partitions "
        f"({partition_keys[0]} … {partition_keys[-1]}) into {settings.duckdb_path} at "
        f"{settings.sync_rate:g} req/s of the account's {settings.rate_limit:g}"
    )

    run_config = VERBOSE if verbose else QUIET
    assets = [*defs.assets, *defs.asset_checks]
    lines = {name: TableLine() for name in names}
    # The rebuild downstream runs in the same run, after the tables: one run's start-up, and
    # Dagster skips it if a table fails, as a separate run after a failure would not start.
    selection = dg.AssetSelection.assets(*keys)
    rebuilt = set()
    if downstream:
        # A child table is downstream of its parent: a skipped one stays out.
        below = selection.downstream(include_self=False) - dg.AssetSelection.assets(
            *(table_key(name) for name in skip_children)
        )
        rebuilt = below.resolve(defs.resolve_asset_graph())
        selection = selection | below
    if rebuilt:
        console.print(f"Then rebuilding {len(rebuilt)} downstream asset(s).")
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:>10,.0f} objects"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bars:
        tasks = {t.name: bars.add_task(t.name, total=None) for t in tables}
        with progress.listening(lambda table, n: bars.advance(tasks[table], n)):
            result = dg.materialize(
                assets,
                instance=instance,
                resources=defs.resources,
                selection=selection,
                tags={
                    "dagster/asset_partition_range_start": partition_keys[0],
                    "dagster/asset_partition_range_end": partition_keys[-1],
                    "trigger": "revenue_assets_sync",
                },
                run_config=run_config,
                raise_on_error=False,
            )
        for task in tasks.values():
            bars.update(task, total=bars.tasks[task].completed)
    _collect(result, lines, set(keys))
    ok = result.success
    downstream_failed = _report_downstream(console, result, rebuilt) if rebuilt else 0

    failed_checks = _print_summary(console, lines, result)
    _print_pacing(console, instance, result)
    elapsed = time.monotonic() - started
    all_ok = ok and not downstream_failed and not failed_checks
    console.print(
        f"{'[green]Done' if all_ok else '[red]Finished with failures'}[/] in {elapsed:,.1f} s. "
        f"Dagster history: {instance.root_directory} (open it with "
        "`DAGSTER_HOME=… dagster dev -w workspace.yaml`)."
    )
    if not ok:
        for line in failure_lines(result, verbose):
            console.print(line, style="red", markup=False, highlight=False, soft_wrap=True)
    return all_ok


def _account_start(settings, tables) -> int | StripeAccessError:
    """About when the account's oldest object was created (unix time), or why Stripe could not
    say. Loads nothing of Dagster, so that it runs while Dagster loads: it bounds the search by
    the settings instead of the partitions definition, up to past the last partition's end."""
    from revenue_assets.ingest.sync import account_start
    from revenue_assets.settings import partition_end_offset_from_env
    from revenue_assets.stripe_api.client import StripeAccess

    start = int(
        datetime(settings.sync_start.year, settings.sync_start.month, 1, tzinfo=UTC).timestamp()
    )
    end = int(time.time()) + (partition_end_offset_from_env() + 1) * 31 * 86_400
    access = StripeAccess(
        settings.stripe_api_key,
        api_base=settings.stripe_api_base,
        account_id=settings.stripe_account_id,
        rate_limit=settings.sync_rate,
        operation_limits=settings.stripe_endpoint_rate_limit,
    )
    try:
        return account_start(access, tables, start, end, rate=settings.sync_rate)
    except StripeAccessError as error:
        return error


def _partitions_with_data(start: int | StripeAccessError, console: Console) -> list[str]:
    """All partitions from the account's oldest object on (`start`, from `_account_start`).
    Earlier ones are empty: running them would only write Dagster events (one per table and
    month since 2011)."""
    from revenue_assets.defs.stripe.partitions import monthly_partitions
    from revenue_assets.ingest.sync import month_partitions

    if isinstance(start, StripeAccessError):
        console.print(f"[red]{start}[/]")
        sys.exit(1)
    keys = monthly_partitions.get_partition_keys()
    kept = [p.key for p in month_partitions(keys) if p.end > start] or [keys[-1]]
    if len(kept) < len(keys):
        console.print(
            f"No object before {kept[0]}: the {len(keys) - len(kept)} earlier partitions stay empty."
        )
    return kept


def _collect(result, lines: dict[str, TableLine], tables: set) -> None:
    """Fill the summary from the run's materializations and check results of `tables` (asset
    keys; the run also rebuilds assets of the same names in the revenue layer)."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.path[-1]
        if materialization.asset_key not in tables:
            continue
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        line = lines[name]
        line.status = "ok"
        line.rows = metadata.get("dagster/row_count")
        line.fetched = metadata.get("objects_fetched", 0)
        line.calls = metadata.get("api_calls", 0)
        line.rate_limited = metadata.get("rate_limited_429", 0)
        line.seconds = metadata.get("duration_s")
    for line in lines.values():
        if line.status == "…":
            line.status = "FAILED"
    for evaluation in _check_evaluations(result):
        name = evaluation.asset_key.path[-1]
        if evaluation.asset_key in tables and not evaluation.passed:
            lines[name].checks.append(evaluation.check_name)


def _check_evaluations(result) -> list:
    return [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def _print_summary(console: Console, lines: dict[str, TableLine], result) -> int:
    table = Table(title="Stripe tables", title_justify="left")
    table.add_column("table", no_wrap=True, min_width=21)
    for column in ("status", "rows", "fetched", "API calls", "429s", "seconds", "checks"):
        table.add_column(column, justify="left" if column in ("status", "checks") else "right")
    failed_checks = 0
    for name, line in lines.items():
        failed_checks += len(line.checks)
        style = "green" if line.status == "ok" and not line.checks else "red"
        table.add_row(
            name,
            f"[{style}]{line.status}[/]",
            f"{line.rows:,}" if line.rows is not None else "–",
            f"{line.fetched:,}",
            f"{line.calls:,}",
            f"{line.rate_limited:,}",
            f"{line.seconds:,.1f}" if line.seconds is not None else "–",
            "[red]failed: " + ", ".join(line.checks) + "[/]" if line.checks else "ok",
        )
    console.print(table)
    return failed_checks


def _print_pacing(console: Console, instance, result) -> None:
    """The run's pace against its budget and what Stripe refused (the run's pacing tag)."""
    from revenue_assets.defs.stripe.assets import PACING_TAG

    run = instance.get_run_by_id(result.run_id)
    raw = run.tags.get(PACING_TAG) if run is not None else None
    if not raw:
        return
    figures = json.loads(raw)
    by_reason = figures["rate_limited_by_reason"]
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(by_reason.items()))
    console.print(
        f"Stripe API: {figures['requests']:,} requests, effective "
        f"{figures['effective_req_per_s']:.1f} req/s of a {figures['budget_req_per_s']:g} req/s "
        f"budget; {figures['rate_limited_429']} answered 429"
        + (
            f" ({reasons}; slowed to {figures['lowest_req_per_s']:g} req/s at most)"
            if reasons
            else ""
        )
        + f"; {figures['wait_s']:,.1f} s waited for the limits"
    )


def _report_downstream(console: Console, result, rebuilt: set) -> int:
    """Print what the run materialized of `rebuilt` (asset keys downstream of the tables) and
    which of their checks failed; count those."""
    names = sorted(
        key.to_user_string()
        for e in result.get_asset_materialization_events()
        if (key := e.event_specific_data.materialization.asset_key) in rebuilt
    )
    failed = [e for e in _check_evaluations(result) if e.asset_key in rebuilt and not e.passed]
    console.print(
        f"Downstream: {len(names)} asset(s) materialized"
        + (f", [red]{len(failed)} check(s) failed[/]" if failed else "")
        + ("" if result.success else " [red](run failed)[/]")
    )
    for evaluation in failed:
        console.print(
            f"  [red]check failed[/]: {evaluation.asset_key.to_user_string()} {evaluation.check_name}"
        )
    return len(failed)


def failure_lines(result, verbose: bool = False) -> list[str]:
    """One line per cause of the run's failed steps: the message our code raised to say what
    happened, where and what to do (a `dg.Failure`); for anything else, the exception's own
    first line with where to find its traceback. Each cause once."""
    lines: list[str] = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = event.event_specific_data.error
        if error is None:
            continue
        user_error = error.cause or error  # a step's error wraps what the op raised
        if error.cls_name == "Failure" or user_error.cls_name == "Failure":
            found = (error if error.cls_name == "Failure" else user_error).message.strip()
            found = found.removeprefix("dagster._core.definitions.events.Failure: ")
            candidates = found.splitlines()
        else:
            while user_error.cause is not None:
                user_error = user_error.cause
            first = user_error.message.strip().splitlines()[0] if user_error.message else ""
            where = "above" if verbose else "with --verbose, or in the run's logs in the UI"
            candidates = [f"{event.step_key} failed: {first} (the traceback: {where})"]
        lines += [line for line in candidates if line.strip() and line not in lines]
    return lines
