"""The spool leaves nothing behind: its directory goes when its run ends, and what a killed
process left goes when the next spool starts, while a live one's stays."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest

from revenue_assets.defs.stripe.definitions import stripe_tables
from revenue_assets.warehouse.spool import Spool, spool_root
from revenue_assets_tests.helpers import REPO, company_range, run_cli, warehouse_snapshot
from revenue_assets_tests.sync.test_stripe_assets import ALL_TABLES
from revenue_assets_tests.sync.test_sync_cli import cli_env
from revenue_assets_tests.synced_fixtures import range_tags, raw_resources

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from revenue_assets.warehouse.spool import Spool
    spool = Spool(Path(sys.argv[1]))
    spool.objects("customer", [{"id": "cus_1", "object": "customer"}], version=1.0)
    print(spool.directory, flush=True)
    time.sleep(600)
    """
)


def _holder(root: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_spool_lives_under_the_state_directory_and_goes_with_its_run(tmp_path: Path) -> None:
    root = spool_root(tmp_path / "state.sqlite")
    assert root == tmp_path / "spool"
    spool = Spool(root)
    spool.objects("customer", [{"id": "cus_1", "object": "customer"}], version=1.0)
    assert spool.directory.parent == root and any(spool.directory.iterdir())
    spool.close()
    assert not spool.directory.exists()


def test_a_new_spool_removes_what_a_killed_process_left_not_a_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    killed, left = _holder(root)
    alive, kept = _holder(root)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert any(left.iterdir())  # kill -9: the process could not clean up
        spool = Spool(root)
        spool.close()
        assert not left.exists()
        assert kept.exists() and any(kept.iterdir())  # its owner still runs
    finally:
        alive.kill()
        alive.wait()
    Spool(root).close()
    assert [p.name for p in root.iterdir() if p.is_dir()] == []


@pytest.mark.sandbox(latency_ms=(40, 80), customers=200)
@pytest.mark.long
def test_kill_9_of_a_cli_sync_mid_backfill_then_rerun_leaves_nothing_behind(
    sandbox, tmp_path: Path
) -> None:
    """`revenue-assets sync` killed while its spool holds fetched pages: the rerun removes the
    spool the dead run left, marks the dead run failed, and leaves the warehouse exact."""
    env = cli_env(sandbox, tmp_path, STRIPE_RATE_LIMIT="40")
    spools = tmp_path / "spool"
    command = [sys.executable, "-m", "revenue_assets.cli", "sync", "--no-downstream"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _spooled(spools):
            time.sleep(0.05)
        assert process.poll() is None, "the sync finished before it could be killed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = _spooled(spools)
    assert left, "the kill should leave a spool behind"
    home = tmp_path / "dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.STARTED]

    rerun = run_cli("sync", "--no-downstream", env={**env, "STRIPE_RATE_LIMIT": "500"})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "is gone: marked it failed" in rerun.stderr
    assert not left[0].parent.exists() and _spooled(spools) == []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
    assert statuses == ["FAILURE", "SUCCESS"]
    clean = tmp_path / "clean.duckdb"
    first, last = company_range(sandbox)
    dg.materialize(
        [stripe_tables], resources=raw_resources(sandbox, clean), tags=range_tags(first, last)
    )
    database = tmp_path / "warehouse.duckdb"
    assert warehouse_snapshot(database, ALL_TABLES) == warehouse_snapshot(clean, ALL_TABLES)


def _spooled(root: Path) -> list[Path]:
    """Spool files waiting under `root` (the object and seen-id files of every run)."""
    return sorted(root.glob("run-*/*.ndjson")) if root.exists() else []
