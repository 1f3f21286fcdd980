"""Webhooks (/hooks/) skip the browser middleware (wismo/lanes.py), and lose nothing by it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenants.models import Tenant
from tenants.scoping import all_tenants
from tests.dashboard.conftest import member
from tests.test_shop_webhooks import body_of, shopify_post
from tracking_pages import selectors as page_selectors
from wismo.tracking.models import InboundWebhook

pytestmark = pytest.mark.django_db

BODY = "shopify/order_two_fulfillments.json"


def deliver(shop, client: Client | None = None, **extra):
    """POST a signed Shopify order delivery to ``shop``'s hook (``extra``: more headers)."""
    return shopify_post(shop, body_of(BODY), webhook_id="wh-route-1", client=client, **extra)


def test_a_delivery_is_answered_sized_with_its_request_id_and_no_cookie(shop, enqueued):
    response = deliver(shop, HTTP_X_REQUEST_ID="platform-42")

    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert response["Content-Length"] == str(len(response.content))
    assert response["X-Request-ID"] == "platform-42"  # RequestIdMiddleware still runs
    assert response["X-Content-Type-Options"] == "nosniff"  # and SecurityMiddleware
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_a_session_cookie_on_a_delivery_is_never_read(shop, tenant_a, enqueued):
    """A shop admin's browser session must not cost a webhook a session, user and membership
    lookup: the request never reaches the session, auth or tenant-scope middleware."""
    client = Client()
    client.force_login(member(tenant_a, "owner"))

    with CaptureQueriesContext(connection) as queries:
        response = deliver(shop, client)

    assert response.status_code == 200
    touched = " ".join(q["sql"] for q in queries.captured_queries)
    assert "django_session" not in touched
    assert "auth_user" not in touched
    assert "tenants_membership" not in touched
    # The rest of the site still runs through the whole stack: the session is read there.
    with CaptureQueriesContext(connection) as queries:
        client.get("/dashboard/")
    assert "django_session" in " ".join(q["sql"] for q in queries.captured_queries)


def test_a_host_not_in_allowed_hosts_is_400_and_stores_nothing(shop, enqueued, settings):
    settings.ALLOWED_HOSTS = ["wismo.example"]
    response = deliver(shop, HTTP_HOST="evil.example")

    assert response.status_code == 400
    with all_tenants():
        assert not InboundWebhook.objects.exists()
    assert enqueued == []


def test_a_tenants_custom_domain_still_serves_no_webhooks(shop, tenant_a, enqueued, settings):
    Tenant.objects.filter(pk=tenant_a.pk).update(custom_domain="track.alpha.example")
    page_selectors.forget_tenants()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "track.alpha.example"]

    response = deliver(shop, HTTP_HOST="track.alpha.example")

    assert response.status_code == 404
    assert enqueued == []


def test_unknown_hooks_and_wrong_methods_answer_4xx(shop):
    client = Client()

    assert (
        client.post("/hooks/nothing-here/", b"{}", content_type="application/json").status_code
        == 404
    )
    assert client.get(f"/hooks/shopify/{shop.pk}/").status_code == 405
    missing = client.post("/hooks/shopify/999999/", b"{}", content_type="application/json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_failing_view_is_a_500_answer_not_a_crash(shop, monkeypatch):
    from wismo.api import hooks

    def boom(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(hooks, "shop_webhook_receive", boom)

    response = deliver(shop, Client(raise_request_exception=False))

    assert response.status_code == 500
    assert response["X-Request-ID"]
    assert "the database went away" not in response.content.decode()


def test_plain_http_is_redirected_to_https_as_before(shop, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = deliver(shop)

    assert response.status_code == 301 and response["Location"].startswith("https://")


def test_an_email_providers_webhook_is_served_in_the_lane_with_its_basic_auth(settings):
    """anymail's views authenticate by HTTP basic auth in the request, not by the session."""
    import base64

    from anymail.signals import tracking

    settings.ROOT_URLCONF = "tests.email_hooks_urls"
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "hook:s3cret"}
    seen = []

    def record(sender, event, esp_name, **kwargs):
        seen.append((esp_name, event.event_type, event.recipient))

    tracking.connect(record, dispatch_uid="test-lanes-email")
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": "ada@example.com",
        "BouncedAt": "2026-12-07T10:00:00Z",
    }
    try:

        def post(secret: str):
            auth = base64.b64encode(secret.encode()).decode()
            return Client(raise_request_exception=False).post(
                "/hooks/email/postmark/tracking/",
                bounce,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Basic {auth}",
            )

        refused = post("hook:wrong")
        accepted = post("hook:s3cret")
    finally:
        tracking.disconnect(dispatch_uid="test-lanes-email")

    assert refused.status_code == 400
    assert accepted.status_code == 200
    assert seen == [("Postmark", "bounced", "ada@example.com")]
