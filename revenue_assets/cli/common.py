"""What every command needs: validated settings and the Dagster instance the UI also reads."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from revenue_assets.settings import ConfigError, Settings


def load_settings(*, require_key: bool = True) -> Settings:
    """Settings from the environment, or exit with every problem listed (no stack trace)."""
    try:
        return Settings.from_env(require_key=require_key)
    except ConfigError as error:
        click.secho("revenue_assets cannot start:", fg="red", err=True)
        for problem in error.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to ./.dagster_home so runs and materializations persist and
    `dagster dev` started with the same DAGSTER_HOME shows them. Its dagster.yaml selects the
    storage that writes Dagster's events in batches, limits the warehouse writers' pool,
    launches queued runs at once and starts them as forks of a process with Dagster imported,
    unless it decides any of these itself."""
    from revenue_assets.instance.config import ensure_instance_config

    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    ensure_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def dagster_instance():
    """The persistent Dagster instance at `dagster_home()`, after marking the runs that died
    (their process is gone) failed: the UI would show them running forever."""
    import dagster as dg

    from revenue_assets.run_health import fail_dead_runs

    dagster_home()
    instance = dg.DagsterInstance.get()
    for run_id, pid in fail_dead_runs(instance):
        click.echo(
            f"Run {run_id} was still shown as running, but its process (pid {pid}) is gone: "
            "marked it failed.",
            err=True,
        )
    return instance


def output_console(**options: Any) -> Console:
    """A console for progress and summaries. Written to a file or a pipe (CI logs), it is 120
    columns wide rather than the 80 assumed there, so the summary's figures stay whole; a
    terminal gets its own width."""
    console = Console(**options)
    if not console.is_terminal:
        console.width = max(console.width, 120)
    return console
