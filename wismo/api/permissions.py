from rest_framework.permissions import SAFE_METHODS, BasePermission

from wismo.api.authentication import ApiPrincipal


class HasTenantApiKey(BasePermission):
    """A valid key of an active tenant: admin keys may write, agent keys may read."""

    message = "An admin API key is needed for this."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return False
        return request.method in SAFE_METHODS or principal.role in ("admin", "owner")


class AdminKeyOnly(HasTenantApiKey):
    """Settings (stores, credentials) are for admin keys only, even to read."""

    def has_permission(self, request, view) -> bool:
        principal = request.user
        return isinstance(principal, ApiPrincipal) and principal.role in ("admin", "owner")
