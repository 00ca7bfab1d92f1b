"""Asset checks a finance person would run on the revenue layer.

Each check is a query in `sql/checks/` returning the violations (nothing when all is well);
the check fails with their count and the first few as a table. One multi-asset check runs
whichever of them a run selects on one warehouse connection: each its own step cost ~0.1 s
apiece in opening the file and in Dagster's step bookkeeping, for queries of milliseconds.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import duckdb

from revenue_assets.defs.resources import RevenueResource, WarehouseResource, revenue_context
from revenue_assets.revenue.runner import RevenueContext, render, revenue_connection
from revenue_assets.revenue.tables import revenue_key

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class FinanceCheck:
    name: str
    asset: str
    description: str
    # WARN: the figures are right for what they cover but incomplete (they say so)
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    # a violation's first column names it in the check's description (e.g. the currencies)
    names_subjects: bool = False

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(revenue_key(self.asset), self.name)


CHECKS: tuple[FinanceCheck, ...] = (
    FinanceCheck(
        "revenue_item_sums_to_invoice",
        "revenue_item",
        "Every paid invoice's revenue items sum exactly to its net amount (total excluding "
        "tax): no line missing or truncated, discounts allocated to the cent.",
    ),
    FinanceCheck(
        "deferred_revenue_sums_to_lines",
        "deferred_revenue",
        "Every revenue line's monthly recognition (invoice lines, charges, refunds and credit "
        "notes) sums exactly to the line.",
    ),
    FinanceCheck(
        "deferred_balance_valid",
        "deferred_revenue",
        "Deferred balances never go below zero (per line: never of the opposite sign; per "
        "invoice line net of its credit notes and refunds, and per currency and month end: "
        "never negative) and are zero once a line's period has ended.",
    ),
    FinanceCheck(
        "charges_reconcile",
        "charge",
        "Captured charges and succeeded refunds match their balance transactions, and each "
        "charge's amount_refunded matches its refunds.",
    ),
    FinanceCheck(
        "revenue_fully_converted",
        "revenue_metrics",
        "Every revenue line is in the base-currency figures: none in a currency without an "
        "ECB rate, a USD peg or a rate Stripe settled it at. A warning names the currencies "
        "left out (their original amounts are in unconverted_original_amounts).",
        severity=dg.AssetCheckSeverity.WARN,
        names_subjects=True,
    ),
    FinanceCheck(
        "mrr_movements_roll",
        "mrr_history",
        "MRR rolls month to month: previous + movements = current, per subscription and per "
        "currency in total.",
    ),
    FinanceCheck(
        "mrr_bridge_reconciles",
        "revenue_metrics",
        "The MRR bridge reconciles each month: last month's MRR + new + expansion + "
        "contraction + churn + reactivation + FX effect = this month's, per customer and in "
        "total; customers' MRR sums to subscriptions'; new MRR exactly for new customers.",
    ),
)


def run_check(check: FinanceCheck, context: RevenueContext) -> dg.AssetCheckResult:
    """Run the check's query on a connection of its own; pass when it returns no violation."""
    with revenue_connection(context) as connection:
        return evaluate(check, connection, context)


def evaluate(
    check: FinanceCheck, connection: duckdb.DuckDBPyConnection, context: RevenueContext
) -> dg.AssetCheckResult:
    """Run the check's query on `connection`; pass when it returns no violation."""
    query = render(f"checks/{check.name}", context)
    cursor = connection.execute(f"SELECT * FROM ({query}) AS violations")
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    metadata: dict[str, object] = {"violations": len(rows)}
    if rows:
        header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
        body = "\n".join(
            "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
            for row in rows[:SAMPLE_ROWS]
        )
        metadata["first_violations"] = dg.MetadataValue.md(f"{header}\n{body}")
    description = None
    if rows and check.names_subjects:
        subjects = ", ".join(str(row[0]) for row in rows)
        metadata["subjects"] = subjects
        description = f"Left out of the base-currency figures: {subjects}."
    return dg.AssetCheckResult(
        asset_key=check.key.asset_key,
        check_name=check.name,
        passed=not rows,
        severity=check.severity,
        metadata=metadata,
        description=description,
    )


# Run whenever the asset is rebuilt, whoever rebuilt it, but not while a run that builds it is
# in progress: that run runs these checks after the tables, and a check requested meanwhile
# made a run of its own that waited for the warehouse behind it (at 1M invoice lines, nearly
# one extra run per rebuild, 2 s of the warehouse each). A run that builds the asset without
# its checks (a materialization from the UI) still gets them once it ends.
CHECK_AFTER_REBUILD = (
    # since the last request, not the last run, for the reason the revenue tables' own
    # condition gives (`REBUILD_ON_UPSTREAM_CHANGE`)
    dg.AutomationCondition.any_deps_updated().since(dg.AutomationCondition.newly_requested())
    & ~dg.AutomationCondition.any_deps_in_progress()
).with_label("after each rebuild")


def check_spec(check: FinanceCheck) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        check.name,
        asset=check.key.asset_key,
        description=check.description,
        blocking=False,
        automation_condition=CHECK_AFTER_REBUILD,
    )


@dg.multi_asset_check(
    name="revenue_checks", specs=[check_spec(check) for check in CHECKS], can_subset=True
)
def revenue_checks(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, revenue: RevenueResource
) -> Iterator[dg.AssetCheckResult]:
    settings = revenue_context(warehouse, revenue)
    selected = context.selected_asset_check_keys
    # One turn for all (2-4 s at 1M invoice lines), unlike the rebuild's tables: letting merges
    # in between checks made them 7 s, and the next rebuild waits for this run to end.
    with revenue_connection(settings) as connection:
        for check in CHECKS:
            if check.key in selected:
                yield evaluate(check, connection, settings)


REVENUE_CHECKS: list[dg.AssetChecksDefinition] = [revenue_checks]
