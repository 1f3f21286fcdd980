"""What the dashboard itself keeps: invitations, two-factor devices, WISMO contacts, saved views,
notes on shipments and per-tenant carrier-code overrides.

Models are thin; behaviour lives in ``dashboard.services``. Everything tenant-owned goes through
the fail-closed ``TenantManager`` (via ``TenantOwned``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import Role
from tenants.scoping import SystemManager
from wismo.tracking.crypto import EncryptedTextField
from wismo.tracking.models import STATUS_CHOICES, Order, Shipment, TenantOwned


class Invitation(TenantOwned):
    """An emailed invitation to join a tenant with a role; only the token's SHA-256 is kept."""

    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    # Accepting an invitation finds it by token before any tenant scope exists.
    unscoped = SystemManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} as {self.role}"

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class TwoFactorDevice(models.Model):
    """A user's TOTP authenticator (RFC 6238). Belongs to the person, not to a tenant."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="two_factor"
    )
    secret = EncryptedTextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted time step: a code is good once (no replay within its 30 s window).
    last_step = models.BigIntegerField(default=0)
    # SHA-256 of each unused recovery code.
    recovery_codes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"TOTP of {self.user}"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class ContactChannel(models.TextChoices):
    DASHBOARD = "dashboard", "Dashboard search"
    HELPDESK = "helpdesk", "Helpdesk sidebar"
    API = "api", "API lookup"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat"


class WismoContact(TenantOwned):
    """One "where is my order?" contact: an agent looked a shipment up for a shopper.

    Feeds the WISMO rate (contacts per 100 shipments). ``status`` and ``notified`` freeze what the
    shopper could see when they asked, so the rate can be broken down by both later.
    """

    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=ContactChannel.choices)
    query = models.CharField(max_length=200, blank=True)
    carrier = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=24, choices=STATUS_CHOICES, blank=True)
    notified = models.BooleanField(
        default=False, help_text="Had the shopper been sent an email about this parcel?"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="wismo_contact_time_idx")]

    def __str__(self) -> str:
        return f"{self.channel} contact {self.query!r}"


class SavedView(TenantOwned):
    """A named set of shipment-list filters; shared with the tenant's team or kept personal."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=2000, help_text="The list's query string.")
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ShipmentNote(TenantOwned):
    """An internal note on a shipment, for the team only (never on the shopper's page)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.body[:40]


class StatusOverride(TenantOwned):
    """A tenant's own meaning for one carrier code: wins over the built-in mapping tables."""

    carrier = models.CharField(max_length=40)
    code = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    substatus = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["carrier", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "carrier", "code"], name="status_override_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.carrier}:{self.code} -> {self.substatus}"


class AuditEntry(TenantOwned):
    """One change made through the dashboard or the API: who, what, when, from where.

    Written by ``dashboard.audit`` for every state-changing request that reached a tenant; read by
    owners. Never updated; never holds a secret (request bodies are not kept, only the route).
    """

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.CharField(max_length=200, help_text="The user's email or the API key prefix.")
    channel = models.CharField(max_length=10, help_text="dashboard or api")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    action = models.CharField(max_length=200, help_text="The route's name, e.g. dash-branding.")
    object_id = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time_idx")]

    def __str__(self) -> str:
        return f"{self.actor} {self.method} {self.path} -> {self.status_code}"
