"""`shops sync` end to end for the platforms without webhooks: the fakes serve the documented
formats, the real sync path writes orders and parcels, and a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.factories import ShopConnectionFactory
from tests.importers.test_magento import TOKEN, recorded_store
from tests.importers.test_prestashop import FakePrestaShop
from wismo.tracking.models import Order, Shipment

pytestmark = pytest.mark.django_db


def sync(store) -> str:
    out = io.StringIO()
    call_command("shops", "sync", str(store.pk), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_magento_store_syncs_orders_and_tracks_once(scope_a, carrier_server):
    recorded_store().install(carrier_server)
    store = ShopConnectionFactory(
        tenant=scope_a,
        platform="magento",
        shop_url=carrier_server.url,
        credentials={"access_token": TOKEN},
    )

    first = sync(store)

    orders = Order.objects.filter(store=store)
    assert "3 orders created" in first
    assert orders.count() == 3
    parcels = Shipment.objects.filter(store=store)
    assert parcels.count() >= 3 and not parcels.filter(tracking_number="").exists()
    assert orders.filter(cancelled_at__isnull=False).count() <= 1
    assert carrier_server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"

    second = sync(store)
    assert "0 orders created" in second and "0 parcels created" in second
    assert Shipment.objects.filter(store=store).count() == parcels.count()


def test_a_prestashop_store_syncs_orders_and_order_carriers_once(scope_a, carrier_server):
    FakePrestaShop(carrier_server)
    store = ShopConnectionFactory(
        tenant=scope_a,
        platform="prestashop",
        shop_url=carrier_server.url,
        credentials={"api_key": "WSKEY1234567890ABCDEFGHIJKLMNOPQ", "timezone": "Europe/Paris"},
    )

    first = sync(store)

    orders = Order.objects.filter(store=store)
    assert orders.count() >= 2 and "failed" not in first.split("created")[0]
    assert Shipment.objects.filter(store=store).exists()
    assert orders.exclude(customer_email="").exists()

    count = Shipment.objects.filter(store=store).count()
    second = sync(store)
    assert "0 orders created" in second and "0 parcels created" in second
    assert Shipment.objects.filter(store=store).count() == count
