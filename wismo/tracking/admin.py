"""Django admin for the kernel's models, tenant-aware.

Operators (superusers) see every tenant (the middleware opens ``all_tenants``); staff members of
tenants see only their tenants' rows (the middleware opens a scope over their memberships).
Secrets are write-only: the admin never shows credentials or webhook secrets back.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models

from tenants.admin import TenantScopedAdmin
from wismo.tracking.models import (
    CarrierAccount,
    InboundWebhook,
    Order,
    PrivacyRequest,
    Shipment,
    ShipmentStatusChange,
    ShopConnection,
    TrackingEvent,
    UnmappedCarrierCode,
)

TenantAdmin = TenantScopedAdmin


class SecretJSONWidget(forms.Textarea):
    """Shows nothing of the stored value: a secret is replaced, never displayed."""

    def format_value(self, value):
        return ""


class SecretsForm(forms.ModelForm):
    """Credentials are write-only: leave blank to keep the stored value."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("credentials", "webhook_secret"):
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].widget = SecretJSONWidget(attrs={"rows": 3})
                # A callable default (dict) would add a hidden "initial-..." input with the secret.
                self.fields[name].show_hidden_initial = False
                self.fields[name].help_text = "Write-only. Leave blank to keep the stored value."

    def clean_credentials(self):
        value = self.cleaned_data.get("credentials")
        if value in (None, "", {}) and self.instance.pk:
            return self.instance.credentials
        return value or {}

    def clean_webhook_secret(self):
        value = self.cleaned_data.get("webhook_secret")
        if not value and self.instance.pk:
            return self.instance.webhook_secret
        return value or ""


@admin.register(ShopConnection)
class ShopConnectionAdmin(TenantAdmin):
    form = SecretsForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "platform", "tenant", "is_active", "last_synced_at", "sync_error")
    list_filter = ("tenant", "platform", "is_active")
    search_fields = ("name", "shop_url")
    readonly_fields = (
        "last_synced_at",
        "sync_attempted_at",
        "sync_started_at",
        "sync_error",
        "write_back_error",
    )
    exclude = ("sync_cursor", "sync_since", "write_back_cursor")


@admin.register(CarrierAccount)
class CarrierAccountAdmin(TenantAdmin):
    form = SecretsForm
    list_display = ("name", "carrier", "tenant", "is_active")
    list_filter = ("tenant", "carrier", "is_active")


class ShipmentInline(admin.TabularInline):
    model = Shipment
    fields = ("carrier", "tracking_number", "status", "substatus", "estimated_delivery")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Order)
class OrderAdmin(TenantAdmin):
    list_display = ("order_number", "customer_email", "tenant", "store", "created_at")
    search_fields = ("order_number", "customer_email", "customer_name", "external_id")
    readonly_fields = ("public_token", "created_at", "updated_at")
    inlines = [ShipmentInline]


class EventInline(admin.TabularInline):
    model = TrackingEvent
    fields = ("occurred_at", "status", "substatus", "code", "description", "location", "source")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-occurred_at",)


@admin.register(Shipment)
class ShipmentAdmin(TenantAdmin):
    list_display = (
        "tracking_number",
        "carrier",
        "status",
        "substatus",
        "tenant",
        "last_event_at",
        "is_active",
    )
    list_filter = ("tenant", "status", "carrier", "is_active", "action_required")
    search_fields = ("tracking_number", "order__order_number", "order__customer_email")
    readonly_fields = (
        "public_token",
        "created_at",
        "updated_at",
        "last_checked_at",
        "last_event_at",
        "delivered_at",
    )
    raw_id_fields = ("order",)
    inlines = [EventInline]
    actions = ["retrack"]

    @admin.action(description="Re-track now")
    def retrack(self, request, queryset):
        from django.core.exceptions import ValidationError

        from wismo.tracking.services.polling import shipment_retrack
        from wismo.tracking.tasks import poll_shipments

        done = 0
        for shipment in queryset:
            try:
                shipment_retrack(shipment=shipment)
            except ValidationError:
                continue
            poll_shipments.apply_async(
                kwargs={"tenant_id": shipment.tenant_id, "shipment_ids": [shipment.pk]}
            )
            done += 1
        self.message_user(request, f"{done} shipments will be asked about again now.")


@admin.register(TrackingEvent)
class TrackingEventAdmin(TenantAdmin):
    list_display = ("shipment", "occurred_at", "status", "substatus", "code", "location", "source")
    list_filter = ("tenant", "status", "source")
    raw_id_fields = ("shipment",)
    readonly_fields = ("dedupe_key", "created_at")


@admin.register(ShipmentStatusChange)
class ShipmentStatusChangeAdmin(TenantAdmin):
    list_display = (
        "shipment",
        "from_status",
        "to_status",
        "occurred_at",
        "created_at",
        "dispatched_at",
    )
    list_filter = ("tenant", "to_status")
    raw_id_fields = ("shipment",)


@admin.register(InboundWebhook)
class InboundWebhookAdmin(TenantAdmin):
    list_display = ("source", "tenant", "state", "attempts", "received_at", "processed_at")
    list_filter = ("tenant", "source", "state")
    readonly_fields = (
        "source",
        "carrier_account",
        "headers",
        "body",
        "digest",
        "received_at",
        "processed_at",
        "attempts",
        "error",
    )
    actions = ["replay"]

    @admin.action(description="Process again")
    def replay(self, request, queryset):
        from wismo.tracking.tasks import process_inbound_webhook

        rows = list(queryset.values_list("tenant_id", "id"))
        queryset.update(state=InboundWebhook.State.RECEIVED)
        for tenant_id, webhook_id in rows:
            process_inbound_webhook.apply_async(
                kwargs={"tenant_id": tenant_id, "webhook_id": webhook_id}
            )
        self.message_user(request, f"{len(rows)} webhooks queued for processing.")


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(TenantAdmin):
    """Shoppers' data exports and erasures: read-only records of what was done."""

    list_display = ("kind", "tenant", "store", "external_id", "created_at", "completed_at")
    list_filter = ("tenant", "kind")
    readonly_fields = (
        "kind",
        "store",
        "external_id",
        "customer_email",
        "order_external_ids",
        "export_document",
        "summary",
        "created_at",
        "completed_at",
    )
    exclude = ("export",)

    @admin.display(description="Export (hand this to the shopper)")
    def export_document(self, obj: PrivacyRequest) -> str:
        import json

        from django.utils.html import format_html

        if not obj.export:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.export, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UnmappedCarrierCode)
class UnmappedCarrierCodeAdmin(admin.ModelAdmin):
    """Platform-wide carrier vocabulary (no tenant data): operators only."""

    list_display = ("carrier", "code", "count", "mapped_to", "sample_description", "last_seen_at")
    list_filter = ("carrier",)
    search_fields = ("code", "sample_description")

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
