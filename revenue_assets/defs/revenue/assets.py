"""The revenue layer's assets: one unpartitioned asset per table of tables.py, plus the persons
and groups files as observable source assets.

Every asset rebuilds its whole table from the raw Stripe tables (DuckDB does it in seconds), so
a change to any partition of any Stripe table, however old, reaches every number: the assets
depend on the Stripe tables' keys and are requested whenever any upstream partition is
materialized (`REBUILD_ON_UPSTREAM_CHANGE`).

Tables, except two managed views: `charge` and `revenue_item` are DuckDB views (over the raw
charges and over `revenue_line`), because they are cheap to compute and as large as the data;
writing them would cost a third of the rebuild. Everything else is a table: computed once per
rebuild, read many times (dashboard, users), and all of them built from the same raw state.
"""

import hashlib
import tempfile
import time
import warnings
from collections.abc import Callable
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from revenue_assets.defs.resources import (
    WAREHOUSE_POOL,
    RevenueResource,
    WarehouseResource,
    revenue_context,
)
from revenue_assets.revenue.fx import extract_ecb_history, write_pegs
from revenue_assets.revenue.runner import (
    RevenueContext,
    TakingTurns,
    load_people_files,
    run,
)
from revenue_assets.revenue.tables import (
    GROUP,
    GROUPS_KEY,
    PERSONS_KEY,
    TABLES,
    RevenueTable,
    revenue_key,
)

# `eager()` adapted to unpartitioned assets over partitioned Stripe tables. eager() waits until
# no dependency is missing, and a monthly partitioned Stripe table always has partitions never
# materialized (a new month, a range nobody synced); it also only builds assets that become
# missing after it was applied, so a new deployment would never build the revenue layer. Here
# an asset is requested when it is missing on the first evaluation or becomes missing, and
# whenever ANY partition of any upstream table is materialized, including last year's invoice
# updated by a webhook. Missing revenue tables upstream still hold it back (unless requested on
# the same tick), as do runs in progress of the revenue layer itself. A Stripe table's run in
# progress does not: under a steady stream of webhooks some Stripe partition is nearly always
# being written, and waiting for a quiet moment would starve the revenue layer. A rebuild reads
# the raw tables as they are when it starts; a Stripe run finishing later is an update, which
# requests the next rebuild, and `in_progress()` holds that back until this one is done, so
# changes arriving during a rebuild are batched into the following one.
_HANDLED = dg.AutomationCondition.newly_requested() | dg.AutomationCondition.newly_updated()
with warnings.catch_warnings():  # `include_sources` is beta; the source files need it
    warnings.simplefilter("ignore", dg.BetaWarning)
    _PARTITIONED_AND_SOURCES = dg.AssetSelection.key_prefixes(
        ["stripe"], ["files"], include_sources=True
    )
_REBUILD_TRIGGERS: dg.AutomationCondition = (
    # built once when missing, first evaluation included (`since_last_handled` would
    # reset on the first evaluation and never build a new deployment)
    dg.AutomationCondition.missing().newly_true().since(_HANDLED).with_label("missing")
    # A Stripe (or user file) change counts until the next request, not until the next
    # materialization: a rebuild reads the raw tables when its step starts and is recorded
    # when it ends, so a change landing in between would otherwise be taken as included.
    | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
    .allow(_PARTITIONED_AND_SOURCES)
    # (newly_requested alone: an `|` would drop the timing that lets a change seen on the
    # same tick as the request, but made after it, still count)
    .since(dg.AutomationCondition.newly_requested())
    .with_label("any Stripe partition updated since the last request")
    # Revenue tables upstream: requested on this tick (so built first in the same run), or
    # updated by a run that did not build this asset (Dagster's `any_deps_updated` leaves
    # out updates by runs that also targeted it, so a rebuild does not request itself).
    # Counted until the next request: until the next update, this asset's own update by
    # the previous rebuild, seen on the tick a new change requests the tables, cancelled
    # the request, and the page came a run later.
    | dg.AutomationCondition.any_deps_updated()
    .ignore(_PARTITIONED_AND_SOURCES)
    .since(dg.AutomationCondition.newly_requested())
    .with_label("any upstream revenue table updated since the last request")
) & (
    ~dg.AutomationCondition.any_deps_missing().ignore(_PARTITIONED_AND_SOURCES)
    & ~dg.AutomationCondition.any_deps_in_progress().ignore(_PARTITIONED_AND_SOURCES)
)
REBUILD_ON_UPSTREAM_CHANGE: dg.AutomationCondition = (
    _REBUILD_TRIGGERS & ~dg.AutomationCondition.in_progress()
).with_label("rebuild_on_upstream_change")
# The dashboard's: the same, but not held back by a run of its own in progress. A rebuild's run
# records the tables, then builds the page (2-3 s at 1M invoice lines); a change seen meanwhile
# requested the next rebuild without the page, which came a whole rebuild later (4 of 27
# rebuilds at 1M lines, the slowest page updates). Requested with every rebuild, the page of
# the next run waits for that run's tables anyway, long after this one's page is written.
REBUILD_WITH_THE_TABLES: dg.AutomationCondition = _REBUILD_TRIGGERS.with_label(
    "rebuild_with_the_revenue_tables"
)

PREVIEW_ROWS = 10
OWNERS = ["team:data"]
# The views compatible with the product we replace, tagged apart from the revenue
# tables in the UI (`layer` tag): `charge` and `revenue_item` are DuckDB views, the others are
# materialized for speed but keep the views' columns.
MANAGED_VIEWS = frozenset({"charge", "customer", "product", "subscription", "revenue_item", "mrr"})


def _markdown(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:60]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _rates_tokens(directory: Path) -> dict[str, str]:
    """The files exchange_rate.sql reads: the bundled ECB history and the USD pegs."""
    files = {"ecb_csv": extract_ecb_history(directory), "pegs_csv": write_pegs(directory)}
    return {token: str(path).replace("'", "''") for token, path in files.items()}


def _check_rates_base(connection: duckdb.DuckDBPyConnection, context: RevenueContext) -> None:
    """Converting needs exchange_rate built for the configured base currency."""
    found = connection.execute(
        f"SELECT any_value(base_currency) FROM {context.table('exchange_rate')}"
    ).fetchone()
    if found is None or found[0] != context.base_currency:
        raise dg.Failure(
            description=(
                f"{context.table('exchange_rate')} converts into {found[0] if found else None}, "
                f"but the base currency is {context.base_currency}: materialize "
                "revenue_analytics/exchange_rate first (it follows REVENUE_ASSETS_BASE_CURRENCY)."
            )
        )


def _unconverted(connection: duckdb.DuckDBPyConnection, context: RevenueContext) -> dict[str, Any]:
    """Revenue lines whose currency has no rate: reported instead of silently converted."""
    rows = connection.execute(
        f"""SELECT original_currency, count(*) FROM {context.table("revenue_line")}
            WHERE amount IS NULL AND original_amount <> 0 GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    kinds = connection.execute(
        f"SELECT kind, count(*) FROM {context.table('revenue_line')} GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return {
        "rows_by_kind": dg.MetadataValue.json({kind: count for kind, count in kinds}),
        "currencies_without_rate": dg.MetadataValue.json(
            {currency: count for currency, count in rows}
        ),
    }


def _metrics_summary(
    connection: duckdb.DuckDBPyConnection, context: RevenueContext
) -> dict[str, Any]:
    row = connection.execute(
        f"""SELECT month, mrr, arr, customers FROM {context.table("revenue_metrics")}
            ORDER BY month DESC LIMIT 1"""
    ).fetchone()
    if row is None:
        return {}
    return {
        "latest_month": str(row[0]),
        "mrr": float(row[1]),
        "arr": float(row[2]),
        "paying_customers": int(row[3]),
    }


EXTRA_METADATA: dict[str, Callable[[duckdb.DuckDBPyConnection, RevenueContext], dict[str, Any]]] = {
    "revenue_line": _unconverted,
    "revenue_metrics": _metrics_summary,
}


def build_table(
    connection: duckdb.DuckDBPyConnection, table: RevenueTable, context: RevenueContext
) -> dict[str, Any]:
    """Run the table's SQL and describe the result (row count, preview, extras)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="revenue-assets-") as directory:
        tokens = dict(table.tokens)
        if table.name == "exchange_rate":
            tokens.update(_rates_tokens(Path(directory)))
        if revenue_key("exchange_rate") in table.deps:
            _check_rates_base(connection, context)
        if table.name == "customer_link":
            load_people_files(connection, context)
        for name in table.sql:
            run(connection, name, context, **tokens)
    seconds = time.perf_counter() - started
    target = context.table(table.name)
    count_sql = table.row_count_sql or f"SELECT count(*) FROM {target}"
    row_count = connection.execute(context.fill(count_sql)).fetchone()[0]
    metadata: dict[str, Any] = {
        "dagster/row_count": row_count,
        "dagster/table_name": target,
        "dagster/column_schema": table.column_schema(),
        "duration_s": round(seconds, 3),
        "base_currency": context.base_currency,
        "evaluated_at": context.as_of.isoformat(),
    }
    if table.preview_columns:
        # views are previewed unsorted: sorting would compute the whole view
        ordered = table.preview_order and not table.is_view
        order = f"ORDER BY {table.preview_order}" if ordered else ""
        columns = list(table.preview_columns)
        rows = connection.execute(
            f"SELECT {', '.join(columns)} FROM {target} {order} LIMIT {PREVIEW_ROWS}"
        ).fetchall()
        metadata["preview"] = dg.MetadataValue.md(_markdown(columns, rows))
    extra = EXTRA_METADATA.get(table.name)
    if extra is not None:
        metadata.update(extra(connection, context))
    return metadata


def revenue_spec(table: RevenueTable) -> dg.AssetSpec:
    """The asset of `revenue_analytics.<table>`: its own lineage, metadata, checks and
    automation condition, whichever step builds it."""
    return dg.AssetSpec(
        key=table.key,
        description=table.description,
        group_name=GROUP,
        kinds={"duckdb", "sql", "view" if table.is_view else "table"},
        owners=OWNERS,
        tags={"layer": "managed_view" if table.name in MANAGED_VIEWS else "revenue_table"},
        deps=list(table.deps),
        automation_condition=REBUILD_ON_UPSTREAM_CHANGE,
        # a table that failed is not recorded, nor what reads it (see `revenue_tables`)
        skippable=True,
        metadata={
            "dagster/column_schema": table.column_schema(),
            "dagster/table_name": f"revenue_analytics.{table.name}",
            "sql": dg.MetadataValue.path(f"revenue_assets/revenue/sql/{table.sql[-1]}.sql"),
        },
    )


def _warn_unconverted(context: dg.AssetExecutionContext, metadata: dict[str, Any]) -> None:
    unconverted = metadata.get("currencies_without_rate")
    if unconverted is not None and unconverted.value:
        context.log.warning(
            "No exchange rate for "
            + ", ".join(f"{cur} ({n} rows)" for cur, n in unconverted.value.items())
            + ": their base-currency amounts are NULL (original amounts are kept)."
        )


def build_order(tables: tuple[RevenueTable, ...]) -> tuple[list[RevenueTable], int]:
    """`tables` so that each comes after the revenue tables it reads, and the number of them that
    read Stripe (or the user's files): those first, with what they read.

    Every table after that many reads only revenue tables this build already wrote, so the
    layer stays a function of the raw state the build started from even if other processes
    write raw rows from there on: the build can let a waiting webhook merge in between them.
    """
    by_key = {table.key: table for table in tables}
    graph = {t.key: [d for d in t.deps if d in by_key] for t in tables}

    def reads_outside(table: RevenueTable) -> bool:
        # directly, or through a view (which reads its inputs whenever it is read)
        return any(
            (by_key[dep].is_view and reads_outside(by_key[dep])) if dep in by_key else True
            for dep in table.deps
        )

    first: set[dg.AssetKey] = set()
    pending = [t.key for t in tables if reads_outside(t)]
    while pending:
        key = pending.pop()
        if key not in first:
            first.add(key)
            pending.extend(graph[key])
    ordered = [by_key[key] for key in TopologicalSorter(graph).static_order()]
    reading_stripe = [t for t in ordered if t.key in first]
    return reading_stripe + [t for t in ordered if t.key not in first], len(reading_stripe)


BUILD_ORDER, READING_STRIPE = build_order(TABLES)


# One step builds every revenue table, in dependency order, on one connection: each table its
# own step cost ~0.2 s apiece in opening and preparing the warehouse and in Dagster's step
# bookkeeping, a quarter of a first sync's rebuild. Always all of them, in one run: built
# apart, under a stream of changes, the automation requested the tables a change reached
# first, then the ones below them in later runs as each finished (22 runs in 3 minutes at 1M
# invoice lines, each waiting for the warehouse behind the others), and the page, which waits
# for every table it reads, starved. A table that fails does not stop the ones that do not
# read it; the step fails after them, with the first error, and what read the failed table is
# not built (nor recorded).
# Once every table reading Stripe is built, the step lets whoever waits for the warehouse in
# between two tables, every few seconds at most (`TakingTurns`): at 1M invoice lines the whole
# build held the file for 11-16 s, and under a change a second rebuilds ran nearly back to
# back, so a webhook's merge of milliseconds waited most of a rebuild for its row.
@dg.multi_asset(
    name="revenue_tables",
    specs=[revenue_spec(table) for table in TABLES],
    can_subset=False,
    pool=WAREHOUSE_POOL,
)
def revenue_tables(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, revenue: RevenueResource
):
    settings = revenue_context(warehouse, revenue)
    broken: set[dg.AssetKey] = set()
    first_error: BaseException | None = None
    built: list[dg.MaterializeResult] = []
    started = time.perf_counter()
    with TakingTurns(settings) as warehouse_turns:
        for position, table in enumerate(BUILD_ORDER):
            if position >= READING_STRIPE:
                warehouse_turns.let_others_in()
            upstream_broken = broken.intersection(table.deps)
            if upstream_broken:
                context.log.error(
                    f"{table.key.to_user_string()} not built: it reads "
                    + ", ".join(sorted(k.to_user_string() for k in upstream_broken))
                    + ", which failed."
                )
                broken.add(table.key)
                continue
            try:
                metadata = build_table(warehouse_turns.connection, table, settings)
            except Exception as error:  # the others still build; the step fails after them
                context.log.error(f"{table.key.to_user_string()} failed: {error}")
                broken.add(table.key)
                first_error = first_error or error
                continue
            _warn_unconverted(context, metadata)
            built.append(dg.MaterializeResult(asset_key=table.key, metadata=metadata))
    # Recorded together once all are built, after the warehouse is released: Dagster takes an
    # unpartitioned asset as no longer in progress once its run has recorded it, and the
    # automation requested the whole layer again as soon as the first table was recorded,
    # while the rest were still being built (overlapping rebuilds, every 15 s at 1M lines).
    context.log.info(
        f"{len(built)} revenue tables built in {time.perf_counter() - started:.1f} s, letting "
        f"others use the warehouse {warehouse_turns.handoffs} time(s) in between: recording"
    )
    yield from built
    if first_error is not None:
        raise first_error


REVENUE_ASSETS: list[dg.AssetsDefinition] = [revenue_tables]


def file_version(path: str | None) -> str:
    """A data version of a user file: its content hash (`none` when not configured)."""
    if not path:
        return "none"
    file = Path(path)
    if not file.is_file():
        return "missing"
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# The RevenueResource setting holding each user-provided file's path.
USER_FILE_SETTINGS = {PERSONS_KEY: "persons_path", GROUPS_KEY: "groups_path"}


def _user_file(key: dg.AssetKey, columns: list[dg.TableColumn], description: str) -> dg.SourceAsset:
    """A file the user provides, observed by content hash: a change re-links customers."""

    @dg.observable_source_asset(
        key=key,
        group_name=GROUP,
        # observable source assets take no `kinds` or `owners` (a **kwargs swallows them): the
        # kind goes in as its tag
        tags={"dagster/kind/file": ""},
        metadata={"dagster/column_schema": dg.TableSchema(columns=columns)},
        description=description,
    )
    def observe(revenue: RevenueResource) -> dg.DataVersion:
        return dg.DataVersion(file_version(getattr(revenue, USER_FILE_SETTINGS[key])))

    return observe


persons = _user_file(
    PERSONS_KEY,
    [
        dg.TableColumn("distinct_id", "VARCHAR", "The person's product-analytics id."),
        dg.TableColumn("email", "VARCHAR", "Optional: matched to customers' emails."),
    ],
    "Persons the user provides (REVENUE_ASSETS_PERSONS: CSV or Parquet with a `distinct_id` "
    "column and optionally `email`). Observed by content hash; a change re-links customers.",
)
groups = _user_file(
    GROUPS_KEY,
    [
        dg.TableColumn("group_key", "VARCHAR", "The group's key (customer metadata)."),
        dg.TableColumn("name", "VARCHAR", "Optional: the group's name."),
    ],
    "Groups the user provides (REVENUE_ASSETS_GROUPS: CSV or Parquet with a `group_key` "
    "column and optionally `name`). Observed by content hash.",
)
