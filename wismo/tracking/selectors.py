"""Tenant-scoped reads that pages and the API use: they own query shape and related loading."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from carriers.detection import compact
from tenants.scoping import active_tenant_ids
from wismo.tracking.models import Order, Shipment, TrackingEvent

# What a list row of the API shows (wismo.api.serializers.ShipmentSerializer): the other columns
# (poll bookkeeping, EDD internals, the order's items and addresses) are never loaded for a list.
LIST_FIELDS = (
    "id",
    "tenant_id",
    "order_id",
    "tracking_number",
    "carrier",
    "status",
    "substatus",
    "action_required",
    "estimated_delivery",
    "estimated_delivery_earliest",
    "estimated_delivery_latest",
    "estimated_delivery_source",
    "estimated_delivery_confidence",
    "public_token",
    "destination_country",
    "destination_postcode",
    "shipped_at",
    "delivered_at",
    "last_event_at",
    "last_checked_at",
    "is_active",
    "last_error_code",
    "last_error",
    "replaces_id",
    "created_at",
    "updated_at",
    "order__id",
    "order__order_number",
)


def shipment_list(
    *,
    status: str | None = None,
    carrier: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[Shipment]:
    """Shipments of the active tenant, newest first, with their order loaded.

    The joined order's items are JSON that every row would parse and no list shows: deferred.
    The tenant is not joined: it is one row for the whole page, which the caller attaches
    (``Shipment.tenant.field.set_cached_value``) instead of loading it once per shipment."""
    qs = Shipment.objects.select_related("order").only(*LIST_FIELDS)
    if status:
        qs = qs.filter(status=status)
    if carrier:
        qs = qs.filter(carrier=carrier)
    if updated_since:
        qs = qs.filter(updated_at__gte=updated_since)
    if q:
        term = q.strip()
        number = compact(term)
        qs = qs.filter(
            Q(tracking_number=number)
            | Q(order__order_number=term)
            | Q(order__customer_email__iexact=term)
        )
    return qs.order_by("-created_at", "-id")


_row_bases: dict[tuple, QuerySet] = {}


def shipment_rows(*, fields: tuple[str, ...]) -> QuerySet:
    """The active tenant's shipments as value rows of ``fields``, newest first, unevaluated.

    Building this query (the tenant scope's filter, two dozen columns and the order's join)
    was a fifth of an API list request's Python time; it is built once per tenant and process
    and each caller gets a clone to narrow. The cached query is never evaluated itself."""
    ids = active_tenant_ids()
    if ids is None:  # scoping disabled (platform work), or absent (the manager refuses)
        return Shipment.objects.values(*fields).order_by("-created_at", "-id")
    key = (tuple(ids), fields)
    base = _row_bases.get(key)
    if base is None:
        if len(_row_bases) >= 2048:  # bounded: one entry per tenant in practice
            _row_bases.clear()
        base = _row_bases[key] = Shipment.objects.values(*fields).order_by("-created_at", "-id")
    return base.all()


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
