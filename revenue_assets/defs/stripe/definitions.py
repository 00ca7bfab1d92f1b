"""The raw Stripe layer's definitions."""

import dagster as dg

from revenue_assets.defs.stripe.assets import stripe_tables
from revenue_assets.defs.stripe.checks import stripe_table_checks
from revenue_assets.defs.stripe.sensors import SENSORS

defs = dg.Definitions(
    assets=[stripe_tables],
    asset_checks=[stripe_table_checks],
    sensors=SENSORS,
)
