"""Fault 6: a rolling restart under load: every 20 s for 2 minutes one process of wismo gets a
SIGTERM (in rotation: a gunicorn worker, the poll worker, the notify worker, beat, the gunicorn
master), as a deploy or an orchestrator sends it; nothing but the requests in flight at that
moment may fail, and nothing is lost or done twice.

Like ``redis_restart`` (whose pieces this reuses: importing it first points ``FAULTS_REDIS_URL``
at a free port), this scenario runs its OWN ``redis-server`` there, never the shared Redis.
Also on 127.0.0.1: PostgreSQL, a fake FedEx (answering after 1 s; every parcel picked up two
hours ago and in transit one hour ago) and a fake Postmark, each in its own process; gunicorn
(``bench/bench_settings.py``, 2 gthread workers, static files collected into the run's
``STATIC_ROOT`` first, as the image does, so that the HTML pages render), a Celery worker ``-Q
poll`` and one ``-Q notify,default`` (2 processes each) and Celery beat (poll sweep every 5 s,
notify sweep every 10 s).

Load, for ``--seconds`` (125): signed Shopify ``fulfillments/create`` deliveries at ``--rate``
a second over 4 keep-alive connections (as in ``redis_restart``; a delivery not answered 200
is redelivered once at the end, as Shopify does), and a probe that GETs ``/readyz``, the API
(``/api/v1/shipments/`` and ``/api/v1/lookup/``, with a real API key) and a shopper's tracking
page ``/t/<slug>/<token>/`` every half second; ``--shipments`` FedEx parcels come due spread
over the first 110 s (so polls run through every restart), the first ``--emails`` of them with
a shopper's email (their first scan owes one "shipped" email).

The signals, at 20, 40, ..., 120 s: SIGTERM to one gunicorn worker (the master forks a new
one); SIGTERM to the poll worker's main process, then to the notify worker's, then to beat's
(each a warm shutdown, waited for, then started again as a supervisor would); SIGHUP to the
gunicorn master (its graceful restart: new workers, the old ones finish and leave); then a
gunicorn worker again. Only the main process gets the signal, as ``docker stop`` sends it.

In flight: a web request that failed (no answer, or a 5xx) and was under way within 1 s of a
signal to a gunicorn process (its ``[start, end]`` meets ``[signal - 1 s, signal + 1 s]``) is
counted apart as in flight (which of the two workers served it is not known: any gunicorn
signal counts); any other failure fails the run, a 500 page above all.

Pass:

- web: no 5xx and no unanswered request outside the in-flight windows (in-flight ones reported
  apart);
- webhooks: every delivery answered 200 in the end, each in the inbox exactly once and
  ``processed``; one parcel per delivery, with no event (a fulfillment brings a tracking
  number, not a scan, and carrier ``manual`` is never polled);
- polls: every FedEx parcel polled by the end, each with exactly 2 events and 1 status change;
- emails: one ``sent`` row per shopper, the provider accepted exactly those Message-IDs, no
  shopper got two different Message-IDs;
- the faults landed: 6 signals, every restarted process back, the gunicorn workers replaced.

    .venv/bin/python bench/faults/rolling_restart.py [--shipments 1500] [--emails 300]
        [--rate 8] [--seconds 125]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# First: it picks this run's own Redis port and sets FAULTS_REDIS_URL before the harness reads it.
import redis_restart
from _harness import (
    PYTHON,
    ROOT,
    Emails,
    Missed,
    Scenario,
    check,
    children,
    main_with,
    wait_for,
)
from redis_restart import ENV, REDIS, Deliveries, seed_store, start_web
from worker_kill import seed as seed_polls

NAME = "rolling_restart"
WINDOW = 1.0  # seconds either side of a signal to gunicorn in which a failure is "in flight"
ROTATION = ("gunicorn worker", "poll worker", "notify worker", "beat", "gunicorn master")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=1500)
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--rate", type=float, default=8.0, help="webhooks a second")
    parser.add_argument("--seconds", type=float, default=125.0, help="length of the load")
    parser.add_argument("--every", type=float, default=20.0, help="seconds between signals")
    parser.add_argument("--signals", type=int, default=6, help="at every, 2 x every, ...")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


class TimedDeliveries(Deliveries):
    """``Deliveries`` that also records when each answer (or failure) came."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ended: list[list[float]] = [[] for _ in self.items]

    def post(self, conn_box: list, n: int) -> int:
        status = super().post(conn_box, n)
        with self.lock:
            self.ended[n].append(time.time())
        return status


class Probe:
    """GETs of other surfaces every half second, each on a new connection: (path, start, end,
    status), status 0 for no answer."""

    def __init__(self, port: int, paths: list[str], headers: dict[str, dict[str, str]]) -> None:
        self.port, self.paths, self.headers = port, paths, headers
        self.answers: list[tuple[str, float, float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for path in self.paths:
                started = time.time()
                headers = {"X-Forwarded-Proto": "https", **self.headers.get(path, {})}
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    conn.close()
                except (OSError, http.client.HTTPException):
                    status = 0
                self.answers.append((path, started, time.time(), status))


def spread_due(tenant, start: float, spread: float) -> None:
    """Every FedEx parcel due at some moment of the first ``spread`` s from ``start`` (round
    robin, so the shoppers' parcels are spread too): polls and emails under every restart."""
    from datetime import UTC, datetime

    from tenants.scoping import tenant_scope
    from wismo.tracking.models import PollQueue, Shipment

    origin = datetime.fromtimestamp(start, UTC)
    with tenant_scope(tenant):
        ids = list(Shipment.objects.filter(carrier="fedex").order_by("pk").values_list("pk"))
        buckets = int(spread // 5) + 1
        for k in range(buckets):
            bucket = [pk for i, (pk,) in enumerate(ids) if i % buckets == k]
            due = origin + timedelta(seconds=5 * k)
            Shipment.objects.filter(pk__in=bucket).update(next_poll_at=due)
            PollQueue.objects.filter(shipment_id__in=bucket).update(due_at=due)


def collect_static(scenario: Scenario) -> float:
    """``collectstatic`` into the run's STATIC_ROOT (under its var dir), as the image does: the
    pages' manifest storage needs it. Its seconds."""
    began = time.monotonic()
    argv = [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"]
    out = subprocess.run(  # noqa: S603 - our interpreter, our manage.py
        argv, cwd=ROOT, env=scenario.env, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"collectstatic failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return round(time.monotonic() - began, 1)


class Rotation:
    """The processes signalled in turn, restarted when the signal ends them."""

    def __init__(self, scenario: Scenario, web, env: dict[str, str]) -> None:
        self.scenario, self.web, self.env = scenario, web, env
        processes = scenario.processes
        self.poll = processes.worker("worker-poll", "poll", 2, env=env)
        self.notify = processes.worker("worker", "notify,default", 2, env=env)
        self.beat = None
        self.log: list[dict] = []

    def start_beat(self) -> None:
        self.beat = self.scenario.processes.beat("beat", env=self.env)

    def _term_and_restart(self, process, restart) -> dict:
        """SIGTERM to the main process only; wait for its warm shutdown; start it again."""
        at = time.time()
        os.kill(process.pid, signal.SIGTERM)
        forced = False
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            forced = True  # a warm shutdown that never ends: reported, and it fails the run
        # Pool children left behind in its group go too (none, after a clean warm shutdown).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
        exited = time.time() - at
        restart()
        return {"at": at, "pid": process.pid, "exit_s": round(exited, 1), "forced": forced}

    def signal(self, n: int) -> dict:
        target = ROTATION[n % len(ROTATION)]
        if target == "gunicorn worker":
            workers = sorted(children(self.web.pid))
            at = time.time()
            os.kill(workers[0], signal.SIGTERM)
            # The master forks a replacement when the old one has left.
            replaced = wait_for(
                lambda: (
                    (now := set(children(self.web.pid))) and workers[0] not in now and len(now) == 2
                ),
                40,
                0.1,
            )
            entry = {"at": at, "pid": workers[0], "replaced": bool(replaced)}
        elif target == "gunicorn master":
            workers = set(children(self.web.pid))
            at = time.time()
            os.kill(self.web.pid, signal.SIGHUP)
            replaced = wait_for(
                lambda: (
                    (now := set(children(self.web.pid))) and not now & workers and len(now) == 2
                ),
                40,
                0.1,
            )
            entry = {"at": at, "pid": self.web.pid, "signal": "SIGHUP", "replaced": bool(replaced)}
        else:
            processes = self.scenario.processes
            if target == "poll worker":

                def restart() -> None:
                    self.poll = processes.worker("worker-poll", "poll", 2, env=self.env)

                entry = self._term_and_restart(self.poll, restart)
            elif target == "notify worker":

                def restart() -> None:
                    self.notify = processes.worker("worker", "notify,default", 2, env=self.env)

                entry = self._term_and_restart(self.notify, restart)
            else:
                entry = self._term_and_restart(self.beat, self.start_beat)
            entry["replaced"] = not entry["forced"]
        entry["target"] = target
        self.log.append(entry)
        return entry


def log_lines(log_dir: Path) -> dict[str, dict[str, int]]:
    """Per process log: its errors and tracebacks, and the unacked tasks a warm shutdown
    handed back to the broker (kombu's "Restoring N unacknowledged message(s)")."""
    found = {}
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        restored = sum(
            int(line.split("Restoring ", 1)[1].split()[0])
            for line in text.splitlines()
            if "Restoring " in line and "unacknowledged" in line
        )
        found[path.stem] = {
            "errors": text.count("ERROR") + text.count("CRITICAL"),
            "tracebacks": text.count("Traceback"),
            "restored_unacked": restored,
        }
    return found


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    processes = scenario.processes
    _f, fedex_url = processes.fake("fedex", "fedex", "--latency", "1.0")
    _p, postmark_url = processes.fake("postmark", "postmark", "--latency", "0.05")
    env = {**ENV, "ANYMAIL_POSTMARK_API_URL": postmark_url}
    tenant = seed_polls(fedex_url, args.shipments, args.emails)
    store_id = seed_store(tenant)
    figures["collectstatic_s"] = collect_static(scenario)

    from django.db.models import Count

    from notifications.models import Notification
    from tenants.scoping import tenant_scope
    from tenants.services import api_key_create
    from wismo.tracking.models import (
        InboundWebhook,
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

    _key, raw_key = api_key_create(tenant=tenant, name="faults")
    with tenant_scope(tenant):
        parcel = Shipment.objects.filter(carrier="fedex", order__isnull=False).first()
    web, port = start_web(scenario)
    rotation = Rotation(scenario, web, env)
    auth = {"Authorization": f"Bearer {raw_key}"}
    paths = [
        "/readyz",
        "/api/v1/shipments/",
        f"/api/v1/lookup/?q={parcel.tracking_number}",
        f"/t/{tenant.slug}/{parcel.public_token}/",
    ]
    probe = Probe(port, paths, {paths[1]: auth, paths[2]: auth})
    deliveries = TimedDeliveries(port, store_id, int(args.rate * args.seconds), args.rate)
    wait_for(lambda: len(children(rotation.poll.pid)) >= 2, 30, 0.2)  # workers up

    began, began_clock = time.time(), time.monotonic()
    spread_due(tenant, began, max(5.0, args.seconds - 15))
    rotation.start_beat()
    deliveries.start()
    probe.thread.start()

    # The rotation: one signal every --every seconds while the load goes on.
    for n in range(args.signals):
        pause = began_clock + args.every * (n + 1) - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        # What was under way at the signal: the fault landed on work in progress.
        under_way = {"polled": polled(), "emails_sent": emails_sent(), "webhooks": deliveries.sent}
        rotation.signal(n).update(under_way)
    if not deliveries.join(args.seconds + 60):
        raise RuntimeError("the webhook senders did not finish")
    load_s = time.monotonic() - began_clock
    redelivered = deliveries.redeliver()
    probe.stop.set()
    probe.thread.join(30)

    polled_all = wait_for(lambda: polled() >= args.shipments, 60, 0.5)
    inbox_done = wait_for(
        lambda: (s := inbox()).get("received", 0) == 0 and sum(s.values()) > 0, 60, 1.0
    )
    sent_all = wait_for(lambda: emails_sent() >= args.emails, 60, 0.5)
    time.sleep(12)  # one more notify sweep: a late duplicate would show now

    # --- figures ------------------------------------------------------------------------------
    web_signals = [e["at"] for e in rotation.log if e["target"].startswith("gunicorn")]

    def in_flight(start: float, end: float) -> bool:
        return any(start <= at + WINDOW and end >= at - WINDOW for at in web_signals)

    requests = []  # (surface, start, end, status)
    for n, answers in enumerate(deliveries.answers):
        for (start, status), end in zip(answers, deliveries.ended[n], strict=True):
            requests.append(("webhook", start, end, status))
    requests += [(path.split("?")[0], s, e, status) for path, s, e, status in probe.answers]
    by_surface: dict[str, dict[int, int]] = {}
    failed_in_flight, failed_outside = [], []
    for surface, start, end, status in requests:
        counts = by_surface.setdefault(surface, {})
        counts[status] = counts.get(status, 0) + 1
        if status == 0 or status >= 500:
            failure = {
                "surface": surface,
                "status": status,
                "at_s": round(start - began, 2),
                "took_s": round(end - start, 2),
            }
            (failed_in_flight if in_flight(start, end) else failed_outside).append(failure)
    five_hundreds_outside = sum(1 for f in failed_outside if f["status"] == 500)

    accepted = {n for n, answers in enumerate(deliveries.answers) if answers[-1][1] == 200}
    digests = {deliveries.digest(n) for n in accepted}
    with tenant_scope(tenant):
        rows = list(InboundWebhook.objects.values_list("digest", "state"))
        states: dict[str, int] = {}
        for _d, state in rows:
            states[state] = states.get(state, 0) + 1
        processed = {d for d, state in rows if state == "processed"}
        errors = list(InboundWebhook.objects.exclude(error="").values_list("error", flat=True)[:3])

        def events_per_shipment(carrier: str, expected_shipments: int) -> dict[int, int]:
            counts: dict[int, int] = {}
            rows = (
                TrackingEvent.objects.filter(shipment__carrier=carrier)
                .values("shipment_id")
                .annotate(n=Count("id"))
                .order_by()
            )
            for row in rows:
                counts[row["n"]] = counts.get(row["n"], 0) + 1
            if without := expected_shipments - sum(counts.values()):
                counts[0] = without
            return counts

        webhook_parcels = Shipment.objects.filter(carrier="manual").count()
        webhook_numbers = Shipment.objects.filter(carrier="manual").values("tracking_number")
        distinct_webhook_numbers = webhook_numbers.distinct().count()
        webhook_events = events_per_shipment("manual", webhook_parcels)
        fedex_events = events_per_shipment("fedex", args.shipments)
        changes = ShipmentStatusChange.objects.filter(shipment__carrier="fedex")
        one_change = changes.values("shipment_id").annotate(n=Count("id")).filter(n=1).count()
        change_count = changes.count()
        mails = list(Notification.objects.exclude(recipient="").values_list("state", "message_id"))
    with urllib.request.urlopen(postmark_url + "_log", timeout=30) as response:  # noqa: S310
        provider = json.loads(response.read())["accepted"]
    emails = Emails.compare(mails, provider)
    signals = [
        {**{k: v for k, v in e.items() if k != "at"}, "at_s": round(e["at"] - began, 1)}
        for e in rotation.log
    ]

    figures.update(
        redis=f"own redis-server on 127.0.0.1:{redis_restart.REDIS_PORT}",
        shipments=args.shipments,
        emails=args.emails,
        webhooks=len(deliveries.items),
        load_s=round(load_s, 1),
        signals=signals,
        answers_by_surface=by_surface,
        failed_in_flight=failed_in_flight,
        failed_outside_in_flight=failed_outside[:20],
        failed_outside_count=len(failed_outside),
        http_500_outside=five_hundreds_outside,
        redelivered_at_the_end=redelivered,
        accepted_200=len(accepted),
        inbox_rows=len(rows),
        inbox_states=states,
        inbox_errors=errors,
        webhook_parcels=webhook_parcels,
        webhook_parcels_by_event_count=webhook_events,
        polled=polled(),
        fedex_parcels_by_event_count=fedex_events,
        status_changes=change_count,
        **emails.figures(),
        log_lines=log_lines(processes.log_dir),
        wall_to_end_s=round(time.monotonic() - began_clock, 1),
    )
    requests_total = len(requests)
    figures["summary"] = (
        f"{len(signals)} signals in {load_s:.0f} s ({', '.join(e['target'] for e in signals)}); "
        f"{requests_total} requests, {len(failed_in_flight)} failed in flight, "
        f"{len(failed_outside)} failed outside ({five_hundreds_outside} x 500); "
        f"{len(accepted)}/{len(deliveries.items)} webhooks accepted ({redelivered} redelivered), "
        f"{len(processed & digests)} processed, inbox {states}; {polled()}/{args.shipments} "
        f"polled, events {fedex_events}, {change_count} changes; {len(emails.sent_ids)}/{args.emails} "
        f"emails, {emails.duplicates} duplicates"
    )
    if not polled_all or not sent_all or not inbox_done:
        raise Missed(
            f"polled {polled()}/{args.shipments}, sent {emails_sent()}/{args.emails}, inbox "
            f"{inbox()}; log:\n" + processes.tail("worker")
        )
    check(
        {
            "every signal sent, every process back": len(signals) == args.signals
            and all(e["replaced"] for e in rotation.log),
            "no 5xx or unanswered request outside the in-flight windows": not failed_outside,
            "every delivery accepted in the end": len(accepted) == len(deliveries.items),
            "every accepted delivery in the inbox exactly once": len(rows) == len(digests)
            and {d for d, _s in rows} == digests,
            "every accepted delivery processed": digests <= processed,
            "one parcel per delivery, with no event": webhook_parcels
            == distinct_webhook_numbers
            == len(deliveries.items)
            and webhook_events == {0: webhook_parcels},
            "every FedEx parcel has exactly 2 events": fedex_events == {2: args.shipments},
            "one status change per FedEx parcel": change_count == one_change == args.shipments,
            **emails.checks(args.emails),
        }
    )


def main(argv=None) -> int:
    return main_with(NAME, body, parse_args(argv), redis=REDIS)


if __name__ == "__main__":
    sys.exit(main())
