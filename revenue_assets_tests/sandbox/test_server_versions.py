"""`Stripe-Version` pins the layout of the body: a request in a version from before 2025-03-31
reads invoices with a top-level `subscription`, lines with `price`, subscriptions with
`current_period_*`, as the product's older-layout columns expect; the current version reads
`parent` and `pricing`. Events keep the version they were created in. A version Stripe never
released is a 400, as on Stripe."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import stripe

from revenue_assets.sandbox.runner import Sandbox

OLDER = ["2025-01-27.acacia", "2024-06-20"]
CURRENT = [stripe.api_version, "2025-03-31.basil"]


def _get(sandbox: Sandbox, path: str, version: str | None, **params: Any) -> requests.Response:
    headers = {"Stripe-Version": version} if version else {}
    return requests.get(
        f"{sandbox.base_url}{path}",
        params=params,
        auth=(sandbox.secret_key, ""),
        headers=headers,
        timeout=10,
    )


def _subscription_invoice(sandbox: Sandbox) -> dict[str, Any]:
    """A stored (current-layout) invoice billed by a subscription."""
    return next(
        invoice
        for invoice in sandbox.world.store.iter_objects(
            "invoice", sandbox.account_id, include_deleted=False
        )
        if ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        and invoice["lines"]["data"]
    )


def test_no_header_answers_in_the_sdks_version(sandbox_session: Sandbox) -> None:
    stored = _subscription_invoice(sandbox_session)
    response = _get(sandbox_session, f"/v1/invoices/{stored['id']}", None)
    assert response.status_code == 200
    assert response.headers["Stripe-Version"] == stripe.api_version
    assert response.json() == stored


@pytest.mark.parametrize("version", CURRENT)
def test_current_versions_read_parent_and_pricing(sandbox_session: Sandbox, version: str) -> None:
    stored = _subscription_invoice(sandbox_session)
    invoice = _get(sandbox_session, f"/v1/invoices/{stored['id']}", version).json()
    assert "subscription" not in invoice and "paid" not in invoice
    assert invoice["parent"]["subscription_details"]["subscription"]
    lines = _get(sandbox_session, f"/v1/invoices/{stored['id']}/lines", version).json()["data"]
    assert all("pricing" in line and "price" not in line for line in lines)


@pytest.mark.parametrize("version", OLDER)
def test_older_versions_read_the_old_invoice_layout(sandbox_session: Sandbox, version: str) -> None:
    stored = _subscription_invoice(sandbox_session)
    subscription_id = stored["parent"]["subscription_details"]["subscription"]
    response = _get(sandbox_session, f"/v1/invoices/{stored['id']}", version)
    assert response.status_code == 200 and response.headers["Stripe-Version"] == version
    invoice = response.json()
    assert invoice["subscription"] == subscription_id
    assert "subscription_details" in invoice and "parent" not in invoice
    assert invoice["paid"] == (stored["status"] == "paid")
    # Its lines, embedded and listed, carry `price` and `subscription`, not `pricing`/`parent`.
    listed = _get(sandbox_session, f"/v1/invoices/{stored['id']}/lines", version).json()["data"]
    for lines in (invoice["lines"]["data"], listed):
        assert lines and all("pricing" not in line and "parent" not in line for line in lines)
        assert {line["subscription"] for line in lines} == {subscription_id}
        assert all(line["price"]["object"] == "price" for line in lines)
    # The same objects through a list, and filtered by their subscription.
    page = _get(sandbox_session, "/v1/invoices", version, subscription=subscription_id).json()
    assert stored["id"] in {i["id"] for i in page["data"]}
    assert all(i["subscription"] == subscription_id and "parent" not in i for i in page["data"])


@pytest.mark.parametrize("version", OLDER)
def test_older_versions_read_subscription_periods_at_the_top(
    sandbox_session: Sandbox, version: str
) -> None:
    stored = next(
        s
        for s in sandbox_session.world.store.iter_objects(
            "subscription", sandbox_session.account_id, include_deleted=False
        )
        if s["status"] == "active"
    )
    first_item = stored["items"]["data"][0]
    assert "current_period_end" not in stored  # the current layout keeps periods on items
    old = _get(sandbox_session, f"/v1/subscriptions/{stored['id']}", version).json()
    assert old["current_period_end"] == first_item["current_period_end"]
    current = _get(sandbox_session, f"/v1/subscriptions/{stored['id']}", stripe.api_version)
    assert "current_period_end" not in current.json()


@pytest.mark.parametrize(
    "version", ["2099-01-01", "2030-01-01.zinnia", "2024-06-21", "banana", "2024-06-20x"]
)
def test_versions_stripe_never_released_are_refused(sandbox_session: Sandbox, version: str) -> None:
    response = _get(sandbox_session, "/v1/customers", version, limit=1)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Invalid Stripe API version: {version.strip()}")


def test_events_keep_the_version_they_were_created_in(sandbox_session: Sandbox) -> None:
    """Events created in the current version read the same whatever the request asks."""
    for version in (None, *OLDER):
        page = _get(sandbox_session, "/v1/events", version, type="invoice.paid", limit=5).json()
        assert page["data"]
        for event in page["data"]:
            assert event["api_version"] == stripe.api_version
            assert "parent" in event["data"]["object"]
            assert "subscription" not in event["data"]["object"]


@pytest.mark.sandbox(customers=40, months=3, event_api_version="2024-06-20")
def test_events_created_in_an_older_version_keep_its_layout(sandbox: Sandbox) -> None:
    sandbox.advance(35 * 86_400)
    page = _get(sandbox, "/v1/events", stripe.api_version, type="invoice.paid", limit=20).json()
    assert page["data"]
    for event in page["data"]:
        assert event["api_version"] == "2024-06-20"
        invoice = event["data"]["object"]
        assert "parent" not in invoice and "subscription" in invoice and "paid" in invoice
    # The invoice itself, read now in the current version, has the current layout.
    current = _get(sandbox, f"/v1/invoices/{invoice['id']}", None).json()
    assert "parent" in current and "subscription" not in current
