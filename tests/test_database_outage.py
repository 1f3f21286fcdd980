"""The database down or restarting: a 503 with Retry-After on every surface, never a 500 page.

Clients, shop platforms and carriers retry a 503 (a webhook is then redelivered, not lost);
load balancers back off. Any other error stays a 500.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client

from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory
from tests.test_shop_webhooks import body_of, shopify_post

pytestmark = pytest.mark.django_db

GONE = OperationalError("server closed the connection unexpectedly")


def fail(exc):
    def raiser(*args, **kwargs):
        raise exc

    return raiser


def test_the_api_answers_503_json_with_retry_after(api_a, monkeypatch):
    from wismo.tracking import selectors

    monkeypatch.setattr(selectors, "shipment_rows", fail(GONE))
    api_a.raise_request_exception = False
    response = api_a.get("/api/v1/shipments/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"


def test_a_shopper_page_answers_a_503_page(tenant_a, monkeypatch):
    from tracking_pages import selectors

    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
    monkeypatch.setattr(selectors, "page_load", fail(GONE))
    response = Client(raise_request_exception=False).get(
        f"/t/{tenant_a.slug}/{shipment.public_token}/"
    )
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "try again" in response.content.decode()


def test_a_webhook_answers_503_so_the_platform_redelivers(shop, monkeypatch):
    from wismo.tracking.services import shop_webhooks

    monkeypatch.setattr(shop_webhooks, "inbox_store", fail(GONE))
    response = shopify_post(
        shop,
        body_of("shopify/order_two_fulfillments.json"),
        webhook_id="wh-db-down",
        client=Client(raise_request_exception=False),
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_a_failure_before_the_view_is_a_503_too(monkeypatch):
    """The session is read by a middleware, outside any view."""
    from django.contrib.sessions.backends.db import SessionStore

    monkeypatch.setattr(SessionStore, "load", fail(GONE))
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "a" * 32
    response = client.get("/dashboard/")
    assert response.status_code == 503


def test_any_other_error_is_still_a_500(tenant_a, monkeypatch):
    from tracking_pages import selectors

    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
    monkeypatch.setattr(selectors, "page_load", fail(ValueError("a bug")))
    response = Client(raise_request_exception=False).get(
        f"/t/{tenant_a.slug}/{shipment.public_token}/"
    )
    assert response.status_code == 500
