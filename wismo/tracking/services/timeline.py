"""The shipment timeline: store carrier events once, and derive each shipment's state from them.

Flow of ``record_events_batch`` (one transaction per call):

1. lock the shipments (``SELECT ... FOR UPDATE``, in id order so concurrent batches never deadlock);
2. read the dedupe keys and normalized values of the events they already have;
3. drop incoming events whose dedupe key is known (a replayed poll or webhook is a no-op);
4. insert the new events (``COPY`` through a staging table on PostgreSQL, ``bulk_create`` elsewhere;
   either way a unique key on (shipment, dedupe_key) is the last word);
5. derive status, substatus, last_event_at and delivered_at from the *whole* timeline, so that
   replaying or reordering events changes nothing;
6. save the shipments whose state changed, refresh their expected delivery and delay flags
   (``services.edd.shipments_refresh``), and write a ``ShipmentStatusChange`` row per status
   change in the same transaction, then send the domain signal after commit.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection, transaction
from django.utils import timezone

from carriers.base import CarrierEvent
from carriers.statuses import Status, action_required
from carriers.timeline import derive_state
from wismo.tracking.models import EventSource, Shipment, ShipmentStatusChange, TrackingEvent
from wismo.tracking.services import edd
from wismo.tracking.signals import shipment_status_changed

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=4096)
def _normalize_text(value: str) -> str:
    # Cached: carriers repeat the same few codes and place names across millions of scans.
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return _NON_ALNUM.sub("", folded)


def event_dedupe_key(event: CarrierEvent) -> str:
    """Identify an event across polls and pushes, ignoring cosmetic changes in its wording.

    The key is the time to the minute (in UTC), the carrier's raw code (or, when the carrier has
    none, the normalized substatus) and the location reduced to letters and digits; the free-text
    description is left out, since carriers reword it between responses.
    """
    at = event.occurred_at.astimezone(UTC)
    # The same text as strftime("%Y%m%d%H%M"), at a fraction of the cost.
    when = f"{at.year}{at.month:02d}{at.day:02d}{at.hour:02d}{at.minute:02d}"
    what = _normalize_text(event.code) or event.substatus
    where = _normalize_text(event.location)
    return hashlib.sha1(f"{when}|{what}|{where}".encode(), usedforsecurity=False).hexdigest()


# Per-tenant status overrides: a merchant's own meaning for some carrier codes, which wins over
# the carrier's table. The kernel does not own the overrides; the app that does registers a
# provider: ``provider(tenant_id) -> {(carrier, code): (status, substatus)}``, cheap (cached),
# called once per tenant per batch. No provider: events stay as the carrier's table made them.
StatusOverrides = dict[tuple[str, str], tuple[str, str]]
_status_override_provider: Callable[[int], StatusOverrides] | None = None


def set_status_override_provider(provider: Callable[[int], StatusOverrides] | None) -> None:
    """Register the function that gives a tenant's status overrides (None to remove it)."""
    global _status_override_provider
    _status_override_provider = provider


def _apply_overrides(
    events: Sequence[CarrierEvent], carrier: str, overrides: StatusOverrides
) -> Sequence[CarrierEvent]:
    if not overrides:
        return events
    changed = []
    for event in events:
        override = overrides.get((carrier, event.code)) if event.code else None
        if override is not None and (event.status, event.substatus) != override:
            event = replace(event, status=override[0], substatus=override[1], unmapped=False)
        changed.append(event)
    return changed


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
# The shipment fields a timeline decides, written back for every shipment that got new events.
_STATE_FIELDS = (
    "status",
    "substatus",
    "action_required",
    "last_event_at",
    "delivered_at",
    "is_active",
    "updated_at",
)
_STATE_TYPES = ("text", "text", "boolean", "timestamptz", "timestamptz", "boolean", "timestamptz")


@dataclass(frozen=True, slots=True)
class _NewEvent:
    tenant_id: int
    shipment_id: int
    event: CarrierEvent
    dedupe_key: str


def _copy_lines(rows: list[_NewEvent], *, source: str, now: datetime) -> Iterator[str]:
    """The rows in COPY's text format, in ``_EVENT_COLUMNS`` order."""
    created_at = now.isoformat()
    for row in rows:
        e = row.event
        # Status and substatus are taxonomy values (CarrierEvent validates them): only the
        # carrier's own words can hold a tab, a newline or a backslash.
        code = e.code[:64].translate(_COPY_ESCAPES)
        description = e.description.translate(_COPY_ESCAPES)
        location = e.location[:255].translate(_COPY_ESCAPES)
        yield (
            f"{row.tenant_id}\t{row.shipment_id}\t{e.occurred_at.isoformat()}\t{e.status}\t"
            f"{e.substatus}\t{code}\t{description}\t{location}\t{source}\t{row.dedupe_key}\t"
            f"{created_at}\n"
        )


def _insert_events_postgres(rows: list[_NewEvent], *, source: str, now: datetime) -> None:
    """Insert through COPY into a session-local staging table, then one INSERT ... ON CONFLICT."""
    table = TrackingEvent._meta.db_table
    columns = ", ".join(_EVENT_COLUMNS)
    buffer = io.StringIO()
    buffer.writelines(_copy_lines(rows, source=source, now=now))
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


def _insert_events_generic(rows: list[_NewEvent], *, source: str, now: datetime) -> None:
    TrackingEvent.objects.bulk_create(
        [
            TrackingEvent(
                tenant_id=row.tenant_id,
                shipment_id=row.shipment_id,
                occurred_at=row.event.occurred_at,
                status=row.event.status,
                substatus=row.event.substatus,
                code=row.event.code[:64],
                description=row.event.description,
                location=row.event.location[:255],
                source=source,
                dedupe_key=row.dedupe_key,
                created_at=now,
            )
            for row in rows
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


def _save_states(states: list[tuple]) -> None:
    """Write (id, *_STATE_FIELDS) back to the shipments.

    On PostgreSQL, one ``UPDATE ... FROM unnest(arrays)`` with one parameter per column: Django's
    ``bulk_update`` builds a ``CASE WHEN id = ...`` per field and row, which costs far more to build
    in Python, and to evaluate in PostgreSQL, than the update itself.
    """
    if connection.vendor != "postgresql":
        Shipment.objects.bulk_update(
            [
                Shipment(pk=pk, **dict(zip(_STATE_FIELDS, values, strict=True)))
                for pk, *values in states
            ],
            _STATE_FIELDS,
            batch_size=1000,
        )
        return
    table = Shipment._meta.db_table
    assignments = ", ".join(f"{name} = v.{name}" for name in _STATE_FIELDS)
    arrays = ", ".join(f"%s::{kind}[]" for kind in ("bigint", *_STATE_TYPES))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET {assignments} "  # noqa: S608 - our own identifiers
            f"FROM unnest({arrays}) AS v(id, {', '.join(_STATE_FIELDS)}) WHERE s.id = v.id",
            [list(column) for column in zip(*states, strict=True)],
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
        # (tenant_id, status, substatus) of each shipment in scope, locked until commit.
        shipments: dict[int, tuple[int, str, str]] = {}
        carriers: dict[int, str] = {}
        for pk, tenant_id, status, substatus, carrier in (
            Shipment.objects.select_for_update()
            .filter(pk__in=sorted(incoming))
            .order_by("pk")
            .values_list("id", "tenant_id", "status", "substatus", "carrier")
        ):
            shipments[pk] = (tenant_id, status, substatus)
            carriers[pk] = carrier
        provider = _status_override_provider
        overrides: dict[int, StatusOverrides] = {}
        if provider is not None:
            for tenant_id in {shipment[0] for shipment in shipments.values()}:
                overrides[tenant_id] = provider(tenant_id)
        timelines: dict[int, list[tuple[datetime, str, str]]] = {pk: [] for pk in shipments}
        known: dict[int, set[str]] = {pk: set() for pk in shipments}
        for shipment_id, key, occurred_at, status, substatus in TrackingEvent.objects.filter(
            shipment_id__in=list(shipments)
        ).values_list("shipment_id", "dedupe_key", "occurred_at", "status", "substatus"):
            known[shipment_id].add(key)
            timelines[shipment_id].append((occurred_at, status, substatus))

        rows: list[_NewEvent] = []
        for shipment_id, events in incoming.items():
            shipment = shipments.get(shipment_id)
            if shipment is None:
                continue
            tenant_id = shipment[0]
            if overrides.get(tenant_id):
                events = _apply_overrides(events, carriers[shipment_id], overrides[tenant_id])
            result = results[shipment_id] = RecordResult(shipment_id)
            seen = known[shipment_id]
            timeline = timelines[shipment_id]
            for event in events:
                key = event_dedupe_key(event)
                if key in seen:
                    result.duplicates += 1
                    continue
                seen.add(key)
                result.created += 1
                timeline.append((event.occurred_at, event.status, event.substatus))
                rows.append(_NewEvent(tenant_id, shipment_id, event, key))
        if not rows:
            return results
        if connection.vendor == "postgresql":
            _insert_events_postgres(rows, source=source, now=now)
        else:
            _insert_events_generic(rows, source=source, now=now)

        states: list[tuple] = []
        changes: list[ShipmentStatusChange] = []
        for shipment_id, result in results.items():
            if not result.created:
                continue
            tenant_id, old_status, old_substatus = shipments[shipment_id]
            state = derive_state(timelines[shipment_id])
            if state is None:  # pragma: no cover - a created event means a non-empty timeline
                continue
            states.append(
                (
                    shipment_id,
                    state.status,
                    state.substatus,
                    action_required(state.substatus),
                    state.last_event_at,
                    state.delivered_at,
                    # A delivered parcel needs no more polling; anything else keeps being tracked.
                    state.status != Status.DELIVERED,
                    now,
                )
            )
            if (old_status, old_substatus) != (state.status, state.substatus):
                result.status_changed = old_status != state.status
                changes.append(
                    ShipmentStatusChange(
                        tenant_id=tenant_id,
                        shipment_id=shipment_id,
                        from_status=old_status,
                        from_substatus=old_substatus,
                        to_status=state.status,
                        to_substatus=state.substatus,
                        occurred_at=state.last_event_at,
                        created_at=now,
                    )
                )
        _save_states(states)
        # Expected delivery and the delay/stall flags follow the new state: one batched call.
        edd.shipments_refresh(
            shipment_ids=[state[0] for state in states], timelines=timelines, now=now
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
    shipment.refresh_from_db(fields=list(_STATE_FIELDS))
    return result
