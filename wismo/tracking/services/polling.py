"""Polling: ask carriers for news about active shipments that are due, and record what they say.

``due_shipment_groups`` (a platform-wide sweep) finds due shipments and groups them by tenant,
carrier and account; ``poll_shipments`` (inside one tenant's scope) calls the carrier's adapter
outside any database transaction, records the events in one batch, and schedules the next check.
Transient errors back off; terminal ones are recorded on the shipment for the merchant to see.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from carriers import registry
from carriers.base import TrackingBatch, TrackingError
from carriers.http import CarrierHTTPError, HttpClient
from carriers.statuses import DEFAULT_SUBSTATUS, Status
from tenants.scoping import all_tenants
from wismo.tracking.models import EventSource, Shipment, ShipmentStatusChange
from wismo.tracking.services.timeline import record_events_batch
from wismo.tracking.signals import shipment_status_changed

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class PollGroup:
    tenant_id: int
    carrier: str
    carrier_account_id: int | None
    shipment_ids: list[int]


_http: HttpClient | None = None


def http_client() -> HttpClient:
    """One HTTP client per worker process, so connections to carriers are reused."""
    global _http
    if _http is None:
        _http = HttpClient()
    return _http


def poll_interval(carrier: str) -> timedelta:
    adapter = registry.get_adapter(carrier)
    interval = getattr(adapter, "poll_interval", None)
    return interval or timedelta(minutes=settings.WISMO_POLL_INTERVAL_MINUTES)


def due_shipment_groups(*, now: datetime | None = None, limit: int = 5000) -> list[PollGroup]:
    """Active shipments whose next check is due, grouped into carrier-sized batches.

    Platform-wide by design (the scheduler serves every tenant); each group belongs to one tenant.
    """
    now = now or timezone.now()
    pollable = [a.slug for a in registry.all_adapters() if a.pollable]
    with all_tenants():
        rows = list(
            Shipment.objects.filter(is_active=True, next_poll_at__lte=now, carrier__in=pollable)
            .order_by("next_poll_at")
            .values_list("tenant_id", "carrier", "carrier_account_id", "id")[:limit]
        )
    grouped: dict[tuple, list[int]] = defaultdict(list)
    for tenant_id, carrier, account_id, shipment_id in rows:
        grouped[(tenant_id, carrier, account_id)].append(shipment_id)
    groups = []
    for (tenant_id, carrier, account_id), ids in grouped.items():
        size = max(1, registry.get_adapter(carrier).max_batch_size)
        for start in range(0, len(ids), size):
            groups.append(PollGroup(tenant_id, carrier, account_id, ids[start : start + size]))
    return groups


def claim_for_polling(
    *,
    shipment_ids: list[int],
    now: datetime | None = None,
    lease: timedelta = timedelta(minutes=10),
) -> list[int]:
    """Push the due shipments' next check past a lease, so a second sweep does not enqueue them again.

    Returns the ids that were still due (and are now claimed). Runs in the tenant scope.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Shipment.objects.select_for_update(skip_locked=True)
            .filter(pk__in=shipment_ids, is_active=True, next_poll_at__lte=now)
            .values_list("id", flat=True)
        )
        Shipment.objects.filter(pk__in=ids).update(next_poll_at=now + lease)
    return ids


def _expire(shipment: Shipment, now: datetime) -> ShipmentStatusChange:
    change = ShipmentStatusChange(
        tenant_id=shipment.tenant_id,
        shipment_id=shipment.pk,
        from_status=shipment.status,
        from_substatus=shipment.substatus,
        to_status=Status.EXPIRED,
        to_substatus=DEFAULT_SUBSTATUS[Status.EXPIRED],
        occurred_at=now,
        created_at=now,
    )
    shipment.status, shipment.substatus = change.to_status, change.to_substatus
    shipment.action_required = False
    shipment.is_active = False
    shipment.updated_at = now
    return change


def poll_shipments(*, shipment_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Ask the carrier about these shipments (one tenant, one carrier) and record the answers."""
    shipments = list(
        Shipment.objects.select_related("carrier_account").filter(
            pk__in=shipment_ids, is_active=True
        )
    )
    if not shipments:
        return {"polled": 0, "events": 0, "errors": 0}
    carrier = shipments[0].carrier
    adapter = registry.get_adapter(carrier)
    account = shipments[0].carrier_account
    credentials = account.credentials if account else {}
    by_number = {s.tracking_number: s for s in shipments if s.carrier == carrier}
    # The network call happens outside any transaction: a slow carrier never holds a lock.
    retry_after: float | None = None
    try:
        batch = adapter.track(list(by_number), credentials=credentials, http=http_client(), now=now)
    except CarrierHTTPError as exc:
        # The whole request failed: every number in it shares the error and its retry policy.
        retry_after = exc.retry_after
        code = "carrier_unavailable" if exc.transient else "credentials_refused"
        batch = TrackingBatch(
            errors=[TrackingError(n, code, str(exc), transient=exc.transient) for n in by_number]
        )
    now = now or timezone.now()
    results = record_events_batch(
        items=[
            (by_number[r.tracking_number].pk, r.events)
            for r in batch.results
            if r.tracking_number in by_number
        ],
        source=EventSource.POLL,
    )
    interval = poll_interval(carrier)
    errors = {e.tracking_number: e for e in batch.errors}
    window = timedelta(days=settings.WISMO_TRACKING_WINDOW_DAYS)
    expired: list[ShipmentStatusChange] = []
    with transaction.atomic():
        for shipment in Shipment.objects.select_for_update().filter(
            pk__in=[s.pk for s in by_number.values()]
        ):
            shipment.last_checked_at = now
            error = errors.get(shipment.tracking_number)
            if error is not None:
                shipment.poll_failures += 1
                shipment.last_error_code, shipment.last_error = error.code, error.message[:1000]
                backoff = (
                    interval * (2 ** min(shipment.poll_failures, 6))
                    if error.transient
                    else interval * 4
                )
                wait = min(backoff, MAX_BACKOFF)
                if retry_after is not None:  # never ask again before the carrier said we may
                    wait = max(wait, timedelta(seconds=retry_after))
                shipment.next_poll_at = now + wait
            else:
                shipment.poll_failures, shipment.last_error_code, shipment.last_error = 0, "", ""
                shipment.next_poll_at = now + interval
            fields = [
                "last_checked_at",
                "poll_failures",
                "last_error_code",
                "last_error",
                "next_poll_at",
                "is_active",
            ]
            last_news = shipment.last_event_at or shipment.created_at
            if (
                shipment.is_active
                and now - last_news > window
                and shipment.status != Status.DELIVERED
            ):
                # No carrier news for the whole tracking window: the parcel expires, we stop asking.
                expired.append(_expire(shipment, now))
                fields += ["status", "substatus", "action_required", "updated_at"]
            if not shipment.is_active:
                shipment.next_poll_at = None
            shipment.save(update_fields=fields)
        if expired:
            ShipmentStatusChange.objects.bulk_create(expired)
            change_ids = [change.pk for change in expired]
            transaction.on_commit(
                lambda: shipment_status_changed.send(
                    sender=ShipmentStatusChange, change_ids=change_ids
                )
            )
    created = sum(r.created for r in results.values())
    logger.info(
        "polled %s %s shipments: %s new events, %s errors",
        len(by_number),
        carrier,
        created,
        len(errors),
    )
    return {"polled": len(by_number), "events": created, "errors": len(errors)}
