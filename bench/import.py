"""A full sync of 100,000 Shopify orders: wall time, orders/s, peak RSS, against a fetch-only walk.

A fake Shopify Admin API runs in its own process on 127.0.0.1 and serves
``GET /admin/api/<version>/orders.json`` as Shopify does (INTEGRATIONS.md): 250 orders a page,
oldest update first, ``updated_at_min`` honoured on the first page, then the next page only
through the opaque ``page_info`` of the ``Link: <...>; rel="next"`` header (any other filter
beside it is a 400, like Shopify's), the access token checked, and a leaky bucket reported in
``X-Shopify-Shop-Api-Call-Limit`` (Shopify Plus: 400 calls, leaking 20/s; 429 with Retry-After
when full). Orders are generated on the fly from their index, never held as a list: each has
customer, address and 1-3 line items, and 1-2 fulfillments of 1-2 tracking numbers each, UPS
``1Z`` numbers or DHL Paket NVEs whose check digits pass carriers/detection.py, with the
``tracking_company`` a shop writes ("UPS", "DHL Paket").

Measured in the same run, each as a subprocess of its own (wall time, and the peak RSS the kernel
kept for that process via ``wait4``; the RSS is also sampled from /proc while it runs):

1. **fetch-only**: ``ShopifyClient`` walks every page through ``HttpClient`` and parses each into
   DTOs, writing nothing. The baseline: what reading the shop costs.
2. **sync**: ``manage.py shops sync STORE``, the product's sync (``store_sync``, which imports
   each page through ``orders_import``) into PostgreSQL. Target: under 180 s for 100,000
   orders, memory bounded (the RSS samples stay flat).
3. **resync**: the same command with ``--since`` before the first order: all pages again, which
   must create no order and no shipment.
4. **incremental**: the command without ``--since`` (from the high-water mark): one order again.

Afterwards the database must hold exactly the orders and shipments the fake served (counted per
carrier), with one poll-queue row per shipment. Exit 1 when an outcome is wrong, 2 when right
but over the target.

The planner's choices during a sync depend on fresh statistics of the growing tables, which
autovacuum keeps in production. When the server runs with ``autovacuum = off`` (as a bench
machine may), the bench stands in for it: every ``autovacuum_naptime`` it ANALYZEs the tables
that changed past autovacuum's own threshold, and reports how often (``--no-autoanalyze`` shows
the server as it is). Deleted rows of an earlier run are VACUUMed before the clock starts.

Run from the project root (``--orders 5000`` for a quick try):

    .venv/bin/python bench/import.py [--orders 100000] [--no-autoanalyze]

``DATABASE_URL`` (PostgreSQL) defaults to ``postgres://postgres@127.0.0.1:5432/wismo_bench_import``,
created when missing and migrated. The bench tenant of an earlier run is deleted first, and this
run's at the end. The processes run with DEBUG off, as in production.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import multiprocessing
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ensure_database, migrate, setup_django
from _production import cpu_jiffies, machine_busy, production_env

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench_import"
BROKER_URL = "redis://127.0.0.1:6379/15"
TARGET_SECONDS = 180.0
TENANT_SLUG = "bench-import"
ACCESS_TOKEN = "shpat_bench_import"  # noqa: S105 - the fake shop's throwaway token
PAGE_SIZE = 250
# Order i was placed at EPOCH + i * STEP and last updated UPDATE_LAG later (Shopify: +01:00).
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STEP = timedelta(seconds=37)
UPDATE_LAG = timedelta(hours=2)
SHOP_OFFSET = timedelta(hours=1)
ORDER_ID_BASE = 5_100_000_000_000
LOCALES = ("en", "it-IT", "de", "fr", "es")
COUNTRIES = (("US", "10001"), ("IT", "20121"), ("DE", "10115"), ("GB", "SW1A 1AA"), ("FR", "75001"))
PRODUCTS = (
    ("Trail running shoes", "SHOE-TR-42", "129.00"),
    ("Merino socks (3 pairs)", "SOCK-M-3", "24.90"),
    ("Rain shell jacket", "JKT-RS-M", "189.00"),
    ("Water bottle 750 ml", "BTL-750", "18.50"),
    ("Headlamp 400 lm", "LAMP-400", "49.00"),
)
# Tables holding the bench tenant's rows, children first (raw deletes: the ORM's cascade
# collector is slow at hundreds of thousands of rows). Missing ones are skipped.
TENANT_TABLES = (
    "tracking_pollqueue",
    "tracking_trackingevent",
    "tracking_shipmentstatuschange",
    "tracking_shipment",
    "tracking_order",
    "tracking_inboundwebhook",
    "tracking_privacyrequest",
    "tracking_shopconnection",
    "tracking_carrieraccount",
    "tenants_membership",
    "tenants_apikey",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders the fake shop holds")
    parser.add_argument(
        "--bucket", type=int, default=400, help="the fake's REST bucket size (leaks size/20 per s)"
    )
    parser.add_argument(
        "--no-autoanalyze",
        action="store_true",
        help="do not stand in for autovacuum's ANALYZE when the server has autovacuum off",
    )
    parser.add_argument("--walk", help=argparse.SUPPRESS)  # internal: the fetch-only process
    return parser.parse_args(argv)


# --- the fake shop's orders ---------------------------------------------------------------------


def _mix(i: int) -> int:
    """A deterministic scramble of the order index (Knuth's multiplicative hash)."""
    return (i * 2654435761) & 0xFFFFFFFF


def _ups_check(serial: str) -> int:
    from carriers.detection import mod10_check_digit

    return mod10_check_digit(serial, evens=1, odds=2)


def _gs1_check(serial: str) -> int:
    from carriers.detection import gs1_check_digit

    return gs1_check_digit(serial)


def parcels_of(i: int) -> list[tuple[str, list[str]]]:
    """Order ``i``'s fulfillments as (tracking company, tracking numbers), unique numbers."""
    h = _mix(i)
    fulfillments = []
    for f in range(1 + (h >> 7) % 2):
        numbers = []
        ups = (h >> (13 + f)) % 2 == 0
        for k in range(1 + (h >> (9 + 2 * f)) % 2):
            uid = i * 4 + f * 2 + k
            if ups:  # 1Z + shipper (6) + service (2) + package (7) + mod 10 check
                serial = f"W1{uid // 10**7:04d}03{uid % 10**7:07d}"
                numbers.append(f"1Z{serial}{_ups_check(serial)}")
            else:  # DHL Paket NVE: 00 340 + 14 digits + GS1 check
                serial = f"00340{uid:014d}"
                numbers.append(f"{serial}{_gs1_check(serial)}")
        fulfillments.append(("UPS" if ups else "DHL Paket", numbers))
    return fulfillments


def expected_counts(orders: int) -> dict[str, int]:
    """Shipments per carrier slug that ``orders`` orders carry."""
    counts = {"ups": 0, "dhl": 0}
    for i in range(orders):
        for company, numbers in parcels_of(i):
            counts["ups" if company == "UPS" else "dhl"] += len(numbers)
    return counts


def _shop_time(moment: datetime) -> str:
    return (moment + SHOP_OFFSET).strftime("%Y-%m-%dT%H:%M:%S+01:00")


def updated_at(i: int) -> datetime:
    return EPOCH + i * STEP + UPDATE_LAG


def fake_order(i: int) -> dict:
    """Order ``i`` as the REST Admin API's orders.json lists it (the fields a sync reads, and
    the usual others around them)."""
    h = _mix(i)
    order_id = ORDER_ID_BASE + i
    placed = EPOCH + i * STEP
    country, postcode = COUNTRIES[h % len(COUNTRIES)]
    first, last = f"Alex{i % 997}", f"Rossi{i % 89}"
    email = f"shopper{i}@example.com"
    items = []
    for n in range(1 + (h >> 3) % 3):
        title, sku, price = PRODUCTS[(h >> (5 + n)) % len(PRODUCTS)]
        items.append(
            {
                "id": 13_500_000_000_000 + i * 4 + n,
                "variant_id": 44_000_000_000 + (h >> n) % 5000,
                "product_id": 8_000_000_000 + (h >> n) % 500,
                "title": title,
                "name": title,
                "sku": sku,
                "quantity": 1 + (h >> (11 + n)) % 2,
                "price": price,
                "requires_shipping": True,
                "fulfillment_status": "fulfilled",
            }
        )
    fulfillments = []
    for f, (company, numbers) in enumerate(parcels_of(i)):
        shipped = placed + timedelta(hours=20 + f)
        urls = [
            f"https://www.ups.com/track?tracknum={n}"
            if company == "UPS"
            else f"https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={n}"
            for n in numbers
        ]
        fulfillments.append(
            {
                "id": 4_400_000_000_000 + i * 2 + f,
                "admin_graphql_api_id": f"gid://shopify/Fulfillment/{4_400_000_000_000 + i * 2 + f}",
                "order_id": order_id,
                "name": f"#{1001 + i}.{f + 1}",
                "status": "success",
                "service": "manual",
                "shipment_status": None,
                "created_at": _shop_time(shipped),
                "updated_at": _shop_time(shipped),
                "location_id": 61_234_567_890,
                "tracking_company": company,
                "tracking_number": numbers[0],
                "tracking_numbers": numbers,
                "tracking_url": urls[0],
                "tracking_urls": urls,
                "line_items": [{"id": items[0]["id"], "quantity": items[0]["quantity"]}],
            }
        )
    address = {
        "first_name": first,
        "last_name": last,
        "address1": f"Via Roma {1 + i % 200}",
        "city": "Milano",
        "zip": postcode,
        "country_code": country,
        "phone": None,
    }
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1001 + i}",
        "order_number": 1001 + i,
        "email": email,
        "contact_email": email,
        "created_at": _shop_time(placed),
        "processed_at": _shop_time(placed),
        "updated_at": _shop_time(updated_at(i)),
        "cancelled_at": None,
        "closed_at": None,
        "currency": "EUR",
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "total_price": "153.90",
        "customer_locale": LOCALES[(h >> 2) % len(LOCALES)],
        "tags": "",
        "customer": {
            "id": 7_000_000_000 + i,
            "email": email,
            "first_name": first,
            "last_name": last,
        },
        "shipping_address": address,
        "billing_address": address,
        "line_items": items,
        "fulfillments": fulfillments,
    }


# --- the fake Shopify process -------------------------------------------------------------------


def _encode_cursor(start: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": start}).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> int | None:
    try:
        start = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["after"]
    except (ValueError, KeyError, TypeError):
        return None
    return start if isinstance(start, int) and start >= 0 else None


class Bucket:
    """Shopify's REST leaky bucket: ``size`` calls, leaking ``size / 20`` per second."""

    def __init__(self, size: int):
        self.size, self.level, self.at = size, 0.0, time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        with self.lock:
            now = time.monotonic()
            self.level = max(0.0, self.level - (now - self.at) * self.size / 20)
            self.at = now
            if self.level + 1 > self.size:
                return False, self.size
            self.level += 1
            return True, math.ceil(self.level)


def _fake_shopify(port_queue, orders: int, bucket_size: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.carrier_server import FakeCarrierServer, Reply

    bucket = Bucket(bucket_size)

    def error(status: int, message: str, headers: dict | None = None) -> Reply:
        return Reply(status=status, body=json.dumps({"errors": message}), headers=headers or {})

    def orders_json(request) -> Reply:
        if request.headers.get("x-shopify-access-token") != ACCESS_TOKEN:
            return error(
                401, "[API] Invalid API key or access token (unrecognized login or wrong password)"
            )
        allowed, used = bucket.take()
        limit_header = {"X-Shopify-Shop-Api-Call-Limit": f"{used}/{bucket_size}"}
        if not allowed:
            return error(
                429,
                "Exceeded 2 calls per second for api client.",
                {**limit_header, "Retry-After": "2.0"},
            )
        query = {k: v[-1] for k, v in request.query.items()}
        try:
            limit = int(query.get("limit", 50))
        except ValueError:
            return error(400, "limit: invalid")
        if not 1 <= limit <= 250:
            return error(400, "limit: must be between 1 and 250")
        if "page_info" in query:
            if set(query) - {"page_info", "limit", "fields"}:
                return error(400, "page_info: only limit and fields may accompany page_info")
            start = _decode_cursor(query["page_info"])
            if start is None:
                return error(400, "page_info - Invalid value.")
        else:
            start = 0
            if "updated_at_min" in query:
                try:
                    since = datetime.fromisoformat(query["updated_at_min"].replace("Z", "+00:00"))
                except ValueError:
                    return error(400, "updated_at_min: invalid")
                if since.tzinfo is None:
                    since = since.replace(tzinfo=UTC)
                # Inclusive, as Shopify's: orders updated at or after the moment.
                start = max(0, math.ceil((since - EPOCH - UPDATE_LAG) / STEP))
        end = min(orders, start + limit)
        page = [fake_order(i) for i in range(start, end)]
        base = request.headers.get("host", "127.0.0.1")
        links = []
        if start > 0:
            links.append(
                f"<http://{base}{request.path}?limit={limit}&page_info="
                f'{_encode_cursor(max(0, start - limit))}>; rel="previous"'
            )
        if end < orders:
            links.append(
                f'<http://{base}{request.path}?limit={limit}&page_info={_encode_cursor(end)}>; rel="next"'
            )
        headers = dict(limit_header)
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(body=json.dumps({"orders": page}), headers=headers)

    with FakeCarrierServer() as server:
        server.route("GET", r"^/admin/api/[0-9]{4}-[0-9]{2}/orders\.json$", orders_json)
        server.requests = _Discard()  # a 100k-order walk must not keep every request
        port_queue.put(server.url)
        while True:
            time.sleep(3600)


class _Discard(list):
    def append(self, item) -> None:
        pass


def start_fake(orders: int, bucket: int):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_fake_shopify, args=(queue, orders, bucket), daemon=True)
    process.start()
    return process, queue.get(timeout=60)


# --- fetch-only walk (its own process) ----------------------------------------------------------


def walk(url: str) -> None:
    """Every page through ShopifyClient, parsed into DTOs and dropped; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    from carriers.http import HttpClient
    from wismo.tracking.importers.shopify import ShopifyClient

    client = ShopifyClient(url, ACCESS_TOKEN, HttpClient())
    pages = orders = parcels = 0
    cursor = None
    while True:
        page = client.orders_page(None, cursor)
        pages += 1
        orders += len(page.orders)
        parcels += sum(len(f.tracking_numbers) for o in page.orders for f in o.fulfillments)
        cursor = page.next_cursor
        if not cursor:
            break
    print(json.dumps({"pages": pages, "orders": orders, "parcels": parcels}))


# --- measuring a subprocess ---------------------------------------------------------------------


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_measured(command: list[str], env: dict[str, str], workdir: Path, name: str) -> dict:
    """Run ``command``; its wall time, exit status, output, peak RSS and RSS samples."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    machine_before = cpu_jiffies()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)  # noqa: S603
        samples: list[tuple[float, float]] = []
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss_mb(process.pid)
            if rss is not None:
                samples.append((time.perf_counter() - started, rss))
            time.sleep(0.25)
        seconds = time.perf_counter() - started
    machine_after = cpu_jiffies()
    total = machine_after[1] - machine_before[1]
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": seconds,
        "returncode": process.returncode,
        "stdout": out_path.read_text(),
        "stderr": err_path.read_text(),
        "peak_rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "samples": samples,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "machine_busy": (machine_after[0] - machine_before[0]) / total if total else 0.0,
    }


def rss_profile(samples: list[tuple[float, float]]) -> dict[str, float]:
    """RSS at a quarter, half, three quarters and the end of the run: flat means bounded."""
    if not samples:
        return {}
    end = samples[-1][0]
    profile = {}
    for label, share in (("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("end", 1.0)):
        point = next((rss for t, rss in samples if t >= share * end), samples[-1][1])
        profile[label] = round(point, 1)
    return profile


SUMMARY = re.compile(
    r"(?P<pages>\d+) pages: (?P<created>\d+) orders created, (?P<updated>\d+) updated, "
    r"(?P<parcels>\d+) parcels created, (?P<skipped>\d+) skipped, (?P<failed>\d+) failed"
)


def sync_summary(result: dict, name: str) -> dict[str, int]:
    match = SUMMARY.search(result["stdout"])
    if result["returncode"] != 0 or match is None:
        sys.exit(
            f"{name} failed (exit {result['returncode']}):\n{result['stdout'][-3000:]}\n"
            f"{result['stderr'][-3000:]}"
        )
    return {key: int(value) for key, value in match.groupdict().items()}


# --- data ---------------------------------------------------------------------------------------


def delete_tenant() -> None:
    """Delete the bench tenant of an earlier run with its rows (raw deletes, children first)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM tenants_tenant WHERE slug = %s", [TENANT_SLUG])
        old = [row[0] for row in cursor.fetchall()]
        if not old:
            return
        for table in TENANT_TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = ANY(%s)", [old])
        cursor.execute("DELETE FROM tenants_tenant WHERE id = ANY(%s)", [old])


def create_tenant():
    from tenants.services import tenant_create

    delete_tenant()
    return tenant_create(slug=TENANT_SLUG, name="Bench import")


def create_store(tenant, shop_url: str) -> int:
    """A Shopify store pointing at the fake (no store service exists: the model, in scope)."""
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import Platform, ShopConnection

    with tenant_scope(tenant):
        store = ShopConnection.objects.create(
            tenant=tenant,
            platform=Platform.SHOPIFY,
            name="Bench import",
            shop_url=shop_url,
            credentials={"access_token": ACCESS_TOKEN},
        )
    return store.pk


def database_counts(tenant_id: int, store_id: int) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT external_id) FROM tracking_order "
            "WHERE tenant_id = %s AND store_id = %s",
            [tenant_id, store_id],
        )
        orders, distinct_orders = cursor.fetchone()
        cursor.execute(
            "SELECT carrier, count(*) FROM tracking_shipment WHERE tenant_id = %s "
            "AND store_id = %s GROUP BY carrier",
            [tenant_id, store_id],
        )
        per_carrier = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM tracking_shipment WHERE tenant_id = %s AND store_id = %s "
            "AND order_id IS NOT NULL AND external_fulfillment_id <> ''",
            [tenant_id, store_id],
        )
        (linked,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM tracking_pollqueue WHERE tenant_id = %s", [tenant_id])
        (queued,) = cursor.fetchone()
    return {
        "orders": orders,
        "distinct_orders": distinct_orders,
        "shipments": sum(per_carrier.values()),
        "shipments_ups": per_carrier.get("ups", 0),
        "shipments_dhl": per_carrier.get("dhl", 0),
        "shipments_linked": linked,
        "poll_queue": queued,
    }


def check_numbers() -> None:
    """The generated numbers are what detection takes for UPS and DHL (a fake must not lie)."""
    from carriers import registry

    for i in range(64):
        for company, numbers in parcels_of(i):
            for number in numbers:
                best = registry.detect(number)[0]
                want = "ups" if company == "UPS" else "dhl"
                assert best[0] == want and best[1] >= 0.9, (number, best)


class AutoAnalyze(threading.Thread):
    """autovacuum's ANALYZE rule, applied by the bench when the server runs with autovacuum off.

    In production autovacuum re-analyzes a table once per ``autovacuum_naptime`` when more than
    ``autovacuum_analyze_threshold + autovacuum_analyze_scale_factor * rows`` rows changed; the
    planner's choices during a big sync depend on it (a table analyzed empty keeps being
    planned as empty). This thread does the same, so the bench measures production's plans.
    """

    def __init__(self, tables: tuple[str, ...]):
        super().__init__(daemon=True)
        self.tables = list(tables)
        self.stopped = threading.Event()
        self.runs = 0
        self.naptime = 60.0
        self.threshold, self.scale = 50, 0.1

    def configure(self) -> bool:
        """Read the server's autovacuum settings; False when autovacuum is on (nothing to do)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('autovacuum', "
                "'autovacuum_naptime', 'autovacuum_analyze_threshold', "
                "'autovacuum_analyze_scale_factor')"
            )
            settings = dict(cursor.fetchall())
        self.naptime = float(settings["autovacuum_naptime"])  # seconds
        self.threshold = int(settings["autovacuum_analyze_threshold"])
        self.scale = float(settings["autovacuum_analyze_scale_factor"])
        return settings["autovacuum"] == "off"

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(self.naptime):
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT s.relname, s.n_mod_since_analyze, greatest(c.reltuples, 0) "
                        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
                        "WHERE s.relname = ANY(%s)",
                        [self.tables],
                    )
                    for name, modified, rows in cursor.fetchall():
                        if modified > self.threshold + self.scale * rows:
                            cursor.execute(f"ANALYZE {name}")
                            self.runs += 1
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def vacuum_analyze() -> None:
    """What autovacuum would have done after the deletes (untimed): no dead rows, fresh stats."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TENANT_TABLES:
            cursor.execute("SELECT to_regclass(%s)", [table])
            if cursor.fetchone()[0] is not None:
                cursor.execute(f"VACUUM ANALYZE {table}")


# --- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.walk:
        walk(args.walk)
        return 0
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    workdir = Path(tempfile.mkdtemp(prefix="wismo-bench-import-"))
    env = production_env(database_url=url, broker_url=BROKER_URL, var_dir=workdir / "var")
    # This process writes the store's encrypted credentials: the same keys as the command.
    os.environ.update(env)
    ensure_database(url)
    setup_django(url)
    migrate()
    check_numbers()
    expected = expected_counts(args.orders)
    expected_shipments = sum(expected.values())

    background = machine_busy()
    fake, fake_url = start_fake(args.orders, args.bucket)
    tenant = create_tenant()
    store_id = create_store(tenant, fake_url)
    vacuum_analyze()
    analyzer = AutoAnalyze(("tracking_order", "tracking_shipment", "tracking_pollqueue"))
    autovacuum_off = analyzer.configure()
    emulate = autovacuum_off and not args.no_autoanalyze
    if emulate:
        analyzer.start()
    from django.db import connection

    connection.close()  # the command gets the database to itself
    child_env = {**os.environ, **env}
    python = sys.executable
    try:
        print(
            f"fake Shopify at {fake_url} with {args.orders:,} orders; fetch-only walk ...",
            flush=True,
        )
        fetch = run_measured(
            [python, str(Path(__file__).resolve()), "--walk", fake_url], child_env, workdir, "fetch"
        )
        if fetch["returncode"] != 0:
            sys.exit(f"the fetch-only walk failed:\n{fetch['stderr'][-3000:]}")
        walked = json.loads(fetch["stdout"].strip().splitlines()[-1])
        print(f"  {fetch['seconds']:.1f} s; sync ...", flush=True)
        manage = [python, "manage.py", "shops", "sync", str(store_id)]
        sync = run_measured(manage, child_env, workdir, "sync")
        synced = sync_summary(sync, "the sync")
        print(f"  {sync['seconds']:.1f} s; resync of every order ...", flush=True)
        before = _since_text()
        resync = run_measured([*manage, "--since", before], child_env, workdir, "resync")
        resynced = sync_summary(resync, "the resync")
        print(f"  {resync['seconds']:.1f} s; incremental sync ...", flush=True)
        incremental = run_measured(manage, child_env, workdir, "incremental")
        incremented = sync_summary(incremental, "the incremental sync")
    finally:
        if emulate:
            analyzer.stop()
        fake.terminate()
        fake.join()

    counts = database_counts(tenant.pk, store_id)
    delete_tenant()
    vacuum_analyze()

    orders_per_s = args.orders / sync["seconds"]
    checks = {
        "walk_saw_everything": walked["orders"] == args.orders
        and walked["parcels"] == expected_shipments,
        "sync_created_all": synced["created"] == args.orders
        and synced["parcels"] == expected_shipments
        and synced["skipped"] == synced["failed"] == 0,
        "db_orders": counts["orders"] == counts["distinct_orders"] == args.orders,
        "db_shipments": counts["shipments_ups"] == expected["ups"]
        and counts["shipments_dhl"] == expected["dhl"]
        and counts["shipments"] == counts["shipments_linked"] == expected_shipments,
        "db_poll_queue": counts["poll_queue"] == expected_shipments,
        "resync_created_nothing": resynced["created"] == resynced["parcels"] == 0
        and resynced["updated"] == args.orders,
        "incremental_reread_one": incremented["created"] == incremented["parcels"] == 0
        and incremented["updated"] == 1,
    }
    correct = all(checks.values())
    report = {
        "orders": args.orders,
        "expected_shipments": expected_shipments,
        "fetch_only": {
            "seconds": round(fetch["seconds"], 2),
            "orders_per_s": round(args.orders / fetch["seconds"], 1),
            "peak_rss_mb": round(fetch["peak_rss_mb"], 1),
            **walked,
        },
        "sync": {
            "seconds": round(sync["seconds"], 2),
            "orders_per_s": round(orders_per_s, 1),
            "peak_rss_mb": round(sync["peak_rss_mb"], 1),
            "process_cpu_s": round(sync["cpu_seconds"], 1),
            "machine_busy": round(sync["machine_busy"], 3),
            "rss_mb": rss_profile(sync["samples"]),
            **synced,
        },
        "resync": {
            "seconds": round(resync["seconds"], 2),
            "orders_per_s": round(args.orders / resync["seconds"], 1),
            "peak_rss_mb": round(resync["peak_rss_mb"], 1),
            "process_cpu_s": round(resync["cpu_seconds"], 1),
            "machine_busy": round(resync["machine_busy"], 3),
            **resynced,
        },
        "incremental": {"seconds": round(incremental["seconds"], 2), **incremented},
        "database": counts,
        "ratio_sync_to_fetch": round(sync["seconds"] / fetch["seconds"], 2),
        "target_seconds_for_100k": TARGET_SECONDS,
        "projected_100k_seconds": round(100_000 / orders_per_s, 1),
        "checks": checks,
        "background_machine_busy": round(background, 3),
        "autoanalyze": {
            "server_autovacuum": "off" if autovacuum_off else "on",
            "emulated": emulate,
            "naptime_s": analyzer.naptime,
            "analyze_runs": analyzer.runs,
        },
    }
    report["pass"] = correct and report["projected_100k_seconds"] < TARGET_SECONDS
    print(
        f"\nbench/import.py on {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.machine()})"
    )
    print(json.dumps(report))
    print(
        f"sync of {args.orders:,} orders: {sync['seconds']:.1f} s ({orders_per_s:.0f} orders/s, "
        f"{synced['parcels']:,} shipments, peak RSS {sync['peak_rss_mb']:.0f} MB) vs fetch-only "
        f"{fetch['seconds']:.1f} s: ratio {report['ratio_sync_to_fetch']}; 100k projected "
        f"{report['projected_100k_seconds']} s (target < {TARGET_SECONDS:g}); resync "
        f"{resync['seconds']:.1f} s created {resynced['created']} orders, "
        f"{resynced['parcels']} shipments"
    )
    if background > 0.15:
        print(f"note: the machine was {background:.0%} busy before the run (other work)")
    for name, ok in checks.items():
        if not ok:
            print(f"check failed: {name}")
    print(
        "command: .venv/bin/python bench/import.py "
        + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    if not correct:
        return 1
    return 0 if report["pass"] else 2


def _since_text() -> str:
    """A --since before the first order's update: the resync reads every page again."""
    return (EPOCH - timedelta(days=1)).date().isoformat()


if __name__ == "__main__":
    raise SystemExit(main())
