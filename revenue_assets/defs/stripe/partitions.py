"""Monthly partitions on the objects' `created`, from REVENUE_ASSETS_SYNC_START to this month
(a little further when a sandbox's clock runs ahead, see `partition_end_offset_from_env`)."""

import dagster as dg

from revenue_assets.settings import partition_end_offset_from_env, sync_start_from_env

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=sync_start_from_env(), end_offset=partition_end_offset_from_env()
)
