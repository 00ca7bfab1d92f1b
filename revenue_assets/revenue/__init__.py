"""Pure-Python helpers of the revenue layer (no Dagster, no warehouse connection)."""
