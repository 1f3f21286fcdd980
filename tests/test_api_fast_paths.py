"""The API list's fast paths give exactly what the plain paths gave: the orjson renderer writes
DRF's JSON, the combined filter selects what one-filter-at-a-time selected, the per-tenant base
query never crosses tenants, and the Redis cache reuses its client."""

from __future__ import annotations

import decimal
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import django_filters
import pytest
from django.conf import settings
from django.core.cache import caches
from django.http import QueryDict
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory, ShopConnectionFactory
from wismo.api.renderers import JSONRenderer
from wismo.api.serializers import SHIPMENT_ROW_FIELDS
from wismo.tracking import selectors
from wismo.tracking.filters import ShipmentFilter

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "document",
    [
        {"a": 1, "b": [1.5, None, True, "x"], "c": {"d": "é ü 東京"}},
        {"when": datetime(2026, 12, 6, 18, 0, 1, 123456, tzinfo=UTC), "day": date(2026, 12, 6)},
        {"price": decimal.Decimal("12.30"), "id": uuid.UUID(int=7)},
        {"line": "a\u2028b\u2029c", "lazy": gettext_lazy("Delivered")},
        {1: "int key", "nested": [{"x": [[]]}]},
        {"big": 2**70},  # beyond orjson's 64 bits: DRF's own path
        [],
        "plain",
    ],
)
def test_the_renderer_writes_the_same_bytes_as_drf(document):
    assert JSONRenderer().render(document) == DrfJSONRenderer().render(document)


def test_the_renderer_keeps_drfs_indent_and_empty_body():
    assert JSONRenderer().render(None) == b""
    pretty = JSONRenderer().render({"a": [1]}, "application/json; indent=2")
    assert pretty == DrfJSONRenderer().render({"a": [1]}, "application/json; indent=2")


@pytest.fixture
def mixed(tenant_a):
    """Parcels that differ in every filtered column."""
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(tenant=tenant_a)
        order = OrderFactory(tenant=tenant_a, order_number="A-77", customer_email="x@y.test")
        statuses = ["in_transit", "exception", "delivered", "pending"]
        for n in range(16):
            ShipmentFactory(
                tenant=tenant_a,
                carrier=["dhl", "ups"][n % 2],
                status=statuses[n % 4],
                substatus=f"{statuses[n % 4]}.x" if n % 3 == 0 else "",
                destination_country=["IT", "FR"][n % 3 == 1],
                is_delayed=n % 5 == 0,
                is_stalled=n % 7 == 0,
                action_required=n % 4 == 1,
                is_active=n % 6 != 0,
                store=store if n % 2 else None,
                order=order if n == 3 else None,
                shipped_at=T0 - timedelta(days=n) if n % 2 else None,
                created_at=T0 + timedelta(days=n),
            )
    return store


FILTER_VALUES = {
    "status": ["", "exception", "delivered"],
    "carrier": ["", "dhl"],
    "exception": ["", "true", "false"],
    "created_from": ["", "2026-11-05", "0001-01-01"],
    "created_to": ["", "2026-11-12", "9999-12-31"],
    "destination_country": ["", "fr "],
    "delayed": ["", "false"],
    "action_required": ["", "true"],
    "shipped_from": ["", "2026-10-25"],
}


def _queries():
    names = list(FILTER_VALUES)
    for pair in itertools.combinations(names, 2):
        for values in itertools.product(*(FILTER_VALUES[n] for n in pair)):
            yield dict(zip(pair, values, strict=True))
    yield {"q": "A-77", "active": "true", "stalled": "false", "substatus": "exception.x"}


def test_the_combined_filter_selects_what_filters_one_by_one_did(tenant_a, mixed):
    checked = 0
    with tenant_scope(tenant_a):
        for query in _queries():
            data = QueryDict(mutable=True)
            data.update(query)
            data["store"] = str(mixed.pk) if checked % 3 == 0 else ""
            filters = ShipmentFilter(data=data, queryset=selectors.shipment_list())
            assert filters.is_valid(), (query, filters.errors)
            combined = set(filters.qs.values_list("pk", flat=True))
            one_by_one = django_filters.FilterSet.filter_queryset(
                filters, selectors.shipment_list()
            )
            assert combined == set(one_by_one.values_list("pk", flat=True)), query
            checked += 1
    assert checked > 100


def test_the_cached_base_rows_stay_in_their_tenant(tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        mine = ShipmentFactory(tenant=tenant_a)
    with tenant_scope(tenant_b):
        theirs = ShipmentFactory(tenant=tenant_b)
    for _ in range(2):  # the second round reads the cached bases
        with tenant_scope(tenant_a):
            rows = selectors.shipment_rows(fields=SHIPMENT_ROW_FIELDS)
            assert [r["id"] for r in rows.filter(carrier=mine.carrier)] == [mine.pk]
        with tenant_scope(tenant_b):
            assert [r["id"] for r in selectors.shipment_rows(fields=("id",))] == [theirs.pk]
    with tenant_scope(tenant_a):
        clone = selectors.shipment_rows(fields=SHIPMENT_ROW_FIELDS)
        assert clone is not selectors.shipment_rows(fields=SHIPMENT_ROW_FIELDS)


@pytest.mark.skipif(not getattr(settings, "REDIS_URL", ""), reason="needs Redis (REDIS_URL)")
def test_the_redis_cache_reuses_one_client():
    cache = caches["default"]
    cache.set("wismo-test:reuse", {"n": 1}, 30)
    first = cache._cache.get_client()
    assert cache.get("wismo-test:reuse") == {"n": 1}
    assert cache._cache.get_client() is first
    assert cache._cache.get_client(write=True) is first  # one server: one pool, one client
    cache.delete("wismo-test:reuse")
