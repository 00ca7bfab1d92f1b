"""Observes the persons and groups files when their content changes.

Observable source assets are only observed when something asks; without this sensor a user
who edits `REVENUE_ASSETS_PERSONS` would see customers linked to the old file until someone
clicked "Observe" in the UI. The sensor hashes both files each minute (cheap) and requests an
observation run only when a hash moved, so the run history does not fill with no-op runs.
"""

import json

import dagster as dg

from revenue_assets.defs.resources import RevenueResource
from revenue_assets.defs.revenue.assets import USER_FILE_SETTINGS, file_version


@dg.sensor(
    name="user_files_changed",
    description="Observes the persons and groups files when their content changes.",
    asset_selection=list(USER_FILE_SETTINGS),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def user_files_changed(
    context: dg.SensorEvaluationContext, revenue: RevenueResource
) -> dg.SensorResult:
    seen = json.loads(context.cursor) if context.cursor else {}
    now = {
        key.to_user_string(): file_version(getattr(revenue, path))
        for key, path in USER_FILE_SETTINGS.items()
    }
    changed = [
        key
        for key in USER_FILE_SETTINGS
        if now[key.to_user_string()] != seen.get(key.to_user_string())
    ]
    if not changed:
        return dg.SensorResult(skip_reason="The persons and groups files are unchanged.")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"observe:{json.dumps(now, sort_keys=True)}",
                asset_selection=changed,
                tags={"trigger": "user_files_changed"},
            )
        ],
        cursor=json.dumps(now),
    )
