"""Shopper pages skip the dashboard's middleware (wismo/lanes.py) and keep what they need."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.dashboard.conftest import member
from tests.tracking_pages.conftest import page_url

pytestmark = pytest.mark.django_db


def test_a_dashboard_cookie_costs_a_page_no_user_or_membership_lookup(tenant_a, shipment_a):
    """The merchant checking a parcel page in the browser they run the dashboard in: the page
    reads the session (a shopper's proof lives there), never the user or their tenants."""
    client = Client()
    client.force_login(member(tenant_a, "owner"))

    with CaptureQueriesContext(connection) as queries:
        response = client.get(page_url(tenant_a, shipment_a.public_token))

    assert response.status_code == 200
    touched = " ".join(q["sql"] for q in queries.captured_queries)
    assert "django_session" in touched
    assert "auth_user" not in touched
    assert "tenants_membership" not in touched
    # The dashboard itself still goes through the whole stack.
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/dashboard/").status_code == 200
    assert "auth_user" in " ".join(q["sql"] for q in queries.captured_queries)


def test_pages_keep_the_slash_redirect_clickjacking_header_and_request_id(tenant_a, shipment_a):
    client = Client()
    url = page_url(tenant_a, shipment_a.public_token)

    bare = client.get(url.rstrip("/"))
    page = client.get(url)

    assert bare.status_code == 301 and bare["Location"] == url
    assert page.status_code == 200
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Request-ID"]
    assert page["Content-Length"] == str(len(page.content))


def test_a_page_form_without_its_csrf_token_is_refused(tenant_a, shipment_a):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(page_url(tenant_a, shipment_a.public_token, "report/"), {"kind": "x"})

    assert response.status_code == 403
