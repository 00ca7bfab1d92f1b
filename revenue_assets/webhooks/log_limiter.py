"""Warnings for floods: a thousand refused deliveries or cut clients make one line, not a
thousand, so the log stays readable and cannot be filled by whoever sends them."""

from __future__ import annotations

import logging
import time
from typing import Any


class LogLimiter:
    """At most one warning per `interval_s` for a flood (rejected deliveries, cut clients)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._suppressed += 1
            return
        suffix = f" (+{self._suppressed} similar suppressed)" if self._suppressed else ""
        self._last, self._suppressed = now, 0
        self.logger.warning(message + suffix, *args)
