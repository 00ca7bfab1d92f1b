"""The revenue assets are unpartitioned and must follow any change upstream, however old: a
webhook that updates an invoice of 2019 reaches every revenue number (declarative automation)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from revenue_assets.definitions import defs
from revenue_assets.defs.revenue.tables import TABLES, revenue_key, stripe_key


def requested(result: Any) -> set[dg.AssetKey]:
    return {
        r.key for r in result.results if r.true_subset.size > 0 and isinstance(r.key, dg.AssetKey)
    }


def test_an_old_stripe_partition_requests_the_revenue_assets() -> None:
    revenue_keys = {table.key for table in TABLES}
    selection = dg.AssetSelection.assets(*revenue_keys)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        assert requested(first) == revenue_keys  # never built: all requested

        for key in revenue_keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        settled = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert requested(settled) == set()

        # A webhook run re-syncs one invoice partition of 2019 (most partitions never synced).
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-03-01")
        )
        after = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=settled.cursor
        )
        downstream = {
            revenue_key(name)
            for name in (
                "exchange_rate",
                "charge",
                "customer",
                "revenue_line",
                "revenue_item",
                "deferred_revenue",
                "mrr_history",
                "mrr",
                "revenue_metrics",
                "customer_link",
                "persons_revenue",
                "groups_revenue",
            )
        }
        assert requested(after) == downstream
        assert revenue_key("product") not in requested(after)
        assert revenue_key("subscription") not in requested(after)

        for key in downstream:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=after.cursor
        )
        assert requested(quiet) == set()
