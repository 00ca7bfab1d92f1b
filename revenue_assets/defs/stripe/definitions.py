"""The raw Stripe layer: every table's definitions, merged around the shared multi-asset and
multi-asset check that materialize and check any subset of them, plus the Events API pull."""

import dagster as dg

from revenue_assets.catalog.tables import TABLES
from revenue_assets.defs.stripe.assets import stripe_tables_asset
from revenue_assets.defs.stripe.checks import stripe_table_checks_for
from revenue_assets.defs.stripe.sensors import stripe_events_pull
from revenue_assets.defs.stripe.table import stripe_table_definitions

TABLE_DEFINITIONS = [stripe_table_definitions(table) for table in TABLES]

stripe_tables = stripe_tables_asset([spec for t in TABLE_DEFINITIONS for spec in t.specs])
stripe_table_checks = stripe_table_checks_for(
    [spec for t in TABLE_DEFINITIONS for spec in t.check_specs]
)
NEW_RECORDS_SENSORS = [t.new_records for t in TABLE_DEFINITIONS]
WEBHOOK_SENSORS = [t.webhooks for t in TABLE_DEFINITIONS]

defs = dg.Definitions.merge(
    *(t.defs for t in TABLE_DEFINITIONS),
    dg.Definitions(
        assets=[stripe_tables], asset_checks=[stripe_table_checks], sensors=[stripe_events_pull]
    ),
)
