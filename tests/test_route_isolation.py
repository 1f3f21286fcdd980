"""Tenant isolation of every route, generated from the URL configuration.

Every route whose URL carries an object id (``<int:pk>``, ``(?P<pk>...)``, ``<str:token>``...)
must be listed in ``OBJECT_ROUTES`` with a factory that creates tenant A's object. Tenant B (its
owner signed in for dashboard routes, its admin API key for API routes) then calls the route with
A's ids using every method, and must get 404 (or 405 for a method the route does not serve) while
A's objects stay exactly as they were. A new route with an id and no entry here fails
``test_every_object_route_is_covered``, naming the route.

Routes without an id (lists, search, exports) are called by tenant B too: they may answer anything
but a 5xx, and must never show tenant A's marker strings (order number, email, tracking number).

Public routes are excluded below, each with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import Role
from tenants.scoping import tenant_scope
from tenants.services import api_key_create, membership_add
from tests.factories import (
    CarrierAccountFactory,
    OrderFactory,
    ShipmentFactory,
    ShopConnectionFactory,
    TenantFactory,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
A_ORDER_NUMBER = "ISOA-77310"
A_EMAIL = "isolation-marker-a@alpha-shop.example"
A_TRACKING = "ISOAMARK77310"
A_MARKERS = (A_ORDER_NUMBER, A_EMAIL, A_TRACKING)

# -- the URL configuration, walked ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # with its namespace, e.g. "tracking_pages:page"
    pattern: str  # the full pattern, for messages
    callback: Callable
    params: tuple[str, ...] = field(default=())

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    def api_methods(self) -> tuple[str, ...]:
        """The methods a DRF view serves (a viewset's actions, an APIView's handlers)."""
        cls = getattr(self.callback, "cls", None)
        if cls is None:
            return METHODS
        allowed = set(getattr(cls, "http_method_names", ()))
        actions = getattr(self.callback, "actions", None)
        if actions:
            served = {method for method in actions if method in allowed}
        else:
            served = {m for m in allowed if hasattr(cls, m)}
        return tuple(m for m in METHODS if m.lower() in served)


def _params(pattern) -> list[str]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return list(converters)
    regex = getattr(pattern, "regex", None)
    return list(regex.groupindex) if regex is not None else []


def all_routes() -> list[Route]:
    """Every named route of the project, format-suffix duplicates left out."""
    found: list[Route] = []

    def walk(resolver, prefix: str, namespace: str, params: list[str]) -> None:
        for entry in resolver.url_patterns:
            text = prefix + str(entry.pattern).lstrip("^").rstrip("$")
            names = params + _params(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = namespace + (f"{entry.namespace}:" if entry.namespace else "")
                walk(entry, text, ns, names)
            elif isinstance(entry, URLPattern):
                if "format" in names:
                    continue  # DRF's ".json" twins of routes listed anyway
                found.append(
                    Route(
                        name=namespace + (entry.name or f"<unnamed {text}>"),
                        pattern=text,
                        callback=entry.callback,
                        params=tuple(names),
                    )
                )

    walk(get_resolver(), "", "", [])
    return found


# -- what is left out, and why ----------------------------------------------------------------

EXCLUDED_PREFIXES = {
    "t/": "the shopper's public tracking pages: addressed by tenant slug and an unguessable "
    "token, covered in tests/tracking_pages",
    "hooks/": "inbound carrier and shop webhooks: no session or key, authenticated by signature "
    "(tests/test_shop_webhooks.py, tests/test_carrier_push.py)",
    "accounts/": "sign-in, password reset and invitation acceptance: before any tenant is chosen",
    "n/unsubscribe/": "the shopper's unsubscribe link, a signed token (tests/notifications)",
    "admin/": "the Django admin has its own tests (tests/test_admin.py)",
    "static/": "static files",
}
EXCLUDED_ROUTES = {
    "healthz": "liveness probe, no tenant data",
    "readyz": "readiness probe, no tenant data",
    "metrics": "process metrics, no tenant data",
    "api-schema": "the public OpenAPI document (tests/test_api_schema.py)",
    "api-docs": "the public Swagger UI page",
    "email-template-detail": "the id is a (trigger, language) key naming a template of the "
    "caller's own tenant, never another tenant's object",
    "email-template-preview": "same (trigger, language) key of the caller's own tenant",
    "email-template-test": "same (trigger, language) key of the caller's own tenant",
    "dash-settings-template": "(trigger, language) names a template of the signed-in tenant",
    "dash-settings-template-preview": "(trigger, language) of the signed-in tenant",
}


def exclusion(route: Route) -> str | None:
    if route.name in EXCLUDED_ROUTES:
        return EXCLUDED_ROUTES[route.name]
    for prefix, reason in EXCLUDED_PREFIXES.items():
        if route.pattern.startswith(prefix):
            return reason
    return None


# -- tenant A's objects, per route ------------------------------------------------------------
# A factory runs inside tenant A's scope with ``ctx`` (tenant, owner, order, shipment) and returns
# the URL kwargs and the objects that must survive tenant B's calls unchanged.


def _store(ctx):
    store = ShopConnectionFactory(tenant=ctx.tenant, name="Alpha store")
    return {"pk": store.pk}, [store]


def _carrier_account(ctx):
    account = CarrierAccountFactory(tenant=ctx.tenant, carrier="dhl", name="Alpha DHL")
    return {"pk": account.pk}, [account]


def _notification(ctx):
    from notifications.models import Notification

    row = Notification.objects.create(
        tenant=ctx.tenant,
        shipment=ctx.shipment,
        order=ctx.order,
        trigger="shipped",
        dedupe_key=f"{ctx.shipment.pk}:shipped",
        recipient=A_EMAIL,
    )
    return {"pk": row.pk}, [row]


def _webhook_endpoint(ctx):
    from notifications.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        tenant=ctx.tenant, url="https://alpha.example/hook", secret="s" * 32
    )
    return {"pk": endpoint.pk}, [endpoint]


def _webhook_delivery(ctx):
    from notifications.models import WebhookDelivery

    kwargs, objects = _webhook_endpoint(ctx)
    delivery = WebhookDelivery.objects.create(
        tenant=ctx.tenant,
        endpoint=objects[0],
        event="shipment.status_changed",
        event_id="evt-alpha-1",
        payload={"tracking_number": A_TRACKING},
        state="failed",
    )
    return {**kwargs, "delivery_id": delivery.pk}, [*objects, delivery]


def _saved_view(ctx):
    from dashboard.models import SavedView

    view = SavedView.objects.create(
        tenant=ctx.tenant, user=ctx.owner, name="Alpha late", query="status=delayed", shared=True
    )
    return {"view_id": view.pk}, [view]


def _shipment(param: str = "pk"):
    return lambda ctx: ({param: ctx.shipment.pk}, [ctx.shipment])


def _order(param: str = "pk"):
    return lambda ctx: ({param: ctx.order.pk}, [ctx.order])


def _note(ctx):
    from dashboard.models import ShipmentNote

    note = ShipmentNote.objects.create(
        tenant=ctx.tenant, shipment=ctx.shipment, author=ctx.owner, body="Alpha's note"
    )
    return {"pk": ctx.shipment.pk, "note_id": note.pk}, [ctx.shipment, note]


def _status_override(ctx):
    from dashboard.models import StatusOverride

    row = StatusOverride.objects.create(
        tenant=ctx.tenant,
        carrier="dhl",
        code="ALPHA1",
        status="in_transit",
        substatus="in_transit.in_transit",
    )
    return {"pk": row.pk}, [row]


def _invitation(ctx):
    from dashboard.models import Invitation

    row = Invitation.objects.create(
        tenant=ctx.tenant,
        email="invitee@alpha-shop.example",
        token_hash="a" * 64,
        expires_at=timezone.now() + timedelta(days=3),
    )
    return {"pk": row.pk}, [row]


def _membership(ctx):
    from tenants.models import Membership

    row = membership_add(tenant=ctx.tenant, email="agent@alpha-shop.example", role=Role.AGENT)
    return {"pk": row.pk}, [Membership.objects.get(pk=row.pk)]


def _api_key(ctx):
    key, _ = api_key_create(tenant=ctx.tenant, role=Role.AGENT, name="alpha helpdesk")
    return {"pk": key.pk}, [key]


def _problem_report(ctx):
    from tracking_pages.models import ProblemReport

    row = ProblemReport.objects.create(
        tenant=ctx.tenant,
        order=ctx.order,
        shipment=ctx.shipment,
        kind="not_received",
        message="Where is it?",
    )
    return {"pk": row.pk}, [row]


def as_(param: str, factory: Callable) -> Callable:
    """``factory`` with its main id passed as ``param`` instead of ``pk``."""

    def make(ctx):
        kwargs, objects = factory(ctx)
        return {param: kwargs.pop("pk"), **kwargs}, objects

    return make


OBJECT_ROUTES: dict[str, Callable] = {
    # API v1
    "shipment-detail": _shipment(),
    "shipment-events": _shipment(),
    "shipment-retrack": _shipment(),
    "order-detail": _order(),
    "store-detail": _store,
    "carrier-account-detail": _carrier_account,
    "notification-detail": _notification,
    "webhook-endpoint-detail": _webhook_endpoint,
    "webhook-endpoint-deliveries": _webhook_endpoint,
    "webhook-endpoint-replay": _webhook_delivery,
    # dashboard: shipments, cases
    "dash-shipments-view-delete": _saved_view,
    "dash-shipment": _shipment(),
    "dash-shipment-note": _shipment(),
    "dash-shipment-contact": _shipment(),
    "dash-shipment-retrack": _shipment(),
    "dash-shipment-resend": _shipment(),
    "dash-shipment-stop": _shipment(),
    "dash-case": _problem_report,
    # dashboard: settings
    "dash-settings-invitation-revoke": as_("invitation_id", _invitation),
    "dash-settings-member-role": as_("membership_id", _membership),
    "dash-settings-member-remove": as_("membership_id", _membership),
    "dash-settings-api-key-revoke": as_("key_id", _api_key),
    "dash-store": _store,
    "dash-store-test": _store,
    "dash-store-webhooks": _store,
    "dash-store-sync": _store,
    "dash-store-active": _store,
    "dash-store-delete": _store,
    "dash-store-import-csv": _store,
    "dash-carrier": _carrier_account,
    "dash-carrier-test": _carrier_account,
    "dash-carrier-active": _carrier_account,
    "dash-carrier-delete": _carrier_account,
    "dash-mapping-edit": _status_override,
    "dash-mapping-delete": _status_override,
}


def object_routes() -> list[Route]:
    return [r for r in all_routes() if r.params and exclusion(r) is None]


def plain_routes() -> list[Route]:
    return [r for r in all_routes() if not r.params and exclusion(r) is None]


# -- tenants and callers ----------------------------------------------------------------------


@pytest.fixture
def alpha(db):
    """Tenant A with its owner, an order and a shipment carrying A's marker strings."""
    tenant = TenantFactory(slug="alpha", name="Alpha Shop")
    owner = membership_add(tenant=tenant, email="owner@alpha-shop.example", role=Role.OWNER).user
    with tenant_scope(tenant):
        order = OrderFactory(
            tenant=tenant, order_number=A_ORDER_NUMBER, customer_email=A_EMAIL, customer_name="Ada"
        )
        shipment = ShipmentFactory(tenant=tenant, order=order, tracking_number=A_TRACKING)
    return SimpleNamespace(tenant=tenant, owner=owner, order=order, shipment=shipment)


@pytest.fixture
def bravo(db):
    """Tenant B: its owner signed in, its admin API key, and a shipment of its own."""
    tenant = TenantFactory(slug="bravo", name="Bravo Shop")
    owner = membership_add(tenant=tenant, email="owner@bravo-shop.example", role=Role.OWNER).user
    with tenant_scope(tenant):
        ShipmentFactory(tenant=tenant, tracking_number="BRAVO0001")
    browser = Client()
    browser.force_login(owner)
    _, raw = api_key_create(tenant=tenant, role=Role.ADMIN)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return SimpleNamespace(tenant=tenant, browser=browser, api=api)


def _state(tenant, objects) -> list[dict]:
    with tenant_scope(tenant):
        return [
            {
                f.attname: getattr(type(obj)._base_manager.get(pk=obj.pk), f.attname)
                for f in obj._meta.concrete_fields
            }
            for obj in objects
        ]


def _url(route: Route, kwargs: dict) -> str:
    from django.urls import reverse

    return reverse(route.name, kwargs=kwargs)


def _call(client, method: str, url: str, *, api: bool):
    if api:
        return getattr(client, method.lower())(url, {}, format="json")
    return getattr(client, method.lower())(url)


# -- the checks -------------------------------------------------------------------------------


def test_every_object_route_is_covered():
    routes = object_routes()
    names = {route.name for route in routes}
    missing = [f"{r.name} ({r.pattern})" for r in routes if r.name not in OBJECT_ROUTES]
    stale = sorted(set(OBJECT_ROUTES) - names)

    assert not missing, (
        "Routes with an object id but no isolation test: add them to OBJECT_ROUTES in "
        f"tests/test_route_isolation.py (or to EXCLUDED_ROUTES with a reason): {missing}"
    )
    assert not stale, f"OBJECT_ROUTES names routes that no longer exist: {stale}"


def test_the_walk_finds_the_routes_we_know():
    names = {route.name for route in all_routes()}

    assert {"shipment-detail", "store-detail", "dashboard-home", "dash-shipments"} <= names


@pytest.mark.parametrize(
    "route", [r for r in object_routes() if r.name in OBJECT_ROUTES], ids=lambda r: r.name
)
def test_another_tenants_object_is_not_found(route, alpha, bravo):
    with tenant_scope(alpha.tenant):
        kwargs, objects = OBJECT_ROUTES[route.name](alpha)
    before = _state(alpha.tenant, objects)
    url = _url(route, kwargs)
    methods = route.api_methods() if route.is_api else METHODS
    client = bravo.api if route.is_api else bravo.browser

    answers = {
        method: _call(client, method, url, api=route.is_api).status_code for method in methods
    }

    if route.is_api:
        assert answers == dict.fromkeys(methods, 404), f"{url}: {answers}"
    else:
        assert set(answers.values()) <= {404, 405}, f"{url}: {answers}"
        assert 404 in answers.values(), f"{url}: no method reached the object lookup: {answers}"
    assert _state(alpha.tenant, objects) == before, f"{url} changed tenant A's objects"


@pytest.mark.parametrize("route", plain_routes(), ids=lambda r: r.name)
def test_lists_never_show_another_tenants_data(route, alpha, bravo):
    from django.urls import reverse

    url = reverse(route.name)
    client = bravo.api if route.is_api else bravo.browser
    methods = [m for m in route.api_methods() if m == "GET"] if route.is_api else ["GET"]

    for method in methods:
        for query in ({}, {"q": A_ORDER_NUMBER}, {"q": A_EMAIL}, {"q": A_TRACKING}):
            response = getattr(client, method.lower())(url, query)
            assert response.status_code < 500, f"{url} {query}: {response.status_code}"
            body = b"".join(response.streaming_content) if response.streaming else response.content
            text = body.decode("utf-8", "replace")
            leaked = [marker for marker in A_MARKERS if marker in text]
            if query:
                # The marker may be echoed back as the search term itself; A's *other* data may not.
                leaked = [m for m in leaked if m != query["q"]]
            assert not leaked, f"{url} {query} shows tenant A's {leaked}"


def test_a_known_leak_would_be_caught(alpha, bravo):
    """The marker check itself works: tenant A's own list shows A's markers."""
    _, raw = api_key_create(tenant=alpha.tenant, role=Role.ADMIN)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    text = api.get("/api/v1/shipments/").content.decode()

    assert A_TRACKING in text and A_ORDER_NUMBER in text


def test_unnamed_routes_do_not_exist():
    unnamed = [r.pattern for r in all_routes() if "<unnamed" in r.name and exclusion(r) is None]

    assert not unnamed, f"Name these routes so the isolation test can reverse them: {unnamed}"


# -- ids in the body or the query string ------------------------------------------------------


@pytest.mark.parametrize("action", ["retrack", "resend", "stop"])
def test_bulk_actions_ignore_another_tenants_ids(action, alpha, bravo):
    objects = [alpha.shipment]
    before = _state(alpha.tenant, objects)

    response = bravo.browser.post(
        "/dashboard/shipments/bulk/", {"action": action, "ids": [str(alpha.shipment.pk)]}
    )

    assert response.status_code < 500
    assert _state(alpha.tenant, objects) == before


@pytest.mark.parametrize("param", ["shipment", "order"])
def test_api_filters_by_another_tenants_id_find_nothing(param, alpha, bravo):
    with tenant_scope(alpha.tenant):
        _notification(alpha)
    target = alpha.shipment if param == "shipment" else alpha.order

    response = bravo.api.get("/api/v1/notifications/", {param: target.pk})

    assert response.status_code == 200
    assert response.json()["results"] == []
    assert A_EMAIL not in response.content.decode()


def test_api_notification_settings_of_another_tenants_store_are_not_found(alpha, bravo):
    with tenant_scope(alpha.tenant):
        kwargs, _ = _store(alpha)

    response = bravo.api.get("/api/v1/notification-settings/", {"store": kwargs["pk"]})

    assert response.status_code == 404
