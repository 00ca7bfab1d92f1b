"""The sections revenue_assets adds to the instance's dagster.yaml: the batched event log, the
limit of the warehouse writers' pool, a run queue that launches runs as soon as they come, sensors
evaluated side by side and a run launcher whose runs skip re-importing Dagster.

Written into DAGSTER_HOME/dagster.yaml, so that the CLI and `dagster dev` on the same
DAGSTER_HOME (its webserver, daemon and the run workers they launch) all use it. Only when the
file configures no storage of its own: an instance set up for Postgres, or with explicit
SQLite directories, is the user's choice and stays as it is. The section points at the same
files as Dagster's default, so an existing instance keeps its history. Appended, so the rest of
the file (telemetry, run monitoring, comments) is left byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Keys by which a dagster.yaml chooses its storage (the legacy per-store keys included).
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")

STORAGE_SECTION = """
# revenue_assets: Dagster's SQLite storage in this directory (the default's files), writing a
# batch of events in one transaction. Replace it to use another storage.
storage:
  custom:
    module: revenue_assets.instance.event_log
    class: BatchedSqliteStorage
    config:
      base_dir: {home}
"""


# The steps that hold the warehouse file for their whole duration are in one pool (see
# `WAREHOUSE_POOL`): one at a time, so that a second one waits for a slot, visibly in the UI
# ("waiting for pool"), instead of inside DuckDB's file lock where nothing shows. The limit
# is the default of every pool the instance has no limit for; our code has no other pool.
POOL_SECTION = """
# revenue_assets: steps holding the DuckDB warehouse (pool duckdb_write) run one at a time.
concurrency:
  pools:
    default_limit: 1
"""


# Dagster's run queue looks every 5 s and launches queued runs one after another, each launch
# waiting until the run's process has booted and loaded the code location (2-3 s). Webhook
# runs come in bursts (a change touches a table and the event history at once), so the fifth
# run of a burst waited 15 s before its process even started: most of a change's way to its
# raw row. Looking every second and launching in parallel threads starts a burst at once.
RUN_QUEUE_SECTION = """
# revenue_assets: queued runs are launched within a second, several at a time.
run_queue:
  dequeue_interval_seconds: 1
  dequeue_use_threads: true
  dequeue_num_workers: 4
"""


# Dagster's daemon evaluates sensors one after another by default. With a webhook sensor and a
# cursor sensor per Stripe table, one pass took 8-30 s instead of the webhook sensors' 5 s
# interval, and a cursor sensor that reads the warehouse waited up to 10 s for it behind a
# revenue rebuild, holding up every sensor after it: most of a change's way to its raw row.
# In threads, a sensor that waits holds up no other.
SENSORS_SECTION = """
# revenue_assets: sensors are evaluated side by side, so that one waiting holds up no other.
sensors:
  use_threads: true
  num_workers: 4
"""


# Each run's process imports Dagster and the libraries the code uses before its first step: 2 s
# of CPU per run, most of what a webhook run costs (see `revenue_assets.instance.launcher`).
RUN_LAUNCHER_SECTION = """
# revenue_assets: runs start as forks of a process that has imported Dagster once.
run_launcher:
  module: revenue_assets.instance.launcher
  class: ForkserverRunLauncher
"""


def ensure_batched_storage(home: Path) -> bool:
    """Create `home`/dagster.yaml if needed and add the storage section unless the file already
    chooses a storage. True if the section was added."""
    # the directory itself, not DAGSTER_HOME: instances are also opened from their directory
    # with no DAGSTER_HOME set (tests, scripts); yaml.dump quotes the path where YAML needs it
    section = STORAGE_SECTION.format(
        home=yaml.safe_dump(str(home.resolve())).strip().removesuffix("\n...")
    )
    return _append_unless_chosen(home / "dagster.yaml", STORAGE_KEYS, section)


def ensure_pool_limit(home: Path) -> bool:
    """Add the pool section to `home`/dagster.yaml unless the file configures concurrency
    itself (the user's limits stay theirs). True if the section was added."""
    return _append_unless_chosen(home / "dagster.yaml", ("concurrency",), POOL_SECTION)


def ensure_quick_run_queue(home: Path) -> bool:
    """Add the run-queue section to `home`/dagster.yaml unless the file configures the queue or
    the run coordinator itself. True if the section was added."""
    return _append_unless_chosen(
        home / "dagster.yaml", ("run_queue", "run_coordinator"), RUN_QUEUE_SECTION
    )


def ensure_threaded_sensors(home: Path) -> bool:
    """Add the sensors section to `home`/dagster.yaml unless the file configures the sensor
    daemon itself. True if the section was added."""
    return _append_unless_chosen(home / "dagster.yaml", ("sensors",), SENSORS_SECTION)


def ensure_forkserver_launcher(home: Path) -> bool:
    """Add the run-launcher section to `home`/dagster.yaml unless the file chooses a launcher
    itself. True if the section was added."""
    return _append_unless_chosen(home / "dagster.yaml", ("run_launcher",), RUN_LAUNCHER_SECTION)


def ensure_instance_config(home: Path) -> None:
    """Every section above, each unless the file already decides that part itself."""
    ensure_batched_storage(home)
    ensure_pool_limit(home)
    ensure_quick_run_queue(home)
    ensure_threaded_sensors(home)
    ensure_forkserver_launcher(home)


def _append_unless_chosen(config: Path, keys: tuple[str, ...], section: str) -> bool:
    """Append `section` to `config` (created if missing) unless it sets one of `keys`."""
    text = config.read_text() if config.is_file() else ""
    settings = yaml.safe_load(text) or {}
    if not isinstance(settings, dict):
        raise ValueError(f"{config} is not a YAML mapping: fix or remove it.")
    if any(key in settings for key in keys):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    with config.open("a") as file:
        file.write(separator + (section if text else section.lstrip("\n")))
    return True
