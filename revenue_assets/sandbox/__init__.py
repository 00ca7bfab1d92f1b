"""A local Stripe-compatible API holding a generated SaaS company (tests, demo, benchmarks)."""
