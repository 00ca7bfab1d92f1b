"""The sensor that marks runs that died failed while `dagster dev` runs, with no command typed.

Every `revenue-assets` command does this check when it opens the instance, but a user who only
keeps `dagster dev` open would otherwise see a run killed outright (kill -9, the OOM killer) as
running until the next command. Dagster's own run monitoring cannot stand in: the default run
launcher, the one `dagster dev` uses, cannot report its run workers' health, so monitoring only
ever times runs out. The sensor runs by default and only calls the check; which runs count as
dead, and on which instances the check applies at all, is decided there.
"""

import dagster as dg

from revenue_assets.run_health import fail_dead_runs

RUN_HEALTH_SENSOR_NAME = "dead_runs_failed"
RUN_HEALTH_INTERVAL_S = 30


@dg.sensor(
    name=RUN_HEALTH_SENSOR_NAME,
    minimum_interval_seconds=RUN_HEALTH_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Running by default: every 30 s, marks as failed the runs still shown as running whose "
        "process is gone (killed or crashed before it could report its end). Queued runs and "
        "runs of a shared (non-SQLite) instance are left alone. Requests no runs."
    ),
)
def dead_runs_failed(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_dead_runs(context.instance)
    for run_id, pid in failed:
        context.log.warning(
            f"Run {run_id} was still shown as running, but its process (pid {pid}) is gone: "
            "marked it failed."
        )
    if not failed:
        return dg.SkipReason("No run shown as running has lost its process.")
    return dg.SkipReason(
        f"Marked {len(failed)} run(s) failed whose process was gone: "
        + ", ".join(run_id for run_id, _ in failed)
    )


defs = dg.Definitions(sensors=[dead_runs_failed])
