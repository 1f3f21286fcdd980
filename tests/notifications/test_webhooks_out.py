"""Outbound webhooks: signed, retried with backoff, disabled after repeated failures, replayable."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services import webhooks_out
from tests.fakes.carrier_server import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(scope_a, carrier_server):
    carrier_server.route("POST", r"^/hooks$", Reply(status=204))
    return WebhookEndpoint.objects.create(
        tenant=scope_a, url=carrier_server.url + "/hooks", secret="whsec_merchant"
    )


def owe(endpoint, n: int = 1) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        tenant=endpoint.tenant,
        endpoint=endpoint,
        event="shipment.status_changed",
        event_id=f"chg_{n}",
        payload={"id": f"chg_{n}", "type": "shipment.status_changed", "data": {"n": n}},
    )


def test_a_delivery_is_posted_signed_and_marked_delivered(endpoint, carrier_server):
    delivery = owe(endpoint)

    assert webhooks_out.deliveries_send() == 1

    [request] = carrier_server.requests
    assert json.loads(request.body) == delivery.payload
    assert request.headers["x-wismo-event-id"] == "chg_1"
    stamp, mac = (
        dict(p.split("=", 1) for p in request.headers["x-wismo-signature"].split(","))["t"],
        request.headers["x-wismo-signature"].split("v1=")[1],
    )
    expected = hmac.new(b"whsec_merchant", f"{stamp}.".encode() + request.body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.response_status == 204
    assert webhooks_out.deliveries_send() == 0  # nothing is sent twice


def test_a_failing_endpoint_is_retried_later_then_disabled(endpoint, carrier_server, monkeypatch):
    monkeypatch.setattr(webhooks_out, "DISABLE_AFTER", 2)
    owe(endpoint, 1)
    owe(endpoint, 2)
    carrier_server.fail_next(500, times=2)

    assert webhooks_out.deliveries_send() == 0

    endpoint.refresh_from_db()
    assert not endpoint.is_active and "failed deliveries" in endpoint.disabled_reason
    for delivery in WebhookDelivery.objects.all():
        assert delivery.state == "pending" and delivery.attempts == 1
        assert delivery.last_error == "HTTP 500"
    assert webhooks_out.deliveries_send() == 0  # not due yet: backoff


def test_a_timeout_is_a_failure_to_retry(endpoint, carrier_server, monkeypatch):
    monkeypatch.setattr(webhooks_out, "TIMEOUT", (0.5, 0.5))
    carrier_server.blackhole_seconds = 2
    carrier_server.blackhole_next()
    delivery = owe(endpoint)

    webhooks_out.deliveries_send()

    delivery.refresh_from_db()
    assert delivery.state == "pending" and "Timeout" in delivery.last_error


def test_a_delivered_event_can_be_replayed_with_the_same_id(endpoint, carrier_server):
    delivery = owe(endpoint)
    webhooks_out.deliveries_send()

    webhooks_out.delivery_replay(delivery=delivery)
    assert webhooks_out.deliveries_send() == 1

    assert [r.headers["x-wismo-event-id"] for r in carrier_server.requests] == ["chg_1", "chg_1"]
