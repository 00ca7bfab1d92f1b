"""Each section the CLI adds to DAGSTER_HOME/dagster.yaml is added once, and never where the
user's file already decides that part (their file stays byte for byte)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import yaml

from revenue_assets.instance.config import (
    POOL_SECTION,
    RUN_LAUNCHER_SECTION,
    RUN_QUEUE_SECTION,
    SENSORS_SECTION,
    ensure_forkserver_launcher,
    ensure_pool_limit,
    ensure_quick_run_queue,
    ensure_threaded_sensors,
)


@pytest.mark.parametrize(
    ("ensure", "section", "theirs"),
    [
        (ensure_pool_limit, POOL_SECTION, "concurrency:\n  runs:\n    max_concurrent_runs: 4\n"),
        (ensure_quick_run_queue, RUN_QUEUE_SECTION, "run_queue:\n  max_concurrent_runs: 2\n"),
        (
            ensure_quick_run_queue,
            RUN_QUEUE_SECTION,
            "run_coordinator:\n  module: dagster.core.run_coordinator\n"
            "  class: DefaultRunCoordinator\n",
        ),
        (ensure_threaded_sensors, SENSORS_SECTION, "sensors:\n  use_threads: false\n"),
        (
            ensure_forkserver_launcher,
            RUN_LAUNCHER_SECTION,
            "run_launcher:\n  module: dagster\n  class: DefaultRunLauncher\n",
        ),
    ],
)
def test_a_section_is_added_once_and_never_over_the_users(
    tmp_path: Path, ensure: Callable[[Path], bool], section: str, theirs: str
) -> None:
    config = tmp_path / "dagster.yaml"
    assert ensure(tmp_path)
    assert not ensure(tmp_path)
    assert yaml.safe_load(config.read_text()) == yaml.safe_load(section)

    config.write_text(theirs)
    assert not ensure(tmp_path)
    assert config.read_text() == theirs


def test_the_cli_instance_evaluates_sensors_side_by_side(tmp_path: Path) -> None:
    """The daemon's sensor settings as Dagster reads them: in threads (its default evaluates
    one sensor after another, so that one waiting for the warehouse held up every other)."""
    assert ensure_threaded_sensors(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_settings("sensors") == {"use_threads": True, "num_workers": 4}
    default = tmp_path / "default"
    default.mkdir()
    with dg.DagsterInstance.from_config(str(default)) as instance:
        assert not instance.get_settings("sensors").get("use_threads")
