"""The audit log: every change made through the dashboard or the API, who, what, when, from where.

``AuditMiddleware`` (right after ``TenantScopeMiddleware``) looks at every state-changing request
(POST, PUT, PATCH, DELETE) under ``/dashboard/``, ``/api/v1/`` and ``/accounts/`` once the
response is ready, and writes one ``AuditEntry`` per tenant it reached:

- dashboard: the tenant the middleware chose (``request.tenant``) and the signed-in user, read
  before the view runs (a sign-out leaves the request anonymous);
- API: the API key's tenant and prefix, known only after DRF authenticated the request (DRF puts
  its principal on the underlying request's ``user``);
- a successful sign-in: every tenant the user belongs to (their owners see it).

Kept: the route's name, the object id from the URL, the status code, the client address, the
user agent (truncated) and the request id. Never the body, the query string or a header's
credentials: a change is known by its route, not its content.

The insert runs in its own savepoint and never breaks the response: a failure is logged.
``audit_entries`` is the owners' reader (keyset pagination, newest first).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils.functional import LazyObject

from dashboard.models import AuditEntry
from tenants.scoping import tenant_scope
from tenants.services import user_tenants
from tracking_pages.security import client_ip

logger = logging.getLogger(__name__)

CHANGING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CHANNELS = (("/api/v1/", "api"), ("/dashboard/", "dashboard"), ("/accounts/", "accounts"))
SIGN_IN_ROUTES = {"login", "login-verify"}
MAX_SIGN_IN_TENANTS = 50
# URL arguments that are credentials (an invitation's or a reset link's token): never kept.
_SECRET_ARG = re.compile(r"token|key|secret|signature|uid|hash|code", re.IGNORECASE)


def _channel(path: str) -> str | None:
    return next((name for prefix, name in CHANNELS if path.startswith(prefix)), None)


def _object_id(kwargs: dict) -> str:
    """The id the URL names: ``pk``/``id`` first, then the first non-secret argument."""
    for name in ("pk", "id"):
        if kwargs.get(name) not in (None, ""):
            return str(kwargs[name])[:64]
    for name, value in kwargs.items():
        if not _SECRET_ARG.search(name) and value not in (None, ""):
            return str(value)[:64]
    return ""


def _api_principal(request: HttpRequest):
    """DRF's principal (a tenant and its key) when an API key authenticated this request.

    Read from the request's own ``user`` without evaluating the lazy session user; duck-typed,
    as the dashboard does not import the API package.
    """
    user = request.__dict__.get("user")
    if user is None or isinstance(user, LazyObject):
        return None
    key, tenant = getattr(user, "key", None), getattr(user, "tenant", None)
    return user if tenant is not None and getattr(key, "prefix", None) else None


@dataclass(frozen=True, slots=True)
class _Who:
    tenant_ids: tuple[int, ...]
    actor: str
    user_id: int | None


def _who(request: HttpRequest, user_before) -> _Who | None:
    principal = _api_principal(request)
    if principal is not None:
        return _Who((principal.tenant.pk,), f"api-key {principal.key.prefix}", None)
    user = user_before
    tenant = getattr(request, "tenant", None)
    if tenant is not None and user is not None:
        return _Who((tenant.pk,), _user_label(user), user.pk)
    match = getattr(request, "resolver_match", None)
    after = request.__dict__.get("user")
    if (
        user is None
        and match is not None
        and match.url_name in SIGN_IN_ROUTES
        and getattr(after, "is_authenticated", False)
    ):
        # A sign-in: recorded in each of the user's tenants.
        ids = tuple(m.tenant_id for m in user_tenants(after)[:MAX_SIGN_IN_TENANTS])
        return _Who(ids, _user_label(after), after.pk) if ids else None
    return None


def _user_label(user) -> str:
    return (getattr(user, "email", "") or user.get_username())[:200]


def audit_record(
    *, tenant_id: int, actor: str, user_id: int | None, channel: str, request, status: int
) -> AuditEntry:
    """Write one entry for ``request`` (already answered with ``status``) in ``tenant_id``."""
    match = getattr(request, "resolver_match", None)
    with tenant_scope(tenant_id):
        return AuditEntry.objects.create(
            tenant_id=tenant_id,
            user_id=user_id,
            actor=actor[:200],
            channel=channel,
            method=request.method[:10],
            path=request.path[:500] if match is None else _masked_path(request.path, match),
            action=(match.view_name if match is not None else "")[:200],
            object_id=_object_id(match.kwargs if match is not None else {}),
            status_code=max(0, min(int(status), 32767)),
            ip=client_ip(request) or None,
            user_agent=request.headers.get("User-Agent", "")[:300],
            request_id=str(getattr(request, "request_id", ""))[:64],
        )


def _masked_path(path: str, match) -> str:
    for name, value in (match.kwargs or {}).items():
        text = str(value)
        if text and _SECRET_ARG.search(name):
            path = path.replace(text, f"<{name}>")
    return path[:500]


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        channel = _channel(request.path) if request.method in CHANGING_METHODS else None
        if channel is None:
            return self.get_response(request)
        user_before = None
        if channel != "api":
            user = getattr(request, "user", None)
            user_before = user if getattr(user, "is_authenticated", False) else None
        response = self.get_response(request)
        try:
            who = _who(request, user_before)
            if who is not None:
                for tenant_id in who.tenant_ids:
                    with transaction.atomic():  # a savepoint: a failure here stays here
                        audit_record(
                            tenant_id=tenant_id,
                            actor=who.actor,
                            user_id=who.user_id,
                            channel=channel,
                            request=request,
                            status=response.status_code,
                        )
        except Exception:
            logger.exception("audit entry not written for %s %s", request.method, request.path)
        return response


# --- Reading ----------------------------------------------------------------------------------
PAGE_SIZE = 50


def _cursor(entry: AuditEntry) -> str:
    return f"{entry.created_at.isoformat()}~{entry.pk}"


def cursor_parse(value: str) -> tuple[datetime, int] | None:
    """``(created_at, id)`` of a cursor, or None when it is not one."""
    stamp, sep, pk = (value or "").partition("~")
    if not sep or not pk.isdigit() or len(value) > 80:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment, int(pk)


def audit_entries(
    *,
    actor: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[AuditEntry], str]:
    """One page of the active tenant's entries, newest first, and the next page's cursor."""
    entries = AuditEntry.objects.order_by("-created_at", "-id")
    if actor:
        entries = entries.filter(actor=actor)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    if after is not None:
        moment, pk = after
        entries = entries.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    page = list(entries[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (_cursor(page[-1]) if more and page else "")


def audit_actors() -> list[str]:
    """The actors of the active tenant's log, for the filter (at most 200)."""
    return list(
        AuditEntry.objects.order_by("actor").values_list("actor", flat=True).distinct()[:200]
    )
