"""Who may open a dashboard page: signed in, past two-factor, a member of the current tenant,
with at least the page's role.

Every dashboard view is wrapped by ``dashboard_view`` (function views) or inherits
``DashboardMixin`` (class views). ``tests/dashboard/test_access.py`` walks the URL configuration
and fails when a dashboard route is not wrapped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.models import Role

RANK = {Role.AGENT: 1, Role.ADMIN: 2, Role.OWNER: 3}
SESSION_2FA_KEY = "wismo_2fa_ok"

# The Content-Security-Policy of every dashboard page: our own scripts and styles only, no inline
# script, nothing from another origin (merchant logos are the exception: https images).
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)


def has_role(request: HttpRequest, role: str) -> bool:
    """Does the current membership carry at least ``role``?"""
    membership = getattr(request, "membership", None)
    if membership is None:
        return False
    return RANK.get(membership.role, 0) >= RANK[role]


def needs_second_factor(request: HttpRequest) -> bool:
    """Signed in with a password, but a confirmed authenticator has not been answered yet."""
    device = getattr(request.user, "two_factor", None) if request.user.is_authenticated else None
    try:
        confirmed = device is not None and device.is_confirmed
    except Exception:
        confirmed = False
    return confirmed and not request.session.get(SESSION_2FA_KEY)


def _refuse(request: HttpRequest) -> HttpResponse | None:
    """The response that stops this request, or None when it may go on."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    if needs_second_factor(request):
        return redirect_to_login(request.get_full_path(), "/accounts/login/verify/")
    if getattr(request, "tenant", None) is None:
        return render(request, "dashboard/no_tenant.html", status=403)
    return None


def dashboard_view(role: str = Role.AGENT) -> Callable:
    """Decorate a function view: signed in, 2FA passed, a tenant chosen, at least ``role``."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            refused = _refuse(request)
            if refused is not None:
                return refused
            if not has_role(request, role):
                raise PermissionDenied("Your role in this shop cannot open this page.")
            response = view(request, *args, **kwargs)
            response.setdefault("Content-Security-Policy", DASHBOARD_CSP)
            response.setdefault("Cache-Control", "private, no-store")
            return response

        wrapper.dashboard_role = role  # read by the route coverage test
        return wrapper

    return decorate


class DashboardMixin:
    """The class-view spelling of ``dashboard_view``: set ``required_role``."""

    required_role: str = Role.AGENT

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        refused = _refuse(request)
        if refused is not None:
            return refused
        if not has_role(request, self.required_role):
            raise PermissionDenied("Your role in this shop cannot open this page.")
        response = super().dispatch(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", DASHBOARD_CSP)
        response.setdefault("Cache-Control", "private, no-store")
        return response
