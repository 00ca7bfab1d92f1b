"""`expand[]` as Stripe answers it: expandable paths are expanded (through lists and embedded
objects), and a path that does not exist, a field that is not expandable or more than four
levels is a 400 `invalid_request_error` instead of being silently ignored."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from revenue_assets.sandbox.runner import Sandbox


def _get(sandbox: Sandbox, path: str, expand: list[str]) -> requests.Response:
    return requests.get(
        f"{sandbox.base_url}{path}",
        params=[("expand[]", p) for p in expand],
        auth=(sandbox.secret_key, ""),
        timeout=10,
    )


def _first(sandbox: Sandbox, kind: str) -> dict[str, Any]:
    return next(sandbox.world.store.iter_objects(kind, sandbox.account_id, include_deleted=False))


def test_expandable_paths_are_expanded(sandbox_session: Sandbox) -> None:
    subscription = _first(sandbox_session, "subscription")
    body = _get(
        sandbox_session,
        f"/v1/subscriptions/{subscription['id']}",
        ["customer", "items.data.price.product", "latest_invoice.payments"],
    ).json()
    assert body["customer"]["object"] == "customer"
    assert body["items"]["data"][0]["price"]["product"]["object"] == "product"
    assert body["latest_invoice"]["payments"]["object"] == "list"
    page = _get(sandbox_session, "/v1/invoices", ["data.customer", "data.lines.data.discounts"])
    assert page.status_code == 200
    assert all(i["customer"]["object"] == "customer" for i in page.json()["data"])
    sessions = _get(
        sandbox_session, "/v1/checkout/sessions", ["data.subscription", "data.invoice"]
    ).json()["data"]
    completed = [s for s in sessions if s["status"] == "complete"]
    assert completed and all(s["subscription"]["object"] == "subscription" for s in completed)
    warnings = _get(sandbox_session, "/v1/radar/early_fraud_warnings", ["data.charge"]).json()
    assert warnings["data"] and all(w["charge"]["object"] == "charge" for w in warnings["data"])


@pytest.mark.parametrize(
    ("path", "expand", "message"),
    [
        ("/v1/subscriptions/{subscription}", ["colour"], "cannot be expanded (colour)"),
        ("/v1/subscriptions/{subscription}", ["status"], "cannot be expanded (status)"),
        ("/v1/subscriptions/{subscription}", ["items"], "cannot be expanded (items)"),
        ("/v1/subscriptions/{subscription}", ["items.data.price"], "cannot be expanded"),
        ("/v1/subscriptions/{subscription}", ["customer.colour"], "cannot be expanded"),
        ("/v1/invoices", ["data.colour"], "cannot be expanded (colour)"),
        ("/v1/invoices", ["customer"], "try expanding 'data.customer'"),
        ("/v1/invoices/{invoice}/lines", ["data.pricing"], "cannot be expanded"),
        (
            "/v1/subscriptions/{subscription}",
            ["latest_invoice.customer.default_source.customer.default_source"],
            "more than 4 levels",
        ),
        ("/v1/customers/{customer}", ["subscriptions"], "does not build"),
        ("/v1/checkout/sessions", ["data.colour"], "cannot be expanded (colour)"),
        ("/v1/checkout/sessions", ["data.line_items"], "does not build"),
        ("/v1/radar/early_fraud_warnings", ["data.fraud_type"], "cannot be expanded"),
        ("/v1/transfers", ["data.reversals"], "cannot be expanded"),
    ],
)
def test_invalid_expansions_are_refused(
    sandbox_session: Sandbox, path: str, expand: list[str], message: str
) -> None:
    ids = {
        kind: _first(sandbox_session, kind)["id"]
        for kind in ("subscription", "invoice", "customer")
    }
    response = _get(sandbox_session, path.format(**ids), expand)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "expand"
    assert message in error["message"]
