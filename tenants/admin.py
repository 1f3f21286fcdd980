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


class TenantScopedAdmin(admin.ModelAdmin):
    """Admin of a tenant-owned model: operators see every tenant, a tenant's staff only theirs.

    The middleware opens the scope (all tenants for superusers, the memberships' tenants for
    staff); with none open, a non-operator sees an empty list rather than an error.
    """

    list_filter = ("tenant",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if active_tenant_ids() is None and not request.user.is_superuser:
            return qs.none()
        return qs

    def get_list_filter(self, request):
        # Tenant itself is not scoped: list only the tenants whose rows this admin can see.
        return [
            ("tenant", admin.RelatedOnlyFieldListFilter) if name == "tenant" else name
            for name in super().get_list_filter(request)
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A tenant's staff can neither see other tenants nor move a row (a key, a membership) there.
        if db_field.name == "tenant" and not request.user.is_superuser:
            kwargs["queryset"] = Tenant.objects.filter(pk__in=active_tenant_ids() or [])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("tenant", "role")
    raw_id_fields = ("user",)

    # Users are global: a tenant's staff could otherwise attach (and so reveal) any user by id.
    # Members are added with ``membership_add`` (create_tenant, the dashboard), not here.
    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if request.user.is_superuser else (*readonly, "user")

    def has_add_permission(self, request):
        return request.user.is_superuser


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ("prefix", "name", "tenant", "role", "created_at", "last_used_at", "revoked_at")
    fields = (
        "tenant",
        "name",
        "prefix",
        "role",
        "rate_limit_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request):
        # Keys are issued with `manage.py create_api_key` (or the dashboard), which shows them once.
        return False
