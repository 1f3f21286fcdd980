"""Polling: keep every active shipment fresh without ever hammering a carrier.

1. ``claim_due`` (beat's tick, platform-wide): one statement claims up to N due shipments
   (``next_poll_at <= now`` on the partial index of active shipments, ``FOR UPDATE SKIP LOCKED``
   so two schedulers never claim the same row) by pushing their ``next_poll_at`` a lease ahead.
   A worker that dies mid-poll therefore loses nothing: the lease runs out and the rows are due
   again. ``group_claims`` cuts the claims into per-tenant, per-account batches.
2. ``poll_shipments`` (a task, inside one tenant's scope): skips a carrier whose circuit breaker is
   open, splits the numbers into the carrier's batch size, calls the adapter for several batches
   at once (threads; network calls outside any transaction) under the account's shared rate limit,
   records what came back in one ``record_events_batch``, counts unmapped codes, and schedules
   each shipment's next check (``next_interval``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from carriers import registry
from carriers.base import CarrierAdapter, TrackingBatch, TrackingError
from carriers.http import CarrierHTTPError, HttpClient, MalformedResponse
from carriers.statuses import DEFAULT_SUBSTATUS, Status
from tenants.scoping import all_tenants
from wismo.metrics import clock, poll_observed, poll_skipped
from wismo.tracking.models import (
    EventSource,
    PollQueue,
    Shipment,
    ShipmentStatusChange,
    UnmappedCarrierCode,
)
from wismo.tracking.services import edd
from wismo.tracking.services.throttle import AccountThrottle, CircuitBreaker
from wismo.tracking.services.timeline import record_events_batch
from wismo.tracking.signals import shipment_status_changed

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
# Rounds of in-flight requests per poll task (see group_claims).
GROUP_WAVES = 4
MAX_BACKOFF = timedelta(hours=12)
# A rate limit (the account's own bucket, or the carrier's 429) says when to ask again; it is no
# failure of the parcel or the carrier. Ask then, at the earliest after the floor, spread over
# the next minute so that a refused batch does not come back at once.
RATE_LIMITED_FLOOR = timedelta(seconds=60)
RATE_LIMITED_SPREAD_SECONDS = 60.0
# How often a shipment is checked by its status: close to delivery more often, quiet states less.
STATUS_INTERVALS: dict[str, timedelta] = {
    Status.PENDING: timedelta(hours=2),
    Status.INFO_RECEIVED: timedelta(hours=6),
    Status.IN_TRANSIT: timedelta(hours=3),
    Status.OUT_FOR_DELIVERY: timedelta(hours=1),
    Status.AVAILABLE_FOR_PICKUP: timedelta(hours=6),
    Status.FAILED_ATTEMPT: timedelta(hours=2),
    Status.EXCEPTION: timedelta(hours=2),
}
NEW_SHIPMENT_INTERVAL = timedelta(minutes=30)
# Stop asking after these (besides delivered and expired): the parcel is back with the sender.
FINAL_SUBSTATUSES = frozenset({"exception.returned_to_sender", "exception.cancelled"})

_local = threading.local()


_executor_lock = threading.Lock()
_executor_instance: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The process's request threads: long-lived, so each keeps its carrier connections open.

    Created lazily, after a prefork worker has forked.
    """
    global _executor_instance
    with _executor_lock:
        if _executor_instance is None:
            _executor_instance = ThreadPoolExecutor(
                max_workers=settings.WISMO_POLL_CONCURRENCY, thread_name_prefix="carrier"
            )
        return _executor_instance


def http_client() -> HttpClient:
    """One HTTP client (connection pool) per worker thread, reused across polls."""
    client = getattr(_local, "http", None)
    if client is None:
        client = _local.http = HttpClient()
    return client


@dataclass(frozen=True, slots=True)
class Claim:
    shipment_id: int
    tenant_id: int
    carrier: str
    carrier_account_id: int | None


@dataclass(frozen=True, slots=True)
class PollGroup:
    tenant_id: int
    carrier: str
    carrier_account_id: int | None
    shipment_ids: list[int]


def claim_due(
    *, limit: int = 1000, now: datetime | None = None, lease: timedelta = LEASE
) -> list[Claim]:
    """Claim up to ``limit`` due shipments across all tenants (the scheduler's sweep).

    Reads and rewrites only the narrow poll queue, never the wide shipments table.
    """
    now = now or timezone.now()
    table = PollQueue._meta.db_table
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} AS q SET due_at = %s
                FROM (
                    SELECT shipment_id FROM {table}
                    WHERE due_at <= %s
                    ORDER BY due_at
                    LIMIT %s
                    FOR UPDATE SKIP LOCKED
                ) AS due
                WHERE q.shipment_id = due.shipment_id
                RETURNING q.shipment_id, q.tenant_id, q.carrier, q.carrier_account_id
                """,  # noqa: S608 - our own table name
                [now + lease, now, limit],
            )
            rows = cursor.fetchall()
    else:
        # SQLite serializes writers: a plain read-then-update inside one transaction is safe.
        with all_tenants(), transaction.atomic():
            rows = list(
                PollQueue.objects.filter(due_at__lte=now)
                .order_by("due_at")
                .values_list("shipment_id", "tenant_id", "carrier", "carrier_account_id")[:limit]
            )
            PollQueue.objects.filter(shipment_id__in=[r[0] for r in rows]).update(
                due_at=now + lease
            )
    return [Claim(*row) for row in rows]


def poll_queue_sync(shipments: list[Shipment]) -> None:
    """Make the queue match the shipments: tracked ones due at ``next_poll_at``, others out."""
    tracked = [s for s in shipments if s.is_active and s.next_poll_at is not None]
    untracked = [s.pk for s in shipments if not (s.is_active and s.next_poll_at is not None)]
    if untracked:
        PollQueue.objects.filter(shipment_id__in=untracked).delete()
    if tracked:
        PollQueue.objects.bulk_create(
            [
                PollQueue(
                    shipment_id=s.pk,
                    tenant_id=s.tenant_id,
                    carrier=s.carrier,
                    carrier_account_id=s.carrier_account_id,
                    due_at=s.next_poll_at,
                )
                for s in tracked
            ],
            update_conflicts=True,
            unique_fields=["shipment"],
            update_fields=["carrier", "carrier_account_id", "due_at"],
        )


def group_claims(claims: list[Claim], *, concurrency: int | None = None) -> list[PollGroup]:
    """Per tenant, carrier and account, in groups a poll task handles at once.

    A group holds a few waves of ``concurrency`` carrier batches: the task keeps ``concurrency``
    requests in flight through all of them, then records everything at once, so the fixed cost
    of recording is paid once per several round trips.
    """
    concurrency = concurrency or settings.WISMO_POLL_CONCURRENCY
    grouped: dict[tuple, list[int]] = defaultdict(list)
    for claim in claims:
        grouped[(claim.tenant_id, claim.carrier, claim.carrier_account_id)].append(
            claim.shipment_id
        )
    groups = []
    for (tenant_id, carrier, account_id), ids in grouped.items():
        try:
            batch_size = max(1, registry.get_adapter(carrier).max_batch_size)
        except registry.UnknownCarrier:
            logger.error("shipments of unknown carrier %r claimed; skipping", carrier)
            continue
        size = batch_size * concurrency * GROUP_WAVES
        for start in range(0, len(ids), size):
            groups.append(PollGroup(tenant_id, carrier, account_id, ids[start : start + size]))
    return groups


def next_interval(
    *,
    carrier: str,
    status: str,
    unchanged_polls: int,
    has_events: bool,
    rng: random.Random | None = None,
) -> timedelta:
    """When to ask again: by status, backing off while nothing changes, with ±10% jitter."""
    adapter = registry.get_adapter(carrier)
    if adapter.poll_interval is not None:
        base = adapter.poll_interval
    elif not has_events:
        base = NEW_SHIPMENT_INTERVAL if unchanged_polls < 4 else STATUS_INTERVALS[Status.PENDING]
    else:
        base = STATUS_INTERVALS.get(status, timedelta(minutes=settings.WISMO_POLL_INTERVAL_MINUTES))
    backoff = base * (1.5 ** min(unchanged_polls, 4))
    jitter = (rng or random).uniform(0.9, 1.1)
    return min(backoff * jitter, MAX_BACKOFF)


def _ask_carrier(
    adapter: CarrierAdapter,
    numbers: list[str],
    credentials: dict,
    http: HttpClient,
    now: datetime | None,
) -> tuple[TrackingBatch, float | None]:
    """Ask about ``numbers`` in the carrier's batch size, several batches at once."""
    size = max(1, adapter.max_batch_size)
    chunks = [numbers[i : i + size] for i in range(0, len(numbers), size)]
    batch = TrackingBatch()
    retry_after: float | None = None
    # A carrier that timed out, refused the connection or answered 5xx to one request of this
    # group is not asked the rest: the chunks still waiting for a thread fail at once instead of
    # each holding this worker for a read timeout (found by bench/faults/carrier_faults: a
    # black-holed carrier slowed every other carrier's polls).
    down = threading.Event()

    def one(chunk: list[str]) -> TrackingBatch:
        if down.is_set():
            message = "not asked: the carrier failed another request of this round"
            return TrackingBatch(
                errors=[
                    TrackingError(n, "carrier_unavailable", message, transient=True) for n in chunk
                ]
            )
        try:
            return adapter.track(chunk, credentials=credentials, http=http, now=now)
        except CarrierHTTPError as exc:
            nonlocal retry_after
            if exc.retry_after is not None:
                retry_after = max(retry_after or 0.0, exc.retry_after)
            if exc.status == 429:
                code = "rate_limited"  # the account's limit, not the carrier's health
            else:
                code = "carrier_unavailable" if exc.transient else "credentials_refused"
                if (
                    exc.transient
                    and (exc.status is None or exc.status >= 500)
                    and not isinstance(exc, MalformedResponse)
                ):
                    down.set()
            return TrackingBatch(
                errors=[TrackingError(n, code, str(exc), transient=exc.transient) for n in chunk]
            )

    if len(chunks) == 1:
        batch.extend(one(chunks[0]))
    else:
        for part in _executor().map(one, chunks):
            batch.extend(part)
    return batch, retry_after


def _count_unmapped(carrier: str, batch: TrackingBatch, now: datetime) -> None:
    seen: dict[str, tuple[int, str, str]] = {}
    for result in batch.results:
        for event in result.events:
            if event.unmapped and event.code:
                count, _, _ = seen.get(event.code, (0, "", ""))
                seen[event.code] = (count + 1, event.description[:255], event.substatus)
    for code, (count, description, substatus) in seen.items():
        updated = UnmappedCarrierCode.objects.filter(carrier=carrier, code=code[:64]).update(
            count=F("count") + count, last_seen_at=now
        )
        if not updated:
            UnmappedCarrierCode.objects.get_or_create(
                carrier=carrier,
                code=code[:64],
                defaults={
                    "count": count,
                    "sample_description": description,
                    "mapped_to": substatus,
                },
            )


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


def _throttle(
    adapter: CarrierAdapter, account_id: int | None, credentials: dict
) -> AccountThrottle:
    rate = float(credentials.get("rate_per_second") or adapter.rate_per_second)
    return AccountThrottle(key=f"{adapter.slug}:{account_id or 'default'}", rate=rate)


def poll_shipments(*, shipment_ids: list[int], now: datetime | None = None) -> dict[str, int]:
    """Ask the carrier about these shipments (one tenant, carrier and account) and record it all."""
    shipments = list(
        Shipment.objects.select_related("carrier_account").filter(
            pk__in=shipment_ids, is_active=True
        )
    )
    if len(shipments) < len(set(shipment_ids)):
        # Delivered or stopped since they were queued: they leave the queue.
        active = {s.pk for s in shipments}
        PollQueue.objects.filter(
            shipment_id__in=[i for i in shipment_ids if i not in active]
        ).delete()
    if not shipments:
        return {"polled": 0, "events": 0, "errors": 0}
    carrier = shipments[0].carrier
    adapter = registry.get_adapter(carrier)
    account = shipments[0].carrier_account
    credentials = account.credentials if account else {}
    by_number = {
        s.tracking_number: s
        for s in shipments
        if s.carrier == carrier and s.carrier_account_id == (account.pk if account else None)
    }
    strays = [
        s
        for s in shipments
        if s.tracking_number not in by_number or by_number[s.tracking_number].pk != s.pk
    ]
    if strays:
        # Queued under another carrier or account than they now have: requeue them, due now.
        for stray in strays:
            stray.next_poll_at = timezone.now()
        poll_queue_sync(strays)
    breaker = CircuitBreaker(carrier)
    open_for = breaker.open_for()
    if open_for > 0:
        # The carrier is failing: leave it alone and come back when the breaker closes.
        _reschedule_untouched(list(by_number.values()), timedelta(seconds=open_for))
        poll_skipped(carrier=carrier, count=len(by_number))
        return {"polled": 0, "events": 0, "errors": 0, "skipped": len(by_number)}

    http = http_client().with_throttle(
        _throttle(adapter, account.pk if account else None, credentials)
    )
    started = clock()
    batch, retry_after = _ask_carrier(adapter, list(by_number), credentials, http, now)
    poll_observed(
        carrier=carrier,
        started=started,
        ok=len(batch.results),
        error_codes=[e.code for e in batch.errors],
    )
    now = now or timezone.now()
    # Only trouble on the carrier's side counts towards its breaker, not one account's limit.
    failing = [e for e in batch.errors if e.transient and e.code != "rate_limited"]
    if failing and len(failing) == len(by_number):
        breaker.failure()
    elif batch.results:
        breaker.success()

    results = record_events_batch(
        items=[
            (by_number[r.tracking_number].pk, r.events)
            for r in batch.results
            if r.tracking_number in by_number
        ],
        source=EventSource.POLL,
    )
    _count_unmapped(carrier, batch, now)
    errors = {e.tracking_number: e for e in batch.errors}
    carrier_dates = {
        r.tracking_number: r
        for r in batch.results
        if r.estimated_delivery or r.estimated_delivery_latest
    }
    window = timedelta(days=settings.WISMO_TRACKING_WINDOW_DAYS)
    expired: list[ShipmentStatusChange] = []
    with transaction.atomic():
        polled = list(
            Shipment.objects.select_for_update().filter(pk__in=[s.pk for s in by_number.values()])
        )
        for shipment in polled:
            _schedule(
                shipment,
                now=now,
                error=errors.get(shipment.tracking_number),
                created=results.get(shipment.pk).created if shipment.pk in results else 0,
                retry_after=retry_after,
                window=window,
                expired=expired,
                carrier_result=carrier_dates.get(shipment.tracking_number),
            )
        poll_queue_sync(polled)
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


def _schedule(
    shipment: Shipment, *, now, error, created, retry_after, window, expired, carrier_result
) -> None:
    fields = [
        "last_checked_at",
        "poll_failures",
        "last_error_code",
        "last_error",
        "next_poll_at",
        "is_active",
        "unchanged_polls",
    ]
    shipment.last_checked_at = now
    if error is not None and error.code == "rate_limited":
        shipment.last_error_code, shipment.last_error = error.code, error.message[:1000]
        wait = max(RATE_LIMITED_FLOOR, timedelta(seconds=retry_after or 0.0))
        spread = timedelta(seconds=random.uniform(0, RATE_LIMITED_SPREAD_SECONDS))  # noqa: S311
        shipment.next_poll_at = now + wait + spread
    elif error is not None:
        shipment.poll_failures += 1
        shipment.last_error_code, shipment.last_error = error.code, error.message[:1000]
        base = next_interval(
            carrier=shipment.carrier,
            status=shipment.status,
            unchanged_polls=0,
            has_events=shipment.last_event_at is not None,
        )
        wait = base * (2 ** min(shipment.poll_failures - 1, 5)) if error.transient else base * 4
        wait = min(wait, MAX_BACKOFF)
        if retry_after is not None:  # never ask again before the carrier said we may
            wait = max(wait, timedelta(seconds=retry_after))
        shipment.next_poll_at = now + wait
    else:
        shipment.poll_failures, shipment.last_error_code, shipment.last_error = 0, "", ""
        shipment.unchanged_polls = 0 if created else shipment.unchanged_polls + 1
        shipment.next_poll_at = now + next_interval(
            carrier=shipment.carrier,
            status=shipment.status,
            unchanged_polls=shipment.unchanged_polls,
            has_events=shipment.last_event_at is not None,
        )
    if carrier_result is not None:
        # The carrier's own estimate wins over a prediction, and is said to be the carrier's.
        fields += edd.carrier_estimate_apply(
            shipment=shipment,
            estimated=carrier_result.estimated_delivery,
            earliest=carrier_result.estimated_delivery_earliest,
            latest=carrier_result.estimated_delivery_latest,
        )
    last_news = shipment.last_event_at or shipment.created_at
    if shipment.is_active and shipment.status != Status.DELIVERED and now - last_news > window:
        # No carrier news for the whole tracking window: the parcel expires, we stop asking.
        expired.append(_expire(shipment, now))
        fields += ["status", "substatus", "action_required", "updated_at"]
    if shipment.substatus in FINAL_SUBSTATUSES:
        shipment.is_active = False
    if not shipment.is_active:
        shipment.next_poll_at = None
    shipment.save(update_fields=fields)


def _reschedule_untouched(shipments: list[Shipment], wait: timedelta) -> None:
    for shipment in shipments:
        shipment.next_poll_at = timezone.now() + wait
    Shipment.objects.bulk_update(shipments, ["next_poll_at"])
    poll_queue_sync(shipments)


def shipment_retrack(*, shipment: Shipment) -> Shipment:
    """Ask the carrier again now (a merchant's "re-track"): reactivates a stopped shipment."""
    adapter = registry.get_adapter(shipment.carrier)
    if not adapter.pollable:
        from django.core.exceptions import ValidationError

        raise ValidationError(f"{adapter.name} has no API to ask; post events instead.")
    Shipment.objects.filter(pk=shipment.pk).update(
        is_active=True, next_poll_at=timezone.now(), unchanged_polls=0, poll_failures=0
    )
    shipment.refresh_from_db()
    poll_queue_sync([shipment])
    return shipment
