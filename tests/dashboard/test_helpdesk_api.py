"""The API's lookups: ``/api/v1/lookup/?q=`` and the helpdesk sidebar's ``/api/v1/helpdesk/lookup/``."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from dashboard.models import WismoContact
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory

pytestmark = pytest.mark.django_db


def contacts(tenant):
    with tenant_scope(tenant):
        return list(WismoContact.objects.order_by("id"))


# --- /api/v1/lookup/ ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["tracking_number", "order_number", "email", "name"])
def test_lookup_finds_a_shipment_by_each_key(agent_api_a, shipment_a, key):
    q = {
        "tracking_number": shipment_a.tracking_number,
        "order_number": "1001",
        "email": "ada@example.com",
        "name": "Lovelace",
    }[key]

    response = agent_api_a.get("/api/v1/lookup/", {"q": q})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    [result] = body["results"]
    assert result["id"] == shipment_a.pk
    assert result["tracking_number"] == shipment_a.tracking_number
    assert result["order_number"] == "1001"
    assert result["tracking_url"].endswith(f"/t/alpha/{shipment_a.public_token}/")
    assert {"status", "substatus", "estimated_delivery", "estimated_delivery_range"} <= set(result)


def test_lookup_counts_one_api_contact(agent_api_a, tenant_a, shipment_a):
    agent_api_a.get("/api/v1/lookup/", {"q": "1001"})
    agent_api_a.get("/api/v1/lookup/", {"q": "1001"})

    [contact] = contacts(tenant_a)
    assert (contact.channel, contact.query, contact.shipment_id, contact.user_id) == (
        "api",
        "1001",
        shipment_a.pk,
        None,
    )


def test_lookup_with_nothing_found_is_an_empty_list(api_a, tenant_a, shipment_a):
    response = api_a.get("/api/v1/lookup/", {"q": "nothing-like-this"})

    assert response.json() == {"count": 0, "results": []}
    assert contacts(tenant_a) == []


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}])
def test_lookup_refuses_a_missing_or_too_long_query(api_a, tenant_a, shipment_a, params):
    response = api_a.get("/api/v1/lookup/", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "q" in error["fields"]
    assert contacts(tenant_a) == []


def test_lookup_of_another_tenant_finds_nothing(api_b, tenant_a, shipment_a):
    for q in (shipment_a.tracking_number, "1001", "ada@example.com", "Lovelace"):
        assert api_b.get("/api/v1/lookup/", {"q": q}).json() == {"count": 0, "results": []}
    assert contacts(tenant_a) == []


def test_lookup_needs_a_key(shipment_a):
    response = APIClient().get("/api/v1/lookup/", {"q": "1001"})

    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_lookup_is_read_only(api_a, shipment_a):
    assert api_a.post("/api/v1/lookup/", {"q": "1001"}, format="json").status_code == 405


# --- /api/v1/helpdesk/lookup/ ---------------------------------------------------------------


def test_helpdesk_lookup_by_email_gives_the_ready_reply(agent_api_a, tenant_a, shipment_a):
    response = agent_api_a.get("/api/v1/helpdesk/lookup/", {"email": "Ada@Example.com"})

    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert result["id"] == shipment_a.pk
    reply = result["reply"]
    assert reply["language"] == "en"
    assert reply["tracking_url"].endswith(f"/t/alpha/{shipment_a.public_token}/")
    assert reply["tracking_url"] in reply["text"]
    assert "Hi Ada," in reply["text"]
    assert "Status: In transit." in reply["text"]


def test_helpdesk_lookup_by_order_number_in_the_shoppers_language(agent_api_a, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=OrderFactory(tenant=tenant_a, order_number="FR-9", locale="fr"),
            status="out_for_delivery",
            substatus="out_for_delivery.out_for_delivery",
        )

    response = agent_api_a.get("/api/v1/helpdesk/lookup/", {"order_number": "#FR-9"})

    [result] = response.json()["results"]
    assert result["id"] == shipment.pk
    assert result["reply"]["language"] == "fr"
    assert "En cours de livraison" in result["reply"]["text"]


def test_helpdesk_lookup_with_both_keys_needs_both_to_match(agent_api_a, shipment_a):
    mismatch = agent_api_a.get(
        "/api/v1/helpdesk/lookup/", {"email": "ada@example.com", "order_number": "9999"}
    )
    match = agent_api_a.get(
        "/api/v1/helpdesk/lookup/", {"email": "ada@example.com", "order_number": "1001"}
    )

    assert mismatch.json()["count"] == 0
    assert match.json()["count"] == 1


def test_helpdesk_lookup_counts_one_helpdesk_contact(agent_api_a, tenant_a, shipment_a):
    for _ in range(3):
        agent_api_a.get("/api/v1/helpdesk/lookup/", {"email": "ada@example.com"})

    [contact] = contacts(tenant_a)
    assert (contact.channel, contact.query, contact.shipment_id) == (
        "helpdesk",
        "ada@example.com",
        shipment_a.pk,
    )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"email": ""},
        {"email": "not-an-email"},
        {"order_number": "x" * 101},
        {"email": "a" * 250 + "@example.com"},
    ],
)
def test_helpdesk_lookup_refuses_bad_input(agent_api_a, tenant_a, shipment_a, params):
    response = agent_api_a.get("/api/v1/helpdesk/lookup/", params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert contacts(tenant_a) == []


def test_helpdesk_lookup_of_another_tenant_finds_nothing(api_b, tenant_a, shipment_a):
    response = api_b.get("/api/v1/helpdesk/lookup/", {"email": "ada@example.com"})

    assert response.json() == {"count": 0, "results": []}
    assert contacts(tenant_a) == []


def test_helpdesk_lookup_needs_a_valid_key(shipment_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")

    response = client.get("/api/v1/helpdesk/lookup/", {"email": "ada@example.com"})

    assert response.status_code in (401, 403)


def test_the_schema_describes_both_lookups(client):
    response = client.get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    lookup = schema["paths"]["/api/v1/lookup/"]["get"]
    assert [(p["name"], p["required"]) for p in lookup["parameters"]] == [("q", True)]
    assert {"200", "400", "401"} <= set(lookup["responses"])
    error = lookup["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/LookupError")
    helpdesk = schema["paths"]["/api/v1/helpdesk/lookup/"]["get"]
    assert {p["name"] for p in helpdesk["parameters"]} == {"email", "order_number"}
    components = schema["components"]["schemas"]
    assert "reply" in components["HelpdeskShipment"]["properties"]
    assert set(components["Reply"]["properties"]) == {"language", "text", "tracking_url"}


def test_helpdesk_lookup_finds_an_email_stored_in_another_case(agent_api_a, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(
            tenant=tenant_a, order=OrderFactory(tenant=tenant_a, customer_email="Zoe@Example.COM")
        )

    response = agent_api_a.get("/api/v1/helpdesk/lookup/", {"email": "zoe@example.com"})

    assert [r["id"] for r in response.json()["results"]] == [shipment.pk]
