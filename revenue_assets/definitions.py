"""The code location: one small `Definitions` per domain, merged here."""

import dagster as dg

defs = dg.Definitions.merge(
    dg.Definitions(),
)
