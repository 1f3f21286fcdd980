"""Fixtures of the tracking-page tests: a shop with an order and a parcel on its way.

``_pages_wired`` (autouse) resets the per-process state the pages keep (tenant maps, brands,
view counters) and turns off the waits and caches that tests would trip over.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory, ev
from tracking_pages import pagecache, pageviews, selectors, views
from wismo.tracking.services.timeline import record_events


@pytest.fixture(autouse=True)
def _pages_wired(settings):
    settings.WISMO_PAGES_LOOKUP_MIN_SECONDS = 0
    # This process's page cache is off unless a test turns it on: tests change data and look.
    settings.WISMO_PAGE_LOCAL_SECONDS = 0
    selectors.forget_tenants()
    views._brands.clear()
    views._brand_of.clear()
    views.local_pages.clear()
    pagecache.clear()
    views._chromes.clear()
    views._progress_lines.clear()
    # The push clock is process-wide: a test that starts more than PUSH_SECONDS after the last
    # push would see its first view pushed (and the buffer emptied) before it looks.
    pageviews._pending.clear()
    pageviews._last_push = time.monotonic()
    yield
    selectors.forget_tenants()
    pageviews._pending.clear()


@pytest.fixture
def clear_cache():
    cache.clear()


def make_order(tenant, *, number="1001", email="ada@example.com", postcode="20121", **extra):
    with tenant_scope(tenant):
        return OrderFactory(
            tenant=tenant,
            order_number=number,
            customer_email=email,
            customer_name=extra.pop("name", "Ada Lovelace"),
            shipping_postcode=postcode,
            locale=extra.pop("locale", ""),
            line_items=extra.pop(
                "line_items",
                [{"title": "Blue teapot", "quantity": 2}, {"title": "Tea cosy", "quantity": 1}],
            ),
            placed_at=timezone.now() - timedelta(days=3),
            **extra,
        )


def make_shipment(tenant, order, *, number="TRK0001", events=None, **extra):
    with tenant_scope(tenant):
        shipment = ShipmentFactory(tenant=tenant, order=order, tracking_number=number, **extra)
        if events:
            record_events(shipment=shipment, events=events)
        shipment.refresh_from_db()
        return shipment


IN_TRANSIT = [
    ev(0, "info_received", description="Label printed", location="Milano, IT"),
    ev(
        5,
        "in_transit",
        "in_transit.picked_up",
        description="Parcel picked up",
        location="Milano, IT",
    ),
    ev(
        20,
        "in_transit",
        "in_transit.arrived_at_facility",
        description="Arrived at hub",
        location="Bologna, IT",
    ),
]


@pytest.fixture
def order_a(tenant_a):
    return make_order(tenant_a)


@pytest.fixture
def shipment_a(tenant_a, order_a):
    shipment = make_shipment(tenant_a, order_a, events=IN_TRANSIT)
    with tenant_scope(tenant_a):
        shipment.estimated_delivery = date.today() + timedelta(days=2)
        shipment.estimated_delivery_earliest = date.today() + timedelta(days=1)
        shipment.estimated_delivery_latest = date.today() + timedelta(days=3)
        shipment.estimated_delivery_source = "predicted"
        shipment.estimated_delivery_confidence = 0.85
        shipment.last_checked_at = timezone.now() - timedelta(minutes=8)
        shipment.save()
    return shipment


def page_url(tenant, token, suffix=""):
    return f"/t/{tenant.slug}/{token}/{suffix}"
