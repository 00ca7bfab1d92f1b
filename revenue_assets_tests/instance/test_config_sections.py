"""Each section the CLI adds to DAGSTER_HOME/dagster.yaml is added once, and never where the
user's file already decides that part (their file stays byte for byte)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from revenue_assets.instance.config import (
    POOL_SECTION,
    RUN_LAUNCHER_SECTION,
    RUN_QUEUE_SECTION,
    ensure_forkserver_launcher,
    ensure_pool_limit,
    ensure_quick_run_queue,
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
