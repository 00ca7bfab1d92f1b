"""API keys of the sandbox: secret keys (test and live), restricted keys and their permissions.

Stripe authenticates every request by key and, for restricted keys (`rk_…`), checks one
permission per endpoint (`rak_<resource>_read` / `_write`). The sandbox reproduces the exact
401 and 403 bodies, because the code under test must recognise them (a wrong key must fail
loudly, a missing scope must be named to the user). Keys are masked in messages the way Stripe
masks them: prefix kept, the middle starred, the last four characters shown.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from revenue_assets.sandbox.errors import SandboxError

# Resource segment of the URL (`/v1/<resource>`) -> Stripe's base permission name, without
# `_read`/`_write`. Written out here from Stripe's restricted-key dashboard, not derived from the
# code under test: a client that asks for the wrong permission must fail against the sandbox.
# Several resources share one permission (prices are still "plans" to restricted keys; invoice
# items and invoice payments are part of "invoices"; balance transactions belong to "balance").
PERMISSIONS: dict[str, str] = {
    "account": "rak_account",
    "accounts": "rak_connected_account",
    "balance_transactions": "rak_balance",
    "charges": "rak_charge",
    "coupons": "rak_coupon",
    "credit_notes": "rak_credit_note",
    "customers": "rak_customer",
    "disputes": "rak_dispute",
    "events": "rak_event",
    "invoice_payments": "rak_invoice",
    "invoiceitems": "rak_invoice",
    "invoices": "rak_invoice",
    "payouts": "rak_payout",
    "prices": "rak_plan",
    "products": "rak_product",
    "refunds": "rak_refund",
    "subscription_items": "rak_subscription",
    "subscriptions": "rak_subscription",
    "webhook_endpoints": "rak_webhook",
    # -- billing catalog: tax rates, plans, promotion codes, schedules, shipping rates --
    "tax_rates": "rak_tax_rate",
    "plans": "rak_plan",
    "promotion_codes": "rak_promotion_code",
    "subscription_schedules": "rak_subscription",
    "shipping_rates": "rak_shipping_rate",
    # -- payments: intents, checkout, setup, radar, platform money movements ----------------
    "payment_intents": "rak_payment_intent",
    "checkout/sessions": "rak_checkout_session",
    "setup_intents": "rak_setup_intent",
    # Setup attempts are read with their setup intents; payment methods have their own.
    "setup_attempts": "rak_setup_intent",
    "payment_methods": "rak_payment_method",
    # A customer's nested lists (`/v1/customers/{id}/tax_ids`...) name their permission in
    # customer_children.CHILDREN; `rak_tax_id` is listed here so that the default read key holds it.
    "tax_ids": "rak_tax_id",
    "reviews": "rak_review",
    # Stripe publishes no scope name for early fraud warnings that we could check: this one
    # follows its pattern for namespaced resources (`rak_checkout_session`).
    "radar/early_fraud_warnings": "rak_radar_early_fraud_warning",
    "transfers": "rak_transfer",
    "application_fees": "rak_application_fee",
    "topups": "rak_top_up",
    "billing/meters": "rak_billing_meter",
    "payment_links": "rak_payment_links",
    "entitlements/features": "rak_entitlement",
    "quotes": "rak_quote",
    # Nor for credit grants: this one follows the billing meters' (`rak_billing_meter`).
    "billing/credit_grants": "rak_billing_credit_grant",
    # A grant's balance transactions are read with the grants, as setup attempts are with
    # their setup intents.
    "billing/credit_balance_transactions": "rak_billing_credit_grant",
}

_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_")


def permission_for(resource: str, write: bool) -> str:
    """The restricted-key permission an endpoint needs (writes need the `_write` variant)."""
    base = PERMISSIONS.get(resource, f"rak_{resource.rstrip('s')}")
    return f"{base}_write" if write else f"{base}_read"


def read_permissions() -> list[str]:
    """Every read permission the sandbox knows: what the default restricted read key holds."""
    return sorted({f"{base}_read" for base in PERMISSIONS.values()})


def mask(key: str) -> str:
    """Stripe's rendering of a key in error messages: `sk_test_**********abcd`."""
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    rest = key[len(prefix) :]
    if len(rest) <= 4:
        return prefix + "*" * len(rest)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]


@dataclass(frozen=True)
class ApiKey:
    """A key the sandbox accepts. `permissions` is None for secret keys (everything allowed)."""

    key: str
    livemode: bool
    permissions: frozenset[str] | None = None

    @property
    def restricted(self) -> bool:
        return self.permissions is not None

    @property
    def masked(self) -> str:
        return mask(self.key)

    def allows(self, permission: str) -> bool:
        """Whether the key holds `permission`; a `_write` permission includes its `_read`."""
        if self.permissions is None:
            return True
        if permission in self.permissions:
            return True
        return permission.endswith("_read") and (
            permission.removesuffix("_read") + "_write" in self.permissions
        )


def new_key(prefix: str) -> str:
    """A random key shaped like Stripe's (prefix + 99 alphanumeric characters)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "51" + "".join(secrets.choice(alphabet) for _ in range(97))


class KeyRing:
    """The keys of one sandbox, looked up on every request (a dict hit, no hashing)."""

    def __init__(self, secret_key: str, live_key: str, read_key: str) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}
        self.secret_key = secret_key
        self.live_key = live_key
        self.read_key = read_key
        self._add(ApiKey(secret_key, livemode=False))
        self._add(ApiKey(live_key, livemode=True))
        self._add(ApiKey(read_key, livemode=False, permissions=frozenset(read_permissions())))

    @classmethod
    def generate(cls) -> KeyRing:
        return cls(new_key("sk_test_"), new_key("sk_live_"), new_key("rk_test_"))

    def as_dict(self) -> dict[str, str]:
        return {"secret_key": self.secret_key, "live_key": self.live_key, "read_key": self.read_key}

    def _add(self, key: ApiKey) -> None:
        with self._lock:
            self._keys = {**self._keys, key.key: key}  # copy-on-write: readers take no lock

    def restricted_key(self, permissions: Iterable[str], livemode: bool = False) -> str:
        """Create a restricted key holding exactly `permissions` (e.g. `rak_charge_read`)."""
        key = new_key("rk_live_" if livemode else "rk_test_")
        self._add(ApiKey(key, livemode=livemode, permissions=frozenset(permissions)))
        return key

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key of a request from its `Authorization` header (Bearer, or Basic with the key
        as user name, both of which Stripe accepts); Stripe's 401 when missing or unknown."""
        token = _token(authorization)
        if not token:
            raise SandboxError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
            )
        found = self._keys.get(token)
        if found is None:
            raise SandboxError(401, f"Invalid API Key provided: {mask(token)}")
        return found

    @staticmethod
    def authorize(key: ApiKey, permission: str, account_id: str) -> None:
        """Stripe's 403 when a restricted key lacks the endpoint's permission."""
        if key.allows(permission):
            return
        raise SandboxError(
            403,
            f"The provided key '{key.masked}' does not have the required permissions for this "
            f"endpoint on account '{account_id}'. Having the '{permission}' permission would "
            "allow this request to continue.",
        )


def _token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None
