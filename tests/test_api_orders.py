"""REST API orders for custom shops: pushed with their parcels, idempotent, tenant-scoped."""

from __future__ import annotations

import pytest

from tenants.scoping import tenant_scope
from wismo.tracking.models import Order, Shipment

pytestmark = pytest.mark.django_db

ORDER = {
    "order_number": "A-1001",
    "customer_email": "ada@example.com",
    "customer_name": "Ada",
    "locale": "it",
    "shipping_country": "it",
    "shipping_postcode": "20121",
    "line_items": [{"title": "Boots", "quantity": 2, "sku": "B-1", "price": "49.90"}],
    "shipments": [
        {"tracking_number": "1Z5R89390357567127"},
        {"tracking_number": "OWN-1", "carrier": "manual"},
    ],
}


def test_an_order_is_created_with_its_parcels(api_a, tenant_a):
    response = api_a.post("/api/v1/orders/", ORDER, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["order_number"] == "A-1001" and body["shipping_country"] == "IT"
    assert sorted((s["carrier"], s["tracking_number"]) for s in body["shipments"]) == [
        ("manual", "OWN1"),
        ("ups", "1Z5R89390357567127"),
    ]
    assert body["line_items"][0]["price"] == "49.90"


def test_sending_it_again_updates_instead_of_duplicating(api_a, tenant_a):
    api_a.post("/api/v1/orders/", ORDER, format="json")
    again = api_a.post("/api/v1/orders/", {**ORDER, "customer_name": "Ada L."}, format="json")
    assert again.status_code == 200
    with tenant_scope(tenant_a):
        assert Order.objects.get().customer_name == "Ada L."
        assert Shipment.objects.count() == 2


def test_the_idempotency_key_names_the_order(api_a, tenant_a):
    first = api_a.post("/api/v1/orders/", ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api_a.post(
        "/api/v1/orders/",
        {**ORDER, "order_number": "A-1001-bis"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"order_number": ""}, "order_number"),
        ({"customer_email": "nope"}, "customer_email"),
        ({"locale": "klingon"}, "locale"),
        ({"shipments": [{"carrier": "ups"}]}, "shipments"),
        ({"line_items": [{"quantity": 0, "title": "x"}]}, "line_items"),
        ({"shipments": [{"tracking_number": "X"}] * 51}, "shipments"),
    ],
)
def test_invalid_orders_are_400_and_store_nothing(api_a, tenant_a, change, field):
    response = api_a.post("/api/v1/orders/", {**ORDER, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    with tenant_scope(tenant_a):
        assert not Order.objects.exists()


def test_a_bad_parcel_number_is_reported_and_the_order_kept(api_a):
    response = api_a.post(
        "/api/v1/orders/",
        {**ORDER, "shipments": [{"tracking_number": "<x>", "carrier": "manual"}]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["problems"]


def test_orders_are_listed_and_read_only_within_the_tenant(api_a, api_b):
    order_id = api_a.post("/api/v1/orders/", ORDER, format="json").json()["id"]
    assert [o["id"] for o in api_a.get("/api/v1/orders/").json()["results"]] == [order_id]
    assert api_a.get(f"/api/v1/orders/{order_id}/").status_code == 200
    assert api_b.get("/api/v1/orders/").json()["results"] == []
    missing = api_b.get("/api/v1/orders/999999/")
    assert api_b.get(f"/api/v1/orders/{order_id}/").json() == missing.json()
    assert missing.status_code == 404


def test_agent_keys_cannot_push_orders(agent_api_a):
    assert agent_api_a.post("/api/v1/orders/", ORDER, format="json").status_code == 403
