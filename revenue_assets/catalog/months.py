"""Calendar months in UTC, the grain of every partition: Stripe's objects are filed by the
month of their creation second, and the revenue layer closes its books at month ends.

Every month key is the first day of its month, `YYYY-MM-01`, the form Dagster's monthly
partitions use.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Any


def month_key(moment: datetime) -> str:
    """The key of the month `moment` (an aware datetime, taken in UTC) falls in."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}-01"


def key_of_timestamp(created: Any) -> str | None:
    """The month key of a Unix timestamp, or None when `created` is not one (a missing field,
    a boolean, a string, a value out of range)."""
    if not isinstance(created, int) or isinstance(created, bool):
        return None
    try:
        return month_key(datetime.fromtimestamp(created, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def add_months(key: str, months: int) -> str:
    """The key `months` months after (or before, when negative) the month `key`."""
    start = datetime.fromisoformat(key)
    index = start.year * 12 + start.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}-01"


def month_bounds(key: str) -> tuple[int, int]:
    """The month's first second and the first second after it, as Unix times."""
    start = datetime.fromisoformat(key).replace(tzinfo=UTC)
    return int(start.timestamp()), calendar.timegm(
        datetime.fromisoformat(add_months(key, 1)).timetuple()
    )


def keys_between(first: datetime, last: datetime) -> list[str]:
    """The keys of every month from `first`'s to `last`'s, both included."""
    keys, key, end = [], month_key(first), month_key(last)
    while key <= end:
        keys.append(key)
        key = add_months(key, 1)
    return keys


def keys_between_timestamps(start: int, end: int) -> list[str]:
    """The keys of every month overlapping the Unix times [start, end]."""
    return keys_between(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
