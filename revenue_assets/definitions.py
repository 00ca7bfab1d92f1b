"""The code location: one small `Definitions` per domain, merged here, plus what applies to all
of them: the resources (from the environment) and the executor.

Runs use the in-process executor: the Stripe op is I/O bound and concurrent inside, DuckDB
serializes writes anyway, and a subprocess per step would add seconds to every webhook run.
"""

import dagster as dg

from revenue_assets.defs import automation, run_health
from revenue_assets.defs.dashboard import definitions as dashboard
from revenue_assets.defs.resources import default_resources
from revenue_assets.defs.revenue import definitions as revenue
from revenue_assets.defs.stripe import definitions as stripe

# Domain modules are imported, not their `defs`: Dagster's autodiscovery (`-m`) wants exactly one
# Definitions object at this module's scope.
defs = dg.Definitions.merge(
    stripe.defs,
    revenue.defs,
    dashboard.defs,
    automation.defs,
    run_health.defs,
    dg.Definitions(resources=default_resources(), executor=dg.in_process_executor),
)
