"""The warehouse writers' pool on a real instance: the dagster.yaml the CLI sets up lets one
step of the pool run at a time (a second run's step waits for the slot, as the UI shows)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from revenue_assets.defs.resources import WAREHOUSE_POOL
from revenue_assets.instance.config import ensure_pool_limit

# One run of a step in the warehouse pool that holds it for HOLD_S and prints when it ran.
RUN = """
import json, sys, time
import dagster as dg

@dg.asset(pool={pool!r})
def holds_the_warehouse() -> None:
    started = time.time()
    time.sleep({hold})
    print(json.dumps([started, time.time()]), flush=True)

with dg.DagsterInstance.from_config(sys.argv[1]) as instance:
    assert dg.materialize([holds_the_warehouse], instance=instance).success
"""
HOLD_S = 3.0


def windows_of_two_concurrent_runs(home: Path) -> list[tuple[float, float]]:
    """Start two runs at once on the instance at `home`; when each one's step ran."""
    script = RUN.format(pool=WAREHOUSE_POOL, hold=HOLD_S)
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its storage created once: two processes creating it at once would race
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(home)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    windows = []
    for run in runs:
        out, _ = run.communicate(timeout=120)
        assert run.returncode == 0
        windows.append(tuple(json.loads(out.strip().splitlines()[-1])))
    return sorted(windows)


def test_the_cli_instance_runs_one_warehouse_step_at_a_time(tmp_path: Path) -> None:
    limited, unlimited = tmp_path / "limited", tmp_path / "unlimited"
    limited.mkdir()
    unlimited.mkdir()
    assert ensure_pool_limit(limited)
    (unlimited / "dagster.yaml").touch()

    (first, second) = windows_of_two_concurrent_runs(limited)
    assert second[0] >= first[1]  # the second step started once the first had ended

    # The same two runs on Dagster's defaults overlap: the limit is what serialized them.
    (first, second) = windows_of_two_concurrent_runs(unlimited)
    assert second[0] < first[1]
