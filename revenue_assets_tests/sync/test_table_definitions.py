"""Every registry table gets its whole definitions from the one factory, as the daemon loads them."""

from pathlib import Path

import dagster as dg

from revenue_assets.catalog.tables import TABLES
from revenue_assets.definitions import defs
from revenue_assets.defs.stripe.config import STRIPE_OP, StripeSyncConfig
from revenue_assets.defs.stripe.definitions import TABLE_DEFINITIONS
from revenue_assets.defs.stripe.sensors import _events_run

REPOSITORY = defs.get_repository_def()


def test_each_table_has_its_specs_checks_and_both_sensors_in_the_code_location() -> None:
    assert [t.table.name for t in TABLE_DEFINITIONS] == [table.name for table in TABLES]
    graph = REPOSITORY.asset_graph
    sensors = {sensor.name for sensor in REPOSITORY.sensor_defs}
    for definitions in TABLE_DEFINITIONS:
        table = definitions.table
        keys = {spec.key for spec in definitions.specs}
        assert keys == {dg.AssetKey(["stripe", n]) for n in (table.name, *table.child_names)}
        assert keys <= graph.get_all_asset_keys()
        # every table (and child) is checked for duplicates, in the one check op
        checked = {spec.asset_key for spec in definitions.check_specs}
        assert checked == keys
        for spec in definitions.check_specs:
            assert spec.key in graph.asset_check_keys
        assert {f"{table.name}_new_records", f"{table.name}_webhooks"} <= sensors
        assert definitions.defs.sensors == [definitions.new_records, definitions.webhooks]


def test_sensor_run_config_is_the_ops_typed_config(monkeypatch) -> None:
    """What a sensor requests is what the op's config schema accepts, field for field."""
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unused")  # validation resolves the resources
    request = _events_run(TABLES[0], "2026-01-01", after_seq=3, through_seq=9, run_key="k")
    config = request.run_config["ops"][STRIPE_OP]["config"]
    assert StripeSyncConfig(**config) == StripeSyncConfig(mode="events", after_seq=3, through_seq=9)
    job = REPOSITORY.get_implicit_job_def_for_assets([dg.AssetKey(["stripe", TABLES[0].name])])
    assert job is not None
    assert dg.validate_run_config(job, request.run_config)


def test_the_steps_holding_the_warehouse_are_in_its_pool_and_the_stripe_op_is_not() -> None:
    """A limit on the pool then serializes the rebuild and the dashboard, never a backfill."""
    from revenue_assets.defs.resources import WAREHOUSE_POOL

    pools = {
        node.name: node.definition.pool
        for node in REPOSITORY.get_implicit_global_asset_job_def().graph.node_dict.values()
    }
    assert pools["revenue_tables"] == WAREHOUSE_POOL
    assert pools["revenue_dashboard"] == WAREHOUSE_POOL
    assert pools[STRIPE_OP] is None


def test_the_readme_lists_every_table_and_its_permission() -> None:
    """The asset table names every synced table, the restricted-key table its permission."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assets = next(line for line in readme.splitlines() if line.startswith("| `stripe` |"))
    rows = [line for line in readme.splitlines() if line.startswith("| `") and "`rak_" in line]
    for table in TABLES:
        assert f"`{table.name}`" in assets, table.name
        assert any(f"`{table.name}`" in row and f"`{table.permission}`" in row for row in rows), (
            table.name
        )
        for child in table.children:
            assert f"`{child.name}`" in assets, child.name
            permission = child.permission or table.permission
            assert any(f"`{child.name}`" in row and f"`{permission}`" in row for row in rows), (
                child.name
            )
