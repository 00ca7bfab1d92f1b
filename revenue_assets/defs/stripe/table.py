"""One Stripe table's definitions, made by one factory from its registry entry.

A table is its asset specs (its own and its child tables'), its checks and its two sensors. The
specs and checks are gathered into the shared multi-asset and multi-asset check (one op lists
every selected table under one rate limiter; one check op opens the warehouse once), so what a
table contributes to the code location on its own is its sensors.
"""

from dataclasses import dataclass

import dagster as dg

from revenue_assets.catalog.tables import StripeTable
from revenue_assets.defs.stripe.checks import table_check_specs
from revenue_assets.defs.stripe.sensors import new_records_sensor, webhook_sensor
from revenue_assets.defs.stripe.specs import table_specs


@dataclass(frozen=True)
class StripeTableDefinitions:
    table: StripeTable
    specs: list[dg.AssetSpec]
    check_specs: list[dg.AssetCheckSpec]
    new_records: dg.SensorDefinition
    webhooks: dg.SensorDefinition

    @property
    def defs(self) -> dg.Definitions:
        return dg.Definitions(sensors=[self.new_records, self.webhooks])


def stripe_table_definitions(table: StripeTable) -> StripeTableDefinitions:
    return StripeTableDefinitions(
        table=table,
        specs=table_specs(table),
        check_specs=table_check_specs(table),
        new_records=new_records_sensor(table),
        webhooks=webhook_sensor(table),
    )
