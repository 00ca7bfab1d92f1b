"""Stripe access layer: HTTP, retries, rate limiting and listing. No Dagster in here."""
