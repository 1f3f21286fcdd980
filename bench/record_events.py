"""How fast ``record_events`` stores carrier events, against PostgreSQL's own ceiling, ``COPY``.

The workload is 200,000 events for 20,000 shipments (sandbox journeys, padded or trimmed to exactly
``--events-per-shipment`` scans each), all built in memory before any clock starts. Measured in the
same run, on the same database:

1. **COPY**: the very rows ``record_events`` writes (the same columns and values, dedupe keys
   computed beforehand), serialized and copied in one statement into a scratch table created with
   ``LIKE tracking_trackingevent INCLUDING ALL``, so it has the same indexes and constraints. This
   is the ceiling: no locking, no dedupe, no status derivation, no foreign-key checks.
2. **record_events**: ``record_events_batch`` over all shipments, ``--batch-size`` shipments per
   call, one transaction each: locks, dedupe against stored events, insert, status derivation,
   shipment updates and status-change rows.
3. **replay**: the same events through ``record_events_batch`` again. It must insert nothing; its
   time is the cost of an idempotent re-poll.

The target is record_events at >= 0.25 of COPY's rows/s. The script prints both figures, the ratio
and the exact command. It exits 1 when the outcome is wrong (events stored, replay, status
changes), 2 when it is right but under the target.

Run from the project root (setup, not timed, takes under a minute):

    .venv/bin/python bench/record_events.py [--shipments 20000] [--events-per-shipment 10]
        [--batch-size 1000]

``DATABASE_URL`` must point at PostgreSQL. It defaults to
``postgres://postgres@127.0.0.1:5432/wismo_bench``, which is created when missing; either way it
is migrated. A bench tenant left by an earlier run is deleted first, and this run's at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, setup_django

if TYPE_CHECKING:
    from carriers.base import CarrierEvent
    from tenants.models import Tenant

    Items = list[tuple[int, list[CarrierEvent]]]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench"
TARGET_RATIO = 0.25
TENANT_SLUG = "bench-record-events"
SCRATCH_TABLE = "bench_trackingevent_copy"
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Hub scans that pad a short sandbox journey up to the requested number of events.
PAD_HUBS = ("Bologna, IT", "Frankfurt, DE", "Lyon, FR", "Madrid, ES", "Wien, AT", "Leipzig, DE")


@dataclass(frozen=True, slots=True)
class Timing:
    rows: int
    inserted: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=20_000)
    parser.add_argument("--events-per-shipment", type=int, default=10)
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="shipments per record_events_batch call"
    )
    args = parser.parse_args(argv)
    for name in ("shipments", "events_per_shipment", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def delete_bench_tenant() -> None:
    """Remove the bench tenant and everything it owns (raw deletes: the ORM's collector is slow)."""
    from django.db import connection, transaction

    from tenants.models import Tenant
    from tenants.scoping import all_tenants

    with all_tenants(), transaction.atomic():
        tenant_ids = list(Tenant.objects.filter(slug=TENANT_SLUG).values_list("pk", flat=True))
        if not tenant_ids:
            return
        with connection.cursor() as cursor:
            for table in (
                "tracking_trackingevent",
                "tracking_shipmentstatuschange",
                "tracking_shipment",
            ):
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s)", [tenant_ids])
        Tenant.objects.filter(pk__in=tenant_ids).delete()


def vacuum_analyze() -> None:
    """Fresh statistics and no dead rows from earlier runs, so every run starts alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "tracking_trackingevent",
            "tracking_shipmentstatuschange",
            "tracking_shipment",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def checkpoint() -> None:
    """Flush dirty buffers before a timed phase, so no phase pays for the writes of the one before.

    Best effort: CHECKPOINT needs a superuser (or pg_checkpoint); without one, runs are noisier.
    """
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


def create_shipments(tenant: Tenant, count: int) -> list[tuple[int, str, datetime]]:
    """``count`` sandbox shipments of ``tenant``: (id, tracking number, hand-over time) each."""
    from carriers.adapters.sandbox import sandbox_tracking_number
    from wismo.tracking.models import Shipment

    base = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
    specs = []
    for seq in range(count):
        handed_over = base + timedelta(minutes=seq)  # distinct minutes keep the numbers unique
        specs.append((sandbox_tracking_number(handed_over, seq), handed_over))
    created = Shipment.objects.bulk_create(
        [Shipment(tenant=tenant, carrier="sandbox", tracking_number=n) for n, _ in specs],
        batch_size=2000,
    )
    return [(s.pk, n, h) for s, (n, h) in zip(created, specs, strict=True)]


def shipment_events(number: str, handed_over: datetime, count: int) -> list[CarrierEvent]:
    """Exactly ``count`` events for one parcel: its sandbox journey, trimmed or padded.

    Padding is hub scans after the third scan (or the last one), spread over the gap to the next.
    """
    from carriers.adapters.sandbox import journey_events
    from carriers.base import CarrierEvent

    events = journey_events(number, handed_over)[:count]
    missing = count - len(events)
    if missing:
        at = min(len(events), 3)
        start = events[at - 1].occurred_at
        end = events[at].occurred_at if at < len(events) else start + timedelta(hours=12)
        step = max((end - start) / (missing + 1), timedelta(minutes=1))
        padding = []
        for i in range(missing):
            arrived = i % 2 == 0
            padding.append(
                CarrierEvent(
                    start + step * (i + 1),
                    "in_transit",
                    "in_transit.arrived_at_facility" if arrived else "in_transit.departed_facility",
                    "HUB-A" if arrived else "HUB-D",
                    "Arrived at hub" if arrived else "Departed hub",
                    PAD_HUBS[(i // 2) % len(PAD_HUBS)],
                )
            )
        events[at:at] = padding
    return events


def copy_value(value: object) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(COPY_ESCAPES)


def time_copy(items: Items, tenant_id: int, source: str) -> Timing:
    """COPY the rows ``record_events`` would write into a scratch twin of the events table.

    The rows are built before the clock starts; their serialization to COPY's text format, the
    COPY and the commit are timed.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from wismo.tracking.models import TrackingEvent

    # The columns record_events writes: every column of the events table but its id.
    from wismo.tracking.services.timeline import _EVENT_COLUMNS as EVENT_COLUMNS
    from wismo.tracking.services.timeline import event_dedupe_key

    table = TrackingEvent._meta.db_table
    columns = sorted(f.column for f in TrackingEvent._meta.concrete_fields if not f.primary_key)
    if columns != sorted(EVENT_COLUMNS):
        sys.exit(f"{table} has columns {columns}, record_events writes {EVENT_COLUMNS}")
    now = timezone.now()
    rows = [
        (
            tenant_id,
            shipment_id,
            e.occurred_at,
            e.status,
            e.substatus,
            e.code[:64],
            e.description,
            e.location[:255],
            source,
            event_dedupe_key(e),
            now,
        )
        for shipment_id, events in items
        for e in events
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
        cursor.execute(f"CREATE TABLE {SCRATCH_TABLE} (LIKE {table} INCLUDING ALL)")
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            buffer = io.StringIO()
            buffer.writelines("\t".join(map(copy_value, row)) + "\n" for row in rows)
            buffer.seek(0)
            cursor.cursor.copy_expert(
                f"COPY {SCRATCH_TABLE} ({', '.join(EVENT_COLUMNS)}) FROM STDIN", buffer
            )
        seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {SCRATCH_TABLE}")
            (copied,) = cursor.fetchone()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
    return Timing(len(rows), copied, seconds)


def time_record_events(items: Items, batch_size: int) -> Timing:
    """Apply every event through ``record_events_batch``, ``batch_size`` shipments per call."""
    from wismo.tracking.services.timeline import record_events_batch

    created = 0
    started = time.perf_counter()
    for start in range(0, len(items), batch_size):
        results = record_events_batch(items=items[start : start + batch_size])
        created += sum(result.created for result in results.values())
    seconds = time.perf_counter() - started
    return Timing(sum(len(events) for _, events in items), created, seconds)


def command_line(args: argparse.Namespace, url: str) -> str:
    parts = [
        os.path.relpath(sys.executable),
        os.path.relpath(__file__),
        "--shipments",
        str(args.shipments),
        "--events-per-shipment",
        str(args.events_per_shipment),
        "--batch-size",
        str(args.batch_size),
    ]
    prefix = "" if url == DEFAULT_DATABASE_URL else f"DATABASE_URL={shlex.quote(url)} "
    return prefix + shlex.join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    ensure_database(url)
    setup_django(url)

    from django.core.management import call_command
    from django.db import connection

    from tenants.scoping import tenant_scope
    from tenants.services import tenant_create
    from wismo.tracking.models import EventSource, Shipment, ShipmentStatusChange, TrackingEvent

    print("setting up (not timed) ...", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    delete_bench_tenant()
    tenant = tenant_create(slug=TENANT_SLUG, name="record_events benchmark")
    try:
        with tenant_scope(tenant):
            shipments = create_shipments(tenant, args.shipments)
        items = [
            (pk, shipment_events(number, handed_over, args.events_per_shipment))
            for pk, number, handed_over in shipments
        ]
        total = sum(len(events) for _, events in items)
        vacuum_analyze()

        print("timing COPY ...", flush=True)
        checkpoint()
        copy = time_copy(items, tenant.pk, EventSource.POLL)
        with tenant_scope(tenant):
            print("timing record_events ...", flush=True)
            checkpoint()
            record = time_record_events(items, args.batch_size)
            print("timing the replay ...", flush=True)
            checkpoint()
            replay = time_record_events(items, args.batch_size)
            stored = TrackingEvent.objects.count()
            changes = ShipmentStatusChange.objects.count()
            never_updated = Shipment.objects.filter(last_event_at__isnull=True).count()
    finally:
        delete_bench_tenant()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (server,) = cursor.fetchone()

    errors = []
    if copy.inserted != total:
        errors.append(f"COPY stored {copy.inserted:,} rows, want {total:,}")
    if stored != total or record.inserted != total:
        errors.append(f"{stored:,} events stored, {record.inserted:,} created: want {total:,}")
    if replay.inserted:
        errors.append(f"the replay created {replay.inserted:,} events, want 0")
    if changes != args.shipments or never_updated:
        errors.append(
            f"{changes:,} status changes and {never_updated:,} shipments without a last event: "
            f"want one change per shipment ({args.shipments:,}) and none left behind"
        )
    ratio = record.rate / copy.rate
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"

    print()
    print(
        f"record_events: {args.shipments:,} shipments x {args.events_per_shipment} events, "
        f"{args.batch_size:,} shipments per record_events_batch call"
    )
    print(
        f"PostgreSQL {server}; Python {platform.python_version()}; {os.cpu_count()} CPUs "
        f"({platform.machine()})"
    )
    print()
    print(f"{'':22}{'rows':>10}{'inserted':>10}{'seconds':>10}{'rows/s':>10}")
    for label, timing in (
        ("COPY (scratch table)", copy),
        ("record_events", record),
        ("replay (idempotent)", replay),
    ):
        print(
            f"{label:22}{timing.rows:>10,}{timing.inserted:>10,}"
            f"{timing.seconds:>10.2f}{timing.rate:>10,.0f}"
        )
    print()
    print(f"ratio record_events / COPY rows/s: {ratio:.3f} (target >= {TARGET_RATIO}): {verdict}")
    print(f"command: {command_line(args, url)}")
    for error in errors:
        print(f"WRONG: {error}", file=sys.stderr)
    if errors:
        return 1
    return 0 if verdict == "PASS" else 2


if __name__ == "__main__":
    sys.exit(main())
