"""Fault 1: kill -9 a worker's pool child, then the whole worker, while it polls and emails;
after a restart nothing is lost and nothing is stored or sent twice.

Everything runs on 127.0.0.1: PostgreSQL, Redis (db 10), a fake FedEx API (30 numbers a
request, answering after 1 s so that polls are in flight when the kills come; every parcel
picked up two hours ago and in transit one hour ago: fresh news, the same on every ask) and a
real SMTP server (aiosmtpd, answering each message's final dot after 50 ms, as a mail server
writing its queue file; ``--mail postmark``: anymail's Postmark backend and a fake Postmark
instead), each in its own process; a real Celery worker (``-Q
poll,notify``, 2 processes) and real Celery beat (poll sweep every 5 s, notify sweep every 10 s) with
``CELERY_VISIBILITY_TIMEOUT`` 30 s. ``--shipments`` pending FedEx parcels are all due; the
first ``--emails`` of them belong to orders with a shopper's email, so their first scan owes a
"shipped" email (the others owe nothing: no address).

While polls and emails are in flight, one pool child is SIGKILLed (the main process forks a new
one; the task comes back: acks_late + reject_on_worker_lost), then, later, the whole worker
(main process and children: its tasks come back after the visibility timeout). Before the
restart, the email rows the dead worker held under its 5-minute sending lease are made due
(what the clock does 5 minutes later; no worker is alive then, so nobody else holds them).

Pass: every shipment is polled within the visibility timeout + 60 s of the worker's kill
(the restart comes 2 s after it); every shipment has
exactly its 2 events and 1 status change (0 lost, 0 duplicated); every change is dispatched;
exactly one email per shopper with an address: one ``sent`` row each, the provider accepted
each row's Message-ID and no other, and no shopper got two different Message-IDs; over SMTP,
no message reached the server twice either (the commit point of notifications/smtp.py). Over
an HTTP provider a message resubmitted with its same Message-ID (a sender killed between
sending and recording: the documented at-least-once rule of notifications/services/outbox.py)
is reported apart.

    .venv/bin/python bench/faults/worker_kill.py [--shipments 10000] [--emails 2000] [--mail smtp]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Emails, Missed, Scenario, check, children, main_with, pids_on_ports, wait_for

NAME = "worker_kill"
VISIBILITY = 30
ENV = {
    "WISMO_POLL_CONCURRENCY": "4",
    "WISMO_POLL_SWEEP_SECONDS": "5",
    "WISMO_TRACKING_WINDOW_DAYS": "3650",
    "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
    "DEFAULT_FROM_EMAIL": "Faults Shop <updates@mail.wismo.test>",
    # Sender tasks expire after one sweep: 10 s leaves them time to get past the poll tasks.
    "WISMO_NOTIFY_SWEEP_SECONDS": "10",
    "WISMO_NOTIFY_SENDERS": "1",
    "WISMO_NOTIFY_CONCURRENCY": "4",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=10_000)
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument(
        "--mail",
        choices=["smtp", "postmark"],
        default="smtp",
        help="a real SMTP server (the default), or anymail's Postmark backend against a fake",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def seed(fedex_url: str, count: int, emails: int):
    from django.utils import timezone

    from notifications.models import NotificationPolicy
    from tenants.scoping import tenant_scope
    from tenants.services import tenant_create
    from wismo.tracking.models import CarrierAccount, Order, Shipment
    from wismo.tracking.services.polling import poll_queue_sync

    rng = random.Random(1)
    now = timezone.now()
    tenant = tenant_create(slug="faults-kill", name="Faults kill")
    with tenant_scope(tenant):
        # "shipped" goes out at once (its default waits 15 minutes for the first scan).
        NotificationPolicy.objects.create(tenant=tenant, delays={}, quiet_start=None)
        account = CarrierAccount.objects.create(
            tenant=tenant,
            carrier="fedex",
            name="FedEx",
            credentials={
                "client_id": "c",
                "client_secret": "s",
                "base_url": fedex_url,
                "rate_per_second": 1000,
            },
        )
        orders = Order.objects.bulk_create(
            [
                Order(
                    tenant=tenant,
                    external_id=f"k-{i}",
                    order_number=str(700_000 + i),
                    customer_email=f"shopper{i}@example.com",
                    customer_name=f"Shopper {i}",
                    locale="en",
                )
                for i in range(emails)
            ],
            batch_size=1000,
        )
        shipments = Shipment.objects.bulk_create(
            [
                Shipment(
                    tenant=tenant,
                    order=orders[i] if i < emails else None,
                    carrier="fedex",
                    carrier_account=account,
                    tracking_number=str(790_000_000_000 + i),
                    status="pending",
                    substatus="pending.pending",
                    destination_country="US",
                    is_active=True,
                    next_poll_at=now - timedelta(seconds=rng.uniform(1, 600)),
                )
                for i in range(count)
            ],
            batch_size=1000,
        )
        poll_queue_sync(shipments)
    return tenant


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    processes = scenario.processes
    _f, fedex_url = processes.fake("fedex", "fedex", "--latency", "1.0")
    if args.mail == "smtp":
        _p, mail_url = processes.fake("smtp", "smtp", "--latency", "0.05")
        with urllib.request.urlopen(mail_url, timeout=10) as response:  # noqa: S310
            smtp_port = json.loads(response.read())["smtp_port"]
        mail_env = {
            # Django's own setting value: the product puts its commit point into it.
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_TIMEOUT": "10",
        }
    else:
        _p, mail_url = processes.fake("postmark", "postmark", "--latency", "0.05")
        mail_env = {
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "fake-server-token",
            "ANYMAIL_REQUESTS_TIMEOUT": "10",
            "ANYMAIL_POSTMARK_API_URL": mail_url,
        }
    env = {**ENV, **mail_env}
    tenant = seed(fedex_url, args.shipments, args.emails)

    from django.db.models import Count
    from django.utils import timezone

    from notifications.models import Notification
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import Shipment, ShipmentStatusChange, TrackingEvent

    def polled() -> int:
        with tenant_scope(tenant):
            return Shipment.objects.filter(last_checked_at__isnull=False).count()

    def waiting_on_carrier() -> set[int]:
        with urllib.request.urlopen(fedex_url + "/_inflight", timeout=10) as response:  # noqa: S310
            return pids_on_ports(set(json.loads(response.read())["ports"]))

    def emails_sent() -> int:
        with tenant_scope(tenant):
            return Notification.objects.filter(state="sent").count()

    def emails_sending() -> int:
        with tenant_scope(tenant):
            return Notification.objects.filter(state="sending").count()

    started = time.monotonic()
    worker = processes.worker("worker-1", "poll,notify", 2, env=env)
    processes.beat("beat", env=env)

    # 1. A pool child dies while polls and emails are under way.
    if not wait_for(lambda: polled() >= args.shipments * 0.15, 150, 0.2):
        raise RuntimeError(f"no progress to kill into; log:\n{processes.tail('worker-1')}")
    # The child to kill is one waiting on the carrier right now (not one running a dispatch
    # or an email task): its poll task comes back and asks again.
    pool = wait_for(lambda: set(children(worker.pid)) & waiting_on_carrier(), 60, 0.1)
    if not pool:
        raise RuntimeError("no pool child ever waited on the carrier")
    os.kill(sorted(pool)[0], signal.SIGKILL)
    child_killed = {"polled": polled(), "emails_sent": emails_sent()}

    # 2. Then the whole worker, main process and children, with no warning: while emails are
    # mid-send (a sender between handing a message over and recording it), and polls too when
    # there are still some in flight.
    wait_for(lambda: polled() >= args.shipments * 0.45 and emails_sent() > 0, 120, 0.2)
    wait_for(
        lambda: (
            emails_sending() > 0
            and (polled() >= args.shipments or set(children(worker.pid)) & waiting_on_carrier())
        ),
        60,
        0.02,
    )
    processes.kill(worker)
    killed_at, killed_clock = timezone.now(), time.monotonic()
    worker_killed = {"polled": polled(), "emails_sent": emails_sent()}
    with tenant_scope(tenant):
        # Five minutes later the dead sender's leases have run out (nobody else is alive).
        leases_moved = Notification.objects.filter(state="sending").update(
            claimed_until=timezone.now()
        )
    time.sleep(2)
    processes.worker("worker-2", "poll,notify", 2, env=env)
    restarted = time.monotonic()
    bound = VISIBILITY + 60
    polled_all = wait_for(lambda: polled() >= args.shipments, bound - 2, 0.5)
    all_polled_after = time.monotonic() - killed_clock
    stranded: dict = {}
    if not polled_all:
        # Not polled by the bound: what holds them? Shipments claimed by the scheduler (a lease
        # of polling.LEASE) whose poll task was never delivered wait for that lease to run out.
        from wismo.tracking.models import PollQueue

        with tenant_scope(tenant):
            left = PollQueue.objects.filter(shipment__last_checked_at__isnull=True)
            leases = sorted(set(left.values_list("due_at", flat=True)))
            stranded = {
                "shipments": left.count(),
                "due_again_in_s": [round((d - timezone.now()).total_seconds()) for d in leases],
            }
            # The lease runs out (the clock moves): are they polled then, and only once?
            stranded["moved_to_now"] = left.update(due_at=timezone.now())
        stranded["polled_after_the_move"] = wait_for(lambda: polled() >= args.shipments, 60, 0.5)
    sent_all = wait_for(lambda: emails_sent() >= args.emails, 60, 0.5)
    time.sleep(22)  # two more notify sweeps: a late duplicate would show now

    with tenant_scope(tenant):
        events = TrackingEvent.objects.count()
        event_counts: dict[int, int] = {}
        per_shipment = TrackingEvent.objects.values("shipment_id").annotate(n=Count("id"))
        for row in per_shipment.order_by():
            event_counts[row["n"]] = event_counts.get(row["n"], 0) + 1
        without = Shipment.objects.count() - sum(event_counts.values())
        if without:
            event_counts[0] = without
        changes = ShipmentStatusChange.objects.count()
        shipments_with_one_change = (
            ShipmentStatusChange.objects.values("shipment_id")
            .annotate(n=Count("id"))
            .filter(n=1)
            .count()
        )
        undispatched = ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).count()
        rows = list(
            Notification.objects.exclude(recipient="").values_list(
                "recipient", "state", "message_id", "trigger"
            )
        )
        late_polls = Shipment.objects.filter(last_checked_at__gt=killed_at).count()
    with urllib.request.urlopen(mail_url + "_log", timeout=30) as response:  # noqa: S310
        accepted = json.loads(response.read())["accepted"]
    with urllib.request.urlopen(fedex_url + "/_log", timeout=30) as response:  # noqa: S310
        carrier_requests = sum(
            "trackingnumbers" in e["path"] for e in json.loads(response.read())["log"]
        )

    emails = Emails.compare(((state, m) for _r, state, m, _t in rows), accepted)
    minimum_requests = -(-args.shipments // 30)
    figures.update(
        shipments=args.shipments,
        mail=args.mail,
        at_pool_child_kill=child_killed,
        at_worker_kill=worker_killed,
        email_leases_moved=leases_moved,
        polled=polled(),
        polled_after_the_kill=late_polls,
        all_polled_s_after_the_kill=round(all_polled_after, 1) if polled_all else None,
        restart_s_after_the_kill=round(restarted - killed_clock, 1),
        unpolled_at_the_bound=stranded or None,
        bound_s=f"visibility {VISIBILITY} + 60 = {bound}",
        carrier_requests=carrier_requests,
        carrier_requests_minimum=minimum_requests,
        events=events,
        shipments_by_event_count=event_counts,
        status_changes=changes,
        shipments_with_exactly_one_change=shipments_with_one_change,
        changes_undispatched=undispatched,
        **emails.figures(),
        wall_to_end_s=round(time.monotonic() - started, 1),
    )
    figures["summary"] = (
        f"{args.shipments} shipments, pool child killed at {child_killed['polled']} polled, "
        f"worker at {worker_killed['polled']}; all polled {figures['all_polled_s_after_the_kill']}"
        f" s after the worker's kill (bound {bound} s), {carrier_requests} carrier requests "
        f"(minimum {minimum_requests}); {events} events (lost/duplicated: "
        f"{sum(c for n, c in event_counts.items() if n != 2)} shipments off 2), {changes} "
        f"changes; {len(emails.sent_ids)}/{args.emails} emails sent, "
        f"{len(set(emails.provider_ids))} distinct Message-IDs, {emails.duplicates} duplicate "
        "emails, "
        f"{figures['resubmitted_same_message_id']} resubmitted with the same Message-ID"
    )
    recovered = polled_all or stranded.get("polled_after_the_move")
    if not recovered or not sent_all:
        raise Missed(
            f"polled {polled()}/{args.shipments}, sent {emails_sent()}/{args.emails}; log:\n"
            + processes.tail("worker-2")
        )
    check(
        {
            "the kills landed (a poll task redelivered: the carrier asked again)": carrier_requests
            > minimum_requests,
            "the worker's kill caught emails mid-send": leases_moved > 0,
            "every shipment polled within visibility + 60 s of the kill": polled_all
            and all_polled_after <= bound,
            "every shipment has exactly 2 events": event_counts == {2: args.shipments},
            "one status change per shipment": changes
            == shipments_with_one_change
            == args.shipments,
            "every change dispatched": undispatched == 0,
            **emails.checks(args.emails),
            # SMTP has a commit point (notifications/smtp.py): not even a same-id copy.
            **(
                {"no message submitted twice": emails.resubmitted == 0}
                if args.mail == "smtp"
                else {}
            ),
        }
    )


def main(argv=None) -> int:
    return main_with(NAME, body, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
