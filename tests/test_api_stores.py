"""Stores through the API: secrets are write-only and encrypted, admin keys only, tenant-scoped."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.scoping import tenant_scope
from wismo.tracking.models import ShopConnection

pytestmark = pytest.mark.django_db

STORE = {
    "platform": "shopify",
    "name": "Alpine",
    "shop_url": "https://alpine.myshopify.com",
    "credentials": {"access_token": "shpat_very_secret"},
    "webhook_secret": "whsec_very_secret",
}


def test_a_store_is_created_and_its_secrets_never_shown_again(api_a, tenant_a):
    response = api_a.post("/api/v1/stores/", STORE, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "credentials" not in body and "webhook_secret" not in body
    assert body["has_credentials"] and body["has_webhook_secret"]
    assert body["webhook_url"].endswith(f"/hooks/shopify/{body['id']}/")
    listed = api_a.get("/api/v1/stores/").content.decode()
    assert "very_secret" not in listed
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, webhook_secret FROM tracking_shopconnection")
        assert all("very_secret" not in value for value in cursor.fetchone())
    with tenant_scope(tenant_a):
        assert ShopConnection.objects.get().credentials == {"access_token": "shpat_very_secret"}


def test_a_partial_update_keeps_secrets_it_does_not_name(api_a, tenant_a):
    store_id = api_a.post("/api/v1/stores/", STORE, format="json").json()["id"]
    response = api_a.patch(f"/api/v1/stores/{store_id}/", {"name": "Alpine Outlet"}, format="json")
    assert response.status_code == 200
    with tenant_scope(tenant_a):
        store = ShopConnection.objects.get()
    assert (store.name, store.webhook_secret) == ("Alpine Outlet", "whsec_very_secret")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"platform": "amazon"}, "platform"),
        ({"shop_url": "http://plain.example"}, "shop_url"),
        ({"credentials": "token"}, "credentials"),
        ({"credentials": {"a": {"nested": 1}}}, "credentials"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_stores_are_400(api_a, change, field):
    response = api_a.post("/api/v1/stores/", {**STORE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_agent_keys_see_no_settings(agent_api_a):
    assert agent_api_a.get("/api/v1/stores/").status_code == 403


def test_another_tenants_store_is_404_for_every_method(api_a, api_b):
    store_id = api_a.post("/api/v1/stores/", STORE, format="json").json()["id"]
    missing = api_b.get("/api/v1/stores/999999/")
    for method in ("get", "patch", "delete"):
        response = getattr(api_b, method)(f"/api/v1/stores/{store_id}/", {}, format="json")
        assert response.status_code == 404 and response.json() == missing.json()
    assert api_b.get("/api/v1/stores/").json() == []
    assert api_a.get(f"/api/v1/stores/{store_id}/").status_code == 200
