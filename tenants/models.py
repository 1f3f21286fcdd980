"""Tenants (merchants), who belongs to them, and their API keys."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.timezone import now

from tenants.scoping import SystemManager, TenantManager

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


def default_branding() -> dict:
    return {
        "logo_url": "",
        "primary_color": "#1f4e79",
        "accent_color": "#f2a900",
        "sender_name": "",
    }


class Tenant(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    default_language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    branding = models.JSONField(default=default_branding, blank=True)
    custom_domain = models.CharField(max_length=253, unique=True, null=True, blank=True)
    # Carrier slugs, most preferred first: picks among weak detection matches and breaks ties.
    carrier_priority = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now, editable=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AGENT = "agent", "Agent"


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(default=now, editable=False)

    objects = TenantManager()
    # Finding a user's tenants happens before any scope exists (login, middleware).
    unscoped = SystemManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant_id} ({self.role})"


class ApiKey(models.Model):
    """A key shown once at creation; only its SHA-256 is stored, its prefix finds it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    role = models.CharField(
        max_length=10, choices=[(Role.ADMIN, "Admin"), (Role.AGENT, "Agent")], default=Role.ADMIN
    )
    created_at = models.DateTimeField(default=now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Requests per minute this key may make; empty means WISMO_API_RATE_LIMIT_PER_MINUTE.
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)

    objects = TenantManager()
    # API authentication looks a key up by prefix before it knows the tenant.
    unscoped = SystemManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
