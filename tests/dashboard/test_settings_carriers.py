"""Carrier account settings: add, edit with write-only credentials, test, activate, priority."""

from __future__ import annotations

import pytest

from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import CarrierAccountFactory
from tests.fakes.carrier_server import Reply
from wismo.tracking.models import CarrierAccount

pytestmark = pytest.mark.django_db

SECRET = "dhl-key-never-shown-991"


@pytest.fixture
def account_a(tenant_a):
    with tenant_scope(tenant_a):
        return CarrierAccountFactory(
            tenant=tenant_a, carrier="dhl", name="DHL main", credentials={"api_key": SECRET}
        )


def _account(tenant, pk):
    with tenant_scope(tenant):
        return CarrierAccount.objects.get(pk=pk)


def test_the_list_shows_accounts_and_which_keys_are_set_never_the_values(admin_client, account_a):
    html = admin_client.get("/dashboard/settings/carriers/").content.decode()

    assert "DHL main" in html
    assert "api_key: set" in html
    assert SECRET not in html


def test_the_carrier_choice_labels_the_sandbox_as_simulated(admin_client):
    html = admin_client.get("/dashboard/settings/carriers/new/").content.decode()
    assert "Sandbox (simulated carrier)" in html
    html = admin_client.get("/dashboard/settings/carriers/new/?carrier=sandbox").content.decode()
    assert "simulated carrier for demos" in html


def test_the_add_form_asks_for_the_adapters_credential_fields(admin_client):
    html = admin_client.get("/dashboard/settings/carriers/new/?carrier=ups").content.decode()
    assert 'name="cred_client_id"' in html and 'name="cred_client_secret"' in html
    assert 'type="password"' in html


def test_adding_an_account_stores_credentials_and_never_shows_them(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/carriers/new/",
        {"carrier": "dhl", "name": "DHL EU", "cred_api_key": "fresh-secret-1", "is_active": "on"},
    )

    assert response.status_code == 302
    with tenant_scope(tenant_a):
        account = CarrierAccount.objects.get(name="DHL EU")
    assert account.credentials == {"api_key": "fresh-secret-1"}
    html = admin_client.get(response["Location"]).content.decode()
    assert "fresh-secret-1" not in html and "Set." in html


@pytest.mark.parametrize(
    "data",
    [
        {"carrier": "nope", "name": "X"},
        {"carrier": "dhl", "name": "", "cred_api_key": "k"},
        {"carrier": "dhl", "name": "No key"},
        {"carrier": "dhl", "name": "Bad base", "cred_api_key": "k", "base_url": "ftp://x"},
        {"carrier": "dhl", "name": "Inner", "cred_api_key": "k", "base_url": "http://10.0.0.1"},
    ],
)
def test_bad_carrier_input_is_a_400_and_creates_nothing(admin_client, tenant_a, data):
    response = admin_client.post("/dashboard/settings/carriers/new/", data)
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not CarrierAccount.objects.exists()


def test_a_duplicate_name_is_a_400(admin_client, account_a):
    response = admin_client.post(
        "/dashboard/settings/carriers/new/",
        {"carrier": "dhl", "name": "DHL main", "cred_api_key": "k"},
    )
    assert response.status_code == 400
    assert "already has that name" in response.content.decode()


def test_editing_keeps_blank_credentials_and_replaces_filled_ones(admin_client, account_a):
    url = f"/dashboard/settings/carriers/{account_a.pk}/"
    assert admin_client.post(url, {"name": "DHL renamed", "cred_api_key": ""}).status_code == 302
    account = _account(account_a.tenant, account_a.pk)
    assert account.name == "DHL renamed" and account.credentials == {"api_key": SECRET}
    assert account.is_active is False  # an unticked box deactivates

    admin_client.post(url, {"name": "DHL renamed", "cred_api_key": "k2", "is_active": "on"})
    account = _account(account_a.tenant, account_a.pk)
    assert account.credentials == {"api_key": "k2"} and account.is_active


def test_activate_deactivate_and_delete(admin_client, account_a):
    url = f"/dashboard/settings/carriers/{account_a.pk}"
    admin_client.post(f"{url}/active/", {"active": "0"})
    assert _account(account_a.tenant, account_a.pk).is_active is False
    assert admin_client.post(f"{url}/active/", {"active": "x"}).status_code == 400
    assert _account(account_a.tenant, account_a.pk).is_active is False
    admin_client.post(f"{url}/active/", {"active": "1"})
    assert _account(account_a.tenant, account_a.pk).is_active is True
    assert admin_client.post(f"{url}/delete/").status_code == 302
    with tenant_scope(account_a.tenant):
        assert not CarrierAccount.objects.exists()


def test_agents_are_refused(agent_client, account_a):
    assert agent_client.get("/dashboard/settings/carriers/").status_code == 403
    assert agent_client.get(f"/dashboard/settings/carriers/{account_a.pk}/").status_code == 403
    assert agent_client.get("/dashboard/settings/carriers/new/").status_code == 403
    for action in ("test", "active", "delete"):
        url = f"/dashboard/settings/carriers/{account_a.pk}/{action}/"
        assert agent_client.post(url, {"active": "0"}).status_code == 403
    assert agent_client.post("/dashboard/settings/carriers/priority/").status_code == 403
    assert _account(account_a.tenant, account_a.pk).is_active


def test_another_tenant_gets_404(client_b, account_a):
    pk = account_a.pk
    assert client_b.get(f"/dashboard/settings/carriers/{pk}/").status_code == 404
    assert client_b.post(f"/dashboard/settings/carriers/{pk}/", {"name": "x"}).status_code == 404
    for action in ("test", "active", "delete"):
        url = f"/dashboard/settings/carriers/{pk}/{action}/"
        assert client_b.post(url, {"active": "0"}).status_code == 404
    assert _account(account_a.tenant, pk).name == "DHL main"


# -- test connection against a fake carrier -------------------------------------------------------


@pytest.fixture
def fake_account(tenant_a, carrier_server):
    with tenant_scope(tenant_a):
        return CarrierAccountFactory(
            tenant=tenant_a,
            carrier="dhl",
            name="DHL fake",
            credentials={"api_key": SECRET, "base_url": carrier_server.url},
        )


def test_test_connection_ok_when_the_carrier_answers_unknown_number(
    admin_client, fake_account, carrier_server
):
    carrier_server.route("GET", r"/track/shipments$", Reply(404, body='{"status": 404}'))

    response = admin_client.post(
        f"/dashboard/settings/carriers/{fake_account.pk}/test/", follow=True
    )

    html = response.content.decode()
    assert "Test connection: OK." in html
    assert SECRET not in html
    assert carrier_server.requests[-1].headers["dhl-api-key"] == SECRET


def test_test_connection_says_auth_failed_on_401(admin_client, fake_account, carrier_server):
    carrier_server.route("GET", r"/track/shipments$", Reply(401, body="{}"))
    response = admin_client.post(
        f"/dashboard/settings/carriers/{fake_account.pk}/test/", follow=True
    )
    assert "Test connection: authentication failed." in response.content.decode()


def test_test_connection_says_unreachable_on_timeout(fake_account, carrier_server, tenant_a):
    from carriers.http import HttpClient
    from wismo.tracking.services.carrier_setup import carrier_connection_test

    carrier_server.blackhole_seconds = 2
    carrier_server.blackhole_next()
    with tenant_scope(tenant_a):
        check = carrier_connection_test(account=fake_account, http=HttpClient(timeout=(0.5, 0.5)))
    assert (check.ok, check.outcome) == (False, "unreachable")


def test_test_connection_says_unreachable_on_5xx(admin_client, fake_account, carrier_server):
    carrier_server.route("GET", r"/track/shipments$", Reply(503, body="down"))
    response = admin_client.post(
        f"/dashboard/settings/carriers/{fake_account.pk}/test/", follow=True
    )
    assert "Test connection: unreachable." in response.content.decode()


# -- carrier priority ---------------------------------------------------------------------------


def test_priority_is_saved_in_order_without_blanks_or_repeats(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/carriers/priority/", {"slugs": "ups\n\ndhl\nups\n  fedex  "}
    )
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.carrier_priority == ["ups", "dhl", "fedex"]
    html = admin_client.get("/dashboard/settings/carriers/").content.decode()
    assert "ups\ndhl\nfedex" in html


def test_an_unknown_slug_in_the_priority_is_a_400(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/carriers/priority/", {"slugs": "ups\nmadeup_post"}
    )
    assert response.status_code == 400
    assert "madeup_post" in response.content.decode()
    assert Tenant.objects.get(pk=tenant_a.pk).carrier_priority == []


def test_a_push_carrier_shows_its_push_address(admin_client, account_a, settings):
    settings.WISMO_BASE_URL = "https://wismo.example"
    html = admin_client.get(f"/dashboard/settings/carriers/{account_a.pk}/").content.decode()
    assert f"https://wismo.example/hooks/carriers/dhl/{account_a.pk}/" in html
    assert SECRET not in html
