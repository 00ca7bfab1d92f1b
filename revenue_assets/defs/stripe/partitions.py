"""Monthly partitions on the objects' `created`, from REVENUE_ASSETS_SYNC_START to this month."""

import dagster as dg

from revenue_assets.settings import sync_start_from_env

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=sync_start_from_env(), end_offset=1)
