"""Notifications' data: the merchant's policy and templates, the email outbox, suppressions and
outbound webhooks. Thin models; behaviour lives in ``notifications.services``.

The outbox is a row per (parcel, trigger): its unique key is what makes an email go out at most
once per trigger, and its state machine (scheduled -> sending -> sent) is what the sender claims.
Several rows of one order and trigger due together are sent as one email (a split order's digest).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from wismo.tracking.crypto import EncryptedTextField
from wismo.tracking.models import (
    Order,
    Shipment,
    ShipmentStatusChange,
    ShopConnection,
    TenantOwned,
)


class Trigger(models.TextChoices):
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Ready for pickup"
    FAILED_ATTEMPT = "failed_attempt", "Delivery attempt failed"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Exception"
    DELAYED = "delayed", "Delay detected"
    STILL_ON_TRACK = "still_on_track", "Still on track"
    TRACKING_NUMBER_CHANGED = "tracking_number_changed", "Tracking number changed"
    DELIVERY_CHECK = "delivery_check", "Did it arrive?"


def default_triggers() -> list[str]:
    # Every trigger but the reassurance and the "did it arrive?" check, which merchants opt into.
    return [t.value for t in Trigger if t not in (Trigger.STILL_ON_TRACK, Trigger.DELIVERY_CHECK)]


def default_delays() -> dict[str, int]:
    # Minutes to wait after the change: a label printed a few minutes before the first scan, or
    # a split order's parcels handed over together, then make one email instead of several.
    return {Trigger.SHIPPED: 15, Trigger.IN_TRANSIT: 30, Trigger.DELIVERY_CHECK: 48 * 60}


class NotificationPolicy(TenantOwned):
    """What a tenant (``store`` empty) or one of its stores sends, when, and with what extras."""

    store = models.ForeignKey(
        ShopConnection,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_policies",
    )
    enabled = models.BooleanField(default=True)
    triggers = models.JSONField(default=default_triggers, blank=True)
    delays = models.JSONField(
        default=default_delays, blank=True, help_text="Minutes to wait per trigger."
    )
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="No email from this time (shopper's local time)..."
    )
    quiet_end = models.TimeField(null=True, blank=True, help_text="...until this time.")
    sender_name = models.CharField(max_length=100, blank=True)
    reply_to = models.EmailField(blank=True)
    delay_discount_code = models.CharField(max_length=64, blank=True)
    promotion = models.JSONField(
        default=dict, blank=True, help_text="Banner and products in emails; empty is off."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification policies"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(store__isnull=True), name="policy_one_per_tenant"
            ),
            models.UniqueConstraint(fields=["tenant", "store"], name="policy_one_per_store"),
        ]

    def __str__(self) -> str:
        return f"Notifications of {self.store or 'all stores'}"


class EmailTemplate(TenantOwned):
    """A merchant's own subject/HTML/text for one trigger and language (Jinja2, sandboxed)."""

    trigger = models.CharField(max_length=32, choices=Trigger.choices)
    language = models.CharField(max_length=8)
    subject = models.TextField(blank=True, help_text="Empty: the default subject.")
    html = models.TextField(blank=True, help_text="Empty: the default HTML.")
    text = models.TextField(blank=True, help_text="Empty: the default plain text.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "trigger", "language"], name="template_one_per_trigger_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} ({self.language})"


class Notification(TenantOwned):
    """One email owed to a shopper about one parcel: the outbox row (see module docstring)."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="notifications")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    change = models.ForeignKey(
        ShipmentStatusChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=32, choices=Trigger.choices)
    # What makes the row unique: "<shipment>:<trigger>", or "<shipment>:<trigger>:<n>" for a
    # trigger that may repeat (each new delay, each new number).
    dedupe_key = models.CharField(max_length=100)
    recipient = models.EmailField(max_length=254, blank=True)
    language = models.CharField(max_length=8, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="Trigger-specific values.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    send_after = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    message_id = models.CharField(
        max_length=255, blank=True, help_text="Our Message-ID, the same on every attempt."
    )
    provider_message_id = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_reason = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "dedupe_key"], name="notification_once")
        ]
        indexes = [
            models.Index(
                fields=["send_after"],
                condition=Q(state__in=["scheduled", "sending"]),
                name="notification_due_idx",
            ),
            models.Index(fields=["provider_message_id"], name="notification_provider_idx"),
            models.Index(fields=["order", "trigger"], name="notification_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} to {self.recipient or '-'} ({self.state})"


class Suppression(TenantOwned):
    """An address this tenant must not email: unsubscribed, bounced or complained."""

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Marked as spam"

    email = models.EmailField(max_length=254)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "email"], name="suppression_once")]

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"


class WebhookEndpoint(TenantOwned):
    """A merchant's URL that receives status changes as signed JSON."""

    url = models.URLField(max_length=500)
    secret = EncryptedTextField()
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event.")
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(TenantOwned):
    """One event owed to one endpoint: an outbox row like ``Notification``."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=64)
    event_id = models.CharField(max_length=64, help_text="Stable across retries and replays.")
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_once")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.state})"
