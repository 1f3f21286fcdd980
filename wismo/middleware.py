"""Request ids and the access log.

``RequestIdMiddleware`` (first in ``MIDDLEWARE``) gives every request an id: the caller's
``X-Request-ID`` when it is short and made of safe characters (a load balancer's or another
service's id, so one request can be followed across systems), a new random one otherwise. The
id is put in ``wismo.logging.request_id_var`` for every log line of the request, on
``request.request_id`` (the audit log keeps it), and echoed in the response's ``X-Request-ID``.

When the response is ready it writes one access line to the ``wismo.access`` logger: method,
path, status, duration and tenant. The path has its secret parts masked (a tracking page's or
an invitation's token is a credential) and no query string; no body, no header, no email.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from wismo.logging import redact_path, request_id_var

access_log = logging.getLogger("wismo.access")

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
# URL arguments whose values are credentials: masked in the logged path.
_SECRET_ARG = re.compile(r"token|key|secret|signature|uid|hash|code", re.IGNORECASE)


def request_id_from(value: str | None) -> str:
    """The caller's id when it is safe to keep and log, otherwise a new one."""
    value = (value or "").strip()
    if _VALID_ID.match(value):
        return value
    return uuid.uuid4().hex


def loggable_path(request) -> str:
    """The request's path with secret URL arguments (or, unresolved, token-like segments)
    masked, at most 200 characters."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in (match.kwargs or {}).items():
            text = str(value)
            if text and _SECRET_ARG.search(name):
                path = path.replace(text, f"<{name}>")
    return redact_path(path)[:200]


def request_tenant_id(request) -> int | None:
    """The tenant a request worked in: the dashboard's, or the API key's (DRF sets
    ``request.user`` on the underlying request to the key's principal)."""
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        return tenant.pk
    user = request.__dict__.get("user")  # never evaluates the lazy session user
    principal_tenant = getattr(user, "tenant", None) if _is_api_principal(user) else None
    return principal_tenant.pk if principal_tenant is not None else None


def _is_api_principal(user) -> bool:
    from wismo.api.authentication import ApiPrincipal

    return type(user) is ApiPrincipal


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(HEADER))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _log(request, status: int, started: float) -> None:
        try:
            level = logging.ERROR if status >= 500 else logging.INFO
            if not access_log.isEnabledFor(level):
                return  # no masking, tenant lookup or formatting for a line nobody keeps
            path = loggable_path(request)
            access_log.log(
                level,
                "%s %s %s",
                request.method,
                path,
                status,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "tenant": request_tenant_id(request),
                },
            )
        except Exception:  # the access log never breaks a response
            logging.getLogger(__name__).debug("access log failed", exc_info=True)
