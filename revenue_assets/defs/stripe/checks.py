"""Asset checks on the raw Stripe tables: what a data engineer verifies before trusting a sync.

- no duplicate ids (child ids must be unique across parents too);
- every child row has its parent;
- every invoice's subtotal equals its lines, and its total follows from discounts and taxes;
- Stripe holds nothing older than the first partition. This one asks Stripe: objects created
  before REVENUE_ASSETS_SYNC_START would never be synced, so the check fails loudly instead of
  letting them drop silently. The tables are asked concurrently (each is its own operation of
  Stripe's limits), first, while the warehouse checks run: one round trip in all, hidden;
- webhooks are healthy (on `stripe/event`, the change history): deliveries that keep failing
  signature verification (a wrong secret "syncing" 0 rows) or inbox events nobody applies fail it.

One multi-asset check evaluates any subset with one warehouse connection, instead of dozens of
tiny ops each opening the file.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from revenue_assets.catalog.tables import CHILD_TABLES, TABLES_BY_NAME, StripeTable
from revenue_assets.defs.resources import StateResource, StripeResource, WarehouseResource
from revenue_assets.defs.stripe.partitions import monthly_partitions
from revenue_assets.defs.stripe.specs import table_key
from revenue_assets.stripe_api.errors import StripeAccessError
from revenue_assets.warehouse.merge import SQL as WAREHOUSE_SQL
from revenue_assets.webhooks.health import webhook_health

NO_DUPLICATES = "no_duplicate_ids"
HAS_PARENT = "every_child_has_its_parent"
INVOICE_TOTALS = "invoice_totals_equal_lines"
NOTHING_OLDER = "nothing_before_first_partition"
WEBHOOK_HEALTH = "webhook_deliveries_healthy"


def table_check_specs(table: StripeTable) -> list[dg.AssetCheckSpec]:
    """The checks of a table and of its child tables."""
    specs = [
        dg.AssetCheckSpec(
            NO_DUPLICATES,
            asset=table_key(name),
            description="Each Stripe id appears once (upserts, never appends).",
        )
        for name in (table.name, *table.child_names)
    ]
    specs += [
        dg.AssetCheckSpec(
            HAS_PARENT,
            asset=table_key(child),
            description=f"Every row's parent exists in stripe.{table.name}.",
        )
        for child in table.child_names
    ]
    # no `created` filter to ask (full refresh), or no list at all (events only)
    if table.retention_days is None and not table.unpartitioned:
        specs.append(
            dg.AssetCheckSpec(
                NOTHING_OLDER,
                asset=table_key(table.name),
                description=(
                    "Stripe has no object created before the first partition "
                    "(REVENUE_ASSETS_SYNC_START); such objects would never be synced."
                ),
            )
        )
    if table.name == "event":  # the change history is where the webhooks' health shows
        specs.append(
            dg.AssetCheckSpec(
                WEBHOOK_HEALTH,
                asset=table_key("event"),
                description=(
                    "Webhook deliveries verify and inbox events get applied: fails when "
                    "deliveries keep failing signature verification or events wait unapplied "
                    "(see `revenue-assets webhooks status`)."
                ),
            )
        )
    if table.name == "invoice":
        specs.append(
            dg.AssetCheckSpec(
                INVOICE_TOTALS,
                asset=table_key("invoice"),
                additional_deps=[table_key("invoice_line_item")],
                description=(
                    "subtotal = Σ line amounts, and total = subtotal − Σ discounts + Σ exclusive "
                    "taxes, for every invoice (lines complete, never cut at 10)."
                ),
            )
        )
    return specs


def stripe_table_checks_for(specs: list[dg.AssetCheckSpec]) -> dg.AssetChecksDefinition:
    """The one multi-asset check over every table's check specs."""
    return dg.multi_asset_check(specs=specs, can_subset=True, name="stripe_table_checks")(
        evaluate_checks
    )


def evaluate_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    stripe: StripeResource,
    state: StateResource,
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks' results, with one warehouse connection."""
    schema = warehouse.stripe_schema
    selected = context.selected_asset_check_keys
    # Stripe's answers (one round trip) arrive while the warehouse checks run.
    older = [key for key in selected if key.name == NOTHING_OLDER]
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nothing-older")
    asking = pool.submit(list, _nothing_older(stripe, older))
    pool.shutdown(wait=False)  # its one task still runs
    with warehouse.get_connection() as connection:
        existing = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [schema],
            ).fetchall()
        }
        for key in sorted(selected, key=lambda k: (k.asset_key.path[-1], k.name)):
            table = key.asset_key.path[-1]
            if key.name in (NOTHING_OLDER, WEBHOOK_HEALTH):
                continue  # not in the warehouse (below)
            if table not in existing:
                yield dg.AssetCheckResult(
                    check_name=key.name,
                    asset_key=key.asset_key,
                    passed=False,
                    metadata={"reason": f"{schema}.{table} does not exist yet: sync first."},
                )
                continue
            if key.name == NO_DUPLICATES:
                yield _no_duplicates(connection, schema, table, key)
            elif key.name == HAS_PARENT:
                yield _has_parent(connection, schema, table, key)
            elif key.name == INVOICE_TOTALS:
                yield _invoice_totals(connection, schema, key)
    yield from asking.result()
    if any(key.name == WEBHOOK_HEALTH for key in selected):
        with state.store() as inbox:
            report = webhook_health(inbox)
        yield dg.AssetCheckResult(
            check_name=WEBHOOK_HEALTH,
            asset_key=table_key("event"),
            passed=report.passed,
            metadata={
                "problems": dg.MetadataValue.md(
                    "\n".join(f"- {reason}" for reason in report.reasons) or "none"
                ),
                **{name: value for name, value in report.metrics.items() if value is not None},
            },
        )


def _no_duplicates(
    connection, schema: str, table: str, key: dg.AssetCheckKey
) -> dg.AssetCheckResult:
    rows = connection.execute(
        f"SELECT id, count(*) AS n FROM {schema}.{table} GROUP BY id HAVING n > 1 LIMIT 20"
    ).fetchall()
    return dg.AssetCheckResult(
        check_name=key.name,
        asset_key=key.asset_key,
        passed=not rows,
        metadata={"duplicate_ids": len(rows), "examples": ", ".join(r[0] for r in rows[:5])},
    )


def _has_parent(connection, schema: str, child: str, key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    parent, spec = CHILD_TABLES[child]
    rows = connection.execute(
        f"""SELECT c.{spec.parent_column} FROM {schema}.{child} c
            LEFT JOIN {schema}.{parent.name} p ON p.id = c.{spec.parent_column}
            WHERE p.id IS NULL AND NOT c._deleted
            GROUP BY 1 LIMIT 20"""
    ).fetchall()
    return dg.AssetCheckResult(
        check_name=key.name,
        asset_key=key.asset_key,
        passed=not rows,
        metadata={"missing_parents": len(rows), "examples": ", ".join(r[0] for r in rows[:5])},
    )


def _invoice_totals(connection, schema: str, key: dg.AssetCheckKey) -> dg.AssetCheckResult:
    sql = WAREHOUSE_SQL.render("check_invoice_totals", schema=schema)
    mismatches = connection.execute(sql).fetchall()
    checked = connection.execute(
        f"SELECT count(*) FROM {schema}.invoice WHERE NOT _deleted"
    ).fetchone()[0]
    return dg.AssetCheckResult(
        check_name=key.name,
        asset_key=key.asset_key,
        passed=not mismatches,
        metadata={
            "invoices_checked": checked,
            "mismatched": len(mismatches),
            "examples": dg.MetadataValue.md(
                "\n".join(
                    f"- {m[0]}: subtotal {m[1]} vs lines {m[2]}, total {m[3]} vs expected {m[4]}"
                    for m in mismatches[:10]
                )
                or "none"
            ),
        },
    )


def _nothing_older(
    stripe: StripeResource, keys: list[dg.AssetCheckKey]
) -> Iterator[dg.AssetCheckResult]:
    if not keys:
        return
    first = monthly_partitions.get_first_partition_window()
    assert first is not None
    start = int(first.start.astimezone(UTC).timestamp())
    access = stripe.access()

    def newest_older(key: dg.AssetCheckKey) -> dict[str, Any] | StripeAccessError:
        table = TABLES_BY_NAME[key.asset_key.path[-1]]
        try:
            return access.get(
                table.path,
                {"limit": 1, "created": {"lt": start}, **table.list_params},
                expect_list=True,
            )
        except StripeAccessError as error:
            return error

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        pages = list(pool.map(newest_older, keys))
    for key, page in zip(keys, pages, strict=True):
        table = TABLES_BY_NAME[key.asset_key.path[-1]]
        if isinstance(page, StripeAccessError):
            yield dg.AssetCheckResult(
                check_name=key.name,
                asset_key=key.asset_key,
                passed=False,
                metadata={"reason": f"could not ask Stripe: {page}"},
            )
            continue
        older = page["data"]
        created = table.created_of(older[0]) if older else None
        found = datetime.fromtimestamp(created, UTC).isoformat() if created else "none"
        yield dg.AssetCheckResult(
            check_name=key.name,
            asset_key=key.asset_key,
            passed=not older,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "first_partition": first.start.date().isoformat(),
                "newest_older_object": found,
                "action": (
                    "Set REVENUE_ASSETS_SYNC_START to an earlier month and reload: these objects "
                    "are outside every partition and are not synced."
                    if older
                    else "none"
                ),
            },
        )
