"""Shared pytest configuration: every suite can use the Stripe sandbox fixtures."""

pytest_plugins = ["revenue_assets_tests.sandbox_fixtures"]
