"""Carrier accounts through the API: write-only credentials, admin keys only, tenant-scoped."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.scoping import tenant_scope
from tests.factories import CarrierAccountFactory
from wismo.tracking.models import CarrierAccount

pytestmark = pytest.mark.django_db

SECRET = "ups-secret-never-returned"
ACCOUNT = {
    "carrier": "ups",
    "name": "UPS main",
    "credentials": {"client_id": "cid", "client_secret": SECRET},
}


def test_an_account_is_created_and_its_credentials_never_returned(api_a, tenant_a):
    response = api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert "credentials" not in body
    assert body["credentials_set"] == {"client_id": True, "client_secret": True}
    assert SECRET not in response.content.decode()
    assert SECRET not in api_a.get("/api/v1/carrier-accounts/").content.decode()
    assert SECRET not in api_a.get(f"/api/v1/carrier-accounts/{body['id']}/").content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM tracking_carrieraccount")
        assert SECRET not in cursor.fetchone()[0]  # encrypted at rest
    with tenant_scope(tenant_a):
        assert CarrierAccount.objects.get().credentials["client_secret"] == SECRET


def test_update_keeps_credentials_it_does_not_name(api_a, tenant_a):
    pk = api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json").json()["id"]

    response = api_a.patch(
        f"/api/v1/carrier-accounts/{pk}/",
        {"name": "UPS renamed", "is_active": False, "credentials": {"client_id": "cid2"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    with tenant_scope(tenant_a):
        account = CarrierAccount.objects.get()
    assert (account.name, account.is_active) == ("UPS renamed", False)
    assert account.credentials == {"client_id": "cid2", "client_secret": SECRET}


def test_the_carrier_of_an_account_cannot_change(api_a):
    pk = api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json").json()["id"]
    response = api_a.patch(f"/api/v1/carrier-accounts/{pk}/", {"carrier": "dhl"}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"carrier": "teleport"},
        {"name": ""},
        {"credentials": "text"},
        {"credentials": {"client_id": "only-one"}},
        {"credentials": {"client_id": "a", "client_secret": "b", "x": {"nested": 1}}},
    ],
)
def test_invalid_accounts_are_400_and_nothing_is_created(api_a, tenant_a, change):
    response = api_a.post("/api/v1/carrier-accounts/", {**ACCOUNT, **change}, format="json")
    assert response.status_code == 400, response.content
    with tenant_scope(tenant_a):
        assert not CarrierAccount.objects.exists()


def test_a_duplicate_name_is_400(api_a):
    api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json")
    response = api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json")
    assert response.status_code == 400


def test_agent_keys_are_refused_even_to_read(agent_api_a):
    assert agent_api_a.get("/api/v1/carrier-accounts/").status_code == 403
    assert agent_api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json").status_code == 403


def test_no_key_is_refused(client):
    assert client.get("/api/v1/carrier-accounts/").status_code in (401, 403)


def test_another_tenants_account_is_404(api_b, tenant_a):
    with tenant_scope(tenant_a):
        account = CarrierAccountFactory(tenant=tenant_a, carrier="dhl", name="DHL A")
    url = f"/api/v1/carrier-accounts/{account.pk}/"
    assert api_b.get(url).status_code == 404
    assert api_b.patch(url, {"name": "stolen"}, format="json").status_code == 404
    assert api_b.delete(url).status_code == 404
    assert "DHL A" not in api_b.get("/api/v1/carrier-accounts/").content.decode()
    with tenant_scope(tenant_a):
        assert CarrierAccount.objects.get().name == "DHL A"


def test_an_account_is_deleted(api_a, tenant_a):
    pk = api_a.post("/api/v1/carrier-accounts/", ACCOUNT, format="json").json()["id"]
    assert api_a.delete(f"/api/v1/carrier-accounts/{pk}/").status_code == 204
    with tenant_scope(tenant_a):
        assert not CarrierAccount.objects.exists()


def test_a_non_numeric_id_is_404(api_a):
    assert api_a.get("/api/v1/carrier-accounts/abc/").status_code == 404
