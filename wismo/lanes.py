"""Lanes: webhooks and shopper pages skip the dashboard's middleware.

wismo serves three kinds of caller, and ``MIDDLEWARE`` is written for the one with a session
and a user: the dashboard, the admin and the API. The other two are the hottest:

- **hooks** (``/hooks/``): a shop platform, a carrier or an email provider, authenticated by a
  signature or a shared secret in the request, never by a session or a cookie, and csrf-exempt.
  A platform sends deliveries in bursts of hundreds a second.
- **pages** (``/t/``, and every path of a tenant's custom domain): anonymous shoppers. They need
  the session (a verified shopper's proof), CSRF for their forms, the slash redirect and
  clickjacking headers, but never a user, a dashboard tenant, messages, htmx or the audit log.

The middleware a lane skips did nothing for its requests but cost measurable CPU (in-process,
same run: a webhook delivery 1.08 -> 0.86 ms, an uncached tracking page about 13% less), and a
browser session cookie made them look up a session, a user and memberships on every request.

``LanesMiddleware`` sits after the middleware every request needs (request ids and the access
line, ``SecurityMiddleware``'s HTTPS redirect and headers, WhiteNoise, custom domains). A
request of a lane goes on through a handler of its own: the rest of ``MIDDLEWARE`` minus what
the lane skips, then Django's own view dispatch (resolution, view middleware, exceptions turned
into responses, ``ATOMIC_REQUESTS``). Middleware added to ``MIDDLEWARE`` later runs in every
lane unless a lane names it. Hooks check the host against ``ALLOWED_HOSTS`` and are sized, as
``CommonMiddleware`` (which they skip) would do; on a custom domain, only pages exist.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from tracking_pages.middleware import DOMAIN_URLCONF

# What the dashboard, the admin and the API need and the lanes do not.
_SIGNED_IN = {
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.TenantScopeMiddleware",
    "dashboard.audit.AuditMiddleware",
}
_BROWSER = {
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
SKIPPED = {"hooks": _SIGNED_IN | _BROWSER, "pages": _SIGNED_IN}
HOOKS = "/hooks/"
PAGES = "/t/"


class _Lane(BaseHandler):
    """Django's handler over the given middleware (what ``load_middleware`` builds from
    ``MIDDLEWARE``, for synchronous middleware)."""

    def __init__(self, paths: list[str]) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(paths):
            try:
                middleware = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(middleware, "process_view"):
                self._view_middleware.insert(0, middleware.process_view)
            if hasattr(middleware, "process_template_response"):
                self._template_response_middleware.append(middleware.process_template_response)
            if hasattr(middleware, "process_exception"):
                self._exception_middleware.append(middleware.process_exception)
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    def respond(self, request: HttpRequest) -> HttpResponse:
        return self._middleware_chain(request)


class LanesMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        name = f"{__name__}.{type(self).__name__}"
        after = list(settings.MIDDLEWARE)
        after = after[after.index(name) + 1 :] if name in after else []
        self.hooks = _Lane([m for m in after if m not in SKIPPED["hooks"]])
        self.pages = _Lane([m for m in after if m not in SKIPPED["pages"]])

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        # A tenant's own domain serves nothing but pages.
        if path.startswith(PAGES) or getattr(request, "urlconf", None) == DOMAIN_URLCONF:
            return self.pages.respond(request)
        if not path.startswith(HOOKS):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (400) for a host that ALLOWED_HOSTS does not list
        response = self.hooks.respond(request)
        # A sized answer keeps the platform's connection alive.
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
