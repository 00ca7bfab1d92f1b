"""Which deliveries are Stripe's: `Stripe-Signature` checked with the SDK against every
accepted signing secret.

Stripe signs `"<t>.<body>"` with HMAC-SHA256 and sends `t=<unix>,v1=<hex>[,v1=<hex>…]`:
during a secret roll it signs with both the old and the new secret, and any one matching
signature is enough. A signature older than the tolerance (300 s) may be a replay and is
refused; so is one dated more than the tolerance ahead of this machine's clock, which the SDK
lets through (it checks the age only backwards): a signature dated an hour ahead would stay
replayable for an hour and five minutes. The verdict says why a delivery was refused, for the
counters and the 400's body.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

# By name, once: `stripe.<Name>` goes through the SDK's lazy module __getattr__ (an
# import_module call) on every access, which showed up in the receiver's profile.
from stripe import SignatureVerificationError, WebhookSignature

from revenue_assets.stripe_api.errors import redact
from revenue_assets.webhooks.secrets import SecretSource

log = logging.getLogger(__name__)

OK, STALE, FUTURE, INVALID, MISSING, UNDECODABLE = (
    "ok",
    "stale",
    "future",
    "invalid",
    "missing",
    "undecodable",
)


class SignatureVerifier:
    """Checks `Stripe-Signature` against every accepted secret (rolling secrets).

    Stored secrets are re-read when a delivery fails to verify (at most every
    `refresh_s`), so `webhooks register` storing a new secret takes effect without a restart.
    """

    def __init__(
        self,
        source: SecretSource,
        tolerance_s: int,
        reload: Callable[[], SecretSource] | None = None,
        refresh_s: float = 10.0,
    ) -> None:
        self.source = source
        self.tolerance_s = tolerance_s
        self._reload = reload
        self._refresh_s = refresh_s
        self._reloaded_at = time.monotonic()

    def verify(self, payload: bytes, header: str | None) -> str:
        """OK, or why not: MISSING, STALE, FUTURE, INVALID, UNDECODABLE (body is not UTF-8)."""
        if not header:
            return MISSING
        verdict = self._verify(payload, header)
        if verdict in (INVALID, STALE) and self._maybe_reload():
            verdict = self._verify(payload, header)
        return verdict

    def _verify(self, payload: bytes, header: str) -> str:
        try:
            for secret in self.source.secrets:
                with contextlib.suppress(SignatureVerificationError):
                    WebhookSignature.verify_header(payload, header, secret, self.tolerance_s)
                    return FUTURE if self._from_the_future(header) else OK
            # Not accepted. Only to say why: does a secret match when the age is ignored?
            for secret in self.source.secrets:
                with contextlib.suppress(SignatureVerificationError):
                    WebhookSignature.verify_header(payload, header, secret, None)
                    return STALE
        except UnicodeDecodeError:
            return UNDECODABLE
        return INVALID

    def _from_the_future(self, header: str) -> bool:
        """Whether a verified header is dated more than the tolerance ahead of our clock."""
        signed_at = next(
            int(value)
            for key, _, value in (item.partition("=") for item in header.split(","))
            if key == "t"
        )
        return signed_at > time.time() + self.tolerance_s

    def _maybe_reload(self) -> bool:
        """Re-read the stored secrets if due; True if they changed."""
        if self._reload is None or time.monotonic() - self._reloaded_at < self._refresh_s:
            return False
        self._reloaded_at = time.monotonic()
        try:
            fresh = self._reload()
        except Exception as error:  # the file may be unreadable right now: keep what we have
            log.warning("could not re-read the stored signing secrets: %s", redact(str(error)))
            return False
        if fresh.secrets and fresh.secrets != self.source.secrets:
            log.info("signing secrets changed: now %s", fresh.describe)
            self.source = fresh
            return True
        return False


SIGNATURE_ERRORS = {
    MISSING: "missing Stripe-Signature header",
    INVALID: "signature verification failed",
    STALE: "signature timestamp outside the tolerance",
    FUTURE: "signature timestamp ahead of the receiver's clock by more than the tolerance "
    "(check the clock of the machine running the receiver)",
}
