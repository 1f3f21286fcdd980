"""Inbound webhooks skip the browser's middleware.

Everything under ``/hooks/`` is a machine talking to us: a shop platform, a carrier or an email
provider, authenticated by a signature or a shared secret in the request, never by a session or
a cookie, and csrf-exempt. Sessions, CSRF, authentication, messages, htmx, clickjacking headers,
the dashboard's tenant scope and the audit log do nothing for such a request, yet cost a
quarter of a delivery's CPU (measured in-process: ~0.25 of ~1.0 ms), and a platform sends
deliveries in bursts of hundreds a second.

``HooksMiddleware`` sits after ``RequestIdMiddleware`` (request ids and the access line),
``SecurityMiddleware`` (HTTPS redirect, HSTS), WhiteNoise and ``CustomDomainMiddleware``. For a
``/hooks/`` path on the platform's own host it checks the host against ``ALLOWED_HOSTS`` and
sets ``Content-Length`` (as ``CommonMiddleware`` would) and answers through a handler with no middleware of its own: URL
resolution, the view (in a transaction when ``ATOMIC_REQUESTS``), exceptions turned into
responses. A tenant's custom domain (``request.urlconf`` set) serves tracking pages only and
goes on through the whole stack, where ``/hooks/`` is a 404, as before.
"""

from __future__ import annotations

from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse

PREFIX = "/hooks/"


class _Bare(BaseHandler):
    """Django's own view dispatch (``BaseHandler._get_response``) with no middleware."""

    def __init__(self) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)

    def respond(self, request: HttpRequest) -> HttpResponse:
        return self._middleware_chain(request)


class HooksMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.bare = _Bare()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(PREFIX) or getattr(request, "urlconf", None):
            return self.get_response(request)
        request.get_host()  # DisallowedHost (400) for a host that ALLOWED_HOSTS does not list
        response = self.bare.respond(request)
        # As CommonMiddleware would: a sized answer keeps the platform's connection alive.
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response
