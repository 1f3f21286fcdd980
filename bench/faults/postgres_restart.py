"""Fault 3: PostgreSQL restarted in immediate mode (a crash: no checkpoint, every connection cut,
crash recovery at the start) while wismo polls, takes in webhooks, serves the API and emails.

This scenario runs its OWN PostgreSQL cluster (never the machine's shared one on port 5432):
``initdb`` (Debian's binaries in /usr/lib/postgresql/15/bin, run as the ``postgres`` OS user
when this runs as root) into a temporary folder, trust authentication, listening on a free port
of 127.0.0.1 only (its Unix socket in that folder too). The harness's admin URL and database
URL are pointed at it (``_harness.PG_ADMIN`` and ``database_recreate`` are replaced before the
scenario starts), so migrate, gunicorn, the workers, beat and this script all use it. It also
runs its own ``redis-server`` (``redis_restart``'s: importing that module picks the free port
and sets ``FAULTS_REDIS_URL``), so it never waits on or touches another scenario's Redis.

The load, as in ``redis_restart``: a fake FedEx (30 numbers a request, answering after 2 s)
and a fake Postmark; gunicorn (bench settings, 2 gthread workers); two real Celery workers
(``-Q poll`` and ``-Q notify,default``) and real Celery beat (poll sweep every 5 s, notify sweep
every 10 s, the inbox and status-change relays every 60 s). ``--shipments`` due FedEx parcels,
the first ``--emails`` with a shopper's email; ``--webhooks`` signed Shopify
``fulfillments/create`` deliveries at ``--rate`` a second; and the dashboard's reads: two
clients GET ``/api/v1/shipments/``, ``/api/v1/orders/``, ``/api/v1/analytics/`` and a lookup
with an API key (``tenants.services.api_key_create``), plus ``/readyz``, all the time.

Once a quarter of the parcels are polled, a quarter of the webhooks sent and emails are going
out: ``pg_ctl stop -m immediate``, ``--down`` seconds without a database, ``pg_ctl start``
(crash recovery). A delivery not answered 200 is redelivered once after the recovery, as
Shopify does.

Where the product waits minutes, the clock is moved (and the script says how many rows):
parcels whose poll task failed on the database (a queued task that starts while it is down
fails at once and is not retried) keep their claim's 10-minute lease (``polling.LEASE``: the
only retry of a failed poll); once polls have settled after the recovery, how many and how
long they still had to wait is reported and their ``due_at`` is set to now. Email rows claimed before the crash keep their
5-minute sending lease (``outbox.LEASE``); 15 s after the recovery (their senders have failed
by then) their ``claimed_until`` is set to now.

Pass:

- web: while the database is down every answer is a 503, never a 500 (500s are counted
  apart), except the analytics figures, which the product caches in Redis and answers 200
  from there (counted apart); a 200 or a 503 while it starts; no 5xx but 503 at any time;
  every request answered; webhooks and API reads answer 200 again within 30 s of the
  database accepting connections, and nothing but 200 from 30 s on;
- webhooks: every delivery answered 200 is in the inbox exactly once and ends ``processed``,
  every delivery is accepted in the end, and each made exactly one parcel;
- polls: every parcel polled in the end, with exactly 2 events and 1 status change (no partial
  write, no duplicate), every change dispatched;
- emails: one ``sent`` row per shopper, the provider accepted exactly those Message-IDs, no
  shopper got two different Message-IDs (a resubmission with the same Message-ID, the outbox's
  documented at-least-once, is counted apart);
- the fault landed: requests came in while the database was down and polls were left.

    .venv/bin/python bench/faults/postgres_restart.py [--shipments 3000] [--webhooks 600]
        [--emails 400] [--rate 10] [--down 10]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Its own redis-server (free port, FAULTS_REDIS_URL set) before the harness reads the variable.
import redis_restart  # noqa: I001
import _harness
from _harness import Emails, Missed, Scenario, check, run, wait_for
from redis_restart import Deliveries, seed_store, start_web
from worker_kill import seed as seed_polls

NAME = "postgres_restart"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RECOVERY_BOUND_S = 30.0
CACHED_SURFACE = "/api/v1/analytics/"
ENV = {
    **redis_restart.ENV,
    # The dashboard's two readers must not meet the API key's rate limit.
    "WISMO_API_RATE_LIMIT_PER_MINUTE": "100000",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=3000)
    parser.add_argument("--webhooks", type=int, default=600)
    parser.add_argument("--emails", type=int, default=400)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks a second")
    parser.add_argument("--down", type=float, default=10.0, help="seconds PostgreSQL is down")
    parser.add_argument("--keep", action="store_true", help="keep the logs and cluster folder")
    return parser.parse_args(argv)


class OwnPostgres:
    """A PostgreSQL cluster of this scenario only: its own folder, port and socket directory."""

    def __init__(self, port: int) -> None:
        assert port != 5432, "never the shared cluster"
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="wismo-faults-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 90) -> str:
        command = [str(PG_BIN / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        # A session of its own: a Ctrl-C to this script's group never reaches the postmaster.
        done = subprocess.run(  # noqa: S603 - Debian's PostgreSQL binaries
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(argv[:2])} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.dir}'\nmax_connections = 100\n"
                "shared_buffers = 64MB\n"
            )
        self.start()

    def start(self) -> None:
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60"
        )

    def stop(self, mode: str) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        command = [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603

    def log(self) -> str:
        return self.logfile.read_text()[-3000:] if self.logfile.exists() else ""

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


PG = OwnPostgres(redis_restart._free_port())
REDIS = redis_restart.REDIS
_recreate_on_admin = _harness.database_recreate


def _recreate_here(name: str) -> str:
    # The harness makes the database through PG_ADMIN (ours now); its URL names our port.
    _recreate_on_admin(name)
    return PG.url(name)


_harness.PG_ADMIN = PG.url("postgres")
_harness.database_recreate = _recreate_here


class Readers:
    """The dashboard's clients: API GETs with a key (and /readyz), one after the other."""

    def __init__(self, port: int, key: str, paths: list[str], clients: int = 2) -> None:
        self.port, self.key, self.paths = port, key, paths
        self.answers: list[tuple[str, float, int]] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(clients)
        ]

    def _run(self, k: int) -> None:
        conn = None
        n = k
        while not self.stop.wait(0.25):
            path = self.paths[n % len(self.paths)]
            n += 1
            headers = {"X-Forwarded-Proto": "https"}
            if path.startswith("/api/"):
                headers["Authorization"] = f"Bearer {self.key}"
            started = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
            self.answers.append((path.split("?")[0], started, status))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()


def _phase(at: float, stopped: float, starting: float, ready: float) -> str:
    if at < stopped:
        return "before"
    if at < starting:
        return "down"
    return "starting" if at < ready else "after"


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    processes = scenario.processes
    _f, fedex_url = processes.fake("fedex", "fedex", "--latency", "2.0")
    _p, postmark_url = processes.fake("postmark", "postmark", "--latency", "0.05")
    env = {**ENV, "ANYMAIL_POSTMARK_API_URL": postmark_url}
    tenant = seed_polls(fedex_url, args.shipments, args.emails)
    store_id = seed_store(tenant)

    from django.db import connections
    from django.db.models import Count
    from django.utils import timezone

    from notifications.models import Notification
    from notifications.services import outbox
    from tenants.scoping import tenant_scope
    from tenants.services import api_key_create
    from wismo.tracking.models import (
        InboundWebhook,
        PollQueue,
        Shipment,
        ShipmentStatusChange,
        TrackingEvent,
    )

    _key, raw_key = api_key_create(tenant=tenant, name="faults dashboard")

    def polled() -> int:
        with tenant_scope(tenant):
            return Shipment.objects.filter(carrier="fedex", last_checked_at__isnull=False).count()

    def emails_sent() -> int:
        with tenant_scope(tenant):
            return Notification.objects.filter(state="sent").count()

    def inbox() -> dict[str, int]:
        with tenant_scope(tenant):
            rows = InboundWebhook.objects.values("state").annotate(n=Count("id")).order_by()
            return {row["state"]: row["n"] for row in rows}

    processes.env.update(env)  # gunicorn too: its API rate limit
    _web, port = start_web(scenario)
    processes.worker("worker-poll", "poll", 2, env=env)
    processes.worker("worker", "notify,default", 2, env=env)
    processes.beat("beat", env=env)
    deliveries = Deliveries(port, store_id, args.webhooks, args.rate)
    with tenant_scope(tenant):
        token = Shipment.objects.filter(carrier="fedex").first().tracking_number
    readers = Readers(
        port,
        raw_key,
        [
            "/api/v1/shipments/",
            "/api/v1/orders/",
            "/readyz",
            "/api/v1/analytics/",
            f"/api/v1/lookup/?q={token}",
        ],
    )
    started = time.monotonic()
    deliveries.start()
    readers.start()

    # 1. PostgreSQL crashes (immediate mode) while polls, webhooks, reads and emails go on.
    def quarter() -> bool:
        return (
            polled() >= args.shipments * 0.25
            and deliveries.sent >= args.webhooks / 4
            and emails_sent() > 0
        )

    if not wait_for(quarter, 120, 0.3):
        raise RuntimeError(f"no progress to crash into; log:\n{processes.tail('worker')}")
    at_stop = {"polled": polled(), "emails_sent": emails_sent(), "webhooks_sent": deliveries.sent}
    connections.close_all()  # this script's own connection dies with the server anyway
    stop_issued = time.time()
    PG.stop("immediate")
    stopped_at = time.time()
    try:
        time.sleep(args.down)
    finally:  # also on an interrupt: the harness's clean-up needs the database
        starting_at = time.time()
        PG.start()  # -w: returns once crash recovery is done and connections are accepted
        ready_at = time.time()
    ready_clock = time.monotonic()
    recovery_log = [
        line for line in PG.log().splitlines() if "redo" in line or "not properly shut" in line
    ]

    # 2. Stranded email leases: rows claimed before the crash (their lease ends before
    # ready + LEASE; a live sender's claim ends after). Their senders failed with the database.
    time.sleep(max(0.0, 15 - (time.monotonic() - ready_clock)))
    with tenant_scope(tenant):
        email_leases_moved = Notification.objects.filter(
            state="sending",
            claimed_until__lt=timezone.now() - timedelta(seconds=15) + outbox.LEASE,
        ).update(claimed_until=timezone.now())

    # 3. Polls settle (the sweep claims what is due); claims whose poll failed on the database
    # wait for their lease: measured, then the clock is moved past it.
    last = [polled(), time.monotonic()]

    def settled() -> bool:
        now_polled = polled()
        if now_polled != last[0]:
            last[:] = [now_polled, time.monotonic()]
        return now_polled >= args.shipments or time.monotonic() - last[1] > 10

    wait_for(settled, 90, 1.0)
    polled_before_move = polled()
    with tenant_scope(tenant):
        leased = PollQueue.objects.filter(
            shipment__carrier="fedex",
            shipment__last_checked_at__isnull=True,
            due_at__gt=timezone.now(),
        )
        lease_left = [
            (d - timezone.now()).total_seconds() for d in leased.values_list("due_at", flat=True)
        ]
        polls_moved = leased.update(due_at=timezone.now())
    polled_all = wait_for(lambda: polled() >= args.shipments, 60, 0.5)

    # 4. Webhooks: the rest are sent; those not answered 200 are delivered again.
    if not deliveries.join(120):
        raise RuntimeError("the webhook senders did not finish")
    redelivered = deliveries.redeliver()
    readers.stop.set()

    def inbox_done_now() -> bool:
        states = inbox()
        return states.get("received", 0) == 0 and sum(states.values()) > 0

    inbox_done = wait_for(inbox_done_now, 120, 1.0)
    sent_all = wait_for(lambda: emails_sent() >= args.emails, 90, 0.5)
    time.sleep(12)  # one more notify sweep: a late duplicate would show now

    # --- figures ------------------------------------------------------------------------------
    requests: list[tuple[str, float, int]] = []  # (surface, started, status)
    phases = {"before": {}, "down": {}, "starting": {}, "after": {}, "redelivered": {}}
    for answers in deliveries.answers:
        for i, (at, status) in enumerate(answers):
            phase = "redelivered" if i else _phase(at, stopped_at, starting_at, ready_at)
            phases[phase][status] = phases[phase].get(status, 0) + 1
            if not i:
                requests.append(("webhook", at, status))
    reads: dict[str, dict] = {}
    for path, at, status in readers.answers:
        by_status = reads.setdefault(path, {}).setdefault(
            _phase(at, stopped_at, starting_at, ready_at), {}
        )
        by_status[status] = by_status.get(status, 0) + 1
        requests.append((path, at, status))
    statuses = [s for _p, _a, s in requests] + [a[-1][1] for a in deliveries.answers if len(a) > 1]
    five_hundreds = statuses.count(500)
    other_5xx = sum(1 for s in statuses if s >= 500 and s not in (500, 503))
    no_answer = statuses.count(0)
    # Down: from the stop to the start command. While it starts (crash recovery, then
    # pg_ctl's next readiness check) a 200 is right too: it may already accept connections.
    outage = [(p, s) for p, at, s in requests if stopped_at <= at < starting_at]
    starting = [s for _p, at, s in requests if starting_at <= at < ready_at]
    # The analytics figures are cached per tenant and period (dashboard.services.analytics):
    # read from Redis, they answer 200 without the database. Counted apart.
    from_cache = sum(1 for p, s in outage if p == CACHED_SURFACE and s == 200)
    outage_not_503: dict[str, int] = {}
    for p, s in outage:
        if s != 503 and not (p == CACHED_SURFACE and s == 200):
            outage_not_503[f"{p} {s}"] = outage_not_503.get(f"{p} {s}", 0) + 1
    # Back within 30 s: the first 200 of each surface started after the database was ready,
    # and nothing but 200 (401/429 aside) from 30 s on.
    back_after: dict[str, float | None] = {}
    for surface in ["webhook", *reads]:
        firsts = [at for p, at, s in requests if p == surface and s == 200 and at >= ready_at]
        back_after[surface] = round(min(firsts) - ready_at, 1) if firsts else None
    late_failures = [
        (p, s)
        for p, at, s in requests
        if at >= ready_at + RECOVERY_BOUND_S and s not in (200, 401, 429)
    ]
    in_bound = [v for v in back_after.values() if v is not None and v <= RECOVERY_BOUND_S]

    accepted = {n for n, answers in enumerate(deliveries.answers) if answers[-1][1] == 200}
    digests = {deliveries.digest(n) for n in accepted}
    with tenant_scope(tenant):
        rows = list(InboundWebhook.objects.values_list("digest", "state"))
        states: dict[str, int] = {}
        for _d, state in rows:
            states[state] = states.get(state, 0) + 1
        processed = {d for d, state in rows if state == "processed"}
        webhook_parcels = list(
            Shipment.objects.filter(carrier="manual").values_list("tracking_number", flat=True)
        )
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
        undispatched = changes.filter(dispatched_at__isnull=True).count()
        mails = list(Notification.objects.exclude(recipient="").values_list("state", "message_id"))
    with urllib.request.urlopen(postmark_url + "_log", timeout=30) as response:  # noqa: S310
        provider = json.loads(response.read())["accepted"]
    with urllib.request.urlopen(fedex_url + "/_log", timeout=30) as response:  # noqa: S310
        carrier_requests = sum(
            "trackingnumbers" in e["path"] for e in json.loads(response.read())["log"]
        )
    emails = Emails.compare(mails, provider)
    task_db_errors = {}
    for name in ("worker-poll", "worker", "beat"):
        text = processes.tail(name, 10**8)
        task_db_errors[name] = len(re.findall(r"(OperationalError|InterfaceError)", text))

    down_s = round(starting_at - stopped_at, 1)
    figures.update(
        postgres=f"own cluster on 127.0.0.1:{PG.port} ({PG.dir}), stopped -m immediate, "
        "started with crash recovery",
        shipments=args.shipments,
        webhooks=args.webhooks,
        emails=args.emails,
        at_stop=at_stop,
        stop_took_s=round(stopped_at - stop_issued, 2),
        database_down_s=down_s,
        start_to_ready_s=round(ready_at - starting_at, 2),
        recovery_log=recovery_log[-3:],
        webhook_answers_by_phase=phases,
        reads_by_phase=reads,
        outage_answers_not_503=outage_not_503,
        outage_analytics_200_from_cache=from_cache,
        starting_answers_not_200_or_503=sum(1 for s in starting if s not in (200, 503)),
        first_200_s_after_ready=back_after,
        not_200_from_30_s_after_ready=len(late_failures),
        http_500=five_hundreds,
        http_other_5xx_not_503=other_5xx,
        no_answer=no_answer,
        redelivered_after_recovery=redelivered,
        accepted_200=len(accepted),
        inbox_rows=len(rows),
        inbox_states=states,
        webhook_parcels=len(webhook_parcels),
        webhook_parcels_distinct=len(set(webhook_parcels)),
        task_log_database_errors=task_db_errors,
        polled_before_lease_move=polled_before_move,
        poll_leases_moved=polls_moved,
        poll_lease_left_s=[round(min(lease_left, default=0)), round(max(lease_left, default=0))],
        email_leases_moved=email_leases_moved,
        polled=polled(),
        carrier_requests=carrier_requests,
        carrier_requests_minimum=-(-args.shipments // 30),
        shipments_by_event_count=event_counts,
        status_changes=change_count,
        changes_undispatched=undispatched,
        **emails.figures(),
        wall_to_end_s=round(time.monotonic() - started, 1),
    )
    figures["summary"] = (
        f"PostgreSQL down {down_s} s (+{figures['start_to_ready_s']} s recovery) at "
        f"{at_stop['polled']}/{args.shipments} polled, {at_stop['webhooks_sent']} webhooks, "
        f"{at_stop['emails_sent']} emails; {len(outage)} requests while down, "
        f"{len(outage) - sum(outage_not_503.values()) - from_cache} answered 503 "
        f"(+{from_cache} analytics 200 from the cache); {five_hundreds} x 500, "
        f"{other_5xx} other 5xx, {no_answer} unanswered; 200 again "
        f"{max((v for v in back_after.values() if v is not None), default=None)} s after ready; "
        f"{len(accepted)}/{args.webhooks} accepted, {len(processed & digests)} processed, "
        f"{len(set(webhook_parcels))} parcels; {polled()}/{args.shipments} polled "
        f"({polls_moved} leases moved), events {event_counts}, {change_count} changes; "
        f"{len(emails.sent_ids)}/{args.emails} emails, {emails.duplicates} duplicates"
    )
    if not polled_all or not sent_all or not inbox_done:
        raise Missed(
            f"polled {polled()}/{args.shipments}, sent {emails_sent()}/{args.emails}, inbox "
            f"{inbox()}; log:\n" + processes.tail("worker")
        )
    check(
        {
            "requests came in while the database was down": len(outage) > 0,
            "polls were left to do at the crash": at_stop["polled"] < args.shipments,
            "only 503 while the database was down (cached analytics aside)": not outage_not_503,
            "only 200 or 503 while it started": all(s in (200, 503) for s in starting),
            "no 500": five_hundreds == 0,
            "no 5xx other than 503": other_5xx == 0,
            "every request answered": no_answer == 0,
            "200 again within 30 s of the database": len(in_bound) == len(back_after),
            "only 200 from 30 s after the database": not late_failures,
            "every delivery accepted in the end": len(accepted) == args.webhooks,
            "every accepted delivery in the inbox exactly once": len(rows) == len(digests)
            and {d for d, _s in rows} == digests,
            "every accepted delivery processed": digests <= processed,
            "one parcel per delivery": len(webhook_parcels)
            == len(set(webhook_parcels))
            == args.webhooks,
            "every shipment has exactly 2 events": event_counts == {2: args.shipments},
            "one status change per shipment": change_count == one_change == args.shipments,
            "every change dispatched": undispatched == 0,
            **emails.checks(args.emails),
        }
    )


def main(argv=None) -> int:
    args = parse_args(argv)

    def with_args(scenario: Scenario, figures: dict) -> None:
        scenario.args = args
        body(scenario, figures)

    # Until the harness installs its own: a SIGTERM still removes the cluster and Redis.
    signal.signal(signal.SIGTERM, _harness._interrupt)
    try:
        REDIS.start()
        PG.init()
        return run(NAME, with_args, keep=args.keep)
    except KeyboardInterrupt:
        print(f"ERROR faults/{NAME}: interrupted")
        return 1
    finally:
        REDIS.remove()
        if args.keep:
            with contextlib.suppress(Exception):
                PG.stop("fast")
            print(f"cluster folder kept: {PG.dir}")
        else:
            PG.remove()


if __name__ == "__main__":
    sys.exit(main())
