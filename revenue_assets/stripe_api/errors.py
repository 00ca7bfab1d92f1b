"""Errors of the Stripe access layer: what went wrong, said so that a user can act on it.

Every message passes through `redact`, because Stripe echoes a rejected key in its 401 body and
exceptions end up in logs and in the Dagster UI.
"""

from __future__ import annotations

import re

_SECRET_PATTERN = re.compile(r"\b(sk|rk|pk|whsec)_(live|test)?_?[A-Za-z0-9*]{4,}")


def redact(text: str) -> str:
    """Replace anything that looks like a Stripe key or signing secret by its masked form."""

    def mask(match: re.Match[str]) -> str:
        secret = match.group(0)
        head = "_".join(part for part in (match.group(1), match.group(2)) if part)
        return f"{head}_****{secret[-4:]}" if len(secret) > 12 else f"{head}_****"

    return _SECRET_PATTERN.sub(mask, text)


class StripeAccessError(Exception):
    """Base class: a Stripe request that cannot succeed by retrying."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class StripeAuthenticationError(StripeAccessError):
    """The key is wrong, revoked or missing (HTTP 401). Nothing can sync: fail fast."""


class StripePermissionError(StripeAccessError):
    """A restricted key lacks the permission to read an endpoint (HTTP 403)."""

    def __init__(self, message: str, permission: str | None, path: str) -> None:
        self.permission = permission
        self.path = path
        super().__init__(message)


class StripeRequestError(StripeAccessError):
    """Stripe refused the request itself (HTTP 400/404): retrying would not help."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class StripeUnavailableError(StripeAccessError):
    """Retries ran out: 429s, 5xx, connection resets or truncated bodies kept coming."""
