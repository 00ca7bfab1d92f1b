"""What the Dagster UI shows: every asset documented and placed, the graph reading left to right
(Stripe tables → revenue layer → dashboard), and the dashboard following the revenue tables."""

from __future__ import annotations

import dagster as dg

from revenue_assets.definitions import defs
from revenue_assets.defs.dashboard.assets import KEY, READS
from revenue_assets.revenue.tables import TABLES, revenue_key

LAYER = {"stripe": 0, "files": 0, "revenue_analytics": 1, "revenue_dashboard": 2}


def nodes() -> dict[dg.AssetKey, object]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get(key) for key in graph.get_all_asset_keys()}


def test_definitions_load_with_the_dashboard() -> None:
    dg.Definitions.validate_loadable(defs)
    assert KEY in nodes()


def test_every_asset_has_a_description_group_kinds_and_column_schema() -> None:
    for key, node in nodes().items():
        name = key.to_user_string()
        assert node.description, name
        assert node.group_name and node.group_name != "default", name
        assert node.kinds, name
        if key != KEY:  # the dashboard is a page, not a table
            assert "dagster/column_schema" in node.metadata, name


def test_revenue_and_dashboard_assets_have_owners_and_a_layer() -> None:
    for key, node in nodes().items():
        if key.path[0] in ("revenue_analytics", "revenue_dashboard"):
            assert node.owners == ["team:data"], key.to_user_string()
            assert node.tags.get("layer") in ("managed_view", "revenue_table", "dashboard")
    views = {k.path[-1] for k, n in nodes().items() if n.tags.get("layer") == "managed_view"}
    assert views == {"charge", "customer", "product", "subscription", "revenue_item", "mrr"}


def test_the_graph_reads_left_to_right() -> None:
    graph = nodes()
    for key, node in graph.items():
        for parent in node.parent_keys:
            assert LAYER[parent.path[0]] <= LAYER[key.path[0]], (parent, key)
    dashboard = graph[KEY]
    assert dashboard.group_name == "dashboard"
    assert set(dashboard.parent_keys) == {revenue_key(name) for name in READS}
    assert not dashboard.child_keys  # the end of the graph


def requested(result) -> set[dg.AssetKey]:
    return {r.key for r in result.results if r.true_subset.size > 0}


def test_the_dashboard_is_rebuilt_after_the_revenue_tables() -> None:
    selection = dg.AssetSelection.assets(KEY)
    revenue_keys = [table.key for table in TABLES]
    with dg.instance_for_test() as instance:
        for key in revenue_keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        assert requested(first) == {KEY}  # never built: requested
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=KEY))
        quiet = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        assert requested(quiet) == set()
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=revenue_key("revenue_metrics"))
        )
        after = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=quiet.cursor
        )
        assert requested(after) == {KEY}
