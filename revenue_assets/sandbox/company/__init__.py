"""The generated SaaS company: customers' life stories replayed through the billing engine.

`story` says who the customers are and what happens to them, `clock` advances one customer's
time through the billing engine, `simulation` runs every story (and the payouts they lead to),
`connect` the platform's transfers, application fees and top-ups, and `bulk_load` writes the
result fast into a new store file.
"""

from revenue_assets.sandbox.company.bulk_load import generate
from revenue_assets.sandbox.company.plan import Generated

__all__ = ["Generated", "generate"]
