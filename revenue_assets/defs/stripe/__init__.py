"""The raw layer: one partitioned asset per Stripe table, their checks and sensors."""
