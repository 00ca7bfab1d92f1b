"""The DuckDB warehouse: connections that respect DuckDB's one-process-per-file rule, the raw
Stripe table schemas and the idempotent merge of fetched objects."""
