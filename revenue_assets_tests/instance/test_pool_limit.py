"""The warehouse writers' pool on a real instance: the dagster.yaml the CLI sets up lets one
step of the pool run at a time (a second run's step waits for the slot, as the UI shows), even
when several claim its slot at the same instant."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg

from revenue_assets.defs.resources import WAREHOUSE_POOL
from revenue_assets.instance.config import ensure_instance_config

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
    ensure_instance_config(limited)  # the pool's limit, and storage whose claims are exact
    (unlimited / "dagster.yaml").touch()

    (first, second) = windows_of_two_concurrent_runs(limited)
    assert second[0] >= first[1]  # the second step started once the first had ended

    # The same two runs on Dagster's defaults overlap: the limit is what serialized them.
    (first, second) = windows_of_two_concurrent_runs(unlimited)
    assert second[0] < first[1]


def claim_at_once(
    instances: list[dg.DagsterInstance], run_ids: list[str], start: threading.Barrier
) -> list[str]:
    """Each instance claims the pool's slot for its run from its own thread, all at once; the
    runs that got it."""
    holders: list[str] = []

    def claim(instance: dg.DagsterInstance, run_id: str) -> None:
        start.wait()
        status = instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "step")
        if status.is_claimed:
            holders.append(run_id)

    threads = [
        threading.Thread(target=claim, args=pair) for pair in zip(instances, run_ids, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return holders


def test_claims_at_the_same_instant_give_the_pools_slot_to_one_step(tmp_path: Path) -> None:
    """Six storages (one instance each, as each run process has its own) claim the one slot at
    once, thirty times: on Dagster's stock SQLite claim, more than one got it in nearly every
    round."""
    ensure_instance_config(tmp_path)
    instances = [dg.DagsterInstance.from_config(str(tmp_path)) for _ in range(6)]
    storage = instances[0].event_log_storage
    try:
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        holders_per_round = []
        for round_ in range(30):
            run_ids = [f"run-{round_}-{i}" for i in range(len(instances))]
            holders = claim_at_once(instances, run_ids, threading.Barrier(len(instances)))
            holders_per_round.append(len(holders))
            for run_id in run_ids:  # the slot freed, the others out of the queue
                storage.free_concurrency_slots_for_run(run_id)
        # one holder each round: never two, and the slot freed is claimable again
        assert holders_per_round == [1] * 30, holders_per_round
    finally:
        for instance in instances:
            instance.dispose()
