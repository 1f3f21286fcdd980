"""How fast the polling engine keeps shipments fresh, each figure against a bound of the same run.

Three measurements, all on 127.0.0.1 (PostgreSQL, Redis, a fake carrier API in its own process):

1. **claim**: the scheduler's claim of 1,000 due shipments (``claim_due``: one UPDATE over a
   ``FOR UPDATE SKIP LOCKED`` select on the due index of the narrow poll queue) with 100,000
   shipments in the table (20% tracked), then with 2,000,000. Target: the time ratio is at
   most 1.5, and the plan uses the queue's due index.
2. **latency**: 20,000 active DHL shipments (one number per request), the fake carrier answering
   after 200 ms, the account rate-limited to ``--rate`` requests/s; worker processes poll as
   Celery's would (claim, group, poll with threads). Shipments refreshed per second divided by
   the bound ``min(in-flight cap / latency, token rate)``. Target: at least 0.8.
3. **e2e**: the same at 0 ms latency with FedEx (30 numbers a request): claim, fetch, parse and
   record, in shipments per second. Target: at least 300/s on this 2-core machine.

Run from the project root:

    .venv/bin/python bench/poll.py [--part claim|latency|e2e|all] [--seconds 20]

``DATABASE_URL`` (PostgreSQL) defaults to ``postgres://postgres@127.0.0.1:5432/wismo_bench_poll``,
created when missing; ``REDIS_URL`` to ``redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ensure_database, migrate, setup_django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench_poll"
TENANT_SLUG = "bench-poll"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["claim", "latency", "e2e", "all"], default="all")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measuring window of latency/e2e"
    )
    parser.add_argument("--shipments", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per worker")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--rate", type=float, default=60.0, help="carrier token rate, requests/s")
    return parser.parse_args(argv)


# --- data ---------------------------------------------------------------------------------------


def reset_tenant():
    """A fresh bench tenant (raw deletes: the ORM's cascade collector is slow at this size)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.services import tenant_create

    old = list(Tenant.objects.filter(slug=TENANT_SLUG).values_list("pk", flat=True))
    if old:
        with connection.cursor() as cursor:
            for table in (
                "tracking_pollqueue",
                "tracking_trackingevent",
                "tracking_shipmentstatuschange",
                "tracking_shipment",
                "tracking_carrieraccount",
                "tracking_inboundwebhook",
            ):
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s)", [old])
        Tenant.objects.filter(pk__in=old).delete()
    return tenant_create(slug=TENANT_SLUG, name="Bench poll")


def insert_shipments(
    tenant_id: int,
    *,
    start: int,
    count: int,
    carrier: str,
    account_id: int | None,
    due: int = 0,
    active_share: float = 1.0,
) -> None:
    """``count`` shipments numbered from ``start``: the first ``due`` are due now; of the rest,
    ``active_share`` are active and due later, the others delivered (inactive)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tracking_shipment (
                tenant_id, carrier, carrier_account_id, tracking_number, status, substatus,
                action_required, destination_country, destination_postcode,
                estimated_delivery_source, poll_failures, unchanged_polls, last_error_code,
                last_error, is_active, public_token, created_at, updated_at, next_poll_at)
            SELECT %(tenant)s, %(carrier)s, %(account)s, 'BENCH' || lpad(g::text, 10, '0'),
                   'in_transit', 'in_transit.in_transit', false, 'IT', '20121', '', 0, 0, '', '',
                   (g - %(start)s < %(due)s) OR random() < %(active)s,
                   md5(g::text || random()::text) || md5(random()::text), now(), now(),
                   CASE WHEN g - %(start)s < %(due)s THEN now() - interval '1 minute'
                        ELSE now() + (1 + (g %% 720)) * interval '1 minute' END
            FROM generate_series(%(start)s, %(start)s + %(count)s - 1) AS g
            """,
            {
                "tenant": tenant_id,
                "carrier": carrier,
                "account": account_id,
                "start": start,
                "count": count,
                "due": due,
                "active": active_share,
            },
        )
        cursor.execute(
            "UPDATE tracking_shipment SET next_poll_at = NULL "
            "WHERE tenant_id = %s AND NOT is_active AND next_poll_at IS NOT NULL",
            [tenant_id],
        )
        # The scheduler's queue, as shipment_create fills it: one row per tracked shipment.
        cursor.execute(
            """
            INSERT INTO tracking_pollqueue (shipment_id, tenant_id, carrier, carrier_account_id, due_at)
            SELECT id, tenant_id, carrier, carrier_account_id, next_poll_at FROM tracking_shipment
            WHERE tenant_id = %s AND is_active AND next_poll_at IS NOT NULL
              AND tracking_number BETWEEN %s AND %s
            """,
            [tenant_id, f"BENCH{start:010d}", f"BENCH{start + count - 1:010d}"],
        )


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tracking_shipment")
        cursor.execute("VACUUM ANALYZE tracking_pollqueue")


# --- 1. claim -----------------------------------------------------------------------------------


def time_claims(repeats: int = 7) -> tuple[float, str]:
    """Median seconds of claiming 1,000 due rows, and the plan of the claim's select."""
    from django.db import connection
    from django.utils import timezone

    from wismo.tracking.services.polling import claim_due

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        claims = claim_due(limit=1000)
        times.append(time.perf_counter() - started)
        assert len(claims) == 1000, f"expected 1,000 due rows, claimed {len(claims)}"
        with connection.cursor() as cursor:  # put them back, untimed
            cursor.execute(
                "UPDATE tracking_pollqueue SET due_at = %s WHERE shipment_id = ANY(%s)",
                [timezone.now() - timezone.timedelta(minutes=1), [c.shipment_id for c in claims]],
            )
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT shipment_id FROM tracking_pollqueue WHERE due_at <= now() "
            "ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return statistics.median(times), plan


def part_claim() -> dict:
    tenant = reset_tenant()
    print("seeding 100,000 shipments (20% active) ...", flush=True)
    insert_shipments(
        tenant.pk,
        start=1,
        count=100_000,
        carrier="dhl",
        account_id=None,
        due=1000,
        active_share=0.2,
    )
    vacuum_analyze()
    small, _plan_small = time_claims()
    print("seeding 1,900,000 more ...", flush=True)
    for start in range(100_001, 2_000_001, 380_000):
        insert_shipments(
            tenant.pk,
            start=start,
            count=380_000,
            carrier="dhl",
            account_id=None,
            due=0,
            active_share=0.2,
        )
    vacuum_analyze()
    large, plan_large = time_claims()
    reset_tenant()
    uses_index = "pollqueue_due_idx" in plan_large
    return {
        "claim_100k_ms": round(small * 1000, 2),
        "claim_2m_ms": round(large * 1000, 2),
        "ratio": round(large / small, 3),
        "uses_queue_index": uses_index,
        "plan_2m": plan_large,
        "pass": large / small <= 1.5 and uses_index,
    }


# --- 2 and 3. polling throughput ----------------------------------------------------------------


def _fake_carrier(port_queue, latency: float, kind: str) -> None:
    """A fake carrier API process answering every tracking request (DHL or FedEx format)."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.carrier_server import FakeCarrierServer, Reply, fixture_text

    dhl_body = fixture_text("dhl/transit.json")

    def dhl(request):
        number = request.query["trackingNumber"][0]
        return Reply(body=dhl_body.replace("1234567890", number))

    def fedex(request):
        numbers = [
            i["trackingNumberInfo"]["trackingNumber"] for i in request.json()["trackingInfo"]
        ]
        return {
            "transactionId": "bench",
            "output": {
                "completeTrackResults": [
                    {
                        "trackingNumber": n,
                        "trackResults": [
                            {
                                "trackingNumberInfo": {"trackingNumber": n, "carrierCode": "FDXE"},
                                "latestStatusDetail": {
                                    "code": "IT",
                                    "derivedCode": "IT",
                                    "description": "In transit",
                                },
                                "scanEvents": [
                                    {
                                        "date": "2026-11-20T08:52:00-08:00",
                                        "eventType": "AR",
                                        "eventDescription": "At local FedEx facility",
                                        "derivedStatusCode": "IT",
                                        "scanLocation": {
                                            "city": "FRESNO",
                                            "countryCode": "US",
                                            "stateOrProvinceCode": "CA",
                                        },
                                    },
                                    {
                                        "date": "2026-11-19T14:25:00-08:00",
                                        "eventType": "PU",
                                        "eventDescription": "Picked up",
                                        "derivedStatusCode": "PU",
                                        "scanLocation": {
                                            "city": "FRESNO",
                                            "countryCode": "US",
                                            "stateOrProvinceCode": "CA",
                                        },
                                    },
                                ],
                            }
                        ],
                    }
                    for n in numbers
                ]
            },
        }

    with FakeCarrierServer() as server:
        server.latency = latency
        server.route("GET", r"^/track/shipments$", dhl)
        server.route(
            "POST",
            r"/oauth/token$",
            {"access_token": "bench", "token_type": "bearer", "expires_in": 3600},
        )
        server.route("POST", r"/track/v1/trackingnumbers$", fedex)
        port_queue.put(server.url)
        while True:
            time.sleep(3600)


def _worker(url: str, stop_at: float, concurrency: int) -> None:
    """A worker process: claim due shipments, poll them in groups, until ``stop_at``."""
    setup_django(url)
    from django.conf import settings

    from tenants.scoping import tenant_scope
    from wismo.tracking.services import polling

    settings.WISMO_POLL_CONCURRENCY = concurrency
    idle_since = None
    while time.time() < stop_at:
        claims = polling.claim_due(limit=concurrency * 30)
        if not claims:
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 2:  # nothing due any more: every shipment is fresh
                return
            time.sleep(0.05)
            continue
        idle_since = None
        for group in polling.group_claims(claims, concurrency=concurrency):
            with tenant_scope(group.tenant_id):
                polling.poll_shipments(shipment_ids=group.shipment_ids)
            if time.time() >= stop_at:
                break


def run_pollers(
    url: str, args, *, carrier: str, latency: float, rate: float, seconds: float
) -> dict:
    from django.db import connection

    from tenants.scoping import tenant_scope
    from tests.factories import CarrierAccountFactory  # noqa: F401 - makes sure test code imports
    from wismo.tracking.models import CarrierAccount

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    server = ctx.Process(target=_fake_carrier, args=(queue, latency, carrier), daemon=True)
    server.start()
    fake_url = queue.get(timeout=30)
    tenant = reset_tenant()
    credentials = {
        "base_url": fake_url,
        "rate_per_second": rate,
        "api_key": "bench",
        "client_id": "bench",
        "client_secret": "bench",
    }
    with tenant_scope(tenant):
        account = CarrierAccount.objects.create(
            tenant=tenant, carrier=carrier, name="bench", credentials=credentials
        )
    insert_shipments(
        tenant.pk,
        start=1,
        count=args.shipments,
        carrier=carrier,
        account_id=account.pk,
        due=args.shipments,
    )
    vacuum_analyze()
    connection.close()
    started = time.time()
    stop_at = started + seconds
    workers = [
        ctx.Process(target=_worker, args=(url, stop_at, args.concurrency))
        for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    server.terminate()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), max(last_checked_at) FROM tracking_shipment "
            "WHERE tenant_id = %s AND last_checked_at IS NOT NULL",
            [tenant.pk],
        )
        refreshed, last = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tracking_trackingevent WHERE tenant_id = %s", [tenant.pk]
        )
        (events,) = cursor.fetchone()
    # Until the last refresh: the workers may have finished every shipment before the window.
    elapsed = min(time.time(), last.timestamp()) - started if last else seconds
    reset_tenant()
    return {
        "refreshed": refreshed,
        "events": events,
        "seconds": round(elapsed, 2),
        "per_second": round(refreshed / elapsed, 1),
    }


def part_latency(url: str, args) -> dict:
    latency = args.latency_ms / 1000
    result = run_pollers(
        url, args, carrier="dhl", latency=latency, rate=args.rate, seconds=args.seconds
    )
    in_flight = args.workers * args.concurrency
    bound = min(in_flight / latency, args.rate)
    result.update(
        in_flight_cap=in_flight,
        latency_ms=args.latency_ms,
        token_rate=args.rate,
        bound_per_second=round(bound, 1),
        ratio=round(result["per_second"] / bound, 3),
    )
    result["pass"] = result["ratio"] >= 0.8
    return result


def part_e2e(url: str, args) -> dict:
    result = run_pollers(url, args, carrier="fedex", latency=0.0, rate=10_000, seconds=args.seconds)
    result["pass"] = result["per_second"] >= 300
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    ensure_database(url)
    setup_django(url)
    migrate()
    report: dict[str, dict] = {}
    if args.part in ("claim", "all"):
        report["claim"] = part_claim()
    if args.part in ("latency", "all"):
        report["latency"] = part_latency(url, args)
    if args.part in ("e2e", "all"):
        report["e2e"] = part_e2e(url, args)
    print(
        f"\nbench/poll.py on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.machine()})"
    )
    for name, figures in report.items():
        shown = {k: v for k, v in figures.items() if k != "plan_2m"}
        print(f"{name:8} {json.dumps(shown)}")
    if "claim" in report:
        print("claim plan at 2M shipments:\n  " + report["claim"]["plan_2m"].replace("\n", "\n  "))
    print(
        "command: .venv/bin/python bench/poll.py "
        + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    return 0 if all(figures["pass"] for figures in report.values()) else 2


if __name__ == "__main__":
    raise SystemExit(main())
