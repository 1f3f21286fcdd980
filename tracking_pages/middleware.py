"""Serve a tenant's tracking pages on its own domain (``track.shop.example/`` and ``/<token>/``).

A request whose host is a tenant's ``custom_domain`` is routed through
``tracking_pages.domain_urls`` (the pages only: no admin, API or dashboard there), with the
tenant's id on ``request.tracking_tenant_id``. Any other host goes on untouched. The platform's
own host (from ``WISMO_BASE_URL``) is never looked up; other hosts are looked up once per
``selectors.TENANT_TTL`` seconds per process. Put it right after WhiteNoise, before
``CommonMiddleware`` (whose slash redirect must see the domain's URLconf). Django still checks
the host against ``ALLOWED_HOSTS`` first, which must therefore list the custom domains.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port

from tracking_pages import selectors

DOMAIN_URLCONF = "tracking_pages.domain_urls"


class CustomDomainMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        platform = urlsplit(settings.WISMO_BASE_URL).hostname or ""
        self.platform_hosts = {platform.lower(), "localhost", "127.0.0.1", "[::1]", "testserver"}
        # Raw Host header -> host name without port (the platform's own hosts -> "").
        self._names: dict[str, str] = {}

    def _name(self, raw: str) -> str:
        name = self._names.get(raw)
        if name is None:
            name, _port = split_domain_port(raw)
            name = "" if name in self.platform_hosts else name
            if len(self._names) > 1000:
                self._names.clear()
            self._names[raw] = name
        return name

    def __call__(self, request):
        # The raw header is enough to choose the URLconf; Django validates it against
        # ALLOWED_HOSTS at its first get_host() (CommonMiddleware, right after).
        host = self._name(request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", ""))
        if host:
            tenant_id = selectors.tenant_id_for_host(host)
            if tenant_id is not None:
                request.urlconf = DOMAIN_URLCONF
                request.tracking_tenant_id = tenant_id
        return self.get_response(request)
