"""The spool leaves nothing behind: its directory goes when its run ends, and what a killed
process left goes when the next spool starts, while a live one's stays."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from revenue_assets.warehouse.spool import Spool, spool_root

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
