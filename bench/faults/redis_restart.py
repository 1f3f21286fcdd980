"""Fault 2: Redis (broker and cache) SIGKILLed and restarted empty while wismo polls, takes in
webhooks and sends emails; the database's outboxes and sweeps redeliver what the broker lost.

This scenario runs its OWN ``redis-server`` on a free port of 127.0.0.1 (never the machine's
shared Redis), without persistence (``--save "" --appendonly no``): the restarted Redis is
empty, so every queued task, unacked task, nudge key and rate counter it held is gone. Every
process (gunicorn, the Celery worker, beat, this script) has ``REDIS_URL`` and
``CELERY_BROKER_URL`` on it; ``FAULTS_REDIS_URL`` is set to it too (the harness's lock and
clean-up then happen in it).

Also on 127.0.0.1: PostgreSQL, a fake FedEx (30 numbers a request, answering after 2 s so that
polls are in flight at the kill; every parcel picked up two hours ago and in transit one hour
ago) and a fake Postmark, each in its own process; gunicorn (``bench/bench_settings.py``: wismo's
settings and ``POST /bench/hello/``, 2 gthread workers), two real Celery workers (``-Q poll``
and ``-Q notify,default``, 2 processes each) and real Celery beat (poll sweep every 5 s, notify
sweep every 10 s, the inbox relay every 60 s as in production). Besides the webhooks, a probe
GETs ``/readyz`` and two API endpoints (unauthenticated: 401) every half second; HTML pages are
left out since they need collected static files, which this bench does not build.

``--shipments`` due FedEx parcels; the first ``--emails`` of them belong to orders with a
shopper's email (their first scan owes a "shipped" email). ``--webhooks`` signed Shopify
``fulfillments/create`` deliveries (tests/fixtures/shops/shopify/fulfillment_update.json, each
with its own fulfillment, tracking number and ``X-Shopify-Webhook-Id``; carrier ``manual``,
so no parcel they create is ever polled against a real carrier) are POSTed to gunicorn at a
steady rate, before, during and after the outage. Once a quarter of the parcels are polled and
a quarter of the webhooks sent, Redis is SIGKILLed, kept down ``--down`` seconds and restarted
on the same port. A delivery not answered 200 is redelivered once after the recovery, as
Shopify does.

Pass:

- web: no 500 and no 5xx other than 503 (500s counted apart), at any time, on the webhooks
  and the probe;
- webhooks: every delivery answered 200 is in the inbox exactly once and ends ``processed``;
  every delivery is answered 200 in the end (none lost);
- emails: one ``sent`` row per shopper, the provider accepted exactly those Message-IDs, no
  shopper got two different Message-IDs;
- polls: once Redis is back and a poll sweep ran, no active shipment is (or will be, at its
  poll queue's ``due_at``) overdue by more than twice its interval, where overdue = the time it
  will next be asked minus ``next_poll_at`` (when it was due), and its interval is
  ``polling.next_interval`` (lowest jitter). The parcels whose claims (a 10-minute lease) the
  lost broker held are reported; then the clock is moved past their lease (their ``due_at``
  set to now) and every parcel must end polled with exactly 2 events and 1 status change;
- the fault landed: Redis was down while requests came in and parcels were left to poll.

    .venv/bin/python bench/faults/redis_restart.py [--shipments 2000] [--webhooks 1000]
        [--emails 500] [--down 12]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Before the harness reads FAULTS_REDIS_URL: everything of this scenario lives in its own Redis.
REDIS_PORT = _free_port()
os.environ["FAULTS_REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    PYTHON,
    ROOT,
    Emails,
    Missed,
    Scenario,
    check,
    main_with,
    wait_for,
)
from worker_kill import seed as seed_polls  # noqa: E402 - the same FedEx parcels and shoppers

NAME = "redis_restart"
FIXTURE = ROOT / "tests" / "fixtures" / "shops" / "shopify" / "fulfillment_update.json"
SHOP_DOMAIN = "faults-redis.myshopify.com"
WEBHOOK_SECRET = "shpss_faults_redis_secret"  # noqa: S105 - a throwaway store's secret
ORDER_ID = "5123456789013"  # the fixture's order_id
ENV = {
    "WISMO_POLL_CONCURRENCY": "2",
    "WISMO_POLL_SWEEP_SECONDS": "5",
    "WISMO_TRACKING_WINDOW_DAYS": "3650",
    "CELERY_VISIBILITY_TIMEOUT": "30",
    "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
    "ANYMAIL_POSTMARK_SERVER_TOKEN": "fake-server-token",
    "ANYMAIL_REQUESTS_TIMEOUT": "10",
    "DEFAULT_FROM_EMAIL": "Faults Shop <updates@mail.wismo.test>",
    "WISMO_NOTIFY_SWEEP_SECONDS": "10",
    "WISMO_NOTIFY_SENDERS": "1",
    "WISMO_NOTIFY_CONCURRENCY": "4",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--emails", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks a second")
    parser.add_argument("--down", type=float, default=12.0, help="seconds Redis stays down")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


class OwnRedis:
    """A redis-server of this scenario only: no persistence, its own port and folder."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="wismo-faults-redis-"))
        self.process: subprocess.Popen | None = None
        self.lives = 0

    def start(self) -> None:
        self.lives += 1
        log = (self.dir / "redis.log").open("a")
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.process = subprocess.Popen(  # noqa: S603 - the installed redis-server
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        if not wait_for(self.ping, 15, 0.05):
            raise RuntimeError(f"redis-server did not start:\n{self.log()}")

    def ping(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 1) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


REDIS = OwnRedis(REDIS_PORT)


def seed_store(tenant) -> int:
    """The Shopify store the webhooks come from, and the order their fulfillments belong to
    (no shopper email: the webhooks' parcels owe no email and leave the email count alone)."""
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import Order, Platform, ShopConnection

    with tenant_scope(tenant):
        store = ShopConnection.objects.create(
            tenant=tenant,
            platform=Platform.SHOPIFY,
            name="Faults Redis",
            shop_url=f"https://{SHOP_DOMAIN}",
            credentials={"access_token": "shpat_faults"},
            webhook_secret=WEBHOOK_SECRET,
        )
        Order.objects.create(tenant=tenant, store=store, external_id=ORDER_ID, order_number="1043")
    return store.pk


class Deliveries:
    """Signed Shopify deliveries POSTed to gunicorn at a steady rate; every answer recorded."""

    def __init__(self, port: int, store_id: int, count: int, rate: float) -> None:
        self.port, self.store_id, self.rate = port, store_id, rate
        template = FIXTURE.read_text()
        self.items = []
        for n in range(count):
            body = (
                template.replace("4456789012347", str(4_100_000_000_000 + n))
                .replace("084123456789012", f"FRS{n:09d}")
                .replace('"tracking_company": "BRT"', '"tracking_company": "manual"')
            ).encode()
            self.items.append((str(uuid.uuid4()), body))
        self.answers: list[list[tuple[float, int]]] = [[] for _ in range(count)]
        self.sent = 0
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def digest(self, n: int) -> str:
        key = f"shop:shopify:{self.store_id}:{self.items[n][0]}"
        return hashlib.sha256(key.encode()).hexdigest()

    def post(self, conn_box: list, n: int) -> int:
        delivery_id, body = self.items[n]
        signature = base64.b64encode(
            hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()
        ).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Forwarded-Proto": "https",
            "X-Shopify-Topic": "fulfillments/create",
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Webhook-Id": delivery_id,
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-API-Version": "2025-01",
        }
        started = time.time()
        try:
            if conn_box[0] is None:
                conn_box[0] = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            conn_box[0].request("POST", f"/hooks/shopify/{self.store_id}/", body, headers)
            response = conn_box[0].getresponse()
            response.read()
            status = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn_box[0].close()
                conn_box[0] = None
        except (OSError, http.client.HTTPException):
            status = 0  # no answer: counted apart
            with contextlib.suppress(Exception):
                conn_box[0].close()
            conn_box[0] = None
        with self.lock:
            self.answers[n].append((started, status))
        return status

    def start(self, connections: int = 4) -> None:
        begin = time.monotonic()
        per = self.rate / connections

        def drive(k: int) -> None:
            box = [None]
            for i, n in enumerate(range(k, len(self.items), connections)):
                pause = begin + i / per - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self.post(box, n)
                with self.lock:
                    self.sent += 1

        for k in range(connections):
            thread = threading.Thread(target=drive, args=(k,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)

    def redeliver(self) -> int:
        """What the platform does with a delivery not answered 200: send it again."""
        box = [None]
        again = [n for n, answers in enumerate(self.answers) if answers[-1][1] != 200]
        for n in again:
            self.post(box, n)
        return len(again)


def start_web(scenario: Scenario) -> tuple[object, int]:
    port = _free_port()
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    argv = [gunicorn, "wismo.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
    argv += ["--worker-tmp-dir", "/dev/shm", "--log-level", "warning"]  # noqa: S108
    env = {
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    }
    process = scenario.processes.start("web", argv, env)

    def ready() -> bool:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/bench/hello/", b"{}", {"X-Forwarded-Proto": "https"})
            return conn.getresponse().status == 200
        return False

    if not wait_for(ready, 60, 0.3):
        raise RuntimeError(f"gunicorn did not answer:\n{scenario.processes.tail('web')}")
    return process, port


class Probe:
    """GETs of a few other surfaces every half second: answers by path and phase."""

    def __init__(self, port: int, paths: list[str]) -> None:
        self.port, self.paths = port, paths
        self.answers: list[tuple[str, float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for path in self.paths:
                started = time.time()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    conn.request("GET", path, headers={"X-Forwarded-Proto": "https"})
                    status = conn.getresponse().status
                    conn.close()
                except (OSError, http.client.HTTPException):
                    status = 0
                self.answers.append((path, started, status))


class _LowestJitter:
    def uniform(self, low: float, high: float) -> float:
        return low


def overdue_report(tenant, now) -> dict:
    """Every active polled shipment's lateness: (when it will be asked) - next_poll_at."""
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import PollQueue
    from wismo.tracking.services.polling import next_interval

    rows = []
    with tenant_scope(tenant):
        queue = PollQueue.objects.filter(shipment__is_active=True).values_list(
            "due_at",
            "shipment__next_poll_at",
            "shipment__carrier",
            "shipment__status",
            "shipment__unchanged_polls",
            "shipment__last_event_at",
        )
        for due_at, next_poll_at, carrier, status, unchanged, last_event in queue:
            if next_poll_at is None or next_poll_at > now:
                continue  # not due yet: not overdue
            asked = max(due_at, now)  # a leased row waits for its lease; a due one, the sweep
            interval = next_interval(
                carrier=carrier,
                status=status,
                unchanged_polls=unchanged,
                has_events=last_event is not None,
                rng=_LowestJitter(),
            )
            rows.append(((asked - next_poll_at).total_seconds(), interval.total_seconds()))
    over = [late for late, interval in rows if late > 2 * interval]
    stranded = [late for late, _i in rows if late > 60]
    return {
        "due_or_leased": len(rows),
        "waiting_on_a_lease_s": len(stranded),
        "max_lateness_s": round(max((late for late, _i in rows), default=0.0)),
        "min_interval_s": round(min((i for _l, i in rows), default=0.0)),
        "over_twice_the_interval": len(over),
    }


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    processes = scenario.processes
    _f, fedex_url = processes.fake("fedex", "fedex", "--latency", "2.0")
    _p, postmark_url = processes.fake("postmark", "postmark", "--latency", "0.05")
    env = {**ENV, "ANYMAIL_POSTMARK_API_URL": postmark_url}
    tenant = seed_polls(fedex_url, args.shipments, args.emails)
    store_id = seed_store(tenant)

    from django.db.models import Count
    from django.utils import timezone

    from notifications.models import Notification
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import (
        InboundWebhook,
        PollQueue,
        Shipment,
        ShipmentStatusChange,
        TrackingEvent,
    )

    def polled() -> int:
        with tenant_scope(tenant):
            fedex = Shipment.objects.filter(carrier="fedex")
            return fedex.filter(last_checked_at__isnull=False).count()

    def emails_sent() -> int:
        with tenant_scope(tenant):
            return Notification.objects.filter(state="sent").count()

    def inbox() -> dict[str, int]:
        with tenant_scope(tenant):
            rows = InboundWebhook.objects.values("state").annotate(n=Count("id")).order_by()
            return {row["state"]: row["n"] for row in rows}

    _web, port = start_web(scenario)
    # Polls apart from emails and webhooks, as production runs them: each goes on under the other.
    processes.worker("worker-poll", "poll", 2, env=env)
    processes.worker("worker", "notify,default", 2, env=env)
    processes.beat("beat", env=env)
    deliveries = Deliveries(port, store_id, args.webhooks, args.rate)
    with tenant_scope(tenant):
        token = Shipment.objects.filter(carrier="fedex").first().tracking_number
    # JSON surfaces only: pages need collected static files (the image runs collectstatic;
    # this bench does not, so any HTML page is a 500 here with or without Redis).
    probe = Probe(port, ["/readyz", "/api/v1/shipments/", f"/api/v1/lookup/?q={token}"])
    started = time.monotonic()
    deliveries.start()
    probe.thread.start()

    # 1. Redis dies while polls, webhooks and emails are under way, and stays down a while.
    def quarter() -> bool:
        # Emails going out too (the notify sweep comes after the first polls).
        return (
            polled() >= args.shipments * 0.25
            and deliveries.sent >= args.webhooks / 4
            and emails_sent() > 0
        )

    if not wait_for(quarter, 120, 0.2):
        raise RuntimeError(f"no progress to kill into; log:\n{processes.tail('worker')}")
    at_kill = {"polled": polled(), "emails_sent": emails_sent(), "webhooks_sent": deliveries.sent}
    REDIS.kill()
    killed_at = time.time()
    try:
        time.sleep(args.down)
        at_restart = {"polled": polled(), "emails_sent": emails_sent()}
    finally:  # also on an interrupt: the harness's clean-up needs Redis
        REDIS.start()
    restarted_at, restarted_clock = time.time(), time.monotonic()

    # 2. Recovery plus one poll sweep: a sweep claims what is due; its polls answer in ~20 s.
    last = [polled(), time.monotonic()]

    def settled() -> bool:
        now_polled = polled()
        if now_polled != last[0]:
            last[:] = [now_polled, time.monotonic()]
        return now_polled >= args.shipments or time.monotonic() - last[1] > 15

    wait_for(lambda: time.monotonic() - restarted_clock > 10 and settled(), 90, 1.0)
    overdue = overdue_report(tenant, timezone.now())
    overdue["measured_s_after_restart"] = round(time.monotonic() - restarted_clock, 1)
    overdue["polled"] = polled()

    # 3. The lost claims' lease runs out (the clock moves): they are asked then, once.
    with tenant_scope(tenant):
        leased = PollQueue.objects.filter(
            shipment__carrier="fedex",
            shipment__last_checked_at__isnull=True,
            due_at__gt=timezone.now(),
        )
        moved = leased.update(due_at=timezone.now())
    polled_all = wait_for(lambda: polled() >= args.shipments, 90, 0.5)

    # 4. Webhooks: the rest are sent; those not answered 200 are delivered again.
    if not deliveries.join(120):
        raise RuntimeError("the webhook senders did not finish")
    redelivered = deliveries.redeliver()
    probe.stop.set()

    def received() -> bool:
        states = inbox()
        return states.get("received", 0) == 0 and sum(states.values()) > 0

    # A delivery stored while the broker was down waits for the relay (every 60 s, rows older
    # than 60 s) unless a later delivery's drain takes it along.
    inbox_done = wait_for(received, 150, 1.0)
    sent_all = wait_for(lambda: emails_sent() >= args.emails, 60, 0.5)
    time.sleep(12)  # one more notify sweep: a late duplicate would show now

    # --- figures ------------------------------------------------------------------------------
    phases = {"before": {}, "down": {}, "after": {}, "redelivered": {}}
    for answers in deliveries.answers:
        for i, (at, status) in enumerate(answers):
            phase = (
                "redelivered"
                if i
                else "before"
                if at < killed_at
                else "down"
                if at < restarted_at
                else "after"
            )
            phases[phase][status] = phases[phase].get(status, 0) + 1
    statuses = [status for answers in deliveries.answers for _at, status in answers]
    pages: dict[str, dict] = {}
    for path, at, status in probe.answers:
        phase = "before" if at < killed_at else "down" if at < restarted_at else "after"
        by_status = pages.setdefault(path.split("?")[0], {}).setdefault(phase, {})
        by_status[status] = by_status.get(status, 0) + 1
        statuses.append(status)
    accepted = {n for n, answers in enumerate(deliveries.answers) if answers[-1][1] == 200}
    digests = {deliveries.digest(n) for n in accepted}
    with tenant_scope(tenant):
        rows = list(InboundWebhook.objects.values_list("digest", "state"))
        states: dict[str, int] = {}
        for _d, state in rows:
            states[state] = states.get(state, 0) + 1
        processed = {d for d, state in rows if state == "processed"}
        errors = list(InboundWebhook.objects.exclude(error="").values_list("error", flat=True)[:3])
        webhook_parcels = Shipment.objects.filter(carrier="manual").count()
        event_counts: dict[int, int] = {}
        per_shipment = (
            TrackingEvent.objects.filter(shipment__carrier="fedex")
            .values("shipment_id")
            .annotate(n=Count("id"))
        )
        for row in per_shipment.order_by():
            event_counts[row["n"]] = event_counts.get(row["n"], 0) + 1
        without = args.shipments - sum(event_counts.values())
        if without:
            event_counts[0] = without
        changes = ShipmentStatusChange.objects.filter(shipment__carrier="fedex")
        one_change = changes.values("shipment_id").annotate(n=Count("id")).filter(n=1).count()
        change_count = changes.count()
        mails = list(Notification.objects.exclude(recipient="").values_list("state", "message_id"))
    with urllib.request.urlopen(postmark_url + "_log", timeout=30) as response:  # noqa: S310
        provider = json.loads(response.read())["accepted"]
    emails = Emails.compare(mails, provider)
    five_hundreds = statuses.count(500)
    other_5xx = sum(1 for s in statuses if s >= 500 and s not in (500, 503))
    no_answer = statuses.count(0)

    figures.update(
        redis=f"own redis-server on 127.0.0.1:{REDIS_PORT}, no persistence (--save '' "
        f"--appendonly no): restarted empty",
        shipments=args.shipments,
        webhooks=args.webhooks,
        emails=args.emails,
        at_kill=at_kill,
        at_restart=at_restart,
        redis_down_s=round(restarted_at - killed_at, 1),
        answers_by_phase=phases,
        other_surfaces_by_phase=pages,
        http_500=five_hundreds,
        http_other_5xx_not_503=other_5xx,
        no_answer=no_answer,
        redelivered_after_recovery=redelivered,
        accepted_200=len(accepted),
        inbox_rows=len(rows),
        inbox_states=states,
        inbox_errors=errors,
        webhook_parcels=webhook_parcels,
        overdue_after_recovery_and_a_sweep=overdue,
        lost_claims_lease_moved=moved,
        polled=polled(),
        shipments_by_event_count=event_counts,
        status_changes=change_count,
        **emails.figures(),
        wall_to_end_s=round(time.monotonic() - started, 1),
    )
    down = phases["down"]
    figures["summary"] = (
        f"Redis down {figures['redis_down_s']} s at {at_kill['polled']}/{args.shipments} polled, "
        f"{at_kill['webhooks_sent']} webhooks sent, {at_kill['emails_sent']} emails sent; "
        f"while down {sum(down.values())} webhooks answered {down}; {five_hundreds} x 500, "
        f"{other_5xx} other 5xx, {no_answer} unanswered; {len(accepted)}/{args.webhooks} "
        f"accepted, {len(processed & digests)} processed, inbox {states}; after recovery + a "
        f"sweep {overdue['over_twice_the_interval']} overdue > 2x interval (max lateness "
        f"{overdue['max_lateness_s']} s, {overdue['waiting_on_a_lease_s']} waiting on a lost "
        f"claim's lease); {polled()}/{args.shipments} polled after the lease move; "
        f"{len(emails.sent_ids)}/{args.emails} emails, {emails.duplicates} duplicates"
    )
    if not polled_all or not sent_all or not inbox_done:
        raise Missed(
            f"polled {polled()}/{args.shipments}, sent {emails_sent()}/{args.emails}, inbox "
            f"{inbox()}; log:\n" + processes.tail("worker")
        )
    check(
        {
            "Redis was down while webhooks came in": sum(down.values()) > 0,
            "polls were left to do at the kill": at_kill["polled"] < args.shipments,
            "no 500": five_hundreds == 0,
            "no 5xx other than 503": other_5xx == 0,
            "every request answered": no_answer == 0,
            "every delivery accepted in the end": len(accepted) == args.webhooks,
            "every accepted delivery in the inbox exactly once": len(rows) == len(digests)
            and {d for d, _s in rows} == digests,
            "every accepted delivery processed": digests <= processed,
            "no shipment overdue by more than twice its interval": overdue[
                "over_twice_the_interval"
            ]
            == 0,
            "every shipment has exactly 2 events": event_counts == {2: args.shipments},
            "one status change per shipment": change_count == one_change == args.shipments,
            **emails.checks(args.emails),
        }
    )


def main(argv=None) -> int:
    return main_with(NAME, body, parse_args(argv), redis=REDIS)


if __name__ == "__main__":
    sys.exit(main())
