"""Shop webhooks: signed bodies verified, stored in the inbox, answered fast, imported once."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from django.test import Client, TestCase

from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ShopConnectionFactory
from wismo.tracking import tasks
from wismo.tracking.models import InboundWebhook, Order, Shipment

pytestmark = pytest.mark.django_db


def body_of(name: str) -> bytes:
    from pathlib import Path

    return (Path(__file__).parent / "fixtures" / "shops" / name).read_bytes()


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
def woo(tenant_a):
    with tenant_scope(tenant_a):
        return ShopConnectionFactory(
            tenant=tenant_a, platform="woocommerce", webhook_secret="woo-secret"
        )


def post(url: str, body: bytes, client: Client | None = None, **headers):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return (client or Client()).post(url, body, content_type="application/json", **headers)


def shopify_post(
    shop,
    body,
    topic="orders/create",
    webhook_id="wh-1",
    secret="shpss_secret",
    client: Client | None = None,
    **extra,
):
    """POST a delivery to ``shop``'s hook signed as Shopify signs it (``extra``: more headers)."""
    return post(
        f"/hooks/shopify/{shop.pk}/",
        body,
        client,
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(body, secret),
        HTTP_X_SHOPIFY_TOPIC=topic,
        HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
        **extra,
    )


def test_a_signed_shopify_order_is_stored_then_imported(shop, tenant_a, enqueued):
    response = shopify_post(shop, body_of("shopify/order_two_fulfillments.json"))
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert len(enqueued) == 1

    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()

    with tenant_scope(tenant_a):
        assert Order.objects.filter(store=shop).count() == 1
        assert Shipment.objects.filter(store=shop).count() >= 2
        assert InboundWebhook.objects.get().state == "processed"


def test_a_redelivery_with_the_same_webhook_id_is_a_no_op(shop, tenant_a, enqueued):
    body = body_of("shopify/order_two_fulfillments.json")
    assert shopify_post(shop, body).json()["status"] == "accepted"
    assert shopify_post(shop, body).json()["status"] == "duplicate"
    assert len(enqueued) == 1


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_a_bad_signature_is_401_and_stores_nothing(shop, enqueued, secret):
    response = shopify_post(
        shop, body_of("shopify/order_two_fulfillments.json"), secret=secret or "x"
    )
    assert response.status_code == 401
    with all_tenants():
        assert not InboundWebhook.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(
    ("body", "topic"),
    [
        (b"not json", "orders/create"),
        (b"[]", "orders/create"),
        (b'{"id": 1}', "orders/create"),
        (b"{}", "products/create"),
    ],
)
def test_malformed_or_foreign_bodies_are_400(shop, enqueued, body, topic):
    assert shopify_post(shop, body, topic=topic).status_code == 400
    with all_tenants():
        assert not InboundWebhook.objects.exists()


def test_unknown_stores_and_wrong_platforms_are_404(shop, woo):
    body = body_of("shopify/order_two_fulfillments.json")
    assert shopify_post(shop, body).status_code == 200
    assert post(f"/hooks/shopify/{woo.pk}/", body).status_code == 404
    assert post("/hooks/shopify/999999/", body).status_code == 404


def test_a_fulfillment_before_its_order_waits_in_the_inbox_then_imports(shop, tenant_a, enqueued):
    shopify_post(
        shop,
        body_of("shopify/fulfillment_update.json"),
        topic="fulfillments/update",
        webhook_id="f-1",
    )
    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()
    with tenant_scope(tenant_a):
        webhook = InboundWebhook.objects.get()
        assert webhook.state == "failed" and "not known yet" in webhook.error


def test_woocommerce_ping_is_answered_and_not_stored(woo):
    response = Client().post(
        f"/hooks/woocommerce/{woo.pk}/",
        "webhook_id=12",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    with all_tenants():
        assert not InboundWebhook.objects.exists()


def test_a_signed_woocommerce_order_is_imported(woo, tenant_a, enqueued):
    body = body_of("woocommerce/order_two_trackings.json")
    response = post(
        f"/hooks/woocommerce/{woo.pk}/",
        body,
        HTTP_X_WC_WEBHOOK_SIGNATURE=sign(body, "woo-secret"),
        HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
        HTTP_X_WC_WEBHOOK_DELIVERY_ID="d-1",
    )
    assert response.status_code == 200, response.content
    tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()
    with tenant_scope(tenant_a):
        assert Order.objects.filter(store=woo).count() == 1
        assert InboundWebhook.objects.get().state == "processed"


def test_a_burst_of_deliveries_starts_one_drain_that_imports_them_all(shop, tenant_a, enqueued):
    bodies = [
        body_of("shopify/order_two_fulfillments.json").replace(b"5123456789012", str(n).encode())
        for n in (11, 12, 13)
    ]
    for n, body in enumerate(bodies):
        assert shopify_post(shop, body, webhook_id=f"burst-{n}").status_code == 200

    assert len(enqueued) == 1  # one task for the burst, not one per delivery
    result = tasks.process_inbound_webhook.apply(kwargs=enqueued[0]).get()

    assert result["webhooks"] == 3
    with tenant_scope(tenant_a):
        assert Order.objects.filter(store=shop).count() == 3
        assert not InboundWebhook.objects.exclude(state="processed").exists()
    # The drain gave its nudge back: the next delivery starts a new one.
    shopify_post(shop, bodies[0].replace(b"11", b"14"), webhook_id="after")
    assert len(enqueued) == 2


def test_a_broker_outage_at_intake_loses_nothing(shop, tenant_a, monkeypatch):
    def down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.process_inbound_webhook, "apply_async", down)
    response = shopify_post(shop, body_of("shopify/order_two_fulfillments.json"))

    assert response.status_code == 200  # stored: the platform must not retry forever
    with tenant_scope(tenant_a):
        assert InboundWebhook.objects.get().state == "received"
    from datetime import timedelta

    from django.utils import timezone

    with tenant_scope(tenant_a):
        InboundWebhook.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    sent = []
    monkeypatch.setattr(
        tasks.process_inbound_webhook, "apply_async", lambda kwargs: sent.append(kwargs)
    )
    assert tasks.relay_inbound_webhooks() == 1  # the relay finds it and hands it over
    tasks.process_inbound_webhook.apply(kwargs=sent[0]).get()
    with tenant_scope(tenant_a):
        assert Order.objects.filter(store=shop).count() == 1


def test_the_intake_reads_headers_as_django_names_them():
    """The receivers read headers from META directly: the same names and values as
    ``request.headers``, lower-cased."""
    from django.test import RequestFactory

    from wismo.api.hooks import _headers

    request = RequestFactory().post(
        "/hooks/shopify/1/",
        b"{}",
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256="sig==",
        HTTP_X_SHOPIFY_WEBHOOK_ID="wh-1",
    )
    assert _headers(request) == {name.lower(): v for name, v in request.headers.items()}
