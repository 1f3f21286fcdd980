"""REST API v1 roles, walked from the router: agent keys read, admin keys write and configure.

``AGENT_MAY`` declares, per API route, the methods an agent key may use. Every other method of the
route answers 403 to an agent key (before any object lookup or side effect); settings routes
(stores, carrier accounts, notification settings, templates, webhook endpoints) declare nothing,
so agents may not even read them. An API route missing from ``AGENT_MAY`` fails the test.
"""

from __future__ import annotations

import itertools

import pytest
from django.urls import NoReverseMatch, reverse

from tests.test_route_isolation import Route, all_routes

pytestmark = pytest.mark.django_db

READ = frozenset({"GET"})
NOTHING = frozenset()
PUBLIC = None  # no key needed at all

AGENT_MAY: dict[str, frozenset[str] | None] = {
    # helpdesk reads
    "shipment-list": READ,
    "shipment-detail": READ,
    "shipment-events": READ,
    "shipment-retrack": NOTHING,
    "order-list": READ,
    "order-detail": READ,
    "notification-list": READ,
    "notification-detail": READ,
    "lookup": READ,
    "helpdesk-lookup": READ,
    "analytics": READ,
    # settings and credentials: admin keys only, even to read
    "store-list": NOTHING,
    "store-detail": NOTHING,
    "carrier-account-list": NOTHING,
    "carrier-account-detail": NOTHING,
    "notification-settings": NOTHING,
    "email-template-list": NOTHING,
    "email-template-detail": NOTHING,
    "email-template-preview": NOTHING,
    "email-template-test": NOTHING,
    "webhook-endpoint-list": NOTHING,
    "webhook-endpoint-detail": NOTHING,
    "webhook-endpoint-deliveries": NOTHING,
    "webhook-endpoint-replay": NOTHING,
    # shoppers' personal data, wholesale: admin keys only
    "privacy-export": NOTHING,
    "privacy-erase": NOTHING,
    # public documents
    "api-schema": PUBLIC,
    "api-docs": PUBLIC,
}

SAMPLE_VALUES = ("1", "delivered/en", "x")


def api_routes() -> list[Route]:
    return [r for r in all_routes() if r.is_api]


def sample_url(route: Route) -> str:
    """The route's URL with placeholder ids: permissions are checked before any lookup."""
    for values in itertools.product(SAMPLE_VALUES, repeat=len(route.params)):
        try:
            return reverse(route.name, kwargs=dict(zip(route.params, values, strict=True)))
        except NoReverseMatch:
            continue
    raise AssertionError(f"cannot build a URL for {route.pattern}")


def cases(role_may: dict) -> list[tuple[Route, str]]:
    return [
        (route, method)
        for route in api_routes()
        if role_may.get(route.name) is not None
        for method in route.api_methods()
    ]


def test_every_api_route_declares_what_agents_may_do():
    missing = [f"{r.name} ({r.pattern})" for r in api_routes() if r.name not in AGENT_MAY]

    assert not missing, f"Add these API routes to AGENT_MAY in tests/test_api_roles.py: {missing}"


def test_read_only_routes_are_read_only_for_agents():
    """Writes are never declared for agents: an agent key never changes anything."""
    writes = {name: may for name, may in AGENT_MAY.items() if may and may - READ}

    assert not writes


@pytest.mark.parametrize(
    ("route", "method"), cases(AGENT_MAY), ids=lambda v: v.name if isinstance(v, Route) else v
)
def test_agent_key_is_allowed_or_refused_as_declared(route, method, agent_api_a):
    url = sample_url(route)

    response = getattr(agent_api_a, method.lower())(url, {}, format="json")

    if method in AGENT_MAY[route.name]:
        assert response.status_code != 403, f"agent {method} {url}: {response.content}"
        assert response.status_code < 500
    else:
        assert response.status_code == 403, f"agent {method} {url}: {response.status_code}"
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("route", "method"), cases(AGENT_MAY), ids=lambda v: v.name if isinstance(v, Route) else v
)
def test_admin_key_passes_the_permission_check(route, method, api_a):
    url = sample_url(route)

    response = getattr(api_a, method.lower())(url, {}, format="json")

    assert response.status_code not in (401, 403), f"admin {method} {url}: {response.content}"


def test_agent_settings_read_is_refused_without_revealing_anything(agent_api_a, tenant_a):
    from tenants.scoping import tenant_scope
    from tests.factories import ShopConnectionFactory

    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(tenant=tenant_a, name="Secret Store")

    for url in ("/api/v1/stores/", f"/api/v1/stores/{store.pk}/", "/api/v1/notification-settings/"):
        response = agent_api_a.get(url)
        assert response.status_code == 403
        assert b"Secret Store" not in response.content


def test_agent_key_writes_change_nothing(agent_api_a, tenant_a):
    from tenants.scoping import tenant_scope
    from tests.factories import ShipmentFactory
    from wismo.tracking.models import Shipment

    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="manual")
        before = Shipment.objects.filter(pk=shipment.pk).values().get()

    agent_api_a.post(f"/api/v1/shipments/{shipment.pk}/retrack/", {}, format="json")
    agent_api_a.post(
        f"/api/v1/shipments/{shipment.pk}/events/",
        {
            "occurred_at": "2026-11-20T10:00:00Z",
            "status": "delivered",
            "description": "Left at the door",
        },
        format="json",
    )

    with tenant_scope(tenant_a):
        assert Shipment.objects.filter(pk=shipment.pk).values().get() == before
        assert Shipment.objects.count() == 1
