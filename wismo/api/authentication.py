"""API authentication: ``Authorization: Bearer <api key>`` opens the key's tenant scope."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from tenants.models import ApiKey, Tenant
from tenants.services import api_key_check


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: a tenant, through one of its API keys."""

    tenant: Tenant
    key: ApiKey
    # The request's place in the key's rate-limit window, when authentication counted it
    # (one Redis round trip for both; wismo.api.throttling reads it).
    count: int | None = None
    window_left_ms: int | None = None

    is_authenticated = True
    is_anonymous = False

    @property
    def role(self) -> str:
        return self.key.role

    def __str__(self) -> str:
        return f"api-key {self.key.prefix} of {self.tenant.slug}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        from wismo.api.throttling import ApiKeyRateThrottle

        check = api_key_check(
            parts[1], rate_window_ms=int(ApiKeyRateThrottle.window_seconds * 1000)
        )
        key = check.key
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        principal = ApiPrincipal(
            tenant=key.tenant, key=key, count=check.count, window_left_ms=check.window_left_ms
        )
        return principal, key

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "wismo.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A wismo API key."}
