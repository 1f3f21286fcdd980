"""General settings: the index, languages and domain, notifications, API keys; agents refused."""

from __future__ import annotations

import pytest

from notifications.models import NotificationPolicy
from tenants.models import ApiKey, Role, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db

SETTINGS_PAGES = [
    "/dashboard/settings/",
    "/dashboard/settings/general/",
    "/dashboard/settings/notifications/",
    "/dashboard/settings/templates/",
    "/dashboard/settings/templates/shipped/en/",
    "/dashboard/settings/templates/shipped/en/preview/",
    "/dashboard/settings/branding/",
    "/dashboard/settings/branding/preview/",
    "/dashboard/settings/team/",
    "/dashboard/settings/api-keys/",
]


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_an_agent_is_refused_every_settings_page(agent_client, url):
    assert agent_client.get(url).status_code == 403
    assert agent_client.post(url, {}).status_code == 403


@pytest.mark.parametrize("url", SETTINGS_PAGES)
def test_an_admin_opens_every_settings_page(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 200


def test_an_agent_cannot_post_to_the_action_routes(agent_client, tenant_a, owner_a):
    with tenant_scope(tenant_a):
        key, _ = api_key_create(tenant=tenant_a, name="zendesk")
    assert agent_client.post(f"/dashboard/settings/api-keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_index_links_every_settings_page(owner_client, admin_client):
    body = owner_client.get("/dashboard/settings/").content.decode()
    for url in (
        "/dashboard/settings/general/",
        "/dashboard/settings/notifications/",
        "/dashboard/settings/templates/",
        "/dashboard/settings/branding/",
        "/dashboard/settings/team/",
        "/dashboard/settings/api-keys/",
        "/dashboard/settings/stores/",
        "/dashboard/settings/carriers/",
        "/dashboard/settings/status-mapping/",
        "/dashboard/settings/audit/",
    ):
        assert f'href="{url}"' in body
    assert (
        "/dashboard/settings/audit/"
        not in admin_client.get("/dashboard/settings/").content.decode()
    )


# --- languages & domain ---------------------------------------------------------------------------


def _general(**changes):
    data = {
        "name": "Alpha Shop",
        "default_language": "en",
        "timezone": "Europe/Rome",
        "custom_domain": "",
    }
    data.update(changes)
    return data


def test_an_admin_saves_name_language_time_zone_and_domain(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/general/",
        _general(name="Alpha Roasters", default_language="it", custom_domain="Track.Alpha.Example"),
    )
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert (tenant_a.name, tenant_a.default_language, tenant_a.timezone) == (
        "Alpha Roasters",
        "it",
        "Europe/Rome",
    )
    assert tenant_a.custom_domain == "track.alpha.example"


@pytest.mark.parametrize(
    "domain",
    ["https://track.alpha.example", "track.alpha.example/path", "localhost", "-bad-.example",
     "track.alpha.example:8443", "127.0.0.1", "a b.example"],
)  # fmt: skip
def test_a_bad_hostname_is_a_form_error(admin_client, tenant_a, domain):
    response = admin_client.post("/dashboard/settings/general/", _general(custom_domain=domain))
    assert response.status_code == 400
    assert b"hostname" in response.content
    tenant_a.refresh_from_db()
    assert tenant_a.custom_domain is None


def test_a_domain_another_tenant_uses_is_a_form_error_not_a_500(admin_client, tenant_a, tenant_b):
    Tenant.objects.filter(pk=tenant_b.pk).update(custom_domain="track.shared.example")
    response = admin_client.post(
        "/dashboard/settings/general/", _general(custom_domain="TRACK.shared.example")
    )
    assert response.status_code == 400
    assert b"Another shop already uses this domain" in response.content
    tenant_a.refresh_from_db()
    assert tenant_a.custom_domain is None


def test_the_unique_constraint_race_is_a_form_error(admin_client, tenant_a, tenant_b, monkeypatch):
    # The check passed, then another shop saved the same domain: the database says no.
    Tenant.objects.filter(pk=tenant_b.pk).update(custom_domain="race.example")
    from django.db.models import QuerySet

    real_exists = QuerySet.exists
    monkeypatch.setattr(
        QuerySet,
        "exists",
        lambda qs: False if qs.model is Tenant else real_exists(qs),
    )
    response = admin_client.post(
        "/dashboard/settings/general/", _general(custom_domain="race.example")
    )
    assert response.status_code == 400
    assert b"Another shop already uses this domain" in response.content


def test_bad_language_or_time_zone_changes_nothing(admin_client, tenant_a):
    for bad in (
        _general(default_language="xx"),
        _general(timezone="Mars/Olympus"),
        _general(name=""),
    ):
        assert admin_client.post("/dashboard/settings/general/", bad).status_code == 400
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Alpha Shop"
    assert tenant_a.timezone == "UTC"


# --- notifications --------------------------------------------------------------------------------


def _policy_form(**changes):
    data = {
        "enabled": "on",
        "triggers": ["shipped", "delivered", "delayed"],
        "delay_shipped": "20",
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "sender_name": "Alpha Care",
        "reply_to": "care@alpha.example",
        "delay_discount_code": "SORRY10",
        "promo_title": "New roasts",
        "promo_text": "Fresh this week",
        "promo_image_url": "https://cdn.alpha.example/p.png",
        "promo_link_url": "https://alpha.example/new",
        "promo_products": "Huila 250 g | https://alpha.example/huila | | 9.90",
    }
    data.update(changes)
    return data


def test_an_admin_saves_the_notification_policy(admin_client, tenant_a):
    response = admin_client.post("/dashboard/settings/notifications/", _policy_form())
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        policy = NotificationPolicy.objects.get(tenant=tenant_a, store__isnull=True)
    assert policy.triggers == ["shipped", "delivered", "delayed"]
    assert policy.delays == {"shipped": 20}
    assert str(policy.quiet_start) == "21:00:00" and str(policy.quiet_end) == "08:00:00"
    assert (policy.sender_name, policy.reply_to, policy.delay_discount_code) == (
        "Alpha Care",
        "care@alpha.example",
        "SORRY10",
    )
    assert policy.promotion["products"] == [
        {
            "title": "Huila 250 g",
            "url": "https://alpha.example/huila",
            "image_url": "",
            "price": "9.90",
        }
    ]
    page = admin_client.get("/dashboard/settings/notifications/").content.decode()
    assert 'value="SORRY10"' in page and "Huila 250 g" in page


@pytest.mark.parametrize(
    "bad",
    [
        {"delay_shipped": "-5"},  # the API's rule: 0 .. 30 days
        {"delay_shipped": "999999"},
        {"reply_to": "not-an-email"},
        {"promo_link_url": "http://alpha.example/"},  # promotions are https only
        {"triggers": ["shipped", "teleported"]},
        {"quiet_start": "25:99"},
    ],
)
def test_bad_notification_settings_change_nothing(admin_client, tenant_a, bad):
    response = admin_client.post("/dashboard/settings/notifications/", _policy_form(**bad))
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not NotificationPolicy.objects.filter(tenant=tenant_a).exists()


# --- API keys ---------------------------------------------------------------------------------------


def test_a_new_api_key_is_shown_once_and_works(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/api-keys/", {"name": "Zendesk", "role": Role.AGENT}
    )
    assert response.status_code == 200
    raw = response.context["raw_key"]
    assert raw and raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    key = api_key_authenticate(raw)
    assert key is not None and key.tenant_id == tenant_a.pk and key.role == Role.AGENT
    again = admin_client.get("/dashboard/settings/api-keys/").content.decode()
    assert raw not in again
    assert key.prefix in again and "Zendesk" in again


def test_a_bad_api_key_request_creates_nothing(admin_client, tenant_a):
    response = admin_client.post("/dashboard/settings/api-keys/", {"name": "x", "role": "owner"})
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not ApiKey.objects.exists()


def test_an_admin_revokes_a_key(admin_client, tenant_a):
    _key, raw = api_key_create(tenant=tenant_a, name="old")
    with tenant_scope(tenant_a):
        key = ApiKey.objects.get()
    response = admin_client.post(f"/dashboard/settings/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert api_key_authenticate(raw) is None
    assert "revoked" in admin_client.get("/dashboard/settings/api-keys/").content.decode()


def test_tenant_b_cannot_revoke_tenant_a_key(client_b, tenant_a):
    key, raw = api_key_create(tenant=tenant_a, name="alpha")
    assert client_b.post(f"/dashboard/settings/api-keys/{key.pk}/revoke/").status_code == 404
    assert api_key_authenticate(raw) is not None
    assert b"alpha" not in client_b.get("/dashboard/settings/api-keys/").content


def test_revoking_needs_a_post(admin_client, tenant_a):
    key, _ = api_key_create(tenant=tenant_a)
    assert admin_client.get(f"/dashboard/settings/api-keys/{key.pk}/revoke/").status_code == 405
