"""order_import: platform orders become orders and parcels, idempotently."""

from __future__ import annotations

import pytest

from tests.factories import ShopConnectionFactory
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, OrderDTO
from wismo.tracking.models import Order, Shipment
from wismo.tracking.services.imports import order_import

pytestmark = pytest.mark.django_db


def order(*fulfillments, cancelled=False) -> OrderDTO:
    return OrderDTO(
        external_id="450789469",
        order_number="1001",
        customer_email="ada@example.com",
        customer_name="Ada",
        locale="it",
        shipping_country="IT",
        shipping_postcode="20121",
        currency="EUR",
        cancelled=cancelled,
        line_items=(LineItemDTO("Boots", 1, "B-1", "99.00"),),
        fulfillments=tuple(fulfillments),
    )


@pytest.fixture
def store(scope_a):
    return ShopConnectionFactory(tenant=scope_a)


def test_an_order_with_split_fulfillments_becomes_one_order_and_its_parcels(store):
    outcome = order_import(
        store=store,
        dto=order(
            FulfillmentDTO("f1", ("1Z5R89390357567127",), "UPS"),
            FulfillmentDTO("f2", ("SBX2991965300077", "OWN1"), "sandbox"),
        ),
    )
    assert outcome.order_created and outcome.shipments_created == 3
    stored = Order.objects.get()
    assert stored.line_items == [
        {"title": "Boots", "quantity": 1, "sku": "B-1", "price": "99.00", "currency": "EUR"}
    ]
    assert sorted(Shipment.objects.values_list("external_fulfillment_id", "carrier")) == [
        ("f1", "ups"),
        ("f2", "sandbox"),
        ("f2", "sandbox"),
    ]


def test_importing_the_same_order_again_changes_nothing(store):
    dto = order(FulfillmentDTO("f1", ("1Z5R89390357567127",), "UPS"))
    order_import(store=store, dto=dto)
    again = order_import(store=store, dto=dto)
    assert (again.order_created, again.shipments_created) == (False, 0)
    assert Shipment.objects.count() == 1


def test_a_changed_number_in_a_fulfillment_relinks_the_history(store):
    order_import(store=store, dto=order(FulfillmentDTO("f1", ("SBXOLD1",), "sandbox")))
    outcome = order_import(store=store, dto=order(FulfillmentDTO("f1", ("SBXNEW1",), "sandbox")))
    new = Shipment.objects.get(tracking_number="SBXNEW1")
    assert outcome.shipments_relinked == 1
    assert new.replaces.tracking_number == "SBXOLD1" and not new.replaces.is_active
    assert new.external_fulfillment_id == "f1"


def test_cancelled_orders_and_fulfillments_stop_tracking(store):
    order_import(
        store=store,
        dto=order(
            FulfillmentDTO("f1", ("SBXA1",), "sandbox"), FulfillmentDTO("f2", ("SBXB2",), "sandbox")
        ),
    )
    order_import(
        store=store,
        dto=order(
            FulfillmentDTO("f1", ("SBXA1",), "sandbox"),
            FulfillmentDTO("f2", ("SBXB2",), "sandbox", cancelled=True),
        ),
    )
    assert dict(Shipment.objects.values_list("tracking_number", "is_active")) == {
        "SBXA1": True,
        "SBXB2": False,
    }
    order_import(
        store=store, dto=order(FulfillmentDTO("f1", ("SBXA1",), "sandbox"), cancelled=True)
    )
    assert not Shipment.objects.filter(is_active=True).exists()


def test_a_bad_number_skips_that_parcel_not_the_order(store):
    outcome = order_import(
        store=store, dto=order(FulfillmentDTO("f1", ("<script>", "SBXOK1"), "sandbox"))
    )
    assert outcome.shipments_created == 1 and len(outcome.problems) == 1
    assert Order.objects.count() == 1
