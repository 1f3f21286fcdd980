"""Fault 5: status changes committed while their nudge is lost; the outbox relay still sends
every email exactly once.

wismo writes a ``ShipmentStatusChange`` in the transaction that changes a status and, after
commit, enqueues its dispatch (``notifications.receivers.on_status_changed``). Between that
commit and that enqueue the change lives only in the database; beat's relay
(``relay_status_changes``, every 60 s, for changes undispatched after ``RELAY_AFTER``) is what
hands it over when the nudge never left. This scenario loses nudges four ways, a quarter of the
``--shipments`` each (every shipment owes one "out for delivery" email to its own shopper):

1. ``healthy``: a producer with the broker up (the control, and the nudge racing the relay);
2. ``broker-down``: a producer whose broker is a dead port (the enqueue fails after commit);
3. ``die-after-commit``: a producer that SIGKILLs itself right after each commit, before the
   nudge (a receiver in front of notifications'); restarted until its share is done;
4. ``random-kill``: a producer SIGKILLed from outside at random moments (mid-transaction,
   between commit and enqueue, or after), restarted until its share is done.

Meanwhile a real Celery worker (``-Q notify``) and real Celery beat run on Redis, sending
through anymail's Postmark backend to a fake Postmark on 127.0.0.1 (tests/fakes).

Pass: every shipment has exactly one event and one status change, every change is dispatched,
the provider accepted exactly one email per shipment (each Message-ID and each recipient once,
each matching a ``sent`` row), all within ``--deadline`` seconds of the last commit; and the
faults really happened (nudges lost, processes killed, changes left for the relay).

    .venv/bin/python bench/faults/crash_after_commit.py [--shipments 2000] [--seed 9]
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import PYTHON, Missed, Scenario, check, main_with, wait_for
from _production import free_port

NAME = "crash_after_commit"
PRODUCER = str(Path(__file__).resolve().parent / "_producer.py")
MODES = ("healthy", "broker-down", "die-after-commit", "random-kill")
SWEEP_SECONDS = 5  # WISMO_NOTIFY_SWEEP_SECONDS for the worker and beat (production: 30)
RELAY_EVERY = 60  # beat's relay_status_changes interval (wismo/settings.py)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipments", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=25, help="shipments per transaction")
    parser.add_argument("--seed", type=int, default=9, help="random kill moments")
    parser.add_argument(
        "--deadline", type=float, default=240.0, help="seconds after the last commit"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def seed(count: int):
    """A tenant whose policy sends "out for delivery" at once (no quiet hours), and ``count``
    in-transit shipments, each of its own order and shopper."""
    from notifications.models import NotificationPolicy
    from tenants.scoping import tenant_scope
    from tenants.services import tenant_create
    from wismo.tracking.models import Order, Shipment

    tenant = tenant_create(slug="faults-relay", name="Faults relay")
    with tenant_scope(tenant):
        NotificationPolicy.objects.create(tenant=tenant, delays={}, quiet_start=None)
        orders = Order.objects.bulk_create(
            [
                Order(
                    tenant=tenant,
                    external_id=f"f-{i}",
                    order_number=str(500_000 + i),
                    customer_email=f"shopper{i}@example.com",
                    customer_name=f"Shopper {i}",
                    locale="en",
                )
                for i in range(count)
            ],
            batch_size=1000,
        )
        shipments = Shipment.objects.bulk_create(
            [
                Shipment(
                    tenant=tenant,
                    order=order,
                    carrier="dhl",
                    tracking_number=f"FR{i:010d}",
                    status="in_transit",
                    substatus="in_transit.in_transit",
                    destination_country="IT",
                )
                for i, order in enumerate(orders)
            ],
            batch_size=1000,
        )
    return tenant, [s.pk for s in shipments]


def produce(scenario: Scenario, mode: str, argv: list[str], rng: random.Random) -> dict:
    """Run one quarter's producer until its share is committed; what happened to it."""
    processes = scenario.processes
    env = {}
    if mode == "broker-down":
        env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    if mode == "die-after-commit":
        argv = [*argv, "--die-after-commit"]
    lives = kills = committed = lost_nudges = 0
    started = time.monotonic()
    while True:
        lives += 1
        if lives > 400 or time.monotonic() - started > 150:
            raise RuntimeError(f"producer {mode} made no progress in {lives} lives")
        name = f"producer-{mode}-{lives}"
        process = processes.start(name, argv, env)
        log = processes.log_dir / f"{name}.log"
        if mode == "random-kill":
            wait_for(lambda log=log: "ready" in (log.read_text() if log.exists() else ""), 60, 0.02)
            # Death within a few transactions: before, during or after a commit or a nudge.
            time.sleep(rng.uniform(0.0, 0.4))
            if process.poll() is None:
                processes.kill(process)
        code = process.wait(timeout=120)
        text = log.read_text()
        committed += sum(int(n) for n in re.findall(r"^committed (\d+)$", text, re.M))
        lost_nudges += text.count("could not enqueue the dispatch")
        if code == 0 and "done" in text:
            break
        if code != -9:
            raise RuntimeError(f"producer {mode} exited {code}:\n{text[-3000:]}")
        kills += 1
    return {
        "lives": lives,
        "sigkills": kills,
        "committed": committed,
        "nudges_lost_to_broker": lost_nudges,
        "seconds": round(time.monotonic() - started, 1),
    }


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    from django.utils import timezone

    processes = scenario.processes
    _fake, postmark_url = processes.fake("postmark", "postmark", "--latency", "0.05")
    mail_env = {
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "fake-server-token",
        "ANYMAIL_POSTMARK_API_URL": postmark_url,
        "ANYMAIL_REQUESTS_TIMEOUT": "10",
        "DEFAULT_FROM_EMAIL": "Faults Shop <updates@mail.wismo.test>",
        "WISMO_NOTIFY_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "WISMO_NOTIFY_SENDERS": "1",
        "WISMO_NOTIFY_CONCURRENCY": "4",
    }
    tenant, ids = seed(args.shipments)
    processes.worker("worker", "notify", 2, env=mail_env)
    processes.beat("beat", env=mail_env)

    occurred = (timezone.now() - timedelta(minutes=5)).isoformat()
    rng = random.Random(args.seed)
    quarter = math.ceil(len(ids) / len(MODES))
    producers = {}
    for n, mode in enumerate(MODES):
        share = ids[n * quarter : (n + 1) * quarter]
        argv = [PYTHON, PRODUCER, "--tenant", str(tenant.pk), "--first", str(share[0])]
        argv += ["--last", str(share[-1]), "--occurred", occurred, "--chunk", str(args.chunk)]
        producers[mode] = produce(scenario, mode, argv, rng)
    last_commit = timezone.now()
    figures["producers"] = producers

    from notifications.models import Notification
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import ShipmentStatusChange, TrackingEvent

    with tenant_scope(tenant):
        undispatched = ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).count()
        figures["undispatched_after_producers"] = undispatched

        def all_sent() -> bool:
            return Notification.objects.filter(state="sent").count() >= args.shipments

        delivered = wait_for(all_sent, args.deadline, 1.0)
        drained_at = timezone.now()
        # Two more sweeps: a late duplicate would show up at the provider now.
        time.sleep(2 * SWEEP_SECONDS + 2)
        rows = list(
            Notification.objects.values_list(
                "shipment_id", "state", "message_id", "recipient", "sent_at", "change_id"
            )
        )
        changes = {
            pk: (created, dispatched)
            for pk, created, dispatched in ShipmentStatusChange.objects.values_list(
                "pk", "created_at", "dispatched_at"
            )
        }
        per_shipment_changes = ShipmentStatusChange.objects.values("shipment_id").distinct().count()
        events = TrackingEvent.objects.count()
    import json
    import urllib.request

    with urllib.request.urlopen(postmark_url + "_log", timeout=30) as response:  # noqa: S310
        log = json.loads(response.read())
    accepted = log["accepted"]

    relay_after = 30
    relayed = [
        pk
        for pk, (created, dispatched) in changes.items()
        if dispatched and (dispatched - created).total_seconds() >= relay_after
    ]
    lags = sorted(
        (sent - changes[change][0]).total_seconds()
        for _s, _st, _m, _r, sent, change in rows
        if sent and change in changes
    )
    row_ids = {m for _s, state, m, *_ in rows if state == "sent"}
    accepted_ids = [m["message_id"] for m in accepted]
    n = args.shipments
    figures.update(
        shipments=n,
        events=events,
        status_changes=len(changes),
        shipments_with_a_change=per_shipment_changes,
        changes_undispatched_at_end=sum(1 for _c, d in changes.values() if d is None),
        changes_dispatched_by_relay=len(relayed),
        notifications=len(rows),
        notifications_sent=sum(state == "sent" for _s, state, *_ in rows),
        provider_accepted=len(accepted),
        distinct_message_ids=len(set(accepted_ids)),
        distinct_recipients=len({m["to"] for m in accepted}),
        duplicate_emails=len(accepted) - len(set(accepted_ids)),
        accepted_match_sent_rows=set(accepted_ids) == row_ids,
        drained_s_after_last_commit=round((drained_at - last_commit).total_seconds(), 1)
        if delivered
        else None,
        lag_change_to_email_s={
            "p50": round(lags[len(lags) // 2], 1) if lags else None,
            "max": round(lags[-1], 1) if lags else None,
            "bound": f"RELAY_AFTER {relay_after} s + relay every {RELAY_EVERY} s + sweeps",
        },
    )
    kills = sum(p["sigkills"] for p in producers.values())
    lost = producers["broker-down"]["nudges_lost_to_broker"]
    figures["summary"] = (
        f"{n} shipments; {kills} producers SIGKILLed, {lost} nudges lost to a dead broker, "
        f"{undispatched} changes left undispatched, {len(relayed)} dispatched by the relay; "
        f"provider accepted {len(accepted)} emails, {len(set(accepted_ids))} distinct "
        f"Message-IDs, {figures['distinct_recipients']} recipients, "
        f"{figures['duplicate_emails']} duplicates; {events} events, {len(changes)} changes; "
        f"drained {figures['drained_s_after_last_commit']} s after the last commit"
    )
    if not delivered:
        raise Missed(
            f"only {figures['notifications_sent']}/{n} sent within {args.deadline} s; "
            f"worker log:\n{processes.tail('worker')}"
        )
    check(
        {
            "faults injected (kills, lost nudges, relay work)": kills > 0
            and lost > 0
            and undispatched > 0
            and len(relayed) > 0,
            "one event per shipment": events == n,
            "one status change per shipment": len(changes) == n == per_shipment_changes,
            "every change dispatched": figures["changes_undispatched_at_end"] == 0,
            "one notification row per shipment, all sent": len(rows)
            == n
            == figures["notifications_sent"],
            "exactly one email per shipment at the provider": len(accepted)
            == len(set(accepted_ids))
            == figures["distinct_recipients"]
            == n,
            "accepted Message-IDs are the sent rows'": figures["accepted_match_sent_rows"],
        }
    )


def main(argv=None) -> int:
    return main_with(NAME, body, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
