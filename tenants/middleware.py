"""Open the tenant scope for a signed-in user's request.

The active tenant is the one the user picked (kept in the session) among their memberships, or
their first. Operators (superusers) in the admin see every tenant, spelled out as ``all_tenants``.
Requests with no tenant (anonymous, API, public pages) get no scope here: those edges open their
own, and tenant-owned queries without one raise.
"""

from __future__ import annotations

from contextlib import ExitStack

from tenants.scoping import all_tenants, tenant_scope, tenants_scope
from tenants.services import user_tenants

SESSION_KEY = "wismo_tenant_id"


class TenantScopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        user = getattr(request, "user", None)
        with ExitStack() as stack:
            if user is not None and user.is_authenticated:
                memberships = user_tenants(user)
                request.memberships = memberships
                chosen = request.session.get(SESSION_KEY)
                membership = next((m for m in memberships if m.tenant_id == chosen), None)
                membership = membership or (memberships[0] if memberships else None)
                if request.path.startswith("/admin/") and user.is_staff:
                    if user.is_superuser:
                        stack.enter_context(all_tenants())
                    elif memberships:
                        stack.enter_context(tenants_scope(m.tenant_id for m in memberships))
                elif membership is not None:
                    request.tenant = membership.tenant
                    request.membership = membership
                    stack.enter_context(tenant_scope(membership.tenant))
            return self.get_response(request)
