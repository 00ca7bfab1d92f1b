"""revenue_assets: a self-hosted Stripe revenue warehouse built as a Dagster asset graph.

The Dagster code location is `revenue_assets.definitions:defs`; it is imported lazily so that the
sandbox and the command line do not pay for importing Dagster.
"""
