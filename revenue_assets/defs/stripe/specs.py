"""One AssetSpec per Stripe table, derived from the table registry and the warehouse schema."""

from __future__ import annotations

import dagster as dg

from revenue_assets.catalog.tables import ChildTable, StripeTable
from revenue_assets.defs.stripe.partitions import monthly_partitions
from revenue_assets.warehouse.schema import SYSTEM_COLUMNS, table_schema

GROUP = "stripe"
OWNERS = ["team:data"]


def table_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["stripe", name])


def column_schema(name: str) -> dg.TableSchema:
    layout = table_schema(name)
    columns = [dg.TableColumn("id", "VARCHAR", "Stripe object id (primary key).")]
    if layout.parent_column:
        columns += [
            dg.TableColumn(layout.parent_column, "VARCHAR", "Id of the parent object."),
            dg.TableColumn("_parent_created", "TIMESTAMPTZ", "Parent's created (partition)."),
        ]
    for column in layout.columns:
        source = ".".join(column.path)
        note = "Expanded objects are stored as their id. " if column.kind == "REF" else ""
        columns.append(dg.TableColumn(column.name, column.storage_type, f"{note}From `{source}`."))
    columns += [dg.TableColumn(name, type_, text) for name, type_, text in SYSTEM_COLUMNS]
    return dg.TableSchema(columns=columns)


FULL_REFRESH_NOTE = (
    "Full refresh: listed whole on every run (Stripe's list has no creation-time filter); "
    "unpartitioned."
)


def events_only_note(table: StripeTable) -> str:
    """How an events-only table is kept, and what that cannot see."""
    types = ", ".join(f"`{t}`" for t in table.event_types)
    return (
        "Events only: Stripe has no list endpoint for this object, so it is never listed. A "
        f"materialization rebuilds the table from the {types} payloads held in `stripe.event` "
        "(the newest event of each object wins; a `.deleted` event marks its row `_deleted`), "
        "and webhooks or the Events API pull keep it current between runs. Stripe keeps events "
        "for 30 days: an object whose last event is older than that and that `stripe.event` "
        "never held (it was synced later) is missing. Unpartitioned: the object has no creation "
        "time to cut months by, and its events belong to no month."
    )


def table_description(table: StripeTable) -> str:
    """The asset's description: the registry's, where it is listed from, and how."""
    if table.events_only:
        where = f"Table `stripe.{table.name}`, built from `stripe.event`."
        return f"{table.description}\n\n{where}\n\n{events_only_note(table)}"
    how = f"\n\n{FULL_REFRESH_NOTE}" if table.full_refresh else ""
    return f"{table.description}\n\nListed from `{table.path}`; table `stripe.{table.name}`.{how}"


def child_description(table: StripeTable, child: ChildTable) -> str:
    """A child table's description: where its rows come from, and which parents are asked."""
    if child.embedded:
        how = (
            f"Every `{child.field}` entry of `stripe.{table.name}`, complete: paged through "
            f"`{child.path}` whenever the embedded list says `has_more`."
        )
    else:
        fields = " or ".join(f"`{path}`" for path in child.listed_for)
        how = (
            f"Listed from `{child.path}` for each `{table.name}` whose {fields} is set (the "
            f"parents that can have any: one request per parent). Kept current when its parent "
            "changes, and checked for removed rows whenever the parent's month is re-listed."
        )
    return f"{how} Written by the `{table.name}` listing; partitioned by the parent's created."


def table_specs(table: StripeTable) -> list[dg.AssetSpec]:
    """The asset of a table and those of its child tables (written by the same listing).
    Every spec carries its partitions: monthly, or none for a full-refresh or events-only
    table, so the one multi-asset holds both kinds."""
    partitions_def = None if table.unpartitioned else monthly_partitions
    specs = [
        dg.AssetSpec(
            key=table_key(table.name),
            group_name=GROUP,
            kinds={"stripe", "duckdb"},
            owners=OWNERS,
            # an events-only table is read from the event history
            deps=[table_key("event")] if table.events_only else [],
            description=table_description(table),
            partitions_def=partitions_def,
            metadata={
                "dagster/column_schema": column_schema(table.name),
                "dagster/table_name": f"stripe.{table.name}",
                "stripe_permission": table.permission,
            },
            tags={"stripe_table": table.name},
        )
    ]
    for child in table.children:
        specs.append(
            dg.AssetSpec(
                key=table_key(child.name),
                group_name=GROUP,
                kinds={"stripe", "duckdb"},
                owners=OWNERS,
                deps=[table_key(table.name)],
                partitions_def=partitions_def,
                description=child_description(table, child),
                metadata={
                    "dagster/column_schema": column_schema(child.name),
                    "dagster/table_name": f"stripe.{child.name}",
                    "stripe_permission": child.permission or table.permission,
                },
                tags={"stripe_table": child.name},
            )
        )
    return specs
