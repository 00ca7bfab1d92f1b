"""`webhooks register` and `webhooks status`: the endpoint on Stripe's side.

Registration is a reconciliation, safe to repeat: find the endpoint by URL, create it if there
is none, otherwise add the event types of the synced tables that it lacks. It never removes a
type (users subscribe their own endpoints to more than we need) and only re-enables a disabled
endpoint when asked, since someone may have disabled it on purpose.

Stripe returns an endpoint's signing secret only in the response that creates it. We store it
at once in the state file (mode 0600), where the receiver finds it. For an endpoint created
some other way we cannot fetch the secret; `RegisterResult.needs_secret` says so and the CLI
explains the ways out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import stripe

from revenue_assets.catalog.tables import TABLES, StripeTable
from revenue_assets.settings import Settings
from revenue_assets.state.store import StateStore
from revenue_assets.stripe_api.errors import redact
from revenue_assets.webhooks.secrets import (
    ENDPOINT_ID_KEY,
    ENDPOINT_URL_KEY,
    SECRET_KEY,
    is_secret,
    store_secret,
)

DESCRIPTION = "revenue_assets: keeps the warehouse current (revenue-assets webhooks serve)"
METADATA = {"managed_by": "revenue_assets"}


class RegistrationError(RuntimeError):
    """Stripe refused, or the request cannot be made; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


def required_event_types(tables: Iterable[StripeTable] = TABLES) -> list[str]:
    """The event types whose payloads are objects of the synced tables, sorted."""
    return sorted({event_type for table in tables for event_type in table.event_types})


@dataclass(frozen=True)
class EndpointView:
    """An endpoint as `status` shows it, compared with what the synced tables need."""

    id: str
    url: str
    status: str  # "enabled" | "disabled"
    enabled_events: tuple[str, ...]
    api_version: str | None
    missing: tuple[str, ...]  # required types it does not receive

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    @classmethod
    def of(cls, endpoint: Any, required: Sequence[str]) -> EndpointView:
        events = tuple(endpoint.get("enabled_events") or ())
        missing = () if "*" in events else tuple(t for t in required if t not in events)
        return cls(
            id=endpoint["id"],
            url=endpoint.get("url") or "",
            status=endpoint.get("status") or "enabled",
            enabled_events=events,
            api_version=endpoint.get("api_version"),
            missing=missing,
        )


@dataclass
class RegisterResult:
    endpoint: EndpointView
    action: str  # "created" | "updated" | "unchanged" | "recreated"
    added_types: list[str] = field(default_factory=list)
    reenabled: bool = False
    secret_stored: bool = False
    needs_secret: bool = False  # no secret we could verify deliveries with
    notes: list[str] = field(default_factory=list)


def stripe_client(settings: Settings) -> stripe.StripeClient:
    """The SDK client, configured like StripeAccess (key, API base, connected account)."""
    if not settings.stripe_api_key:
        raise RegistrationError(
            "STRIPE_API_KEY is not set: registering an endpoint needs a secret key (sk_…) or a "
            "restricted key with write access to Webhook Endpoints."
        )
    return stripe.StripeClient(
        settings.stripe_api_key,
        stripe_account=settings.stripe_account_id,
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=2,
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _call(what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """One SDK call, its errors turned into messages that say what to do."""
    try:
        return function(*args, **kwargs)
    except stripe.AuthenticationError as error:
        raise RegistrationError(
            f"{what}: Stripe rejected the API key (HTTP 401: {error.user_message}). "
            "Check STRIPE_API_KEY."
        ) from None
    except stripe.PermissionError as error:
        raise RegistrationError(
            f"{what}: the API key may not manage webhook endpoints (HTTP 403: "
            f"{error.user_message}). Registration needs a secret key (sk_…) or a restricted "
            "key with 'Webhook Endpoints: Write'; the read-only key used for syncing is not "
            "enough. Run this command once with such a key, e.g. STRIPE_API_KEY=sk_… "
            "revenue-assets webhooks register --url …"
        ) from None
    except stripe.StripeError as error:
        raise RegistrationError(f"{what}: {error.user_message or error}") from None


def list_endpoints(client: stripe.StripeClient) -> list[dict[str, Any]]:
    """Every webhook endpoint of the account (paginated)."""
    page = _call(
        "Listing webhook endpoints", client.v1.webhook_endpoints.list, params={"limit": 100}
    )
    return [_as_dict(endpoint) for endpoint in page.auto_paging_iter()]


def register_endpoint(
    client: stripe.StripeClient,
    inbox: StateStore,
    url: str,
    *,
    enable: bool = False,
    secret: str | None = None,
    recreate: bool = False,
    env_secret_set: bool = False,
    event_types: Sequence[str] | None = None,
) -> RegisterResult:
    """Create or reconcile the endpoint for `url`; store the secret when Stripe returns one.

    enable: re-enable the endpoint if it is disabled. secret: a signing secret to store for an
    existing endpoint (copied from the Dashboard). recreate: replace an existing endpoint by a
    new one with the same URL and types (a new secret, stored), then delete the old one.
    """
    required = list(event_types) if event_types is not None else required_event_types()
    if secret is not None and not is_secret(secret):
        raise RegistrationError("--secret must be an endpoint signing secret (whsec_…).")
    stored_id = inbox.get_value(ENDPOINT_ID_KEY)
    matches = [endpoint for endpoint in list_endpoints(client) if endpoint.get("url") == url]
    matches.sort(key=lambda endpoint: endpoint["id"] != stored_id)  # ours first
    notes: list[str] = []
    if len(matches) > 1:
        notes.append(
            f"{len(matches)} endpoints have this URL; reconciled {matches[0]['id']}. Stripe "
            "delivers every event to each of them (the inbox drops the duplicates)."
        )

    if not matches or recreate:
        old = matches[0] if matches else None
        types = _union(old.get("enabled_events") or [] if old else [], required)
        created = _as_dict(
            _call(
                "Creating the webhook endpoint",
                client.v1.webhook_endpoints.create,
                params={
                    "url": url,
                    "enabled_events": types,
                    "api_version": stripe.api_version,
                    "description": DESCRIPTION,
                    "metadata": METADATA,
                },
            )
        )
        result = RegisterResult(
            EndpointView.of(created, required),
            "recreated" if old else "created",
            added_types=[t for t in types if old and t not in (old.get("enabled_events") or [])],
            notes=notes,
        )
        new_secret = created.get("secret")
        if new_secret:
            store_secret(inbox, new_secret, endpoint_id=created["id"], url=url)
            result.secret_stored = True
        else:
            result.needs_secret = not env_secret_set
            notes.append("Stripe returned no signing secret for the new endpoint.")
        if old is not None:
            _call("Deleting the old endpoint", client.v1.webhook_endpoints.delete, old["id"])
            notes.append(
                f"Deleted the old endpoint {old['id']}. Deliveries Stripe was still retrying to "
                "it are dropped; the Events API pull (stripe_events_pull) fills such gaps."
            )
        return result

    endpoint = matches[0]
    current = list(endpoint.get("enabled_events") or [])
    added = [] if "*" in current else [t for t in required if t not in current]
    params: dict[str, Any] = {}
    if added:
        params["enabled_events"] = _union(current, required)
    disabled = (endpoint.get("status") or "enabled") != "enabled"
    if disabled and enable:
        params["disabled"] = False
    if params:
        endpoint = _as_dict(
            _call(
                "Updating the webhook endpoint",
                client.v1.webhook_endpoints.update,
                endpoint["id"],
                params=params,
            )
        )
    result = RegisterResult(
        EndpointView.of(endpoint, required),
        "updated" if params else "unchanged",
        added_types=added,
        reenabled=bool(disabled and enable),
        notes=notes,
    )
    if disabled and not enable:
        notes.append(
            "The endpoint is disabled: Stripe delivers nothing to it. Re-run with --enable to "
            "enable it."
        )
    if endpoint.get("api_version") not in (None, stripe.api_version):
        notes.append(
            f"The endpoint renders events at API version {endpoint.get('api_version')} (ours: "
            f"{stripe.api_version}). That works (older payloads are handled); --recreate "
            "switches it."
        )

    if secret is not None:
        store_secret(inbox, secret, endpoint_id=endpoint["id"], url=url)
        result.secret_stored = True
        notes.append(
            "Stored the given signing secret. Stripe cannot confirm it: `webhooks status` "
            "shows signature failures if it is wrong."
        )
    elif inbox.get_value(SECRET_KEY) and inbox.get_value(ENDPOINT_ID_KEY) == endpoint["id"]:
        pass  # stored when we created this endpoint
    elif env_secret_set:
        inbox.set_values({ENDPOINT_ID_KEY: endpoint["id"], ENDPOINT_URL_KEY: url})
    else:
        result.needs_secret = True
        if inbox.get_value(SECRET_KEY):
            notes.append(
                "A signing secret is stored, but for another endpoint; it will not verify "
                "this endpoint's deliveries."
            )
    return result


def secret_help(url: str) -> str:
    """Why there is no secret for an existing endpoint, and the ways out."""
    return (
        "Stripe shows an endpoint's signing secret only once, in the response that creates it, "
        "so it cannot be fetched for an endpoint that already exists. To proceed, either:\n"
        "  - copy the secret from the Stripe Dashboard (Developers > Webhooks > this endpoint "
        "> Signing secret > Reveal) and store it:\n"
        f"      revenue-assets webhooks register --url {url} --secret whsec_…\n"
        "    or set STRIPE_WEBHOOK_SECRET=whsec_… where the receiver runs;\n"
        "  - or roll the secret in the Dashboard (Roll secret; the old one can stay valid for "
        "a while) and store the new one as above;\n"
        "  - or let us replace the endpoint by a new one with the same URL and event types, "
        "whose secret is stored automatically:\n"
        f"      revenue-assets webhooks register --url {url} --recreate"
    )


def endpoint_views(
    client: stripe.StripeClient, inbox: StateStore | None, url: str | None = None
) -> list[EndpointView]:
    """Endpoints to show in `status`: the URL's, else the one we registered, else all."""
    required = required_event_types()
    endpoints = list_endpoints(client)
    stored_id = inbox.get_value(ENDPOINT_ID_KEY) if inbox is not None else None
    if url is not None:
        chosen = [e for e in endpoints if e.get("url") == url]
    elif stored_id is not None:
        chosen = [e for e in endpoints if e["id"] == stored_id]
    else:
        chosen = endpoints
    return [EndpointView.of(endpoint, required) for endpoint in chosen]


def _union(current: Sequence[str], required: Sequence[str]) -> list[str]:
    """The current types (user's extras kept, their order too), then the missing required."""
    if "*" in current:
        return list(current)
    return [*current, *(t for t in required if t not in current)]
