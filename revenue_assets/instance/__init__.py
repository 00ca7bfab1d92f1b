"""The Dagster instance's storage as the CLI and `dagster dev` configure it."""
