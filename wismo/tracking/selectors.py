"""Tenant-scoped reads that pages and the API use: they own query shape and related loading."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from wismo.tracking.models import Order, Shipment, TrackingEvent


def shipment_list(
    *,
    status: str | None = None,
    carrier: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Shipment]:
    """Shipments of the active tenant, newest first, with their order loaded."""
    qs = Shipment.objects.select_related("order", "tenant")
    if status:
        qs = qs.filter(status=status)
    if carrier:
        qs = qs.filter(carrier=carrier)
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    if q:
        term = q.strip()
        number = "".join(term.split()).replace("-", "").upper()
        qs = qs.filter(
            Q(tracking_number=number)
            | Q(order__order_number=term)
            | Q(order__customer_email__iexact=term)
        )
    return qs.order_by("-created_at", "-id")


def shipment_detail(*, shipment_id: int) -> Shipment:
    """One shipment of the active tenant with its timeline; raises Shipment.DoesNotExist."""
    return (
        Shipment.objects.select_related("order", "tenant")
        .prefetch_related(
            Prefetch("events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-id"))
        )
        .get(pk=shipment_id)
    )


def order_list() -> QuerySet[Order]:
    return Order.objects.prefetch_related("shipments__tenant").order_by("-created_at", "-id")
