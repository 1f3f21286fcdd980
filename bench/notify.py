"""How fast and how late the email outbox sends, each figure against a bound of the same run.

Everything runs on 127.0.0.1: PostgreSQL, and a fake Postmark API in its own process (the
``FakePostmark`` of tests/notifications/test_outbox_faults.py: ``POST /email``, a thread per
request, answering after ``--latency`` seconds). wismo sends through anymail's real Postmark
backend, configured as a deployment would be (``EMAIL_BACKEND`` and ``ANYMAIL_POSTMARK_*``).

1. **throughput**: ``--changes`` shipments of one tenant (each its own order and shopper) get a
   status change (out for delivery, a recent event) through the timeline service
   (``record_events_batch``), dispatched into the outbox (``changes_dispatch``) and made due at
   once. Then ``--processes`` sender processes (Celery workers' stand-ins) each run the beat
   task ``send_due_notifications`` in a loop, ``--concurrency`` emails in flight each
   (``WISMO_NOTIFY_CONCURRENCY``), until the outbox is empty: claim, render, send, record.
   Emails per second divided by the bound ``processes x concurrency / latency``; target at
   least 0.7. Checked: the provider accepted exactly ``--changes`` messages, each Message-ID
   once, and every row is ``sent``.
2. **lag**: the beat-driven flow. The same number of changes arrive over ``--arrival`` seconds,
   a batch every half second (recorded and dispatched at once, as the after-commit dispatch
   task does); a beat stand-in hands one ``send_due_notifications`` task every ``--sweep``
   seconds to a pool of ``--processes`` workers, each taking one task at a time (a prefork
   worker with prefetch 1), exactly what the beat schedule does with
   ``WISMO_NOTIFY_SWEEP_SECONDS``. Each email's lag is ``sent_at - send_after``; target p99
   under two sweep intervals. The sweep is short here (5 s by default, production's is 30 s)
   so the run stays short; the task drains for ``max(5, sweep - 5)`` seconds per tick.

Run from the project root:

    .venv/bin/python bench/notify.py [--part throughput|lag|all] [--changes 10000]
        [--latency 0.1] [--processes 2] [--concurrency 8] [--sweep 5] [--arrival 60]

``DATABASE_URL`` (PostgreSQL) defaults to
``postgres://postgres@127.0.0.1:5432/wismo_bench_notify``, created when missing. Exit status 2
when a target is missed or a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ensure_database, migrate, setup_django
from _production import machine_busy

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench_notify"
TENANT_SLUG = "bench-notify"
LOCALES = ["en", "it", "de", "fr", "es"]
CHUNK = 500  # status changes recorded and dispatched per transaction


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["throughput", "lag", "all"], default="all")
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.1, help="provider latency, seconds")
    parser.add_argument("--processes", type=int, default=2, help="sender (worker) processes")
    parser.add_argument("--concurrency", type=int, default=8, help="emails in flight a process")
    parser.add_argument("--sweep", type=int, default=5, help="beat sweep interval, seconds")
    parser.add_argument(
        "--arrival",
        type=float,
        default=120.0,
        help="lag: changes arrive over this many seconds (keep the rate under the senders' "
        "capacity: above it any outbox's lag grows without bound)",
    )
    parser.add_argument(
        "--senders", type=int, default=2, help="lag: sender tasks per sweep (WISMO_NOTIFY_SENDERS)"
    )
    return parser.parse_args(argv)


# --- the fake provider ----------------------------------------------------------------------------


def _provider(url: str, queue, latency: float) -> None:
    """The fake Postmark, in a process of its own; its test module needs Django set up."""
    setup_django(url)
    from tests.fakes.postmark_server import FakePostmark

    with FakePostmark(latency=latency) as fake:
        queue.put((fake.url, fake.token))
        while True:
            time.sleep(3600)


def provider_call(base: str, path: str) -> dict:
    post = path == "_reset"
    request = urllib.request.Request(  # noqa: S310 - the loopback fake's own URL
        base + path, method="POST" if post else "GET", data=b"" if post else None
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


# --- data -----------------------------------------------------------------------------------------


def reset_tenant():
    """The bench tenant with none of the rows a run makes (raw deletes: the ORM's cascade
    collector is slow at this size; the tenant itself is kept for the next run)."""
    from django.db import connection

    from notifications.models import Notification, WebhookDelivery
    from tenants.models import Tenant
    from tenants.services import tenant_create
    from wismo.tracking.models import (
        Order,
        PollQueue,
        Shipment,
        ShipmentStatusChange,
        TrackingEvent,
    )

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        return tenant_create(slug=TENANT_SLUG, name="Bench notify")
    with connection.cursor() as cursor:
        for model in (
            Notification,
            WebhookDelivery,
            TrackingEvent,
            ShipmentStatusChange,
            PollQueue,
            Shipment,
            Order,
        ):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant.pk])
    return tenant


def seed(tenant, count: int) -> list[int]:
    """``count`` in-transit shipments, each of its own order with its own shopper's email."""
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import Order, Shipment

    with tenant_scope(tenant):
        orders = Order.objects.bulk_create(
            [
                Order(
                    tenant=tenant,
                    external_id=f"bench-{i}",
                    order_number=str(100_000 + i),
                    customer_email=f"shopper{i}@example.com",
                    customer_name=f"Shopper {i}",
                    locale=LOCALES[i % len(LOCALES)],
                    line_items=[{"title": "Espresso cups", "quantity": 2}],
                )
                for i in range(count)
            ],
            batch_size=2000,
        )
        shipments = Shipment.objects.bulk_create(
            [
                Shipment(
                    tenant=tenant,
                    order=order,
                    carrier="dhl",
                    tracking_number=f"NB{i:010d}",
                    status="in_transit",
                    substatus="in_transit.in_transit",
                    destination_country="IT",
                )
                for i, order in enumerate(orders)
            ],
            batch_size=2000,
        )
    return [s.pk for s in shipments]


def change_and_dispatch(tenant, shipment_ids: list[int]) -> tuple[int, int]:
    """Record an "out for delivery" event on each shipment and dispatch the changes, as the
    after-commit dispatch task would: (changes, emails owed)."""
    from django.utils import timezone

    from carriers.base import CarrierEvent
    from notifications.services.dispatch import changes_dispatch
    from tenants.scoping import tenant_scope
    from wismo.tracking.services.timeline import record_events_batch

    changes = owed = 0
    for start in range(0, len(shipment_ids), CHUNK):
        when = timezone.now() - timedelta(minutes=5)  # recent news, not "old news"
        event = CarrierEvent(when, "out_for_delivery", "", "OFD", "Out for delivery", "Milano, IT")
        with tenant_scope(tenant):
            results = record_events_batch(
                items=[(pk, [event]) for pk in shipment_ids[start : start + CHUNK]]
            )
        ids = [cid for result in results.values() for cid in result.change_ids]
        changes += len(ids)
        owed += changes_dispatch(change_ids=ids)
    return changes, owed


def outbox_rows(tenant) -> list[tuple]:
    """(state, message_id, send_after, sent_at) of every outbox row of the bench tenant."""
    from notifications.models import Notification
    from tenants.scoping import tenant_scope

    with tenant_scope(tenant):
        return list(
            Notification.objects.values_list("state", "message_id", "send_after", "sent_at")
        )


def vacuum_analyze() -> None:
    from django.db import connection

    from notifications.models import Notification

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Notification._meta.db_table}")


def check_delivery(rows: list[tuple], accepted: list[str], expected: int) -> dict:
    """Exactly ``expected`` messages at the provider, each Message-ID once, every row sent."""
    row_ids = {message_id for _state, message_id, _after, _sent in rows}
    checks = {
        "provider_accepted": len(accepted),
        "distinct_message_ids": len(set(accepted)),
        "rows": len(rows),
        "rows_sent": sum(state == "sent" for state, *_ in rows),
    }
    checks["delivery_ok"] = (
        len(accepted) == len(set(accepted)) == expected == checks["rows_sent"] == len(rows)
        and set(accepted) == row_ids
    )
    return checks


# --- senders --------------------------------------------------------------------------------------


def _drain_until_empty(url: str, ready, go) -> None:
    """A worker running the beat task back to back until no row is scheduled or sending."""
    setup_django(url)
    from notifications import tasks
    from notifications.models import Notification
    from tenants.scoping import all_tenants

    ready.put(os.getpid())
    go.wait()
    while True:
        tasks.send_due_notifications()
        with all_tenants():
            if not Notification.objects.filter(state__in=["scheduled", "sending"]).exists():
                return
        time.sleep(0.02)  # rows still leased by the other senders


def _pool_worker(url: str, ready, ticks) -> None:
    """A worker process of the pool: one beat task at a time, as Celery hands them out."""
    setup_django(url)
    from notifications import tasks

    ready.put(os.getpid())
    while ticks.get() is not None:
        tasks.send_due_notifications()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- 1. throughput --------------------------------------------------------------------------------


def part_throughput(url: str, args, fake_url: str) -> dict:
    from django.db import connection
    from django.utils import timezone

    from notifications.models import Notification
    from tenants.scoping import tenant_scope

    tenant = reset_tenant()
    started = time.perf_counter()
    shipment_ids = seed(tenant, args.changes)
    seeded = time.perf_counter()
    changes, owed = change_and_dispatch(tenant, shipment_ids)
    dispatched = time.perf_counter()
    with tenant_scope(tenant):
        Notification.objects.update(send_after=timezone.now())
    vacuum_analyze()
    provider_call(fake_url, "_reset")
    connection.close()

    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    senders = [
        ctx.Process(target=_drain_until_empty, args=(url, ready, go)) for _ in range(args.processes)
    ]
    for sender in senders:
        sender.start()
    for _ in senders:
        ready.get(timeout=120)
    sending_from = time.time()
    go.set()
    for sender in senders:
        sender.join()
    rows = outbox_rows(tenant)
    accepted = provider_call(fake_url, "_stats")["accepted"]
    last = max((sent for *_rest, sent in rows if sent), default=None)
    elapsed = (last.timestamp() if last else time.time()) - sending_from
    sent = sum(state == "sent" for state, *_ in rows)
    bound = args.processes * args.concurrency / args.latency
    result = {
        "changes": changes,
        "emails_owed": owed,
        "seed_s": round(seeded - started, 2),
        "record_and_dispatch_per_s": round(changes / (dispatched - seeded), 1),
        "sent": sent,
        "send_s": round(elapsed, 2),
        "emails_per_s": round(sent / elapsed, 1),
        "in_flight": args.processes * args.concurrency,
        "bound_per_s": round(bound, 1),
    }
    result["ratio"] = round(result["emails_per_s"] / bound, 3)
    result.update(check_delivery(rows, accepted, args.changes))
    result["pass"] = result["ratio"] >= 0.7 and result["delivery_ok"]
    return result


# --- 2. lag ---------------------------------------------------------------------------------------


def part_lag(url: str, args, fake_url: str) -> dict:
    from django.db import connection

    tenant = reset_tenant()
    shipment_ids = seed(tenant, args.changes)
    provider_call(fake_url, "_reset")
    connection.close()

    ctx = multiprocessing.get_context("spawn")
    ready, ticks = ctx.Queue(), ctx.Queue()
    workers = [
        ctx.Process(target=_pool_worker, args=(url, ready, ticks)) for _ in range(args.processes)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)

    stop = threading.Event()
    tick_count = 0

    def beat() -> None:  # notify_sweep: WISMO_NOTIFY_SENDERS sender tasks per sweep
        nonlocal tick_count
        while not stop.is_set():
            for _ in range(args.senders):
                ticks.put("send_due_notifications")
                tick_count += 1
            stop.wait(args.sweep)

    threading.Thread(target=beat, daemon=True).start()
    step = 0.5
    batches = max(1, round(args.arrival / step))
    size = math.ceil(len(shipment_ids) / batches)
    arrival_from = time.time()
    late_batches = 0
    for n in range(batches):
        due = arrival_from + n * step
        if (wait := due - time.time()) > 0:
            time.sleep(wait)
        else:
            late_batches += wait < -step  # the producer itself fell behind
        change_and_dispatch(tenant, shipment_ids[n * size : (n + 1) * size])
    arrival_took = time.time() - arrival_from

    from notifications.models import Notification
    from tenants.scoping import tenant_scope

    deadline = time.time() + max(120, 20 * args.sweep)
    while time.time() < deadline:
        with tenant_scope(tenant):
            if not Notification.objects.filter(state__in=["scheduled", "sending"]).exists():
                break
        time.sleep(0.5)
    stop.set()
    for _ in workers:
        ticks.put(None)
    for worker in workers:
        worker.join(timeout=max(60, 2 * args.sweep))
        if worker.is_alive():
            worker.terminate()

    rows = outbox_rows(tenant)
    accepted = provider_call(fake_url, "_stats")["accepted"]
    lags = [(sent - after).total_seconds() for _s, _m, after, sent in rows if sent]
    result = {
        "changes": len(rows),
        "arrival_s": round(arrival_took, 1),
        "arrival_per_s": round(len(rows) / arrival_took, 1),
        "producer_late_batches": late_batches,
        "sweep_s": args.sweep,
        "beat_ticks": tick_count,
        "drain_capacity_per_s": round(args.concurrency / args.latency, 1),
        "senders_per_sweep": args.senders,
        "lag_p50_s": round(_percentile(lags, 0.5), 2) if lags else None,
        "lag_p99_s": round(_percentile(lags, 0.99), 2) if lags else None,
        "lag_max_s": round(max(lags), 2) if lags else None,
        "target_p99_s": 2 * args.sweep,
    }
    result.update(check_delivery(rows, accepted, args.changes))
    result["pass"] = bool(lags) and result["lag_p99_s"] < 2 * args.sweep and result["delivery_ok"]
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    ensure_database(url)
    busy = machine_busy()
    ctx = multiprocessing.get_context("spawn")
    found = ctx.Queue()
    provider = ctx.Process(target=_provider, args=(url, found, args.latency), daemon=True)
    provider.start()
    fake_url, token = found.get(timeout=60)
    # The senders (spawned) read these as a deployment's environment.
    os.environ.update(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN=token,
        ANYMAIL_POSTMARK_API_URL=fake_url,
        DEFAULT_FROM_EMAIL="Bench Shop <updates@mail.wismo.test>",
        WISMO_BASE_URL="https://track.wismo.test",
        WISMO_NOTIFY_CONCURRENCY=str(args.concurrency),
        WISMO_NOTIFY_SWEEP_SECONDS=str(args.sweep),
    )
    setup_django(url)
    migrate()
    # This process records and dispatches itself: the after-commit nudge would go to a broker.
    from wismo.tracking.signals import shipment_status_changed

    shipment_status_changed.disconnect(dispatch_uid="notifications-dispatch")

    report: dict[str, dict] = {}
    try:
        if args.part in ("throughput", "all"):
            report["throughput"] = part_throughput(url, args, fake_url)
        if args.part in ("lag", "all"):
            report["lag"] = part_lag(url, args, fake_url)
    finally:
        provider.terminate()
        reset_tenant()

    summary = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "busy_before": round(busy, 2),
        },
        "settings": {
            "changes": args.changes,
            "latency_s": args.latency,
            "processes": args.processes,
            "concurrency": args.concurrency,
            "sweep_s": args.sweep,
            "arrival_s": args.arrival,
        },
        **report,
    }
    print(json.dumps(summary, indent=2))
    print(
        f"\nbench/notify.py on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, machine {busy:.0%} busy before the run"
    )
    if t := report.get("throughput"):
        print(
            f"throughput: {t['sent']} emails in {t['send_s']} s = {t['emails_per_s']}/s; bound "
            f"{t['in_flight']} in flight / {args.latency} s = {t['bound_per_s']}/s; ratio "
            f"{t['ratio']} (target >= 0.7); provider accepted {t['provider_accepted']}, "
            f"{t['distinct_message_ids']} distinct Message-IDs, {t['rows_sent']}/{t['rows']} "
            f"rows sent -> {'PASS' if t['pass'] else 'FAIL'}"
        )
    if lag := report.get("lag"):
        print(
            f"lag: {lag['changes']} changes over {lag['arrival_s']} s "
            f"({lag['arrival_per_s']}/s), {lag['senders_per_sweep']} sender tasks every "
            f"{lag['sweep_s']} s sweep (one sends at most {lag['drain_capacity_per_s']}/s); lag p50 "
            f"{lag['lag_p50_s']} s, p99 {lag['lag_p99_s']} s, max {lag['lag_max_s']} s "
            f"(target p99 < {lag['target_p99_s']} s); provider accepted "
            f"{lag['provider_accepted']}, {lag['distinct_message_ids']} distinct -> "
            f"{'PASS' if lag['pass'] else 'FAIL'}"
        )
    print(
        "command: .venv/bin/python bench/notify.py "
        + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    return 0 if all(figures["pass"] for figures in report.values()) else 2


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
