"""Merchant-made privacy requests through the API: export everything about a shopper, erase it.

Across every store of the tenant and orders pushed without a store, including what the other
apps hold (problem reports, agents' lookups and notes, cached pages); never another shopper's
or another tenant's data.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from dashboard.models import ShipmentNote, WismoContact
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory, ShopConnectionFactory
from tracking_pages import pagecache
from tracking_pages.models import ProblemReport
from wismo.tracking.models import Order, PrivacyRequest

pytestmark = pytest.mark.django_db

EMAIL = "ada@example.com"


@pytest.fixture
def shopper(tenant_a, tenant_b):
    """Ada's orders in two stores of tenant A and one pushed without a store; Bob's order in
    tenant A; and Ada's namesake order in tenant B."""
    with tenant_scope(tenant_a):
        stores = [ShopConnectionFactory(tenant=tenant_a, platform=p) for p in ("shopify", "csv")]
        ada = [
            OrderFactory(tenant=tenant_a, store=stores[0], customer_email=EMAIL),
            OrderFactory(tenant=tenant_a, store=stores[1], customer_email="ADA@example.com"),
            OrderFactory(tenant=tenant_a, store=None, customer_email=EMAIL),
        ]
        parcels = [ShipmentFactory(tenant=tenant_a, order=o) for o in ada]
        bob = OrderFactory(tenant=tenant_a, customer_email="bob@example.com", customer_name="Bob")
        bob_parcel = ShipmentFactory(tenant=tenant_a, order=bob)
        ProblemReport.objects.create(
            tenant=tenant_a,
            order=ada[0],
            shipment=parcels[0],
            kind="damaged",
            message="Box crushed, I am at Via Roma 1",
            reply="Sorry Ada, a new one is on its way",
        )
        WismoContact.objects.create(tenant=tenant_a, order=ada[1], channel="email", query=EMAIL)
        WismoContact.objects.create(
            tenant=tenant_a, order=None, channel="phone", query="Ada Shopper"
        )
        WismoContact.objects.create(tenant=tenant_a, order=bob, channel="phone", query="Bob")
        ShipmentNote.objects.create(tenant=tenant_a, shipment=parcels[2], body="Ada called twice")
        ShipmentNote.objects.create(tenant=tenant_a, shipment=bob_parcel, body="Bob is fine")
    with tenant_scope(tenant_b):
        other = OrderFactory(tenant=tenant_b, customer_email=EMAIL)
    return {"ada": ada, "parcels": parcels, "bob": bob, "other_tenant": other}


def test_an_export_holds_everything_about_the_shopper_in_every_store(api_a, shopper):
    response = api_a.post("/api/v1/privacy/exports/", {"email": EMAIL}, format="json")

    assert response.status_code == 201, response.content
    export = response.json()["export"]
    assert sorted(o["external_id"] for o in export["orders"]) == sorted(
        o.external_id for o in shopper["ada"]
    )
    assert {o["customer_email"].lower() for o in export["orders"]} == {EMAIL}
    assert all(o["shipments"] for o in export["orders"])
    assert export["tracking_pages"][0]["message"].startswith("Box crushed")
    assert export["tracking_pages"][0]["reply"].startswith("Sorry Ada")
    assert {c["query"] for c in export["dashboard"]["lookups"]} == {EMAIL, "Ada Shopper"}
    assert [n["body"] for n in export["dashboard"]["notes"]] == ["Ada called twice"]
    assert "bob" not in response.content.decode().lower()
    assert response.json()["summary"] == {"orders": 3, "shipments": 3}


def test_an_erasure_removes_the_shopper_everywhere_and_nobody_else(
    api_a, tenant_a, tenant_b, shopper
):
    keys = {
        "ada": f"{settings.WISMO_REDIS_PREFIX}:tp:page:order:{shopper['ada'][0].pk}:v:en:p:x",
        "ada parcel": (
            f"{settings.WISMO_REDIS_PREFIX}:tp:page:shipment:{shopper['parcels'][2].pk}:v:en:a:x"
        ),
        "bob": f"{settings.WISMO_REDIS_PREFIX}:tp:page:order:{shopper['bob'].pk}:v:en:p:x",
    }
    for key in keys.values():
        pagecache.put(key, b"<p>Ada Shopper, Via Roma 1</p>", 600)

    response = api_a.post("/api/v1/privacy/erasures/", {"email": EMAIL}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["summary"]["orders"] == 3
    with tenant_scope(tenant_a):
        for order in Order.objects.filter(pk__in=[o.pk for o in shopper["ada"]]):
            assert (order.customer_email, order.customer_name, order.shipping_postcode) == ("",) * 3
            assert all(s.destination_postcode == "" for s in order.shipments.all())
        report = ProblemReport.objects.get()
        assert (report.message, report.reply) == ("", "")
        assert sorted(WismoContact.objects.values_list("query", flat=True)) == ["", "", "Bob"]
        assert list(ShipmentNote.objects.values_list("body", flat=True)) == ["Bob is fine"]
        bob = Order.objects.get(pk=shopper["bob"].pk)
        assert (bob.customer_email, bob.customer_name) == ("bob@example.com", "Bob")
    with tenant_scope(tenant_b):
        assert Order.objects.get(pk=shopper["other_tenant"].pk).customer_email == EMAIL
    # This process's renderings of the shopper's pages are gone, Bob's stay.
    assert pagecache.get(keys["ada"]) is None and pagecache.get(keys["ada parcel"]) is None
    assert pagecache.get(keys["bob"]) is not None

    again = api_a.post("/api/v1/privacy/exports/", {"email": EMAIL}, format="json").json()
    assert again["export"]["orders"] == [] and again["export"]["dashboard"]["lookups"] == []


def test_an_erasure_by_order_id_alone_works(api_a, tenant_a, shopper):
    target = shopper["ada"][2]  # the order pushed without a store
    response = api_a.post(
        "/api/v1/privacy/erasures/", {"order_ids": [target.external_id]}, format="json"
    )
    assert response.status_code == 201
    with tenant_scope(tenant_a):
        assert Order.objects.get(pk=target.pk).customer_email == ""
        assert Order.objects.get(pk=shopper["ada"][0].pk).customer_email == EMAIL


@pytest.mark.parametrize(
    "body",
    [{}, {"email": ""}, {"email": "not an email"}, {"order_ids": "x"}, {"order_ids": [""] * 101}],
)
def test_a_request_that_names_nobody_is_400_and_changes_nothing(api_a, tenant_a, shopper, body):
    response = api_a.post("/api/v1/privacy/erasures/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"]
    with tenant_scope(tenant_a):
        assert not PrivacyRequest.objects.exists()
        assert Order.objects.filter(customer_email__iexact=EMAIL).count() == 3


def test_agent_keys_cannot_export_or_erase(agent_api_a, shopper):
    for url in ("/api/v1/privacy/exports/", "/api/v1/privacy/erasures/"):
        assert agent_api_a.post(url, {"email": EMAIL}, format="json").status_code == 403
