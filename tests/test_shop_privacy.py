"""Shopify's mandatory compliance webhooks really export or erase the shopper's data."""

from __future__ import annotations

import json

import pytest

from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ShopConnectionFactory
from tests.test_shop_webhooks import body_of, shopify_post
from wismo.tracking import tasks
from wismo.tracking.models import (
    InboundWebhook,
    Order,
    PollQueue,
    PrivacyRequest,
    Shipment,
    TrackingEvent,
)
from wismo.tracking.services.privacy import (
    PersonalDataHandler,
    _handlers,
    personal_data_handler_register,
)

pytestmark = pytest.mark.django_db

ORDER_ID = 5123456789012
EMAIL = "ana@example.com"


def compliance_body(topic: str, **overrides) -> bytes:
    """The bodies Shopify documents for its three compliance topics."""
    base = {"shop_id": 954889, "shop_domain": "alpha-shop.myshopify.com"}
    customer = {"id": 191167, "email": EMAIL, "phone": "555-625-1199"}
    if topic == "customers/data_request":
        base |= {
            "orders_requested": [ORDER_ID],
            "customer": customer,
            "data_request": {"id": 9999},
        }
    elif topic == "customers/redact":
        base |= {"customer": customer, "orders_to_redact": [ORDER_ID]}
    return json.dumps(base | overrides).encode()


def deliver(shop, enqueued, topic, body, webhook_id):
    response = shopify_post(shop, body, topic=topic, webhook_id=webhook_id)
    assert response.status_code == 200, response.content
    tasks.process_inbound_webhook.apply(kwargs=enqueued[-1]).get()
    return response


@pytest.fixture
def imported(shop, tenant_a, enqueued):
    """The shopper's order, imported from its orders/create webhook, with a scanned parcel."""
    deliver(shop, enqueued, "orders/create", body_of("shopify/order_two_fulfillments.json"), "o-1")
    with tenant_scope(tenant_a):
        from tests.factories import ev
        from wismo.tracking.services.timeline import record_events

        shipment = Shipment.objects.filter(store=shop).first()
        record_events(shipment=shipment, events=[ev(0, "in_transit", description="Scanned")])
        return Order.objects.get(store=shop)


def test_a_data_request_exports_the_shoppers_orders_parcels_and_timeline(
    shop, tenant_a, enqueued, imported
):
    deliver(
        shop, enqueued, "customers/data_request", compliance_body("customers/data_request"), "p-1"
    )

    with tenant_scope(tenant_a):
        request = PrivacyRequest.objects.get()
        webhook = InboundWebhook.objects.get(topic="customers/data_request")
    assert request.kind == "data_request" and request.external_id == "9999"
    assert request.completed_at is not None
    [order] = request.export["orders"]
    assert order["order_number"] == "1042" and order["customer_email"] == EMAIL
    assert order["shipping_postcode"] == imported.shipping_postcode
    assert {s["tracking_number"] for s in order["shipments"]} >= {"1234567890", "3UW1A00000001"}
    assert any(e["description"] == "Scanned" for s in order["shipments"] for e in s["events"])
    assert request.summary["orders"] == 1
    # The webhook's own body named the shopper: not kept once handled.
    assert webhook.state == "processed" and webhook.body == "{}"


def test_a_customer_redaction_erases_personal_data_everywhere_and_keeps_the_parcels(
    shop, tenant_a, enqueued, imported
):
    deliver(
        shop, enqueued, "customers/data_request", compliance_body("customers/data_request"), "p-1"
    )
    with tenant_scope(tenant_a):
        parcels = Shipment.objects.filter(order=imported).count()

    deliver(shop, enqueued, "customers/redact", compliance_body("customers/redact"), "p-2")

    with tenant_scope(tenant_a):
        order = Order.objects.get(pk=imported.pk)
        assert (order.customer_email, order.customer_name, order.shipping_postcode) == ("", "", "")
        assert Shipment.objects.filter(order=order).count() == parcels
        assert not Shipment.objects.filter(order=order).exclude(destination_postcode="").exists()
        # The stored orders/create body carried the email and the address: scrubbed.
        assert not InboundWebhook.objects.filter(body__icontains=EMAIL).exists()
        assert not InboundWebhook.objects.filter(body__icontains="Ana").exists()
        export = PrivacyRequest.objects.get(kind="data_request")
        assert export.export == {} and export.customer_email == ""
        redaction = PrivacyRequest.objects.get(kind="customer_redact")
    assert redaction.summary["orders"] == 1 and redaction.summary["webhooks"] >= 1


def test_a_redaction_by_order_id_alone_works_and_touches_no_other_shopper(
    shop, tenant_a, enqueued, imported
):
    with tenant_scope(tenant_a):
        other = Order.objects.create(
            tenant=tenant_a,
            store=shop,
            external_id="77",
            order_number="1077",
            customer_email="bob@example.com",
            customer_name="Bob",
        )
    body = compliance_body("customers/redact", customer={"id": 1, "email": None})

    deliver(shop, enqueued, "customers/redact", body, "p-3")

    with tenant_scope(tenant_a):
        assert Order.objects.get(pk=imported.pk).customer_email == ""
        other.refresh_from_db()
        assert (other.customer_email, other.customer_name) == ("bob@example.com", "Bob")


def test_other_apps_handlers_export_and_erase_their_part(shop, tenant_a, enqueued, imported):
    seen = []
    personal_data_handler_register(
        PersonalDataHandler(
            name="notes",
            export=lambda pks, email: [{"orders": pks, "email": email}],
            erase=lambda pks, email: seen.append((pks, email)) or 3,
        )
    )
    try:
        deliver(
            shop, enqueued, "customers/data_request", compliance_body("customers/data_request"), "a"
        )
        deliver(shop, enqueued, "customers/redact", compliance_body("customers/redact"), "b")
    finally:
        _handlers.pop("notes")

    with tenant_scope(tenant_a):
        redaction = PrivacyRequest.objects.get(kind="customer_redact")
    assert seen == [([imported.pk], EMAIL)] and redaction.summary["notes"] == 3


def test_shop_redact_erases_the_store_and_nothing_of_other_stores(
    shop, tenant_a, enqueued, imported
):
    with tenant_scope(tenant_a):
        other_store = ShopConnectionFactory(tenant=tenant_a, platform="shopify")
        kept = Order.objects.create(
            tenant=tenant_a, store=other_store, external_id="9", order_number="9"
        )
        Shipment.objects.filter(order=imported).update(is_active=True)
    # A paused store (uninstalled) still gets its erasure.
    with tenant_scope(tenant_a):
        type(shop).objects.filter(pk=shop.pk).update(is_active=False)

    deliver(shop, enqueued, "shop/redact", compliance_body("shop/redact"), "p-4")

    with tenant_scope(tenant_a):
        assert not Order.objects.filter(store=shop).exists()
        assert not Shipment.objects.filter(store=shop).exists()
        assert not TrackingEvent.objects.filter(shipment__store=shop).exists()
        assert not PollQueue.objects.filter(shipment__store=shop).exists()
        assert list(InboundWebhook.objects.filter(store=shop).values_list("topic", flat=True)) == [
            "shop/redact"
        ]
        assert Order.objects.filter(pk=kept.pk).exists()
        shop.refresh_from_db()
        assert shop.credentials == {} and shop.webhook_secret == "" and not shop.is_active
        assert PrivacyRequest.objects.get(kind="shop_redact").summary["orders"] == 1


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("customers/redact", {"shop_id": 1, "shop_domain": "alpha-shop.myshopify.com"}),
        (
            "customers/redact",
            {
                "shop_id": 1,
                "shop_domain": "alpha-shop.myshopify.com",
                "customer": {"id": 1},
                "orders_to_redact": [],
            },
        ),
        ("customers/data_request", {"shop_id": 1, "customer": {"email": EMAIL}}),
        ("shop/redact", {"shop_domain": "alpha-shop.myshopify.com"}),
        ("customers/redact", {"shop_id": 1, "shop_domain": "x", "customer": [], "orders": 1}),
    ],
)
def test_a_compliance_body_that_names_nobody_is_400_and_erases_nothing(
    shop, tenant_a, enqueued, imported, topic, body
):
    response = shopify_post(shop, json.dumps(body).encode(), topic=topic, webhook_id="bad")

    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert Order.objects.get(pk=imported.pk).customer_email == EMAIL
        assert not PrivacyRequest.objects.exists()


def test_an_erasure_for_another_shop_domain_is_refused(tenant_a, enqueued):
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(
            tenant=tenant_a,
            platform="shopify",
            shop_url="https://bravo-shop.myshopify.com",
            webhook_secret="shpss_secret",
        )
    response = shopify_post(store, compliance_body("shop/redact"), topic="shop/redact")
    assert response.status_code == 400
    with all_tenants():
        assert not InboundWebhook.objects.exists()
