"""Webhook delivery: signed like Stripe, at least once, retried, and on demand duplicated and
reordered. The receiver is a plain local HTTP server; signatures are checked with the SDK."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import stripe

from revenue_assets.sandbox.delivery import DeliveryOptions
from revenue_assets.sandbox.runner import Sandbox
from revenue_assets_tests.sandbox_fixtures import WebhookReceiver

FAST_RETRY = DeliveryOptions(retry_base_s=0.05, retry_max_s=0.2)


def register(sandbox: Sandbox, url: str, events: list[str], **params: Any) -> Any:
    return sandbox.client().v1.webhook_endpoints.create(
        {"url": url, "enabled_events": events, **params}
    )


@pytest.mark.sandbox(webhooks=FAST_RETRY)
def test_delivery_verifies_with_the_sdk_and_tampering_does_not(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = register(sandbox, webhook_receiver.url, ["customer.created"])
    assert endpoint.secret.startswith("whsec_")
    assert "secret" not in sandbox.client().v1.webhook_endpoints.retrieve(endpoint.id)
    customer = sandbox.client().v1.customers.create({"email": "hook@example.com"})

    [delivery] = webhook_receiver.wait(1)
    payload = delivery.body.decode()
    event = stripe.Webhook.construct_event(payload, delivery.signature, endpoint.secret)
    assert event.type == "customer.created" and event.data.object.id == customer.id
    assert delivery.headers["content-type"].startswith("application/json")

    tampered = payload.replace("hook@example.com", "evil@example.com")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered, delivery.signature, endpoint.secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, delivery.signature, "whsec_wrong")
    assert sandbox.wait_for_deliveries(5)
    assert len(webhook_receiver.deliveries) == 1  # not subscribed to anything else


@pytest.mark.sandbox(webhooks=FAST_RETRY)
def test_failed_deliveries_are_retried_until_accepted(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = register(sandbox, webhook_receiver.url, ["*"])
    webhook_receiver.fail_next(3, status=503)
    sandbox.client().v1.customers.create({"email": "retry@example.com"})
    [delivery] = webhook_receiver.wait(1)
    assert webhook_receiver.attempts == 4
    stripe.Webhook.construct_event(delivery.body.decode(), delivery.signature, endpoint.secret)
    assert sandbox.wait_for_deliveries(5)
    counters = sandbox.counters()["deliveries"]
    assert counters["retries"] == 3 and counters["delivered"] == 1


@pytest.mark.sandbox(webhooks=DeliveryOptions(retry_base_s=0.05, max_attempts=2))
def test_dead_endpoint_is_given_up_without_blocking_the_api(sandbox: Sandbox) -> None:
    register(sandbox, "http://127.0.0.1:9/unreachable", ["*"])
    client = sandbox.client()
    client.v1.customers.create({"email": "dead@example.com"})
    assert client.v1.customers.list({"limit": 1}).data  # the API answers meanwhile
    assert sandbox.wait_for_deliveries(10)
    assert sandbox.counters()["deliveries"]["given_up"] >= 1


@pytest.mark.sandbox(webhooks=DeliveryOptions(duplicates=1.0, seed=1))
def test_duplicates_on_demand(sandbox: Sandbox, webhook_receiver: WebhookReceiver) -> None:
    register(sandbox, webhook_receiver.url, ["customer.created"])
    sandbox.client().v1.customers.create({"email": "twice@example.com"})
    deliveries = webhook_receiver.wait(2)
    ids = [orjson.loads(d.body)["id"] for d in deliveries]
    assert ids[0] == ids[1]


@pytest.mark.sandbox(webhooks=DeliveryOptions(reorder_ms=300, workers=8, seed=2))
def test_out_of_order_delivery_on_demand(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    register(sandbox, webhook_receiver.url, ["customer.created"])
    client = sandbox.client()
    created = [client.v1.customers.create({"email": f"o{n}@example.com"}).id for n in range(12)]
    deliveries = webhook_receiver.wait(12)
    received = [orjson.loads(d.body)["data"]["object"]["id"] for d in deliveries]
    assert sorted(received) == sorted(created)
    assert received != created


@pytest.mark.sandbox(webhooks=FAST_RETRY)
def test_endpoint_api_version_renders_events_in_that_version(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    old = "2024-06-20"
    endpoint = register(sandbox, webhook_receiver.url, ["invoice.paid"], api_version=old)
    current = register(sandbox, webhook_receiver.url + "?current", ["invoice.paid"])
    sandbox.advance(10 * 86_400)  # renewals pay invoices
    assert sandbox.wait_for_deliveries(20)
    by_url: dict[bool, list[Any]] = {True: [], False: []}
    for delivery in webhook_receiver.deliveries:
        secret = current.secret if delivery.path.endswith("?current") else endpoint.secret
        event = stripe.Webhook.construct_event(delivery.body.decode(), delivery.signature, secret)
        by_url[delivery.path.endswith("?current")].append(orjson.loads(delivery.body))
        assert event.type == "invoice.paid"
    assert by_url[False] and len(by_url[False]) == len(by_url[True])
    for event in by_url[False]:  # the old shape: `paid` and `subscription` on the invoice
        assert event["api_version"] == old
        assert event["data"]["object"]["paid"] is True
        assert "subscription" in event["data"]["object"]
    for event in by_url[True]:
        assert event["api_version"] == stripe.api_version
        assert "paid" not in event["data"]["object"]


@pytest.mark.sandbox(webhooks=FAST_RETRY)
def test_disabled_and_deleted_endpoints_receive_nothing(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    client = sandbox.client()
    endpoint = register(sandbox, webhook_receiver.url, ["*"])
    client.v1.webhook_endpoints.update(endpoint.id, {"disabled": True})
    client.v1.customers.create({"email": "quiet@example.com"})
    client.v1.webhook_endpoints.delete(endpoint.id)
    client.v1.customers.create({"email": "quieter@example.com"})
    assert sandbox.wait_for_deliveries(5)
    assert webhook_receiver.attempts == 0
