"""Events, webhook endpoints and accounts."""

from __future__ import annotations

from revenue_assets.sandbox.shapes.templates import Obj, from_template


def event(
    id: str,
    type: str,
    created: int,
    obj: Obj,
    *,
    api_version: str,
    previous: Obj | None = None,
    request_id: str | None = None,
    account: str | None = None,
    pending_webhooks: int = 0,
) -> Obj:
    data: Obj = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    body: Obj = {"id": id, "object": "event"}
    if account is not None:
        body["account"] = account
    body.update(
        api_version=api_version,
        created=created,
        data=data,
        livemode=False,
        pending_webhooks=pending_webhooks,
        request={"id": request_id, "idempotency_key": None},
        type=type,
    )
    return body


def webhook_endpoint(
    id: str,
    url: str,
    created: int,
    *,
    enabled_events: list[str],
    api_version: str | None,
    description: str | None,
    metadata: Obj | None = None,
) -> Obj:
    return from_template(
        "webhook_endpoint",
        id=id,
        url=url,
        created=created,
        enabled_events=enabled_events,
        api_version=api_version,
        description=description,
        metadata=metadata or {},
        status="enabled",
    )


def account(id: str, created: int, *, name: str, country: str, currency: str, email: str) -> Obj:
    return from_template(
        "account",
        id=id,
        created=created,
        country=country,
        default_currency=currency,
        email=email,
        business_profile={
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": "5734",
            "minority_owned_business_designation": None,
            "name": name,
            "product_description": "Software as a service",
            "support_address": None,
            "support_email": email,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        charges_enabled=True,
        payouts_enabled=True,
        details_submitted=True,
        external_accounts={
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/accounts/{id}/external_accounts",
        },
        metadata={},
    )
