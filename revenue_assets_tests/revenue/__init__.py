"""Tests of the revenue layer (issue 5)."""
