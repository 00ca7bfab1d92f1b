"""The revenue layer's definitions (its resource is added by `default_resources()`)."""

import dagster as dg

from revenue_assets.defs.revenue.assets import REVENUE_ASSETS, groups, persons
from revenue_assets.defs.revenue.checks import REVENUE_CHECKS
from revenue_assets.defs.revenue.sensors import user_files_changed

defs = dg.Definitions(
    assets=[*REVENUE_ASSETS, persons, groups],
    asset_checks=REVENUE_CHECKS,
    sensors=[user_files_changed],
)
