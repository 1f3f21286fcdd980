"""Carrier push webhooks: verified, stored raw first, answered fast, processed once."""

from __future__ import annotations

import pytest
from django.test import Client, TestCase

from tenants.scoping import all_tenants, tenant_scope
from tests.factories import CarrierAccountFactory, ShipmentFactory
from tests.fakes.carrier_server import fixture_text
from wismo.tracking import tasks
from wismo.tracking.models import InboundWebhook, TrackingEvent

pytestmark = pytest.mark.django_db

BODY = fixture_text("dhl/transit.json").encode()


@pytest.fixture(autouse=True)
def _recorded_dates_are_not_stale(settings):
    settings.WISMO_TRACKING_WINDOW_DAYS = 3650


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks.process_inbound_webhook, "apply_async", lambda kwargs: sent.append(kwargs)
    )
    return sent


@pytest.fixture
def account(tenant_a):
    with tenant_scope(tenant_a):
        account = CarrierAccountFactory(
            tenant=tenant_a,
            carrier="dhl",
            credentials={"push_header": "X-Wismo-Token", "push_token": "s3cret"},
        )
        ShipmentFactory(
            tenant=tenant_a, carrier="dhl", carrier_account=account, tracking_number="1234567890"
        )
    return account


def push(account, body=BODY, token="s3cret", slug="dhl"):
    # Run the after-commit enqueue, as a real request's commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(
            f"/hooks/carriers/{slug}/{account.pk}/",
            body,
            content_type="application/json",
            HTTP_X_WISMO_TOKEN=token,
        )


def test_a_verified_push_is_stored_then_processed_into_the_timeline(account, tenant_a, enqueued):
    response = push(account)

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert enqueued == [{"tenant_id": tenant_a.pk, "webhook_id": response.json()["id"]}]
    with tenant_scope(tenant_a):
        webhook = InboundWebhook.objects.get()
        assert webhook.state == "received" and webhook.body == BODY.decode()
        assert "x-wismo-token" not in webhook.headers, "secrets are not kept with the body"

    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()

    with tenant_scope(tenant_a):
        assert TrackingEvent.objects.filter(source="push").count() == 3
        webhook.refresh_from_db()
        assert webhook.state == "processed"


def test_the_same_push_twice_is_stored_and_applied_once(account, tenant_a, enqueued):
    first, second = push(account), push(account)
    assert (first.json()["status"], second.json()["status"]) == ("accepted", "duplicate")
    assert len(enqueued) == 1
    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()
    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()  # a redelivered task
    with tenant_scope(tenant_a):
        assert InboundWebhook.objects.count() == 1
        assert TrackingEvent.objects.count() == 3


@pytest.mark.parametrize("token", ["wrong", ""])
def test_a_bad_token_is_a_401_and_stores_nothing(account, tenant_a, enqueued, token):
    response = push(account, token=token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    with all_tenants():
        assert not InboundWebhook.objects.exists()
    assert enqueued == []


def test_unknown_accounts_carriers_and_mismatches_are_all_404(account, enqueued):
    assert push(account, slug="ups").status_code == 404  # account is DHL's
    assert push(account, slug="sandbox").status_code == 404  # does not push
    assert push(account, slug="nope").status_code == 404
    assert (
        Client()
        .post("/hooks/carriers/dhl/999999/", BODY, content_type="application/json")
        .status_code
        == 404
    )


def test_a_foreign_or_huge_body_is_refused(account, enqueued):
    assert push(account, body=b"<xml/>").status_code == 400
    assert push(account, body=b'{"not": "dhl"}').status_code == 400
    assert push(account, body=b"{" + b" " * 1_000_001 + b"}").status_code == 413
    assert enqueued == []


def test_only_post_is_accepted(account):
    assert Client().get(f"/hooks/carriers/dhl/{account.pk}/").status_code == 405


def test_a_push_only_touches_the_receiving_tenants_shipments(account, tenant_a, tenant_b, enqueued):
    with tenant_scope(tenant_b):
        theirs = ShipmentFactory(tenant=tenant_b, carrier="dhl", tracking_number="1234567890")
    tasks.process_inbound_webhook.apply(
        kwargs={"tenant_id": tenant_a.pk, "webhook_id": push(account).json()["id"]}
    ).get()
    with tenant_scope(tenant_b):
        assert not TrackingEvent.objects.filter(shipment=theirs).exists()


def test_the_relay_re_enqueues_pushes_whose_processing_was_lost(account, tenant_a, enqueued):
    webhook_id = push(account).json()["id"]
    enqueued.clear()
    with tenant_scope(tenant_a):
        InboundWebhook.objects.filter(pk=webhook_id).update(received_at="2020-01-01T00:00:00Z")
    assert tasks.relay_inbound_webhooks() == 1
    assert enqueued == [{"tenant_id": tenant_a.pk, "webhook_id": webhook_id}]


def test_retrack_through_the_api(api_a, tenant_a, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.poll_shipments, "apply_async", lambda kwargs: sent.append(kwargs))
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a, carrier="sandbox", is_active=False, next_poll_at=None
        )
        manual = ShipmentFactory(tenant=tenant_a, carrier="manual")

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_a.post(f"/api/v1/shipments/{shipment.pk}/retrack/")

    assert response.status_code == 202
    assert response.json()["is_active"] is True
    assert sent == [{"tenant_id": tenant_a.pk, "shipment_ids": [shipment.pk]}]
    assert api_a.post(f"/api/v1/shipments/{manual.pk}/retrack/").status_code == 400


def test_retrack_of_another_tenants_shipment_is_404(api_b, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="sandbox")
    assert api_b.post(f"/api/v1/shipments/{shipment.pk}/retrack/").status_code == 404


def test_a_signed_17track_push_reaches_the_tenants_shipment(tenant_a, enqueued):
    import hashlib

    body = fixture_text("seventeen_track/push_updated.json").encode()
    with tenant_scope(tenant_a):
        account = CarrierAccountFactory(
            tenant=tenant_a, carrier="seventeen_track", credentials={"security_key": "k17"}
        )
    good = hashlib.sha256(body + b"/k17").hexdigest()

    def send(sign):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return Client().post(
                f"/hooks/carriers/seventeen_track/{account.pk}/",
                body,
                content_type="application/json",
                HTTP_SIGN=sign,
            )

    assert send("0" * 64).status_code == 401
    response = send(good)
    assert response.status_code == 200, response.content
    assert len(enqueued) == 1
