"""Tests of the revenue layer."""
