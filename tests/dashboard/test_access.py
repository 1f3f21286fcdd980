"""Every dashboard route is guarded: a route without ``dashboard_view`` / ``DashboardMixin`` fails
here, and each guarded route refuses anonymous visitors and roles below its own."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from dashboard.access import RANK, DashboardMixin
from tenants.models import Role

pytestmark = pytest.mark.django_db

# Routes under /dashboard/ that are deliberately not behind dashboard_view, and why.
UNGUARDED = {
    "switch/": "only switches to a tenant the signed-in user belongs to (login_required)",
}


def _walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def dashboard_routes() -> list[tuple[str, object]]:
    return [
        (route[len("dashboard/") :], callback)
        for route, callback in _walk(get_resolver())
        if route.startswith("dashboard/")
    ]


def _role_of(callback) -> str | None:
    if hasattr(callback, "dashboard_role"):
        return callback.dashboard_role
    view_class = getattr(callback, "view_class", None)
    if view_class is not None and issubclass(view_class, DashboardMixin):
        return view_class.required_role
    return None


def test_every_dashboard_route_is_guarded():
    unguarded = [
        route
        for route, callback in dashboard_routes()
        if _role_of(callback) is None and route not in UNGUARDED
    ]
    assert not unguarded, f"dashboard routes without dashboard_view/DashboardMixin: {unguarded}"


def _concrete(route: str) -> str:
    """A URL for the pattern: ids that exist nowhere (the guard answers before the view looks)."""
    import re

    route = re.sub(r"<int:[^>]+>", "999999", route)
    route = re.sub(r"<(?:str|slug):[^>]+>", "nothing", route)
    route = re.sub(r"<path:[^>]+>", "nothing", route)
    return "/dashboard/" + route.replace("^", "").replace("$", "")


def test_anonymous_visitors_are_sent_to_sign_in():
    for route, _callback in dashboard_routes():
        if route in UNGUARDED:
            continue
        response = Client().get(_concrete(route))
        assert response.status_code == 302, route
        assert response["Location"].startswith("/accounts/login/"), route


def test_roles_below_the_routes_role_are_refused(agent_client, admin_client):
    clients = {Role.AGENT: agent_client, Role.ADMIN: admin_client}
    for route, callback in dashboard_routes():
        required = _role_of(callback)
        if required is None:
            continue
        for role, client in clients.items():
            if RANK[role] >= RANK[required]:
                continue
            for method in ("get", "post"):
                response = getattr(client, method)(_concrete(route))
                assert response.status_code == 403, (route, role, method)
