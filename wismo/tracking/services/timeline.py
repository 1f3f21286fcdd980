"""The shipment timeline: store carrier events once, and derive each shipment's state from them.

Flow of ``record_events_batch`` (one transaction per call):

1. lock the shipments (``SELECT ... FOR UPDATE``, in id order so concurrent batches never deadlock);
2. read the dedupe keys and normalized values of the events they already have;
3. drop incoming events whose dedupe key is known (a replayed poll or webhook is a no-op);
4. insert the new events (``COPY`` through a staging table on PostgreSQL, ``bulk_create`` elsewhere;
   either way a unique key on (shipment, dedupe_key) is the last word);
5. derive status, substatus, last_event_at and delivered_at from the *whole* timeline, so that
   replaying or reordering events changes nothing;
6. save the shipments whose state changed and write a ``ShipmentStatusChange`` row per status
   change in the same transaction, then send the domain signal after commit.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from carriers.base import CarrierEvent
from carriers.statuses import STATUS_RANK, Status, action_required
from wismo.tracking.models import EventSource, Shipment, ShipmentStatusChange, TrackingEvent
from wismo.tracking.signals import shipment_status_changed

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Once delivered, later scans only count when they are a new delivery or an exception (a return,
# a loss claim): a late "in transit" scan is stale news and never undoes a delivery.
_AFTER_DELIVERY = frozenset({Status.DELIVERED, Status.EXCEPTION})


def _normalize_text(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub("", folded)


def event_dedupe_key(event: CarrierEvent) -> str:
    """Identify an event across polls and pushes, ignoring cosmetic changes in its wording.

    The key is the time to the minute (in UTC), the carrier's raw code (or, when the carrier has
    none, the normalized substatus) and the location reduced to letters and digits; the free-text
    description is left out, since carriers reword it between responses.
    """
    when = event.occurred_at.astimezone(UTC).strftime("%Y%m%d%H%M")
    what = _normalize_text(event.code) or event.substatus
    where = _normalize_text(event.location)
    return hashlib.sha1(f"{when}|{what}|{where}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class TimelineState:
    status: str
    substatus: str
    last_event_at: datetime | None
    delivered_at: datetime | None


def _order_key(item: tuple[datetime, str, str]) -> tuple:
    occurred_at, status, substatus = item
    return (occurred_at, STATUS_RANK.get(status, 0), substatus)


def derive_state(events: Iterable[tuple[datetime, str, str]]) -> TimelineState | None:
    """The shipment's state from its whole timeline of (occurred_at, status, substatus).

    The latest event by occurrence time wins; ties are broken by the status order, never by the
    order events arrived in. A delivery is terminal against stale scans (see ``_AFTER_DELIVERY``).
    Returns None for an empty timeline.
    """
    timeline = sorted(events, key=_order_key)
    if not timeline:
        return None
    first_delivery = next((e for e in timeline if e[1] == Status.DELIVERED), None)
    if first_delivery is None:
        latest = timeline[-1]
        delivered_at = None
    else:
        latest = next(
            e for e in reversed(timeline) if e[0] <= first_delivery[0] or e[1] in _AFTER_DELIVERY
        )
        delivered_at = first_delivery[0] if latest[1] == Status.DELIVERED else None
    return TimelineState(
        status=latest[1],
        substatus=latest[2],
        last_event_at=timeline[-1][0],
        delivered_at=delivered_at,
    )


@dataclass(slots=True)
class RecordResult:
    shipment_id: int
    created: int = 0
    duplicates: int = 0
    status_changed: bool = False
    change_ids: list[int] = field(default_factory=list)


_EVENT_COLUMNS = (
    "tenant_id",
    "shipment_id",
    "occurred_at",
    "status",
    "substatus",
    "code",
    "description",
    "location",
    "source",
    "dedupe_key",
    "created_at",
)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _insert_events_postgres(rows: list[tuple]) -> None:
    """Insert through COPY into a session-local staging table, then one INSERT ... ON CONFLICT."""
    table = TrackingEvent._meta.db_table
    columns = ", ".join(_EVENT_COLUMNS)
    buffer = io.StringIO()
    buffer.writelines("\t".join(_copy_field(v) for v in row) + "\n" for row in rows)
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute(
            # Same column types as the real table, none of its constraints: a plain landing strip.
            f"CREATE TEMP TABLE IF NOT EXISTS wismo_event_stage ON COMMIT DELETE ROWS AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608 - our own identifiers
        )
        cursor.execute("TRUNCATE wismo_event_stage")
        cursor.cursor.copy_expert(f"COPY wismo_event_stage ({columns}) FROM STDIN", buffer)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM wismo_event_stage "  # noqa: S608
            "ON CONFLICT (shipment_id, dedupe_key) DO NOTHING"
        )


def _insert_events_generic(rows: list[tuple]) -> None:
    TrackingEvent.objects.bulk_create(
        [TrackingEvent(**dict(zip(_EVENT_COLUMNS, row, strict=True))) for row in rows],
        batch_size=500,
        ignore_conflicts=True,
    )


def record_events_batch(
    *,
    items: Sequence[tuple[int, Sequence[CarrierEvent]]],
    source: str = EventSource.POLL,
) -> dict[int, RecordResult]:
    """Apply the events of many shipments at once (see the module docstring for the flow).

    ``items`` pairs a shipment id with the events a carrier reported for it. Shipments outside the
    active tenant scope are skipped, exactly like missing ones. Returns a result per shipment id.
    """
    if source not in EventSource.values:
        raise ValueError(f"unknown event source {source!r}")
    incoming: dict[int, list[CarrierEvent]] = {}
    for shipment_id, events in items:
        incoming.setdefault(int(shipment_id), []).extend(events)
    if not incoming:
        return {}

    now = timezone.now()
    results: dict[int, RecordResult] = {}
    with transaction.atomic():
        shipments = {
            s.pk: s
            for s in Shipment.objects.select_for_update()
            .filter(pk__in=sorted(incoming))
            .order_by("pk")
            .only(
                "id",
                "tenant_id",
                "status",
                "substatus",
                "action_required",
                "last_event_at",
                "delivered_at",
                "is_active",
                "updated_at",
            )
        }
        timelines: dict[int, list[tuple[datetime, str, str]]] = {pk: [] for pk in shipments}
        known: dict[int, set[str]] = {pk: set() for pk in shipments}
        for shipment_id, key, occurred_at, status, substatus in TrackingEvent.objects.filter(
            shipment_id__in=list(shipments)
        ).values_list("shipment_id", "dedupe_key", "occurred_at", "status", "substatus"):
            known[shipment_id].add(key)
            timelines[shipment_id].append((occurred_at, status, substatus))

        rows: list[tuple] = []
        for shipment_id, events in incoming.items():
            shipment = shipments.get(shipment_id)
            if shipment is None:
                continue
            result = results[shipment_id] = RecordResult(shipment_id)
            seen = known[shipment_id]
            for event in events:
                key = event_dedupe_key(event)
                if key in seen:
                    result.duplicates += 1
                    continue
                seen.add(key)
                result.created += 1
                timelines[shipment_id].append((event.occurred_at, event.status, event.substatus))
                rows.append(
                    (
                        shipment.tenant_id,
                        shipment_id,
                        event.occurred_at,
                        event.status,
                        event.substatus,
                        event.code[:64],
                        event.description,
                        event.location[:255],
                        source,
                        key,
                        now,
                    )
                )
        if not rows:
            return results
        if connection.vendor == "postgresql":
            _insert_events_postgres(rows)
        else:
            _insert_events_generic(rows)

        changed_shipments: list[Shipment] = []
        changes: list[ShipmentStatusChange] = []
        for shipment_id, result in results.items():
            if not result.created:
                continue
            shipment = shipments[shipment_id]
            state = derive_state(timelines[shipment_id])
            if state is None:  # pragma: no cover - a created event means a non-empty timeline
                continue
            before = (shipment.status, shipment.substatus)
            shipment.status, shipment.substatus = state.status, state.substatus
            shipment.action_required = action_required(state.substatus)
            shipment.last_event_at = state.last_event_at
            shipment.delivered_at = state.delivered_at
            # A delivered parcel needs no more polling; anything else keeps being tracked.
            shipment.is_active = state.status != Status.DELIVERED
            shipment.updated_at = now
            changed_shipments.append(shipment)
            if before != (state.status, state.substatus):
                result.status_changed = before[0] != state.status
                changes.append(
                    ShipmentStatusChange(
                        tenant_id=shipment.tenant_id,
                        shipment_id=shipment_id,
                        from_status=before[0],
                        from_substatus=before[1],
                        to_status=state.status,
                        to_substatus=state.substatus,
                        occurred_at=state.last_event_at,
                        created_at=now,
                    )
                )
        Shipment.objects.bulk_update(
            changed_shipments,
            [
                "status",
                "substatus",
                "action_required",
                "last_event_at",
                "delivered_at",
                "is_active",
                "updated_at",
            ],
            batch_size=1000,
        )
        if changes:
            ShipmentStatusChange.objects.bulk_create(changes, batch_size=1000)
            for change in changes:
                results[change.shipment_id].change_ids.append(change.pk)
            change_ids = [change.pk for change in changes]
            transaction.on_commit(
                lambda: shipment_status_changed.send(
                    sender=ShipmentStatusChange, change_ids=change_ids
                )
            )
    return results


def record_events(
    *, shipment: Shipment, events: Sequence[CarrierEvent], source: str = EventSource.POLL
) -> RecordResult:
    """Store ``events`` on ``shipment`` idempotently and re-derive its state (see module docstring)."""
    results = record_events_batch(items=[(shipment.pk, events)], source=source)
    result = results.get(shipment.pk)
    if result is None:
        raise Shipment.DoesNotExist(f"shipment {shipment.pk} is not in the active tenant scope")
    shipment.refresh_from_db(
        fields=[
            "status",
            "substatus",
            "action_required",
            "last_event_at",
            "delivered_at",
            "is_active",
            "updated_at",
        ]
    )
    return result
