"""Write-back to the shop platform: off by default, newest news only, failures retried or shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import ShopConnectionFactory, ev
from tests.fakes.carrier_server import Reply
from wismo.tracking.importers.base import FulfillmentDTO, OrderDTO
from wismo.tracking.models import Shipment, ShipmentStatusChange
from wismo.tracking.services.imports import order_import
from wismo.tracking.services.timeline import record_events
from wismo.tracking.services.write_back import store_write_back, stores_with_write_back

pytestmark = pytest.mark.django_db

EVENTS_PATH = r"^/admin/api/[\d-]+/orders/\d+/fulfillments/\d+/events\.json$"


def import_order(store, *fulfillments: tuple[str, str]):
    dto = OrderDTO(
        external_id="5001",
        order_number="1042",
        fulfillments=tuple(
            FulfillmentDTO(external_id=fid, tracking_numbers=(number,), carrier_name="sandbox")
            for fid, number in fulfillments
        ),
    )
    order_import(store=store, dto=dto)
    return {s.external_fulfillment_id: s for s in Shipment.objects.filter(store=store)}


def settle():
    """Changes are written back once they are older than the settle delay."""
    ShipmentStatusChange.objects.update(created_at=timezone.now() - timedelta(minutes=2))


@pytest.fixture
def shopify(scope_a, carrier_server):
    carrier_server.route("POST", EVENTS_PATH, {"fulfillment_event": {"id": 1}})
    return ShopConnectionFactory(
        tenant=scope_a,
        platform="shopify",
        shop_url=carrier_server.url,
        credentials={"access_token": "shpat_wb"},
        write_back=True,
    )


def test_shopify_gets_one_fulfillment_event_with_the_newest_status(shopify, carrier_server):
    parcels = import_order(shopify, ("7001", "SBXWB0000001"))
    record_events(shipment=parcels["7001"], events=[ev(0, "in_transit")])
    record_events(shipment=parcels["7001"], events=[ev(5, "delivered")])
    settle()

    handled = store_write_back(store=shopify)

    [request] = carrier_server.requests
    assert request.path.endswith("/orders/5001/fulfillments/7001/events.json")
    assert request.headers["x-shopify-access-token"] == "shpat_wb"
    assert request.json()["event"]["status"] == "delivered"  # not "in_transit" after it
    assert request.json()["event"]["happened_at"] == "2026-11-02T13:00:00Z"
    assert handled == 2
    carrier_server.requests.clear()
    assert store_write_back(store=shopify) == 0 and carrier_server.requests == []


def test_write_back_is_off_unless_the_merchant_turns_it_on(shopify, carrier_server):
    shopify.write_back = False
    shopify.save()
    parcels = import_order(shopify, ("7001", "SBXWB0000001"))
    record_events(shipment=parcels["7001"], events=[ev(0, "in_transit")])
    settle()

    assert store_write_back(store=shopify) == 0
    assert carrier_server.requests == []
    assert stores_with_write_back() == []


def test_changes_younger_than_the_settle_delay_wait_for_the_next_tick(shopify, carrier_server):
    parcels = import_order(shopify, ("7001", "SBXWB0000001"))
    record_events(shipment=parcels["7001"], events=[ev(0, "in_transit")])

    assert store_write_back(store=shopify) == 0 and carrier_server.requests == []


def test_an_outage_keeps_the_cursor_and_the_next_run_sends(shopify, carrier_server):
    parcels = import_order(shopify, ("7001", "SBXWB0000001"))
    record_events(shipment=parcels["7001"], events=[ev(0, "out_for_delivery")])
    settle()
    carrier_server.fail_next(503)

    assert store_write_back(store=shopify) == 0
    shopify.refresh_from_db()
    assert shopify.write_back_error.startswith("retrying")

    assert store_write_back(store=shopify) == 1
    assert carrier_server.requests[-1].json()["event"]["status"] == "out_for_delivery"
    shopify.refresh_from_db()
    assert shopify.write_back_error == ""


def test_a_deleted_fulfillment_is_skipped_and_refused_credentials_stop_write_back(
    shopify, carrier_server
):
    parcels = import_order(shopify, ("7001", "SBXWB0000001"), ("7002", "SBXWB0000002"))
    record_events(shipment=parcels["7001"], events=[ev(0, "in_transit")])
    record_events(shipment=parcels["7002"], events=[ev(0, "in_transit")])
    settle()
    carrier_server.fail_next(404)

    assert store_write_back(store=shopify) == 2  # the 404 one skipped, the other sent
    assert len(carrier_server.requests) == 2

    record_events(shipment=parcels["7001"], events=[ev(9, "delivered")])
    settle()
    carrier_server.fail_next(401)
    assert store_write_back(store=shopify) == 0
    shopify.refresh_from_db()
    assert shopify.write_back_error.startswith("refused")
    assert stores_with_write_back() == []  # not hammered with a refused token


@pytest.fixture
def woo(scope_a, carrier_server):
    carrier_server.route("PUT", r"^/wp-json/wc/v3/orders/\d+$", Reply(body='{"id": 5001}'))
    return ShopConnectionFactory(
        tenant=scope_a,
        platform="woocommerce",
        shop_url=carrier_server.url,
        credentials={"consumer_key": "ck_x", "consumer_secret": "cs_y"},
        write_back=True,
    )


def test_woocommerce_orders_complete_when_the_last_parcel_is_delivered(woo, carrier_server):
    parcels = import_order(woo, ("t1", "SBXWB0000001"), ("t2", "SBXWB0000002"))
    record_events(shipment=parcels["t1"], events=[ev(0, "delivered")])
    settle()

    store_write_back(store=woo)
    assert carrier_server.requests == []  # one parcel still travelling

    record_events(shipment=parcels["t2"], events=[ev(3, "delivered")])
    settle()
    store_write_back(store=woo)

    [request] = carrier_server.requests
    assert (request.method, request.path) == ("PUT", "/wp-json/wc/v3/orders/5001")
    assert request.json() == {"status": "completed"}
    assert request.headers["authorization"].startswith("Basic ")
