"""A failure says itself in one line: what, where, what to do; the traceback only on request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from revenue_assets_tests.helpers import REPO, run_cli
from revenue_assets_tests.sync.test_sync_cli import cli_env


def _sync_with_a_full_spool_disk(env: dict[str, str], spools: Path, *args: str):
    """`revenue-assets sync` with its spool folder on a 256 KiB filesystem of its own: a
    tmpfs mounted in a private mount namespace (an unprivileged user may, through a user
    namespace), so its writes fail with a real ENOSPC."""
    spools.mkdir(parents=True)
    command = (
        f"mount -t tmpfs -o size=256k tmpfs {spools} && exec {sys.executable} -m "
        f"revenue_assets.cli sync --no-downstream {' '.join(args)}"
    )
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_full_disk_under_the_spool_is_one_line_naming_the_path(
    sandbox_session, tmp_path: Path
) -> None:
    env = cli_env(sandbox_session, tmp_path)
    spools = tmp_path / "spool"
    result = _sync_with_a_full_spool_disk(env, spools)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr
    causes = [line for line in result.stderr.splitlines() if "No space left on device" in line]
    assert len(causes) == 1, result.stderr
    assert f"Cannot write the spool {spools}/run-" in causes[0]
    assert "free space there, or point REVENUE_ASSETS_STATE" in causes[0]
    # After the failure, the run removed its spool (the tmpfs is gone with its namespace).
    assert list(spools.iterdir()) == []

    again = tmp_path / "again"
    verbose = _sync_with_a_full_spool_disk(
        cli_env(sandbox_session, again), again / "spool", "--verbose"
    )
    assert verbose.returncode == 1 and "Stack Trace:" in verbose.stderr


def test_exit_codes_are_in_the_help() -> None:
    result = run_cli("sync", "--help", env={})
    assert result.returncode == 0
    assert "Exit codes: 0" in result.stdout and "--verbose" in result.stdout
