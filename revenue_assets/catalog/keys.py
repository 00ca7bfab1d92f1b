"""Stripe's API keys as text: which mode a key is for, and how much of one may be shown."""

from __future__ import annotations


def key_mode(api_key: str) -> str:
    """'live' or 'test', from the key's prefix (sk_live_…, rk_test_…)."""
    return "live" if api_key.split("_")[1:2] == ["live"] else "test"


def mask_key(secret: str) -> str:
    """A key as safe to show: its prefix and last four characters only."""
    if len(secret) <= 12:
        return "****"
    prefix = "_".join(secret.split("_")[:2])
    return f"{prefix}_****{secret[-4:]}"
