"""Admin for notifications: policies, templates (validated on save), the outbox, suppressions
and outbound webhooks. Tenant-aware like every tenant-owned admin (``TenantScopedAdmin``)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import models

from notifications import rendering
from notifications.models import (
    EmailTemplate,
    Notification,
    NotificationPolicy,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.services.webhooks_out import delivery_replay
from tenants.admin import TenantScopedAdmin


@admin.register(NotificationPolicy)
class NotificationPolicyAdmin(TenantScopedAdmin):
    list_display = ("__str__", "tenant", "enabled", "quiet_start", "quiet_end")


class EmailTemplateForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["tenant", "trigger", "language", "subject", "html", "text"]

    def clean(self):
        cleaned = super().clean()
        for part in ("subject", "html", "text"):
            source = cleaned.get(part) or ""
            if not source:
                continue
            try:
                rendering.validate(source, part)
            except rendering.TemplateProblem as exc:
                where = f" (line {exc.line})" if exc.line else ""
                self.add_error(part, f"{exc.message}{where}")
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(TenantScopedAdmin):
    form = EmailTemplateForm
    list_display = ("trigger", "language", "tenant", "updated_at")
    list_filter = ("tenant", "trigger", "language")


@admin.register(Notification)
class NotificationAdmin(TenantScopedAdmin):
    list_display = ("trigger", "recipient", "state", "send_after", "sent_at", "tenant")
    list_filter = ("tenant", "state", "trigger")
    search_fields = ("recipient", "message_id", "provider_message_id")
    raw_id_fields = ("shipment", "order", "change")
    readonly_fields = [f.name for f in Notification._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False


@admin.register(Suppression)
class SuppressionAdmin(TenantScopedAdmin):
    list_display = ("email", "reason", "tenant", "created_at")
    list_filter = ("tenant", "reason")
    search_fields = ("email",)


class WebhookEndpointForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the current secret.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "url", "secret", "events", "is_active"]

    def clean_secret(self):
        value = self.cleaned_data.get("secret") or ""
        if not value and self.instance.pk:
            return self.instance.secret
        if not value:
            raise forms.ValidationError("A new endpoint needs a signing secret.")
        return value


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = WebhookEndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("url", "tenant", "is_active", "consecutive_failures", "disabled_reason")
    list_filter = ("tenant", "is_active")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    list_display = ("event", "endpoint", "state", "attempts", "response_status", "created_at")
    list_filter = ("tenant", "state")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields if f.name != "id"]
    actions = ["replay"]

    @admin.action(description="Send again")
    def replay(self, request, queryset):
        for delivery in queryset:
            delivery_replay(delivery=delivery)
        self.message_user(request, f"{queryset.count()} deliveries queued again.")

    def has_add_permission(self, request):
        return False
