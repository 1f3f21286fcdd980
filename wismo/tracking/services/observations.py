"""Things the kernel notices about a parcel besides a new status, written as status-change rows
of their own kind so that notifications and webhooks get them as durably as a status change.

- ``delay_record``: the expected delivery slipped, or the parcel stopped moving (called by
  the delivery-date estimator and the stuck-parcel detector), once per new expected date;
- ``quiet_sweep``: parcels in transit whose carrier has said nothing for ``QUIET_AFTER`` while
  the expected date still holds, once per quiet spell (keyed by the last scan), so the shopper
  is reassured before they wonder.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from carriers.statuses import Status
from tenants.scoping import all_tenants
from wismo.tracking.models import Shipment, ShipmentStatusChange
from wismo.tracking.signals import shipment_status_changed

QUIET_AFTER = timedelta(days=3)


def _observe(shipment: Shipment, kind: str, detail: dict) -> ShipmentStatusChange | None:
    """Write the observation unless the same one was already written for this parcel."""
    if ShipmentStatusChange.objects.filter(shipment=shipment, kind=kind, detail=detail).exists():
        return None
    change = ShipmentStatusChange.objects.create(
        tenant_id=shipment.tenant_id,
        shipment=shipment,
        kind=kind,
        detail=detail,
        from_status=shipment.status,
        from_substatus=shipment.substatus,
        to_status=shipment.status,
        to_substatus=shipment.substatus,
        occurred_at=timezone.now(),
    )
    transaction.on_commit(
        lambda: shipment_status_changed.send(sender=ShipmentStatusChange, change_ids=[change.pk])
    )
    return change


@transaction.atomic
def delay_record(
    *, shipment: Shipment, reason: str, expected: date | None, previous: date | None = None
) -> ShipmentStatusChange | None:
    """The parcel will be late (``reason``: "slipped" or "stuck"); once per new expected date."""
    detail = {
        "reason": reason,
        "expected": expected.isoformat() if expected else None,
        "previous": previous.isoformat() if previous else None,
    }
    if ShipmentStatusChange.objects.filter(
        shipment=shipment,
        kind=ShipmentStatusChange.Kind.DELAY,
        detail__reason=reason,
        detail__expected=detail["expected"],
    ).exists():
        return None
    return _observe(shipment, ShipmentStatusChange.Kind.DELAY, detail)


def quiet_sweep(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Record "carrier quiet, date holds" for parcels that qualify (all tenants); returns how many."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    with all_tenants():
        candidates = list(
            Shipment.objects.filter(
                is_active=True,
                status=Status.IN_TRANSIT,
                last_event_at__lte=now - QUIET_AFTER,
                last_event_at__gte=now - QUIET_AFTER * 3,  # older silence is a stuck parcel
                estimated_delivery__gte=today,
            ).only("pk", "tenant_id", "status", "substatus", "last_event_at")[:limit]
        )
        made = 0
        for shipment in candidates:
            with transaction.atomic():
                made += (
                    _observe(
                        shipment,
                        ShipmentStatusChange.Kind.QUIET,
                        {"since": shipment.last_event_at.isoformat()},
                    )
                    is not None
                )
    return made
