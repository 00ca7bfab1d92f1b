"""Which endpoint signing secrets the receiver accepts, and where they come from.

Order of precedence: STRIPE_WEBHOOK_SECRET overrides the stored secret. The variable
may list several secrets separated by commas or spaces, for a roll: while Stripe signs with both
the old and the new secret (its header then carries two `v1=` signatures), either verifies.

`webhooks register` stores the secret Stripe returns at creation in the state file. When it
replaces a stored secret (a re-created endpoint), the previous one stays accepted for a grace
period, so deliveries already signed with it are not refused while the new endpoint takes over.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from revenue_assets.state.store import StateStore

SECRET_KEY = "webhook.secret"
PREVIOUS_SECRET_KEY = "webhook.previous_secret"
PREVIOUS_EXPIRES_KEY = "webhook.previous_secret_expires_at"
ENDPOINT_ID_KEY = "webhook.endpoint_id"
ENDPOINT_URL_KEY = "webhook.endpoint_url"
PREVIOUS_SECRET_GRACE_S = 24 * 3600

_SECRET_PATTERN = re.compile(r"^whsec_[A-Za-z0-9_+/=-]{8,}$")


class SecretError(ValueError):
    """A secret is malformed or missing. Messages never contain the secret."""


def is_secret(value: str) -> bool:
    return bool(_SECRET_PATTERN.match(value))


def parse_secrets(raw: str | None) -> list[str]:
    """Secrets from STRIPE_WEBHOOK_SECRET (comma or whitespace separated); [] when unset."""
    if raw is None:
        return []
    secrets = [part for part in re.split(r"[\s,]+", raw) if part]
    for position, secret in enumerate(secrets, start=1):
        if not is_secret(secret):
            raise SecretError(
                f"STRIPE_WEBHOOK_SECRET: secret #{position} is not an endpoint signing secret "
                "(whsec_…); separate several secrets with commas."
            )
    return list(dict.fromkeys(secrets))


def stored_secrets(inbox: StateStore, now: float | None = None) -> list[str]:
    """The stored secret, then the previous one while its grace period lasts."""
    now = time.time() if now is None else now
    secrets = []
    current = inbox.get_value(SECRET_KEY)
    if current:
        secrets.append(current)
    previous = inbox.get_value(PREVIOUS_SECRET_KEY)
    expires = inbox.get_value(PREVIOUS_EXPIRES_KEY)
    if previous and expires and float(expires) > now and previous not in secrets:
        secrets.append(previous)
    return secrets


def store_secret(
    inbox: StateStore,
    secret: str,
    *,
    endpoint_id: str | None = None,
    url: str | None = None,
    grace_s: float = PREVIOUS_SECRET_GRACE_S,
) -> None:
    """Store the endpoint's signing secret (the state file is mode 0600). A different secret
    already stored stays accepted for `grace_s` seconds."""
    if not is_secret(secret):
        raise SecretError("not an endpoint signing secret (whsec_…)")
    current = inbox.get_value(SECRET_KEY)
    values: dict[str, str | None] = {SECRET_KEY: secret}
    if current and current != secret:
        values[PREVIOUS_SECRET_KEY] = current
        values[PREVIOUS_EXPIRES_KEY] = repr(time.time() + grace_s)
    if endpoint_id is not None:
        values[ENDPOINT_ID_KEY] = endpoint_id
    if url is not None:
        values[ENDPOINT_URL_KEY] = url
    inbox.set_values(values)


@dataclass(frozen=True)
class SecretSource:
    """The secrets in force and where they came from (for messages: never the values)."""

    secrets: tuple[str, ...]
    origin: str  # "STRIPE_WEBHOOK_SECRET" | "state file" | "none"

    @property
    def describe(self) -> str:
        count = len(self.secrets)
        return f"{count} signing secret{'s' if count != 1 else ''} from {self.origin}"


def resolve_secrets(env_secrets: Sequence[str], inbox: StateStore | None) -> SecretSource:
    """The environment's secrets if any, else the stored ones, else none."""
    if env_secrets:
        return SecretSource(tuple(env_secrets), "STRIPE_WEBHOOK_SECRET")
    if inbox is not None:
        stored = stored_secrets(inbox)
        if stored:
            return SecretSource(tuple(stored), "state file")
    return SecretSource((), "none")
