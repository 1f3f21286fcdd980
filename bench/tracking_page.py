"""Tracking pages per second through gunicorn, cached and uncached, against a bare "hello" view.

One gunicorn (production settings: DEBUG off, wismo's whole middleware stack, PostgreSQL, Redis
as the cache) serves three things through ``bench/pages_settings.py``, whose URLconf is wismo's
plus a trivial view:

- **hello**: ``GET /bench/pages-hello/`` answers "hello". The baseline: what any Django request
  costs on this server and configuration (it runs the whole ``MIDDLEWARE``, as every view of the
  dashboard, admin and API does; the pages below take the pages lane of ``wismo/lanes.py``,
  which skips the dashboard's user, tenant scope, messages, htmx and audit middleware).
- **cached**: ``GET /t/<slug>/<token>/`` of one parcel, again and again: after the first request
  every answer comes from the process's memory (the response itself for a few seconds, then
  the read of the page's version and its kept rendering).
- **uncached**: ``GET /t/<slug>/<token>/`` of parcels never asked for before in this run (each
  token once), so every answer is a miss: the page's parcel, order and 8-event timeline are
  loaded, rendered and kept (``tracking_pages/pagecache.py``).

Every parcel has a branded tenant (logo, colours, FAQ, notice, promotion), an order and a
timeline of 8 events. The load generator is ``--clients`` processes holding ``--concurrency``
connections in all (50 by default), each sending requests back to back (raw HTTP/1.1 over a
socket, keep-alive when the server keeps it: far cheaper than the server's side of a request).
After a warm-up of each, the three alternate for ``--rounds`` rounds of ``--seconds``; medians
give req/s and their ratios to hello, with p50/p99 latency over all rounds. Anything but a 200
with the expected body is an error, and there must be none.

Targets: cached/hello >= 0.8, uncached/hello >= 0.4, p99 of the cached page < 50 ms at 50
connections. Exit 1 when an outcome is wrong (errors, a pool of tokens used up), 2 when it is
right but misses a target.

Run from the project root:

    .venv/bin/python bench/tracking_page.py [--seconds 10] [--rounds 3] [--concurrency 50]
        [--clients 2] [--workers 2] [--worker-class sync|gthread] [--parcels N]

``DATABASE_URL`` (PostgreSQL) defaults to ``postgres://postgres@127.0.0.1:5432/wismo_bench_pages``,
created when missing and migrated; the cache is Redis db 14 with a key prefix of this run only.
The bench tenant of an earlier run is reused when it has enough parcels, else rebuilt.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_database, migrate, setup_django
from _load import (
    _children,
    _connect,
    _process_cpu_seconds,
    exchange,
    percentile,
    start_gunicorn,
    stop_gunicorn,
    summarize,
)
from _production import cpu_jiffies, free_port, machine_busy, production_env

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/wismo_bench_pages"
CACHE_URL = "redis://127.0.0.1:6379/14"
TENANT_SLUG = "bench-pages"
TARGETS = {"cached": 0.8, "uncached": 0.4}
P99_TARGET_MS = 50.0
# Uncached pages handed out per second of a round: about twice what 2 cores render (1,500/s
# since renderings stay in the process instead of a Redis round trip each way).
MAX_UNCACHED_RATE = 3000
BRANDING = {
    "logo_url": "https://cdn.bench-shop.example/logo.png",
    "primary_color": "#0b6e4f",
    "accent_color": "#ffd23f",
    "font": "humanist",
    "notice": {"en": "Peak season: deliveries may take a day longer.", "it": "Alta stagione."},
    "help_url": "https://bench-shop.example/help",
    "header_links": [{"label": "Shop", "url": "https://bench-shop.example/"}],
    "faq": [
        {"q": "When will my parcel arrive?", "a": "See the expected date above."},
        {"q": "Can I change the address?", "a": "Contact us as soon as possible."},
    ],
    "promo": {
        "title": "10% off your next order",
        "text": "Use code THANKS10.",
        "link_url": "https://bench-shop.example/sale",
        "image_url": "https://cdn.bench-shop.example/promo.jpg",
    },
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each kind")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds of each first")
    parser.add_argument("--concurrency", type=int, default=50, help="connections in all")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--worker-class",
        choices=["sync", "gthread"],
        default="sync",
        help="gunicorn worker class (sync by default; bin/run and the Docker image run gthread "
        "with 4 threads, which the README reports too)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--parcels",
        type=int,
        default=0,
        help="parcels seeded (the uncached pool); default: enough for the rounds asked for",
    )
    return parser.parse_args(argv)


# --- data ---------------------------------------------------------------------------------------


def seed(parcels: int) -> list[str]:
    """The bench tenant with ``parcels`` parcels (reused when an earlier run left enough)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.scoping import tenant_scope
    from tenants.services import tenant_create
    from wismo.tracking.models import Order, Shipment, TrackingEvent

    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is not None:
        with tenant_scope(tenant):
            tokens = list(Shipment.objects.order_by("pk").values_list("public_token", flat=True))
        if len(tokens) >= parcels:
            Tenant.objects.filter(pk=tenant.pk).update(branding=BRANDING)
            return tokens[:parcels]
        with connection.cursor() as cursor:
            for table in (
                "tracking_pages_pageviewcount",
                "tracking_pages_problemreport",
                "tracking_pollqueue",
                "tracking_trackingevent",
                "tracking_shipmentstatuschange",
                "tracking_shipment",
                "tracking_order",
            ):
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant.pk])
        tenant.delete()
    tenant = tenant_create(slug=TENANT_SLUG, name="Bench Pages Shop")
    Tenant.objects.filter(pk=tenant.pk).update(branding=BRANDING, timezone="Europe/Rome")
    started = time.perf_counter()
    now = datetime.now(tz=UTC)
    today = now.date()
    steps = [
        ("info_received", "info_received.label_created", "Shipment information received"),
        ("in_transit", "in_transit.picked_up", "Picked up by the courier"),
        ("in_transit", "in_transit.departed_facility", "Departed from the origin hub"),
        ("in_transit", "in_transit.arrived_at_facility", "Arrived at the sorting centre"),
        ("in_transit", "in_transit.departed_facility", "Left the sorting centre"),
        ("in_transit", "in_transit.arrived_at_facility", "Arrived at the delivery depot"),
        ("in_transit", "in_transit.in_transit", "Sorted for delivery"),
        ("out_for_delivery", "out_for_delivery.out_for_delivery", "With the driver"),
    ]
    with tenant_scope(tenant):
        for offset in range(0, parcels, 2000):
            size = min(2000, parcels - offset)
            orders = Order.objects.bulk_create(
                [
                    Order(
                        tenant=tenant,
                        external_id=f"bench-{offset + n}",
                        order_number=f"B{offset + n:07d}",
                        customer_email=f"shopper{offset + n}@bench.example",
                        customer_name="Bench Shopper",
                        shipping_postcode="20121",
                        line_items=[{"title": "Teapot", "quantity": 1}],
                        placed_at=now - timedelta(days=3),
                    )
                    for n in range(size)
                ]
            )
            shipments = Shipment.objects.bulk_create(
                [
                    Shipment(
                        tenant=tenant,
                        order=order,
                        carrier="sandbox",
                        tracking_number=f"BENCH{offset + n:010d}",
                        status="out_for_delivery",
                        substatus="out_for_delivery.out_for_delivery",
                        estimated_delivery=today,
                        estimated_delivery_earliest=today,
                        estimated_delivery_latest=today + timedelta(days=1),
                        estimated_delivery_source="predicted",
                        estimated_delivery_confidence=0.82,
                        last_event_at=now - timedelta(hours=2),
                        last_checked_at=now - timedelta(minutes=9),
                        next_poll_at=now + timedelta(hours=1),
                    )
                    for n, order in enumerate(orders)
                ]
            )
            TrackingEvent.objects.bulk_create(
                [
                    TrackingEvent(
                        tenant=tenant,
                        shipment=shipment,
                        occurred_at=now - timedelta(hours=2 + 6 * (len(steps) - i)),
                        status=status,
                        substatus=substatus,
                        code=f"C{i}",
                        description=text,
                        location="Bologna, IT",
                        dedupe_key=f"bench-{i}",
                    )
                    for shipment in shipments
                    for i, (status, substatus, text) in enumerate(steps)
                ]
            )
        tokens = list(Shipment.objects.order_by("pk").values_list("public_token", flat=True))
    print(f"seeded {parcels} parcels in {time.perf_counter() - started:.1f} s", flush=True)
    return tokens


def analyze() -> None:
    """Planner statistics for the freshly seeded tables (autovacuum would get there later)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("tracking_order", "tracking_shipment", "tracking_trackingevent"):
            cursor.execute(f"ANALYZE {table}")


def collect_static() -> None:
    """What a production deploy does first: hashed static files and their manifest."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


# --- requests -----------------------------------------------------------------------------------


def request_bytes(port: int, path: str) -> bytes:
    # A browser's headers, and the proxy's X-Forwarded-Proto: production runs behind TLS
    # termination (SECURE_SSL_REDIRECT would answer plain HTTP with a redirect).
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: Mozilla/5.0 (bench)\r\n"
        "Accept: text/html\r\n"
        "Accept-Language: en-GB,en;q=0.9\r\n"
        "X-Forwarded-Proto: https\r\n"
        "\r\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "hello", "cached" or "uncached"
    port: int
    paths: tuple[str, ...]  # one path, or (uncached) a pool each request takes the next of
    expect: bytes


@dataclass
class ConnectionStats:
    counted: int = 0
    errors: int = 0
    exhausted: bool = False
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)


def _drive(port: int, next_request, expect: bytes, stop: float, stats: ConnectionStats):
    """One connection's loop: requests back to back until ``stop`` (reconnecting as needed)."""
    sock = None
    while time.perf_counter() < stop:
        request = next_request()
        if request is None:
            stats.exhausted = True
            break
        started = time.perf_counter()
        try:
            if sock is None:
                sock = _connect(port)
            status, body, close = exchange(sock, request)
        except OSError as exc:
            stats.errors += 1
            stats.first_error = stats.first_error or f"{exc.__class__.__name__}: {exc}"
            if sock is not None:
                sock.close()
            sock = None
            continue
        finished = time.perf_counter()
        if status == 200 and expect in body:
            if finished <= stop:
                stats.counted += 1
                stats.latencies.append(finished - started)
        else:
            stats.errors += 1
            stats.first_error = stats.first_error or f"HTTP {status}: {body[:300]!r}"
        if close:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def _client(target: Target, conns: int, paths: list[str], seconds: float, barrier, results):
    """A load generator process: ``conns`` connections (threads) for ``seconds`` after the barrier.

    Uncached: the threads share ``paths`` (each path once, ``next`` on a list iterator is atomic
    under the GIL); otherwise every request is the same one."""
    requests = [request_bytes(target.port, p) for p in paths]
    if target.kind == "uncached":
        shared = iter(requests)

        def next_request():
            return next(shared, None)

    else:

        def next_request():
            return requests[0]

    stats = [ConnectionStats() for _ in range(conns)]
    barrier.wait()
    cpu_before = os.times()
    stop = time.perf_counter() + seconds
    threads = [
        threading.Thread(
            target=_drive, args=(target.port, next_request, target.expect, stop, stats[n])
        )
        for n in range(conns)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_after = os.times()
    results.put(
        {
            "counted": sum(s.counted for s in stats),
            "errors": sum(s.errors for s in stats),
            "exhausted": any(s.exhausted for s in stats),
            "first_error": next((s.first_error for s in stats if s.first_error), ""),
            "latencies": [x for s in stats for x in s.latencies],
            "cpu": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        }
    )


@dataclass
class Round:
    kind: str
    seconds: float
    counted: int
    errors: int
    exhausted: bool
    first_error: str
    latencies: list[float]
    client_cpu: float
    server_cpu: float
    machine_busy: float

    @property
    def rate(self) -> float:
        return self.counted / self.seconds


class TokenPool:
    """Hands out never-used page paths for uncached rounds."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.next = 0

    def take(self, count: int) -> list[str]:
        taken = self.paths[self.next : self.next + count]
        self.next += len(taken)
        return taken


def run_round(target: Target, args, seconds: float, server_pid: int, pool: TokenPool | None):
    ctx = multiprocessing.get_context("spawn")
    shares = [args.concurrency // args.clients] * args.clients
    for n in range(args.concurrency % args.clients):
        shares[n] += 1
    shares = [share for share in shares if share]
    # Uncached: each process gets its share of never-used pages for the whole round.
    per_client = int(MAX_UNCACHED_RATE * seconds / len(shares)) + 50
    client_paths = [
        pool.take(per_client) if pool is not None else [target.paths[0]] for _ in shares
    ]
    barrier = ctx.Barrier(len(shares) + 1)
    results = ctx.Queue()
    clients = [
        ctx.Process(
            target=_client, args=(target, share, paths, seconds, barrier, results), daemon=True
        )
        for share, paths in zip(shares, client_paths, strict=True)
    ]
    for client in clients:
        client.start()
    barrier.wait(timeout=300)
    workers = _children(server_pid)
    server_before, machine_before = _process_cpu_seconds(workers), cpu_jiffies()
    parts = [results.get(timeout=seconds + 120) for _ in clients]
    server_after, machine_after = _process_cpu_seconds(workers), cpu_jiffies()
    for client in clients:
        client.join()
    busy = machine_after[0] - machine_before[0]
    total = machine_after[1] - machine_before[1]
    return Round(
        kind=target.kind,
        seconds=seconds,
        counted=sum(p["counted"] for p in parts),
        errors=sum(p["errors"] for p in parts),
        exhausted=any(p["exhausted"] for p in parts),
        first_error=next((p["first_error"] for p in parts if p["first_error"]), ""),
        latencies=[x for p in parts for x in p["latencies"]],
        client_cpu=sum(p["cpu"] for p in parts) / seconds,
        server_cpu=(server_after - server_before) / seconds,
        machine_busy=busy / total if total else 0.0,
    )


# --- server -------------------------------------------------------------------------------------


def wait_ready(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    request = request_bytes(port, "/bench/pages-hello/")
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with _connect(port) as sock:
                status, body, _ = exchange(sock, request)
        except OSError:
            time.sleep(0.2)
            continue
        if status != 200:
            sys.exit(f"the hello view answered {status}: {body[:500]!r}\n{log.read_text()}")
        return
    sys.exit(f"gunicorn did not answer within {timeout} s:\n{log.read_text()}")


def fetch(port: int, path: str) -> tuple[int, bytes]:
    with _connect(port) as sock:
        status, body, _ = exchange(sock, request_bytes(port, path))
    return status, body


# --- report -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.clients < 1 or args.concurrency < 1 or args.rounds < 1:
        sys.exit("--clients, --concurrency and --rounds must be at least 1")
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    workdir = Path(tempfile.mkdtemp(prefix="wismo-bench-pages-"))
    env = production_env(database_url=url, broker_url=CACHE_URL, var_dir=workdir / "var")
    # A fresh cache namespace: no page of an earlier run can be a hit.
    env["WISMO_REDIS_PREFIX"] = f"wismo-bench-pages-{secrets.token_hex(4)}"
    os.environ.update(env)
    ensure_database(url)
    setup_django(url)
    migrate()
    # Every uncached request takes a page never asked for: enough of them for every round.
    needed = int(MAX_UNCACHED_RATE * (args.warmup + args.rounds * args.seconds))
    needed += 50 * args.clients * (args.rounds + 1) + 1
    tokens = seed(max(args.parcels, needed))
    analyze()
    collect_static()
    background = machine_busy()

    port = free_port()
    base = f"/t/{TENANT_SLUG}"
    hello = Target("hello", port, ("/bench/pages-hello/",), b"hello")
    cached = Target("cached", port, (f"{base}/{tokens[0]}/",), b'class="status"')
    uncached = Target("uncached", port, (), b'class="status"')
    pool = TokenPool([f"{base}/{token}/" for token in tokens[1:]])
    log = workdir / "gunicorn.log"
    server = start_gunicorn(args, env, port, log, settings="pages_settings", backlog=2048)
    rounds: dict[str, list[Round]] = {"hello": [], "cached": [], "uncached": []}
    warmup: list[Round] = []
    page_bytes = 0
    try:
        wait_ready(server, port, log)
        status, body = fetch(port, cached.paths[0])
        if status != 200:
            sys.exit(f"the tracking page answered {status}: {body[:500]!r}\n{log.read_text()}")
        page_bytes = len(body)
        print(
            f"gunicorn {args.worker_class} x{args.workers} on 127.0.0.1:{port}; "
            f"{args.clients} client processes, {args.concurrency} connections; "
            f"page {page_bytes} bytes",
            flush=True,
        )
        order = (hello, cached, uncached)
        for target in order:
            warmup.append(
                run_round(
                    target, args, args.warmup, server.pid, pool if target is uncached else None
                )
            )
        for n in range(args.rounds):
            # Rotate which goes first, so that none always runs on a warmer (or fuller) system.
            for target in order[n % 3 :] + order[: n % 3]:
                result = run_round(
                    target, args, args.seconds, server.pid, pool if target is uncached else None
                )
                rounds[target.kind].append(result)
                print(
                    f"round {n + 1} {target.kind:8} {result.rate:8.1f} req/s  "
                    f"p99 {percentile(result.latencies, 0.99) * 1000:6.1f} ms  "
                    f"errors {result.errors}",
                    flush=True,
                )
    finally:
        stop_gunicorn(server)

    summaries = {kind: summarize(found) for kind, found in rounds.items()}
    hello_rate = summaries["hello"]["req_per_s"]
    ratios = {kind: round(summaries[kind]["req_per_s"] / hello_rate, 3) for kind in TARGETS}
    all_rounds = warmup + [r for found in rounds.values() for r in found]
    errors = sum(r.errors for r in all_rounds)
    first_error = next((r.first_error for r in all_rounds if r.first_error), "")
    exhausted = any(r.exhausted for r in all_rounds)
    correct = errors == 0 and not exhausted
    p99 = summaries["cached"]["p99_ms"]
    met = all(ratios[k] >= TARGETS[k] for k in TARGETS) and p99 < P99_TARGET_MS
    report = {
        **summaries,
        "ratios": ratios,
        "targets": {**TARGETS, "cached_p99_ms": P99_TARGET_MS},
        "page_bytes": page_bytes,
        "uncached_pages_used": pool.next,
        "background_machine_busy": round(background, 3),
        "pass": correct and met,
    }
    print(
        f"\nbench/tracking_page.py on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs ({platform.machine()}), gunicorn "
        f"{args.worker_class} x{args.workers}, {args.clients} clients x {args.concurrency} "
        f"connections, {args.rounds} rounds of {args.seconds:g} s"
    )
    print(json.dumps(report))
    for kind in ("hello", "cached", "uncached"):
        s = summaries[kind]
        ratio = f"  ratio {ratios[kind]:.3f} (target >= {TARGETS[kind]})" if kind in ratios else ""
        print(
            f"{kind:8} {s['req_per_s']:8.1f} req/s  p50 {s['p50_ms']:6.2f} ms  "
            f"p99 {s['p99_ms']:6.2f} ms{ratio}"
        )
    print(f"cached p99 {p99} ms (target < {P99_TARGET_MS} ms); errors {errors}")
    if background > 0.15:
        print(f"note: the machine was {background:.0%} busy before the run (other work)")
    if first_error:
        print(f"first error: {first_error}")
    if exhausted:
        print("a connection used up its uncached pages: raise --parcels")
    print(
        "command: .venv/bin/python bench/tracking_page.py "
        + shlex.join(argv if argv is not None else sys.argv[1:])
    )
    if not correct:
        return 1
    return 0 if met else 2


if __name__ == "__main__":
    sys.exit(main())
