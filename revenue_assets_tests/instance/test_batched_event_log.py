"""The batched event log against Dagster's stock SQLite storage, on real instances on disk.

The same runs (a partition range of a two-asset multi-asset with a check, then a run that
fails) go into an instance with the stock storage and one with the batched storage; what
Dagster reads back must be the same. And an instance created by the stock storage keeps its
history when its dagster.yaml switches to the batched one (and back).
"""

from pathlib import Path

import dagster as dg
import pytest
import yaml

from revenue_assets.instance.config import STORAGE_SECTION, ensure_batched_storage
from revenue_assets.instance.event_log import BatchedSqliteEventLogStorage

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")
KEYS = [dg.AssetKey(["raw", "a"]), dg.AssetKey(["raw", "b"])]


@dg.multi_asset(
    specs=[dg.AssetSpec(key) for key in KEYS],
    partitions_def=DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
    check_specs=[dg.AssetCheckSpec("rows_positive", asset=KEYS[0])],
)
def raw(context: dg.AssetExecutionContext):
    for key in sorted(context.selected_asset_keys):
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={"rows": len(context.partition_keys), "table": key.path[-1]},
        )
    yield dg.AssetCheckResult(check_name="rows_positive", asset_key=KEYS[0], passed=True)


@dg.asset(deps=KEYS)
def downstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rebuilt": True})


@dg.asset(deps=[downstream])
def broken() -> None:
    raise RuntimeError("this asset always fails")


def instance_at(home: Path, monkeypatch: pytest.MonkeyPatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return dg.DagsterInstance.from_config(str(home))


def run_everything(instance: dg.DagsterInstance) -> None:
    """A range run over every day, an unpartitioned run, a failing run."""
    days = DAYS.get_partition_keys()
    dg.materialize(
        [raw],
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
    )
    dg.materialize([raw, downstream], instance=instance, selection=[downstream])
    dg.materialize(
        [raw, downstream, broken], instance=instance, selection=[broken], raise_on_error=False
    )


def what_dagster_reads(instance: dg.DagsterInstance) -> dict:
    """Everything a user sees, without ids and timestamps."""
    runs = sorted(
        instance.get_runs(), key=lambda run: run.tags.get("dagster/backfill", run.job_name)
    )
    materializations = {}
    for key in [*KEYS, dg.AssetKey("downstream")]:
        records = instance.fetch_materializations(key, limit=1000).records
        materializations[key.to_user_string()] = sorted(
            (
                record.partition_key,
                tuple(
                    sorted(
                        (name, value.value)
                        for name, value in record.asset_materialization.metadata.items()
                    )
                ),
            )
            for record in records
        )
    check_key = dg.AssetCheckKey(KEYS[0], "rows_positive")
    checks = [
        record.status.value
        for record in instance.event_log_storage.get_asset_check_execution_history(
            check_key, limit=10
        )
    ]
    return {
        "runs": sorted(run.status.value for run in runs),
        "event types per run": sorted(
            tuple(
                sorted(
                    event.dagster_event.event_type_value
                    for event in instance.all_logs(run.run_id)
                    if event.dagster_event is not None
                )
            )
            for run in runs
        ),
        "materializations": materializations,
        "materialized partitions": sorted(instance.get_materialized_partitions(KEYS[1])),
        "asset check executions": checks,
        "planned": sorted(
            (
                record.partition_key or "",
                record.event_log_entry.dagster_event.asset_key.to_user_string(),
            )
            for key in KEYS
            for record in instance.get_event_records(
                dg.EventRecordsFilter(
                    event_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, asset_key=key
                )
            )
        ),
    }


def test_the_batched_storage_records_what_the_stock_storage_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")  # both instances get batches
    batches: list[int] = []
    store_batch = BatchedSqliteEventLogStorage.store_event_batch

    def observed(self, events):  # the real method runs: this only counts what it is given
        batches.append(len(events))
        store_batch(self, events)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event_batch", observed)

    stock_home, batched_home = tmp_path / "stock", tmp_path / "batched"
    stock_home.mkdir()
    batched_home.mkdir()
    (stock_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (batched_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert ensure_batched_storage(batched_home)

    stock = instance_at(stock_home, monkeypatch)
    assert type(stock.event_log_storage) is not BatchedSqliteEventLogStorage
    run_everything(stock)
    expected = what_dagster_reads(stock)

    batched = instance_at(batched_home, monkeypatch)
    assert isinstance(batched.event_log_storage, BatchedSqliteEventLogStorage)
    run_everything(batched)
    assert what_dagster_reads(batched) == expected
    assert len(expected["materializations"]["raw/a"]) == len(DAYS.get_partition_keys())
    assert expected["runs"] == ["FAILURE", "SUCCESS", "SUCCESS"]
    # the partitioned materializations came as a batch per asset, not one by one
    assert batches.count(len(DAYS.get_partition_keys())) >= len(KEYS)


def test_an_existing_instance_keeps_its_history_across_the_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").touch()  # as the CLI left it before this storage
    before = instance_at(home, monkeypatch)
    run_everything(before)
    history = what_dagster_reads(before)
    before.dispose()

    assert ensure_batched_storage(home)
    switched = instance_at(home, monkeypatch)
    assert isinstance(switched.event_log_storage, BatchedSqliteEventLogStorage)
    assert what_dagster_reads(switched) == history
    dg.materialize([raw, downstream], instance=switched, selection=[downstream])
    after = what_dagster_reads(switched)
    assert len(after["materializations"]["downstream"]) == 2
    assert after["runs"] == sorted([*history["runs"], "SUCCESS"])
    switched.dispose()

    (home / "dagster.yaml").write_text("")  # and back to the stock storage
    back = instance_at(home, monkeypatch)
    assert type(back.event_log_storage) is not BatchedSqliteEventLogStorage
    assert what_dagster_reads(back) == after


def test_the_storage_section_is_added_once_and_only_where_no_storage_is_chosen(
    tmp_path: Path,
) -> None:
    config = tmp_path / "dagster.yaml"
    assert ensure_batched_storage(tmp_path)  # no file yet
    written = yaml.safe_load(config.read_text())
    assert written == yaml.safe_load(STORAGE_SECTION.format(home=tmp_path.resolve()))

    config.write_text("run_monitoring:\n  enabled: true\n  max_resume_run_attempts: 0")
    assert ensure_batched_storage(tmp_path)
    assert not ensure_batched_storage(tmp_path)  # already there: not twice
    settings = yaml.safe_load(config.read_text())
    assert settings["run_monitoring"] == {"enabled": True, "max_resume_run_attempts": 0}
    assert settings["storage"]["custom"]["class"] == "BatchedSqliteStorage"

    chosen = "storage:\n  postgres:\n    postgres_url: postgresql://localhost/dagster\n"
    config.write_text(chosen)
    assert not ensure_batched_storage(tmp_path)
    assert config.read_text() == chosen
    config.write_text("event_log_storage:\n  module: somewhere\n  class: Elsewhere\n")
    assert not ensure_batched_storage(tmp_path)
