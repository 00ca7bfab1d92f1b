"""The instant the revenue layer is evaluated at, when it is not the wall clock's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def read_clock_file(path: str) -> datetime | None:
    """The instant a clock file holds (Unix seconds), or None while it is missing or empty.
    Its writer replaces it atomically, so a half-written number is never read."""
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        raise ValueError(
            f"REVENUE_ASSETS_CLOCK_FILE={path} must hold a Unix time in seconds, not {text[:40]!r}"
        ) from None
