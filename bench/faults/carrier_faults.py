"""Fault 4: one carrier account throttles (429), stalls (5 s spikes) and black-holes requests
while another carrier polls on; nobody asks before Retry-After, the other keeps its pace, and
every shipment is polled in the end.

Everything runs on 127.0.0.1: PostgreSQL, Redis (db 10: broker, token buckets, breakers), a
real Celery worker (``-Q poll``, ``--concurrency`` processes, default 8 as docker-compose's
``poller`` runs it; ``--concurrency 2``, Celery's default on 2 cores, shows a shared worker;
``WISMO_POLL_CONCURRENCY`` 4 requests in flight each) and real Celery beat (the poll sweep every 2 s, claiming at most 48 due shipments a
sweep, so that the queue interleaves both carriers as a steady production sweep does), and two
fake carrier APIs (tests/fakes/carrier_server.py, each in its own process):

- account A, DHL (1 number a request, 10 requests/s): healthy during the baseline, then its
  fault script, in seconds from the fault start: every 3rd request answered after 5 s in
  [0, 15); a 429 with ``Retry-After: 6`` at 15; a 429 with ``Retry-After`` as an HTTP date 8 s
  ahead at 30; a black hole (accepted, never answered) over [45, 65); healthy after;
- account B, Royal Mail (1 number a request, 8 requests/s, 100 ms): healthy throughout, with
  more due shipments than its rate serves, so its pace is its token rate when it gets the
  workers' time.

Pass:

- no request reaches A after a 429 was answered and before its Retry-After deadline (a request
  already on its way, arriving within ``GRACE`` of the 429, is counted apart);
- B's pace (requests/s at its server) during the fault window is at least 90% of its pace in
  the baseline window of the same run;
- every shipment of both accounts is polled successfully in the end, and no poll-queue row is
  left in a lease: where a failure pushed a shipment's next check hours ahead (backoff, never
  before Retry-After), that time is moved to now, as the clock would later, once the bench has
  checked it lies after the deadline; the moves are counted by carrier and error
  (``failed_polls_moved_to_now``: B's ``rate_limited`` there are its own token bucket's
  refusals after waiting ``MAX_WAIT_SECONDS``, backed off like a carrier failure).

    .venv/bin/python bench/faults/carrier_faults.py [--a-shipments 400] [--b-shipments 1000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Missed, Scenario, check, main_with, wait_for

NAME = "carrier_faults"
GRACE = 0.25  # seconds: a request sent before the 429 came back may still arrive after it
BASELINE = 30.0
FAULT_WINDOW = 70.0
FAULTS = [
    {"kind": "spike", "from": 0, "to": 15, "every": 3, "seconds": 5},
    {"kind": "429", "at": 15, "retry_after": "6"},
    {"kind": "429", "at": 30, "http_date_in": 8},
    {"kind": "blackhole", "from": 45, "to": 65},
]
A_RATE, B_RATE = 10.0, 8.0
WORKER_ENV = {
    "WISMO_POLL_CONCURRENCY": "4",
    "WISMO_POLL_SWEEP_SECONDS": "2",
    "WISMO_POLL_CLAIM_LIMIT": "48",
    "WISMO_TRACKING_WINDOW_DAYS": "3650",  # the recorded bodies are old news
    "CELERY_VISIBILITY_TIMEOUT": "600",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-shipments", type=int, default=400)
    parser.add_argument("--b-shipments", type=int, default=1000)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="poll worker processes (docker-compose's poller: 8; Celery's default: CPUs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def fake_call(url: str, path: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 - our loopback fake
        url + path, data=data, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def seed(a_url: str, b_url: str, a_count: int, b_count: int):
    """The tenant, its two accounts and their shipments, all due, in a random order."""
    from django.utils import timezone

    from tenants.scoping import tenant_scope
    from tenants.services import tenant_create
    from wismo.tracking.models import CarrierAccount, Shipment
    from wismo.tracking.services.polling import poll_queue_sync

    rng = random.Random(4)
    now = timezone.now()
    tenant = tenant_create(slug="faults-carriers", name="Faults carriers")
    with tenant_scope(tenant):
        a = CarrierAccount.objects.create(
            tenant=tenant,
            carrier="dhl",
            name="A (faulty)",
            credentials={"api_key": "k", "base_url": a_url, "rate_per_second": A_RATE},
        )
        b = CarrierAccount.objects.create(
            tenant=tenant,
            carrier="royal_mail",
            name="B (healthy)",
            credentials={
                "client_id": "c",
                "client_secret": "s",
                "base_url": b_url,
                "rate_per_second": B_RATE,
            },
        )
        shipments = [
            Shipment(
                tenant=tenant,
                carrier=carrier,
                carrier_account=account,
                tracking_number=number,
                status="pending",
                substatus="pending.pending",
                is_active=True,
                next_poll_at=now - timedelta(seconds=rng.uniform(1, 600)),
            )
            for carrier, account, numbers in (
                ("dhl", a, [f"77{i:08d}" for i in range(a_count)]),
                ("royal_mail", b, [f"RB{i:09d}GB" for i in range(b_count)]),
            )
            for number in numbers
        ]
        shipments = Shipment.objects.bulk_create(shipments, batch_size=1000)
        poll_queue_sync(shipments)
    return tenant, a, b


def pace(log: list[dict], start: float, end: float) -> float:
    return sum(start <= e["t"] < end for e in log) / (end - start)


def body(scenario: Scenario, figures: dict) -> None:
    args = scenario.args
    processes = scenario.processes
    _a, a_url = processes.fake("carrier-a", "dhl", "--latency", "0.05")
    _b, b_url = processes.fake("carrier-b", "royal_mail", "--latency", "0.1")
    tenant, account_a, _account_b = seed(a_url, b_url, args.a_shipments, args.b_shipments)

    processes.worker("worker", "poll", args.concurrency, env=WORKER_ENV)
    processes.beat("beat", env=WORKER_ENV)
    if not wait_for(lambda: fake_call(b_url, "/_log")["log"], 60):
        raise RuntimeError(f"nobody polled B; worker log:\n{processes.tail('worker')}")
    base_from = time.time() + 5  # past the start-up
    time.sleep(5 + BASELINE)
    fault_start = time.time()
    fake_call(a_url, "/_script", {"start": fault_start, "faults": FAULTS})
    time.sleep(FAULT_WINDOW)
    # Requests still held by the black hole end at the client's 20 s read timeout.
    time.sleep(25)

    from django.db.models import F
    from django.utils import timezone

    from tenants.scoping import tenant_scope
    from wismo.tracking.models import PollQueue, Shipment

    a_log = fake_call(a_url, "/_log")["log"]
    throttles = [e for e in a_log if e["outcome"] == "429"]
    early, in_flight = [], []
    for throttled in throttles:
        for e in a_log:
            if throttled["t"] < e["t"] < throttled["deadline"]:
                (in_flight if e["t"] <= throttled["t"] + GRACE else early).append(
                    {
                        "at_s": round(e["t"] - fault_start, 2),
                        "retry_after": throttled["retry_after"],
                    }
                )
    first_after = [
        round(min((e["t"] for e in a_log if e["t"] >= t["deadline"]), default=0) - t["deadline"], 2)
        for t in throttles
    ]

    # Every shipment whose failure pushed it ahead: never before its Retry-After deadline.
    with tenant_scope(tenant):
        failed = list(
            Shipment.objects.filter(carrier_account=account_a)
            .exclude(last_error_code="")
            .values_list("pk", "last_error_code", "last_checked_at", "next_poll_at")
        )
        too_soon = []
        for pk, code, checked, next_at in failed:
            # Checked while a 429's block held: the next check must not come before its end.
            for t in throttles:
                held = t["t"] - GRACE <= checked.timestamp() < t["deadline"]
                early_next = next_at is None or next_at.timestamp() < t["deadline"]
                if code == "rate_limited" and held and early_next:
                    too_soon.append(pk)
        # The clock moves on: what waits for a backoff (hours) after a failed poll is due now,
        # as often as failures come (the deadlines checked above are long past by now).
        moved: dict[str, int] = {}

        def all_polled() -> bool:
            # Scheduled by the failed poll (not a lease of a poll in flight), in the future.
            waiting = PollQueue.objects.filter(
                due_at__gt=timezone.now(), due_at=F("shipment__next_poll_at")
            )
            backoffs = list(
                Shipment.objects.exclude(last_error_code="")
                .filter(pk__in=list(waiting.values_list("shipment_id", flat=True)))
                .values_list("pk", "carrier", "last_error_code")
            )
            for _pk, carrier, code in backoffs:
                moved[f"{carrier}:{code}"] = moved.get(f"{carrier}:{code}", 0) + 1
            PollQueue.objects.filter(shipment_id__in=[pk for pk, *_ in backoffs]).update(
                due_at=timezone.now()
            )
            return (
                not Shipment.objects.filter(is_active=True)
                .filter(last_checked_at__isnull=True)
                .exists()
                and not Shipment.objects.exclude(last_error_code="").exists()
            )

        polled_all = wait_for(all_polled, 120, 2.0)
        never = Shipment.objects.filter(last_checked_at__isnull=True).count()
        still_failing = Shipment.objects.exclude(last_error_code="").count()
        in_lease = (
            PollQueue.objects.filter(shipment__is_active=True)
            .exclude(due_at=F("shipment__next_poll_at"))
            .count()
        )
    a_log = fake_call(a_url, "/_log")["log"]
    b_log = fake_call(b_url, "/_log")["log"]
    window_end = fault_start + FAULT_WINDOW
    b_base = pace(b_log, base_from, base_from + BASELINE)
    b_fault = pace(b_log, fault_start, window_end)
    worst_b_gap = max(
        (
            b["t"] - a["t"]
            for a, b in itertools.pairwise(b_log)
            if fault_start <= a["t"] < window_end
        ),
        default=0.0,
    )
    # Which fault cost B its pace: B's rate and what A answered, phase by phase.
    phases = {"spikes 0-15 s": (0, 15), "429s 15-45 s": (15, 45), "black hole 45-65 s": (45, 65)}
    phases["after 65-70 s"] = (65, FAULT_WINDOW)
    by_phase = {
        name: {
            "b_per_s": round(pace(b_log, fault_start + lo, fault_start + hi), 2),
            "a_requests": sum(fault_start + lo <= e["t"] < fault_start + hi for e in a_log),
        }
        for name, (lo, hi) in phases.items()
    }
    outcomes: dict[str, int] = {}
    for e in a_log:
        if e["t"] >= fault_start:
            outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
    ratio = b_fault / b_base if b_base else 0.0
    figures.update(
        worker_processes=args.concurrency,
        a_shipments=args.a_shipments,
        b_shipments=args.b_shipments,
        a_requests_in_fault_window=outcomes,
        throttles=[
            {
                "retry_after": t["retry_after"],
                "at_s": round(t["t"] - fault_start, 2),
                "deadline_s": round(t["deadline"] - fault_start, 2),
            }
            for t in throttles
        ],
        requests_before_deadline=early,
        requests_in_flight_at_429=len(in_flight),
        first_request_after_deadline_s=first_after,
        rescheduled_before_deadline=len(too_soon),
        b_pace_baseline_per_s=round(b_base, 2),
        b_pace_fault_window_per_s=round(b_fault, 2),
        b_token_rate_per_s=B_RATE,
        b_pace_ratio=round(ratio, 3),
        b_longest_silence_in_fault_window_s=round(worst_b_gap, 2),
        b_pace_by_phase=by_phase,
        failed_polls_moved_to_now=moved,
        never_polled=never,
        still_failing=still_failing,
        queue_rows_left_in_a_lease=in_lease,
    )
    figures["summary"] = (
        f"A: {len(throttles)} 429s, {len(early)} requests before Retry-After "
        f"({len(in_flight)} already in flight), {outcomes.get('spike', 0)} 5 s spikes, "
        f"{outcomes.get('blackhole', 0)} black-holed; B pace {b_fault:.2f}/s under faults vs "
        f"{b_base:.2f}/s baseline = {ratio:.2f} (target >= 0.9), longest B silence "
        f"{worst_b_gap:.1f} s; {never} never polled, {still_failing} still failing, "
        f"{in_lease} queue rows in a lease"
    )
    if len(throttles) != 2 or not outcomes.get("blackhole") or not outcomes.get("spike"):
        raise Missed(f"the fault script did not run as planned: {outcomes}, {throttles}")
    check(
        {
            "no request before Retry-After": not early,
            "no shipment rescheduled before Retry-After": not too_soon,
            "B keeps >= 90% of its pace": ratio >= 0.9,
            "every shipment polled in the end": polled_all,
            "no queue row left in a lease": in_lease == 0,
        }
    )


def main(argv=None) -> int:
    return main_with(NAME, body, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
