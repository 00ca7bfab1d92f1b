"""The dashboard domain's definitions (its resources come from `default_resources()`)."""

import dagster as dg

from revenue_assets.defs.dashboard.assets import revenue_dashboard

defs = dg.Definitions(assets=[revenue_dashboard])
