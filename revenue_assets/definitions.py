"""The code location: one small `Definitions` per domain, merged here, plus what applies to all
of them: the resources (from the environment) and the executor.

Runs use the in-process executor: the Stripe op is I/O bound and concurrent inside, DuckDB
serializes writes anyway, and a subprocess per step would add seconds to every webhook run.
"""

import dagster as dg

from revenue_assets.defs.resources import default_resources
from revenue_assets.defs.revenue.definitions import defs as revenue_defs
from revenue_assets.defs.stripe.definitions import defs as stripe_defs

defs = dg.Definitions.merge(
    stripe_defs,
    revenue_defs,
    dg.Definitions(resources=default_resources(), executor=dg.in_process_executor),
)
