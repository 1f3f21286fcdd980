"""Redis down (cache, rate limits, page cache) and the broker refusing: the web never answers 500.

Every public surface is asked while the cache points at a closed port and every task publish
fails: shopper pages and the lookup form, the API (keys are read from the database, limits let
requests through), webhook intake (stored; the relay enqueues later), sign-in and the dashboard,
/metrics. Each answers as it would with Redis up, or a clear 503 where it cannot work
(/readyz says the dependency is down). Nothing already stored is lost.
"""

from __future__ import annotations

import pytest
from celery.app.task import Task
from kombu.exceptions import OperationalError

from dashboard.models import Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import PASSWORD, member
from tests.factories import ShipmentFactory
from tests.test_shop_webhooks import body_of, shopify_post
from wismo.tracking.models import InboundWebhook

pytestmark = pytest.mark.django_db

DEAD = "redis://127.0.0.1:9/0"  # the discard port: nothing listens, connections are refused


class RefusingMail:
    """An email backend whose server refuses every message."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server refuses connections")


@pytest.fixture
def redis_down(settings, monkeypatch):
    from wismo.tracking.services import throttle

    settings.REDIS_URL = DEAD
    settings.CACHES = {  # Django's test signals reset the cache handler on this change
        "default": {
            "BACKEND": "wismo.cache.RedisCache",
            "LOCATION": DEAD,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    if hasattr(throttle, "_clients"):
        monkeypatch.setattr(throttle, "_clients", {})

    def refuse(self, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:9. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", refuse)
    from wismo import health

    def broker_down():
        raise OperationalError("Error 111 connecting to 127.0.0.1:9. Connection refused.")

    monkeypatch.setattr(health, "_check_broker", broker_down)  # the broker is this Redis
    yield


def test_every_surface_answers_without_a_500_while_redis_is_down(
    tenant_a, shop, api_a, redis_down, settings, django_capture_on_commit_callbacks
):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
    owner = member(tenant_a, Role.OWNER)
    from django.test import Client

    shopper, dashboard = Client(), Client()
    dashboard.force_login(owner)
    answers = {
        "tracking page": shopper.get(f"/t/{tenant_a.slug}/{shipment.public_token}/"),
        "lookup form": shopper.post(
            f"/t/{tenant_a.slug}/",
            {"lang": "en", "order_number": shipment.order.order_number, "email": "x@y.z"},
        ),
        "api list": api_a.get("/api/v1/shipments/"),
        "api lookup": api_a.get("/api/v1/lookup/", {"q": shipment.tracking_number}),
        "webhook": shopify_post(shop, body_of("shopify/order_two_fulfillments.json")),
        "sign-in": Client().post(
            "/accounts/login/", {"username": owner.username, "password": PASSWORD}
        ),
        "dashboard": dashboard.get("/dashboard/"),
        "shipments list": dashboard.get("/dashboard/shipments/"),
        "metrics": Client(REMOTE_ADDR="127.0.0.1").get("/metrics"),
        "readyz": Client().get("/readyz"),
    }
    # Work started after the commit: the broker refuses it, the sweeps will run it, the page
    # says what was saved. (Mail fails too: the invitation is kept.)
    settings.EMAIL_BACKEND = "tests.test_redis_outage.RefusingMail"
    with tenant_scope(tenant_a):
        sandbox = ShipmentFactory(tenant=tenant_a, carrier="sandbox", is_active=True)
    shop.platform, shop.shop_url = "shopify", "https://alpha.myshopify.com"
    with django_capture_on_commit_callbacks(execute=True):
        answers["api re-track"] = api_a.post(f"/api/v1/shipments/{sandbox.pk}/retrack/")
        answers["re-track"] = dashboard.post(f"/dashboard/shipments/{sandbox.pk}/retrack/")
        answers["bulk re-track"] = dashboard.post(
            "/dashboard/shipments/bulk/", {"action": "retrack", "ids": [str(sandbox.pk)]}
        )
        answers["store sync"] = dashboard.post(f"/dashboard/settings/stores/{shop.pk}/sync/")
        answers["invitation"] = dashboard.post(
            "/dashboard/settings/team/", {"email": "new.agent@example.com", "role": "agent"}
        )
    statuses = {name: response.status_code for name, response in answers.items()}

    assert statuses.pop("readyz") == 503
    assert all(status < 500 for status in statuses.values()), statuses
    assert statuses["tracking page"] == statuses["api list"] == statuses["webhook"] == 200
    assert statuses["sign-in"] == 302 and statuses["dashboard"] == 200
    assert answers["api list"].json()["results"][0]["id"] == shipment.pk
    assert statuses["api re-track"] == 202
    assert statuses["re-track"] == statuses["bulk re-track"] == statuses["store sync"] == 302
    assert statuses["invitation"] == 302
    with tenant_scope(tenant_a):  # the delivery is kept for the relay, not lost
        assert InboundWebhook.objects.filter(state="received").count() == 1
