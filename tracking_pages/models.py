"""What the shopper pages store: problem reports for the merchant, and page-view counts.

Both are tenant-owned and go through the fail-closed ``TenantManager``. Behaviour lives in
``tracking_pages.services`` (writes) and ``tracking_pages.selectors`` (reads).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from wismo.tracking.models import Order, Shipment, TenantOwned


class ProblemReport(TenantOwned):
    """A shopper's "something is wrong" about one parcel: a case in the merchant's queue.

    Opened only by a shopper who proved the order (order number + email or postcode). One open
    report per parcel and kind: a second submit finds the first. ``merchant_notified_at`` stays
    empty until whatever tells the merchant (webhook, email) has taken it, so that a relay can find
    reports whose after-commit nudge was lost.
    """

    class Kind(models.TextChoices):
        NOT_RECEIVED = "not_received", "Not received although delivered"
        DAMAGED = "damaged", "Arrived damaged"
        WRONG_ADDRESS = "wrong_address", "Wrong address"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"  # the merchant replied; still open for the shopper
        RESOLVED = "resolved", "Resolved"

    # States in which the case is still open: a second submit of the same kind finds it.
    OPEN_STATES = (State.OPEN, State.ANSWERED)

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="problem_reports")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="problem_reports")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.TextField(blank=True, max_length=2000)
    language = models.CharField(max_length=8, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    merchant_notified_at = models.DateTimeField(null=True, blank=True)
    # The merchant's latest answer, emailed to the shopper and shown on their report page.
    reply = models.TextField(blank=True, max_length=5000)
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "kind"],
                condition=Q(state__in=["open", "answered"]),
                name="problem_report_one_open_per_kind",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "state", "created_at"], name="problem_report_queue_idx"),
            models.Index(
                fields=["created_at"],
                condition=Q(merchant_notified_at__isnull=True),
                name="problem_report_unnotified_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.state})"


class PageViewCount(TenantOwned):
    """Views of one tracking page (a parcel's or an order's) on one day (UTC)."""

    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    views = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "day"],
                condition=Q(shipment__isnull=False),
                name="page_views_shipment_day",
            ),
            models.UniqueConstraint(
                fields=["order", "day"],
                condition=Q(order__isnull=False),
                name="page_views_order_day",
            ),
            models.CheckConstraint(
                condition=Q(shipment__isnull=False, order__isnull=True)
                | Q(shipment__isnull=True, order__isnull=False),
                name="page_views_one_target",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "day"], name="page_views_tenant_day_idx")]

    def __str__(self) -> str:
        target = f"shipment {self.shipment_id}" if self.shipment_id else f"order {self.order_id}"
        return f"{target} {self.day}: {self.views}"
