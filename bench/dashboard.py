"""The merchant's shipment list at scale: filtered list, deep keyset pages, API list, CSV export.

Dataset (``--scale 1``, the default): 2,000,000 shipments of 20 tenants, one of them with
1,000,000, each with its order, and 10,000,000 tracking events (5 a parcel). It is written by
SQL alone (``INSERT ... SELECT generate_series``, with the loaded tables' indexes and foreign
keys dropped during the load and rebuilt after), into a database of its own that later runs
reuse (``--rebuild`` drops and rebuilds it; another ``--scale`` rebuilds it too).

Measured, in this process, through Django's test Client (the whole middleware stack, the view,
the template) signed in as the big tenant's owner:

- **list**: ``/dashboard/shipments/?status=in_transit&carrier=dhl&created_from=..&created_to=..``
  (a 90-day window); p50/p95 over ``--iterations`` requests. Target: p95 < 150 ms.
- **deep page**: the unfiltered list's page 10,000 (its keyset cursor is built from the row that
  ends page 9,999, found once with SQL) against page 1, medians, interleaved. Target: ratio <= 1.5.
- **api**: ``GET /api/v1/shipments/`` with the same filters (API key, DRF, serializer) against
  the SQL that request runs, each statement re-run alone on a raw cursor (with its rows fetched).
  Target: API p50 <= 5x the SQL p50. The list query's own EXPLAIN ANALYZE time is shown too.
- **csv**: ``/dashboard/shipments/export.csv`` streamed until 100,000 rows are read; rows/s, the
  RSS growth of the process and tracemalloc's peak (at 10,000 and 100,000 rows: flat means
  constant memory). Target: traced peak < 32 MB and the 100k peak < 2x the 10k peak.

Exit 0 when every target is met, 2 when one is missed, 1 on a wrong outcome.

Run from the project root:

    .venv/bin/python bench/dashboard.py [--scale 1] [--rebuild] [--iterations 60]

``DATABASE_URL`` (PostgreSQL) defaults to
``postgres://postgres@127.0.0.1:5432/wismo_bench_dashboard``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import re
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, migrate, setup_django
from _load import percentile
from _production import machine_busy

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench_dashboard"
FULL_SHIPMENTS = 2_000_000
EVENTS_PER_SHIPMENT = 5
TENANTS = 20
SLUG = "bench-dash-{:02d}"
OWNER = "owner@bench-dash.example"
CARRIERS = ["dhl", "ups", "gls", "dpd", "fedex", "postnl", "brt", "poste_italiane"]
LOADED_TABLES = ["tracking_order", "tracking_shipment", "tracking_trackingevent"]
PAGE = 50
TARGET_LIST_P95_MS = 150.0
TARGET_DEEP_RATIO = 1.5
TARGET_API_RATIO = 5.0
TARGET_CSV_PEAK_MB = 32.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 2M shipments, 10M events")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--iterations", type=int, default=60, help="timed requests per case")
    parser.add_argument("--deep-page", type=int, default=10_000, help="the deep page's number")
    parser.add_argument("--csv-rows", type=int, default=100_000, help="rows of the CSV export")
    return parser.parse_args(argv)


# --- the dataset ---------------------------------------------------------------------------


def _admin_connection(url: str):
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=config["USER"] or None,
        password=config["PASSWORD"] or None,
        host=config["HOST"] or None,
        port=config["PORT"] or None,
    )
    conn.autocommit = True
    return conn, config["NAME"]


def drop_database(url: str) -> None:
    conn, name = _admin_connection(url)
    try:
        with conn.cursor() as cursor:
            from psycopg2 import sql

            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def dataset_state() -> dict | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_dashboard_meta') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT value FROM bench_dashboard_meta WHERE key = 'state'")
        row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def _constraints_and_indexes(cursor, table: str) -> tuple[list, list, list]:
    """(foreign keys, unique constraints, other indexes) of ``table``, as (name, SQL) pairs."""
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('f', 'u')",
        [table],
    )
    foreign, unique = [], []
    for name, kind, definition in cursor.fetchall():
        (foreign if kind == "f" else unique).append((name, definition))
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p','u'))",
        [table],
    )
    return foreign, unique, list(cursor.fetchall())


def build_dataset(*, shipments: int) -> dict:
    """Tenants, stores and an owner by the ORM; orders, shipments and events by SQL."""
    from django.db import connection, transaction

    from tenants.models import Tenant
    from tenants.scoping import tenant_scope
    from tenants.services import membership_add, tenant_create
    from wismo.tracking.models import ShopConnection

    started = time.perf_counter()
    tenant_ids, store_ids = [], []
    for n in range(TENANTS):
        slug = SLUG.format(n)
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(
            slug=slug, name=f"Bench shop {n}"
        )
        tenant_ids.append(tenant.pk)
        with tenant_scope(tenant):
            stores = list(ShopConnection.objects.order_by("pk").values_list("pk", flat=True))
            while len(stores) < 2:
                stores.append(
                    ShopConnection.objects.create(
                        tenant=tenant, platform="shopify", name=f"Store {len(stores)} of {n}"
                    ).pk
                )
        store_ids.append(stores[:2])
    big = Tenant.objects.get(slug=SLUG.format(0))
    membership_add(tenant=big, email=OWNER, role="owner", password="bench-password-1")  # noqa: S106 - a throwaway bench account

    events = shipments * EVENTS_PER_SHIPMENT
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(f"TRUNCATE {', '.join(LOADED_TABLES)} RESTART IDENTITY CASCADE")
        saved = {}
        for table in LOADED_TABLES:
            saved[table] = _constraints_and_indexes(cursor, table)
            foreign, unique, indexes = saved[table]
            for name, _ in foreign + unique:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SELECT setseed(0.42)")
        # One row a parcel: every other one belongs to the big tenant, the rest go round the 19
        # others; created_at climbs over the last year (ids follow time, as in production).
        cursor.execute(
            """
            CREATE TEMP TABLE bench_rows ON COMMIT DROP AS
            SELECT i,
                   CASE WHEN i %% 2 = 0 THEN (%(tenants)s::bigint[])[1]
                        ELSE (%(tenants)s::bigint[])[2 + ((i / 2) %% 19)] END AS tenant_idx,
                   now() - interval '365 days' + (i::float8 / %(n)s) * interval '365 days'
                         - random() * interval '2 hours' AS created,
                   random() AS r_status, random() AS r_flag, random() AS r_store,
                   (%(carriers)s::text[])[1 + floor(random() * %(ncarriers)s)::int] AS carrier,
                   (ARRAY['DE','FR','IT','ES','NL','AT','BE','GB','US','PL'])
                       [1 + floor(random() * 10)::int] AS country
            FROM generate_series(1, %(n)s) AS i
            """,
            {
                "tenants": tenant_ids,
                "n": shipments,
                "carriers": CARRIERS,
                "ncarriers": len(CARRIERS),
            },
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_stores ON COMMIT DROP AS
            SELECT unnest(%(tenants)s::bigint[]) AS tenant_id,
                   unnest(%(first)s::bigint[]) AS store_a, unnest(%(second)s::bigint[]) AS store_b
            """,
            {
                "tenants": tenant_ids,
                "first": [s[0] for s in store_ids],
                "second": [s[1] for s in store_ids],
            },
        )
        cursor.execute(
            """
            CREATE TEMP TABLE bench_parcels ON COMMIT DROP AS
            SELECT r.i, r.tenant_idx AS tenant_id, r.created, r.carrier, r.country, r.r_flag,
                   CASE WHEN r.r_store < 0.5 THEN s.store_a ELSE s.store_b END AS store_id,
                   CASE WHEN r.r_status < 0.45 THEN 'delivered'
                        WHEN r.r_status < 0.80 THEN 'in_transit'
                        WHEN r.r_status < 0.85 THEN 'out_for_delivery'
                        WHEN r.r_status < 0.90 THEN 'exception'
                        WHEN r.r_status < 0.94 THEN 'pending'
                        WHEN r.r_status < 0.97 THEN 'info_received'
                        ELSE 'failed_attempt' END AS status
            FROM bench_rows r JOIN bench_stores s ON s.tenant_id = r.tenant_idx
            """
        )
        cursor.execute(
            """
            INSERT INTO tracking_order (id, external_id, order_number, customer_email,
                customer_name, locale, shipping_country, shipping_postcode, line_items, placed_at,
                cancelled_at, public_token, created_at, updated_at, tenant_id, store_id)
            SELECT i, 'ext-' || i, (100000 + i)::text, 'shopper' || i || '@example.com',
                   'Shopper ' || i, 'en', country, '10115', '[]'::jsonb, created, NULL,
                   'o' || md5('order' || i), created, created, tenant_id, store_id
            FROM bench_parcels
            """
        )
        cursor.execute(
            """
            INSERT INTO tracking_shipment (id, carrier, tracking_number, status, substatus,
                action_required, destination_country, destination_postcode, shipped_at,
                estimated_delivery, estimated_delivery_earliest, estimated_delivery_latest,
                estimated_delivery_source, estimated_delivery_confidence, delivered_at,
                last_event_at, last_checked_at, next_poll_at, poll_failures, last_error_code,
                last_error, is_active, public_token, created_at, updated_at, carrier_account_id,
                order_id, tenant_id, store_id, unchanged_polls, replaces_id,
                external_fulfillment_id, delay_notified_for, flagged_at, is_delayed, is_stalled,
                never_scanned, origin_country, promised_delivery, service)
            SELECT i, carrier, 'BT' || lpad(i::text, 12, '0'), status,
                   status || CASE status WHEN 'exception' THEN '.customs_hold'
                                         WHEN 'delivered' THEN '.signed'
                                         WHEN 'pending' THEN '.awaiting_carrier'
                                         ELSE '.on_the_way' END,
                   status = 'exception' AND r_flag < 0.3, country, '10115',
                   created + interval '6 hours',
                   (created + interval '3 days')::date, (created + interval '2 days')::date,
                   (created + interval '4 days')::date, 'predicted', 0.8,
                   CASE WHEN status = 'delivered' THEN created + interval '3 days' END,
                   CASE WHEN status = 'pending' THEN NULL ELSE created + interval '2 days' END,
                   created + interval '2 days',
                   CASE WHEN status = 'delivered' THEN NULL ELSE now() + interval '1 hour' END,
                   0, '', '', status <> 'delivered', 's' || md5('parcel' || i), created,
                   created + interval '2 days', NULL, i, tenant_id, store_id, 0, NULL, '', NULL,
                   CASE WHEN r_flag < 0.08 AND status = 'in_transit'
                        THEN created + interval '5 days' END,
                   r_flag < 0.08 AND status = 'in_transit',
                   r_flag > 0.97 AND status = 'in_transit', status = 'pending', 'DE', NULL, ''
            FROM bench_parcels
            """
        )
        cursor.execute(
            """
            INSERT INTO tracking_trackingevent (occurred_at, status, substatus, code,
                description, location, source, dedupe_key, created_at, shipment_id, tenant_id)
            SELECT p.created + k * interval '10 hours',
                   CASE WHEN k = %(k)s THEN p.status ELSE 'in_transit' END,
                   CASE WHEN k = %(k)s THEN p.status || '.reported' ELSE 'in_transit.on_the_way'
                   END,
                   'C' || k, 'Scan ' || k, 'Hub ' || (p.i %% 50), 'poll',
                   md5(p.i || ':' || k), p.created + k * interval '10 hours', p.i, p.tenant_id
            FROM bench_parcels p CROSS JOIN generate_series(1, %(k)s) AS k
            """,
            {"k": EVENTS_PER_SHIPMENT},
        )
        for table in LOADED_TABLES:
            foreign, unique, indexes = saved[table]
            for _, definition in indexes:
                cursor.execute(definition)
            for name, definition in unique + foreign:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(max(id), 1) FROM {table}))"
            )
        state = {
            "shipments": shipments,
            "events": events,
            "big_tenant": big.pk,
            "built_in_seconds": round(time.perf_counter() - started, 1),
        }
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_dashboard_meta (key text PRIMARY KEY, "
            "value text NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO bench_dashboard_meta VALUES ('state', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [json.dumps(state)],
        )
    with connection.cursor() as cursor:
        for table in LOADED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    state["built_in_seconds"] = round(time.perf_counter() - started, 1)
    return state


# --- measuring -----------------------------------------------------------------------------


def timed(fn, iterations: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def check(response, expected: int = 200):
    if response.status_code != expected:
        body = getattr(response, "content", b"")[:500]
        raise SystemExit(f"unexpected {response.status_code} (wanted {expected}): {body!r}")
    return response


def row_ids(response) -> list[int]:
    """The shipment ids of a rendered list page (its bulk-action checkboxes)."""
    return [int(v) for v in re.findall(rb'name="ids" value="(\d+)"', response.content)]


def measure(args, state: dict) -> tuple[list[tuple], bool]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework.test import APIClient

    from dashboard.selectors.shipments import encode_cursor
    from tenants.models import Tenant
    from tenants.services import api_key_create

    logging.getLogger("wismo").setLevel(logging.WARNING)
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    big = Tenant.objects.get(pk=state["big_tenant"])
    owner = get_user_model().objects.get(username=OWNER)
    client = Client()
    client.force_login(owner)
    today = timezone.now().date()
    window = {
        "status": "in_transit",
        "carrier": "dhl",
        "created_from": (today - timedelta(days=120)).isoformat(),
        "created_to": (today - timedelta(days=31)).isoformat(),
    }
    query = "&".join(f"{k}={v}" for k, v in window.items())
    results, ok = [], True

    # 1. The filtered list.
    list_url = f"/dashboard/shipments/?{query}"
    rows = len(row_ids(check(client.get(list_url))))
    if rows == 0:
        raise SystemExit("the filtered list is empty: the dataset is wrong")
    times = timed(lambda: check(client.get(list_url)), args.iterations)
    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
    hit = p95 < TARGET_LIST_P95_MS
    ok &= hit
    results.append(
        (
            "list (status+carrier+90 days)",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            f"p95 < {TARGET_LIST_P95_MS:.0f} ms",
            hit,
        )
    )

    # 2. Page N against page 1 of the unfiltered list (keyset: no OFFSET).
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_shipment WHERE tenant_id = %s", [big.pk])
        total = cursor.fetchone()[0]
        deep = max(2, min(args.deep_page, total // PAGE))
        cursor.execute(
            "SELECT created_at, id FROM tracking_shipment WHERE tenant_id = %s "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 2",
            [big.pk, (deep - 1) * PAGE - 1],
        )
        (edge_created, edge_id), (_, first_id) = cursor.fetchall()
    cursor_value = encode_cursor(sort="newest", direction="n", value=edge_created, pk=edge_id)
    deep_url = f"/dashboard/shipments/?cursor={cursor_value}"
    deep_rows = row_ids(check(client.get(deep_url)))
    if deep_rows[0] != first_id or len(deep_rows) != PAGE:
        raise SystemExit(f"page {deep} does not start at the row OFFSET gives: wrong keyset")
    first_times, deep_times = [], []
    for _ in range(3):
        check(client.get("/dashboard/shipments/"))
        check(client.get(deep_url))
    for _ in range(args.iterations):
        first_times += timed(lambda: check(client.get("/dashboard/shipments/")), 1, 0)
        deep_times += timed(lambda: check(client.get(deep_url)), 1, 0)
    ratio = statistics.median(deep_times) / statistics.median(first_times)
    hit = ratio <= TARGET_DEEP_RATIO
    ok &= hit
    results.append(
        (
            f"page {deep:,} vs page 1",
            f"{statistics.median(deep_times):.1f} / {statistics.median(first_times):.1f} ms "
            f"= {ratio:.2f}",
            f"<= {TARGET_DEEP_RATIO}",
            hit,
        )
    )

    # 3. The API list against its own SQL.
    key, raw = api_key_create(tenant=big, role="admin", name="bench")
    if hasattr(key, "rate_limit_per_minute"):
        key.rate_limit_per_minute = 10**7
        key.save(update_fields=["rate_limit_per_minute"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api_url = f"/api/v1/shipments/?{query}"
    check(api.get(api_url))
    with CaptureQueriesContext(connection) as captured:
        body = check(api.get(api_url)).json()
    if not body["results"]:
        raise SystemExit("the API list is empty")
    statements = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    list_sql = next(s for s in statements if 'FROM "tracking_shipment"' in s and "LIMIT" in s)
    api_times = timed(lambda: check(api.get(api_url)), args.iterations)

    def run_sql(sqls=statements):
        with connection.cursor() as cursor:
            for sql in sqls:
                cursor.execute(sql)
                cursor.fetchall()

    sql_times = timed(run_sql, args.iterations)
    list_only = timed(lambda: run_sql([list_sql]), args.iterations)
    # The statements as sent carry the row-level security prefix (tenants.rls): the re-runs
    # above keep it (it is part of the round trip), EXPLAIN takes the query alone.
    query_only = (
        list_sql.split("; ", 1)[1] if list_sql.startswith("SELECT set_config(") else list_sql
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query_only)
        plan = cursor.fetchone()[0]
        plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    api_p50, sql_p50 = statistics.median(api_times), statistics.median(sql_times)
    ratio = api_p50 / sql_p50
    hit = ratio <= TARGET_API_RATIO
    ok &= hit
    results.append(
        (
            "api list vs its SQL",
            f"{api_p50:.1f} / {sql_p50:.2f} ms = {ratio:.1f}x ({len(statements)} statements; list "
            f"query alone {statistics.median(list_only):.2f} ms, EXPLAIN ANALYZE "
            f"{plan['Execution Time']:.2f} ms)",
            f"<= {TARGET_API_RATIO:.0f}x",
            hit,
        )
    )

    # 4. The CSV export, streamed.
    def export(limit: int, trace: bool) -> tuple[int, float, float, float, int]:
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        response = check(client.get("/dashboard/shipments/export.csv"))
        if not response.streaming:
            raise SystemExit("the export is not streamed")
        lines = -1  # the header
        size = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
            if lines >= limit:
                break
        response.close()
        elapsed = time.perf_counter() - start
        peak = 0.0
        if trace:
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
        return lines, elapsed, peak, rss_growth, size

    limit = min(args.csv_rows, total)
    small = max(1, limit // 10)
    lines, elapsed, _, rss_growth, size = export(limit, trace=False)
    _, _, peak_small, _, _ = export(small, trace=True)
    _, _, peak_big, _, _ = export(limit, trace=True)
    hit = peak_big < TARGET_CSV_PEAK_MB and peak_big < 2 * peak_small + 1
    ok &= hit and lines >= limit
    results.append(
        (
            f"csv export {lines:,} rows",
            f"{lines / elapsed:,.0f} rows/s, {size / 2**20:.1f} MB in {elapsed:.1f} s, RSS +"
            f"{rss_growth:.1f} MB, traced peak {peak_big:.1f} MB ({small:,} rows: {peak_small:.1f} MB)",
            f"peak < {TARGET_CSV_PEAK_MB:.0f} MB, flat",
            hit,
        )
    )
    return results, ok


def main(argv=None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    shipments = max(TENANTS * 10, int(FULL_SHIPMENTS * args.scale))
    if args.rebuild:
        drop_database(url)
    ensure_database(url)
    setup_django(url)
    migrate()
    state = dataset_state()
    if state is None or state.get("shipments") != shipments:
        print(
            f"building {shipments:,} shipments and {shipments * EVENTS_PER_SHIPMENT:,} events "
            "(SQL, indexes rebuilt after the load)...",
            flush=True,
        )
        state = build_dataset(shipments=shipments)
        print(f"built in {state['built_in_seconds']} s", flush=True)
    else:
        print(
            f"reusing the dataset of {state['shipments']:,} shipments ({state['events']:,} events)",
            flush=True,
        )
    busy = machine_busy(1.0)
    results, ok = measure(args, state)
    print()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"busy {busy:.0%} before the run; dataset {state['shipments']:,} shipments, "
        f"{state['events']:,} events"
    )
    width = max(len(r[0]) for r in results)
    for name, figure, target, hit in results:
        print(f"{name:<{width}}  {'ok  ' if hit else 'MISS'}  {figure}   [target {target}]")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
