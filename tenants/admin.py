"""Admin for tenants, memberships and API keys. Key hashes are never shown."""

from django.contrib import admin

from tenants.models import ApiKey, Membership, Tenant
from tenants.scoping import active_tenant_ids


@admin.register(Tenant)
class TenantModelAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "default_language", "timezone", "is_active", "created_at")
    search_fields = ("slug", "name")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=active_tenant_ids() or [])

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class ScopedAdmin(admin.ModelAdmin):
    list_filter = ("tenant",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if active_tenant_ids() is None and not request.user.is_superuser:
            return qs.none()
        return qs


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("tenant", "role")
    raw_id_fields = ("user",)


@admin.register(ApiKey)
class ApiKeyAdmin(ScopedAdmin):
    list_display = ("prefix", "name", "tenant", "role", "created_at", "last_used_at", "revoked_at")
    fields = ("tenant", "name", "prefix", "role", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request):
        # Keys are issued with `manage.py create_api_key` (or the dashboard), which shows them once.
        return False
