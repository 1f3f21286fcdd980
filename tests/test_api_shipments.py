"""REST API v1: shipments, their timelines and the manual carrier's events."""

from __future__ import annotations

import pytest

from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory
from wismo.tracking.models import Order, Shipment

pytestmark = pytest.mark.django_db


def create(client, **fields):
    return client.post("/api/v1/shipments/", fields, format="json")


def test_creating_a_shipment_returns_its_representation(api_a, tenant_a):
    response = create(
        api_a,
        tracking_number="own-123 45",
        carrier="manual",
        order_number="1001",
        customer_email="ada@example.com",
        customer_name="Ada",
        locale="it",
        destination_country="it",
        destination_postcode="20121",
        shipped_at="2026-11-20T10:00:00+01:00",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tracking_number"] == "OWN12345"
    assert body["carrier"] == "manual"
    assert (body["status"], body["substatus"]) == ("pending", "pending.awaiting_carrier")
    assert body["order_number"] == "1001"
    assert body["destination_country"] == "IT"
    assert body["estimated_delivery"] is None and body["estimated_delivery_range"] is None
    assert body["tracking_url"].endswith(
        f"/t/{tenant_a.slug}/{Shipment.objects.with_scope(tenant=tenant_a.pk).get().public_token}/"
    )
    assert body["events"] == []
    with tenant_scope(tenant_a):
        order = Order.objects.get()
    assert (order.customer_email, order.locale, order.shipping_country) == (
        "ada@example.com",
        "it",
        "IT",
    )


def test_creating_the_same_shipment_again_returns_it_unchanged(api_a):
    first = create(api_a, tracking_number="OWN1", carrier="manual")
    again = create(api_a, tracking_number="own-1", carrier="manual")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "tracking_number"),
        ({"tracking_number": "", "carrier": "manual"}, "tracking_number"),
        ({"tracking_number": "ABC<script>", "carrier": "manual"}, "tracking_number"),
        ({"tracking_number": "A" * 101, "carrier": "manual"}, "tracking_number"),
        ({"tracking_number": "ABC123", "carrier": "pigeon-post"}, "carrier"),
        ({"tracking_number": "ABC123"}, "carrier"),
        (
            {"tracking_number": "ABC123", "carrier": "manual", "customer_email": "not-an-email"},
            "customer_email",
        ),
        ({"tracking_number": "ABC123", "carrier": "manual", "locale": "xx"}, "locale"),
        (
            {"tracking_number": "ABC123", "carrier": "manual", "destination_country": "Italy"},
            "destination_country",
        ),
        (
            {"tracking_number": "ABC123", "carrier": "manual", "shipped_at": "yesterday"},
            "shipped_at",
        ),
        ({"tracking_number": ["A"], "carrier": "manual"}, "tracking_number"),
    ],
)
def test_invalid_input_gets_a_400_naming_the_field_and_stores_nothing(
    api_a, tenant_a, payload, field
):
    response = create(api_a, **payload)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert Shipment.objects.with_scope(tenant=tenant_a.pk).count() == 0


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"string"', b"null"])
def test_malformed_bodies_get_a_400(api_a, body):
    response = api_a.post("/api/v1/shipments/", body, content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.json()


def test_unsupported_media_type_gets_a_415(api_a):
    response = api_a.post(
        "/api/v1/shipments/", "tracking_number=1", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_the_list_filters_by_status_carrier_and_search(api_a, tenant_a):
    with tenant_scope(tenant_a):
        delivered = ShipmentFactory(tenant=tenant_a, status="delivered", tracking_number="DLV1")
        moving = ShipmentFactory(
            tenant=tenant_a, status="in_transit", carrier="sandbox", tracking_number="MOV1"
        )

    def ids(query):
        response = api_a.get(f"/api/v1/shipments/{query}")
        assert response.status_code == 200, response.content
        return {s["id"] for s in response.json()["results"]}

    assert ids("") == {delivered.pk, moving.pk}
    assert ids("?status=delivered") == {delivered.pk}
    assert ids("?carrier=sandbox") == {moving.pk}
    assert ids("?q=dlv-1") == {delivered.pk}
    assert ids(f"?q={moving.order.order_number}") == {moving.pk}
    assert ids(f"?q={moving.order.customer_email.upper()}") == {moving.pk}


def test_an_unknown_status_filter_is_a_400(api_a):
    response = api_a.get("/api/v1/shipments/?status=teleported")
    assert response.status_code == 400
    assert "status" in response.json()["error"]["fields"]


def test_the_list_is_keyset_paginated_without_gaps_or_repeats(api_a, tenant_a):
    with tenant_scope(tenant_a):
        created = {ShipmentFactory(tenant=tenant_a).pk for _ in range(7)}
    seen, url, pages = [], "/api/v1/shipments/?page_size=3", 0
    while url:
        body = api_a.get(url).json()
        seen += [s["id"] for s in body["results"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))


def test_a_bad_cursor_is_a_404_not_a_500(api_a):
    response = api_a.get("/api/v1/shipments/?cursor=garbage")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_ids_are_404_in_the_error_shape(api_a):
    for url in ("/api/v1/shipments/999999/", "/api/v1/shipments/abc/", "/api/v1/nothing-here/"):
        response = api_a.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


def test_manual_events_flow_like_carrier_events(api_a):
    shipment_id = create(api_a, tracking_number="FLEET1", carrier="manual").json()["id"]
    url = f"/api/v1/shipments/{shipment_id}/events/"

    first = api_a.post(
        url,
        {
            "occurred_at": "2026-11-20T09:00:00+01:00",
            "status": "out_for_delivery",
            "description": "With our driver",
            "location": "Milano",
        },
        format="json",
    )
    second = api_a.post(
        url,
        {
            "occurred_at": "2026-11-20T12:30:00+01:00",
            "status": "delivered",
            "substatus": "delivered.neighbor",
            "description": "Left with the neighbour",
        },
        format="json",
    )

    assert first.status_code == second.status_code == 201, second.content
    body = second.json()
    assert (body["status"], body["substatus"]) == ("delivered", "delivered.neighbor")
    assert body["delivered_at"] == "2026-11-20T11:30:00Z"
    assert [e["status"] for e in body["events"]] == ["delivered", "out_for_delivery"]
    assert all(e["source"] == "manual" for e in body["events"])
    timeline = api_a.get(url).json()
    assert [e["description"] for e in timeline] == ["Left with the neighbour", "With our driver"]


def test_times_without_offset_are_read_in_the_tenants_time_zone(api_a, tenant_a):
    tenant_a.timezone = "Europe/Rome"
    tenant_a.save()
    shipment_id = create(api_a, tracking_number="FLEET2", carrier="manual").json()["id"]
    api_a.post(
        f"/api/v1/shipments/{shipment_id}/events/",
        {"occurred_at": "2026-11-20T09:00:00", "status": "in_transit", "description": "Loaded"},
        format="json",
    )
    event = api_a.get(f"/api/v1/shipments/{shipment_id}/events/").json()[0]
    assert event["occurred_at"] == "2026-11-20T09:00:00+01:00"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "delivered", "description": "x"}, "occurred_at"),
        ({"occurred_at": "2026-11-20T09:00:00Z", "status": "beamed", "description": "x"}, "status"),
        (
            {"occurred_at": "2026-11-20T09:00:00Z", "status": "expired", "description": "x"},
            "status",
        ),
        (
            {
                "occurred_at": "2026-11-20T09:00:00Z",
                "status": "delivered",
                "substatus": "exception.lost",
                "description": "x",
            },
            "substatus",
        ),
        (
            {"occurred_at": "2999-01-01T00:00:00Z", "status": "delivered", "description": "x"},
            "occurred_at",
        ),
        ({"occurred_at": "2026-11-20T09:00:00Z", "status": "delivered"}, "description"),
    ],
)
def test_invalid_manual_events_are_refused(api_a, payload, field):
    shipment_id = create(api_a, tracking_number="FLEET3", carrier="manual").json()["id"]
    response = api_a.post(f"/api/v1/shipments/{shipment_id}/events/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert api_a.get(f"/api/v1/shipments/{shipment_id}/events/").json() == []


def test_events_cannot_be_posted_for_a_carrier_tracked_shipment(api_a, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="sandbox")
    response = api_a.post(
        f"/api/v1/shipments/{shipment.pk}/events/",
        {"occurred_at": "2026-11-20T09:00:00Z", "status": "delivered", "description": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "manual" in response.json()["error"]["fields"]["non_field_errors"][0]


def test_the_openapi_schema_and_docs_are_served_locally(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/shipments/" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_the_carrier_is_detected_from_a_confident_number(api_a):
    response = create(api_a, tracking_number="1Z5R89390357567127")
    assert response.status_code == 201, response.content
    assert response.json()["carrier"] == "ups"


def test_a_number_that_fits_carriers_only_weakly_must_be_named(api_a):
    response = create(api_a, tracking_number="123456789012345678")  # 18 bare digits, no check fits
    assert response.status_code == 400
    assert "carrier" in response.json()["error"]["fields"]


def test_the_written_out_representation_equals_drfs_generic_one(tenant_a):
    """ShipmentSerializer.to_representation is hand-written for speed: it must give exactly
    what DRF's generic field walk gives, for full and for sparse shipments, and subclasses'
    extra fields still appear."""
    from datetime import UTC, date, datetime

    from rest_framework import serializers as drf

    from wismo.api.serializers import ShipmentDetailSerializer, ShipmentSerializer

    with tenant_scope(tenant_a):
        sparse = ShipmentFactory(tenant=tenant_a, order=None)
        full = ShipmentFactory(
            tenant=tenant_a,
            status="in_transit",
            substatus="in_transit.on_the_way",
            estimated_delivery=date(2026, 11, 30),
            estimated_delivery_earliest=date(2026, 11, 29),
            estimated_delivery_latest=date(2026, 12, 1),
            estimated_delivery_source="carrier",
            estimated_delivery_confidence=0.8,
            shipped_at=datetime(2026, 11, 20, 9, 30, 1, 123456, tzinfo=UTC),
            last_event_at=datetime(2026, 11, 21, 10, 0, tzinfo=UTC),
            destination_country="IT",
            last_error="boom",
            replaces=sparse,
        )
        for shipment in (sparse, full):
            shipment = Shipment.objects.select_related("order", "tenant").get(pk=shipment.pk)
            serializer = ShipmentSerializer()
            generic = drf.ModelSerializer.to_representation(serializer, shipment)
            fast = serializer.to_representation(shipment)
            assert list(fast.items()) == list(generic.items())
            detail = ShipmentDetailSerializer(shipment).data
            assert list(detail)[: len(fast)] == list(fast) and "events" in detail


def test_the_list_costs_the_same_queries_for_one_row_or_many(api_a, tenant_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_scope(tenant_a):
        ShipmentFactory(tenant=tenant_a)
    api_a.get("/api/v1/shipments/")  # warm: the key's last-used stamp
    with CaptureQueriesContext(connection) as one:
        assert api_a.get("/api/v1/shipments/").status_code == 200
    with tenant_scope(tenant_a):
        ShipmentFactory.create_batch(20, tenant=tenant_a)
    with CaptureQueriesContext(connection) as many:
        body = api_a.get("/api/v1/shipments/").json()
    assert len(body["results"]) == 21
    assert all(r["tracking_url"].startswith("http") for r in body["results"])
    assert len(many.captured_queries) == len(one.captured_queries)


def test_the_list_rows_are_exactly_the_serializers_representation(api_a, tenant_a):
    """The list reads value rows, not models: each row must still be what ShipmentSerializer
    gives for that shipment, for a full and a sparse one (no order, no dates)."""
    from datetime import UTC, date, datetime

    from wismo.api.serializers import ShipmentSerializer

    with tenant_scope(tenant_a):
        sparse = ShipmentFactory(tenant=tenant_a, order=None)
        ShipmentFactory(
            tenant=tenant_a,
            status="in_transit",
            estimated_delivery=date(2026, 11, 30),
            estimated_delivery_earliest=date(2026, 11, 29),
            estimated_delivery_latest=date(2026, 12, 1),
            estimated_delivery_confidence=0.5,
            shipped_at=datetime(2026, 11, 20, 9, 30, 1, 123456, tzinfo=UTC),
            destination_country="DE",
            replaces=sparse,
        )
    rows = api_a.get("/api/v1/shipments/").json()["results"]
    assert len(rows) == 2
    with tenant_scope(tenant_a):
        for row in rows:
            shipment = Shipment.objects.select_related("order", "tenant").get(pk=row["id"])
            assert list(row.items()) == list(ShipmentSerializer(shipment).data.items())


def test_each_filterset_has_its_own_filters_bound_to_itself(tenant_a):
    """ShipmentFilter copies its declared filters shallowly: each instance's method filters
    must still call that instance (its request, its time zone), never another's."""
    from django.http import QueryDict

    from wismo.tracking.filters import ShipmentFilter

    with tenant_scope(tenant_a):
        one = ShipmentFilter(QueryDict("created_from=2026-01-01"), Shipment.objects.all())
        two = ShipmentFilter(QueryDict("created_to=2026-01-01"), Shipment.objects.all())
        for name in ("created_from", "q", "status"):
            assert one.filters[name] is not two.filters[name]
            assert one.filters[name].parent is one and two.filters[name].parent is two
        assert one.filters["created_from"].filter.f is one.filters["created_from"]
        assert ShipmentFilter.base_filters["created_from"].__dict__.get("parent") is None
        assert one.is_valid() and two.is_valid()
        assert 'created_at" >=' in str(one.qs.query) and 'created_at" <' in str(two.qs.query)
