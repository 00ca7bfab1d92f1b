"""The revenue assets are unpartitioned and must follow any change upstream, however old: a
webhook that updates an invoice of 2019 reaches every revenue number (declarative automation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from revenue_assets.definitions import defs
from revenue_assets.defs.resources import RevenueResource, WarehouseResource
from revenue_assets.defs.revenue.assets import REVENUE_ASSETS
from revenue_assets.defs.revenue.checks import CHECKS
from revenue_assets.revenue.tables import TABLES, revenue_key, stripe_key


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
                "payment_failures",  # reads the charge view, which reads invoices
                "customer",
                "revenue_line",
                "revenue_item",
                "deferred_revenue",
                "mrr_history",
                "customer_mrr_history",
                "mrr",
                "revenue_metrics",
                "customer_link",
                "persons_revenue",
                "groups_revenue",
                "subscription_mrr",
                "subscription_mrr_difference",
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


def test_editing_the_persons_file_requests_its_observation(tmp_path: Path) -> None:
    """Observable sources are observed only when asked: the sensor asks when a file changes."""
    from revenue_assets.defs.resources import RevenueResource
    from revenue_assets.defs.revenue.sensors import user_files_changed
    from revenue_assets.revenue.tables import GROUPS_KEY, PERSONS_KEY

    persons, groups = tmp_path / "persons.csv", tmp_path / "groups.csv"
    persons.write_text("distinct_id,email\nu1,a@example.com\n")
    groups.write_text("group_key,name\ng1,Acme\n")
    revenue = RevenueResource(persons_path=str(persons), groups_path=str(groups))

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(cursor=cursor, resources={"revenue": revenue})
        return user_files_changed(context)

    first = tick(None)
    assert [set(r.asset_selection) for r in first.run_requests] == [{PERSONS_KEY, GROUPS_KEY}]
    unchanged = tick(first.cursor)
    assert not unchanged.run_requests and unchanged.cursor is None
    persons.write_text("distinct_id,email\nu1,a@example.com\nu2,b@example.com\n")
    edited = tick(first.cursor)
    assert [r.asset_selection for r in edited.run_requests] == [[PERSONS_KEY]]
    assert edited.run_requests[0].run_key != first.run_requests[0].run_key


def test_the_location_runs_its_automation_by_default() -> None:
    """Dagster's implicit automation sensor starts stopped; ours runs as soon as the location
    loads and targets every asset and check that carries an automation condition."""
    from revenue_assets.defs.automation import AUTOMATION_SENSOR_NAME

    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def(AUTOMATION_SENSOR_NAME)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    graph = repository.asset_graph
    automated = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert {table.key for table in TABLES} | {dg.AssetKey("revenue_dashboard")} <= automated
    targeted = sensor.asset_selection.resolve(graph)
    assert automated <= targeted
    automated_checks = {
        key for key in graph.asset_check_keys if graph.get(key).automation_condition is not None
    }
    assert automated_checks  # the finance checks run after each rebuild
    assert automated_checks <= sensor.asset_selection.resolve_checks(graph)


def test_a_stripe_run_in_progress_does_not_hold_the_rebuild_back(monkeypatch) -> None:
    """Under a steady stream of webhooks some Stripe partition is always being written: the
    revenue layer must still rebuild after an update (it reads the raw tables as they are; the
    run in progress, once done, requests the next rebuild)."""
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_automation")  # the job's resources need one
    revenue_keys = {table.key for table in TABLES}
    selection = dg.AssetSelection.assets(*revenue_keys)
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection
        )
        for key in revenue_keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
        settled = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=first.cursor
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-03-01")
        )
        # meanwhile a webhook run writes a customer partition, still going
        job = defs.resolve_implicit_global_asset_job_def()
        instance.create_run_for_job(
            job,
            asset_selection=frozenset({stripe_key("customer")}),
            tags={"dagster/partition": "2019-04-01"},
            status=dg.DagsterRunStatus.STARTED,
        )
        after = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=settled.cursor
        )
        assert {revenue_key("revenue_line"), revenue_key("customer")} <= requested(after)
        assert revenue_key("revenue_metrics") in requested(after)


def test_a_change_during_a_rebuild_gets_a_rebuild_of_its_own() -> None:
    """A rebuild reads the raw tables when its step starts and is recorded when it ends: a
    Stripe change landing in between is not in it, so it must request the next rebuild (and
    that one, with nothing new, none after it)."""
    revenue_keys = {table.key for table in TABLES}
    selection = dg.AssetSelection.assets(*revenue_keys)

    def evaluate(instance, cursor):
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, cursor=cursor
        )

    def rebuilt(instance, keys) -> None:
        for key in keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))

    with dg.instance_for_test() as instance:
        first = evaluate(instance, None)
        rebuilt(instance, revenue_keys)
        settled = evaluate(instance, first.cursor)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-03-01")
        )
        requested_tick = evaluate(instance, settled.cursor)
        assert revenue_key("revenue_line") in requested(requested_tick)
        # the rebuild starts; a webhook run lands another invoice change; the rebuild ends
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-04-01")
        )
        rebuilt(instance, requested(requested_tick))
        after = evaluate(instance, requested_tick.cursor)
        assert revenue_key("revenue_line") in requested(after)
        rebuilt(instance, requested(after))
        # the tables below follow the rebuilt revenue_line, then nothing more is requested
        reached: set[dg.AssetKey] = set(requested(after))
        cursor = after.cursor
        for _ in range(5):
            result = evaluate(instance, cursor)
            cursor = result.cursor
            if not requested(result):
                break
            reached |= requested(result)
            rebuilt(instance, requested(result))
        assert requested(result) == set()
        assert {revenue_key("revenue_metrics"), revenue_key("mrr_history")} <= reached


PAGE = dg.AssetKey("revenue_dashboard")


def evaluate_everything(instance: dg.DagsterInstance, cursor: Any) -> Any:
    return dg.evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=dg.AssetSelection.all(), cursor=cursor
    )


def settled(instance: dg.DagsterInstance) -> Any:
    """The cursor once the revenue tables and the page were built and nothing is requested."""
    cursor = evaluate_everything(instance, None).cursor
    for key in {table.key for table in TABLES} | {PAGE}:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
    for _ in range(3):  # until quiet
        cursor = evaluate_everything(instance, cursor).cursor
    return cursor


def test_nothing_more_is_requested_while_a_rebuild_runs() -> None:
    """A rebuild's run holds the revenue tables, their finance checks and the page. Its tables
    are recorded one by one while it runs; the next evaluation must not request the checks
    again in a run of their own (they would wait for the warehouse behind the run that is about
    to run them anyway), nor anything else."""
    revenue_keys = {table.key for table in TABLES}
    check_keys = {check.key for check in CHECKS}
    everything = revenue_keys | {PAGE}

    with dg.instance_for_test() as instance:
        cursor = settled(instance)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-03-01")
        )
        tick = evaluate_everything(instance, cursor)
        assert revenue_key("revenue_line") in requested(tick)
        # the rebuild's run starts and records its first table
        job = defs.resolve_implicit_global_asset_job_def()
        run = instance.create_run_for_job(
            job,
            asset_selection=frozenset(everything),
            status=dg.DagsterRunStatus.STARTED,
        )
        cursor = tick.cursor
        for key in sorted(revenue_keys, key=lambda k: k.to_user_string()):
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key))
            during = evaluate_everything(instance, cursor)
            cursor = during.cursor
            again = {r.key for r in during.results if r.true_subset.size > 0}
            assert again == set(), (key, again)
        # had that run built the tables without their checks, they come once it ends
        instance.report_run_failed(run)
        after = evaluate_everything(instance, cursor)
        assert check_keys <= {r.key for r in after.results if r.true_subset.size > 0}


def recorded(instance: dg.DagsterInstance, run: dg.DagsterRun, key: dg.AssetKey) -> None:
    """`key` materialized by `run` (a runless event would leave it in progress in that run)."""
    from dagster._core.events import DagsterEvent, StepMaterializationData

    event = DagsterEvent(
        event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name=run.job_name,
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset_key=key)),
    )
    instance.report_dagster_event(event, run_id=run.run_id)


def test_a_change_while_the_page_is_built_rebuilds_the_page_too() -> None:
    """A rebuild's run records its tables, then builds the page. A change seen by the tick
    in between requests the next rebuild: the page must be in it (it waits there for the new
    tables), not left for the rebuild after, a whole rebuild later."""
    revenue_keys = {table.key for table in TABLES}
    everything = revenue_keys | {PAGE}

    with dg.instance_for_test() as instance:
        cursor = settled(instance)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("invoice"), partition="2019-03-01")
        )
        tick = evaluate_everything(instance, cursor)
        assert {revenue_key("revenue_line"), PAGE} <= requested(tick)
        # the rebuild's run (one step for all tables) records them; its page is being built
        job = defs.resolve_implicit_global_asset_job_def()
        run = instance.create_run_for_job(
            job, asset_selection=frozenset(everything), status=dg.DagsterRunStatus.STARTED
        )
        for key in revenue_keys:
            recorded(instance, run, key)
        building = evaluate_everything(instance, tick.cursor)
        assert requested(building) == set()  # nothing new: the page does not request itself
        cursor = building.cursor
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=stripe_key("customer"), partition="2019-04-01")
        )
        during = evaluate_everything(instance, cursor)
        assert revenue_key("customer") in requested(during)
        assert PAGE in requested(during)


def test_the_revenue_tables_are_recorded_only_once_all_are_built(tmp_path: Path) -> None:
    """Dagster takes an unpartitioned asset as no longer in progress once its run has recorded
    it: a table recorded while the others are still being built lets the automation request
    the whole layer again at once. So the step records every table after the last is built."""
    resources = {
        "warehouse": WarehouseResource(database=str(tmp_path / "empty.duckdb")),
        "revenue": RevenueResource(as_of="2025-06-01T00:00:00+00:00"),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize(REVENUE_ASSETS, resources=resources, instance=instance)
        assert result.success
        log = instance.all_logs(result.run_id)
    built = next(
        i for i, e in enumerate(log) if "revenue tables built in" in (e.user_message or "")
    )
    recorded = [
        i
        for i, e in enumerate(log)
        if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert len(recorded) == len(TABLES)
    assert min(recorded) > built
