"""Dagster definitions, one folder per domain, each with a small `definitions.py`."""
