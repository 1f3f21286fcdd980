"""Polling the sandbox carrier: due shipments are claimed, asked about, and rescheduled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from carriers.adapters.sandbox import sandbox_tracking_number, scenario_for
from tests.factories import ShipmentFactory
from wismo.tracking import tasks
from wismo.tracking.models import TrackingEvent
from wismo.tracking.services import polling

pytestmark = pytest.mark.django_db


def number_for(scenario: str, handed_over: datetime) -> str:
    """A sandbox number for a scenario. Scenarios are hashed from the number, so a rare one
    (stalled: 4%) can be missing from the first few hundred sequences of a given minute: CI
    once drew a minute with none in 200. The whole sequence space (10,000) always has one."""
    return next(
        n
        for n in (sandbox_tracking_number(handed_over, seq) for seq in range(10_000))
        if scenario_for(n) == scenario
    )


@pytest.fixture
def parcel(scope_a):
    handed_over = timezone.now() - timedelta(days=2)
    # A parcel the sandbox actually moves (not one whose label is never scanned).
    number = number_for("delivered_late", handed_over)
    return ShipmentFactory(
        tenant=scope_a,
        carrier="sandbox",
        tracking_number=number,
        next_poll_at=timezone.now() - timedelta(minutes=1),
    )


def test_a_poll_records_the_carriers_events_and_schedules_the_next_check(parcel):
    summary = polling.poll_shipments(shipment_ids=[parcel.pk])

    parcel.refresh_from_db()
    assert summary["polled"] == 1 and summary["events"] >= 2
    assert TrackingEvent.objects.filter(shipment=parcel).count() == summary["events"]
    assert parcel.status != "pending"
    assert parcel.last_checked_at is not None
    assert parcel.is_active == (parcel.status != "delivered")
    if parcel.is_active:
        assert parcel.next_poll_at > timezone.now()


def test_polling_twice_adds_nothing_new(parcel):
    polling.poll_shipments(shipment_ids=[parcel.pk])
    assert polling.poll_shipments(shipment_ids=[parcel.pk])["events"] == 0


def test_an_unknown_number_is_recorded_as_a_terminal_error(scope_a):
    shipment = ShipmentFactory(
        tenant=scope_a, carrier="sandbox", tracking_number="SBX0000000000001"
    )  # bad check digit
    summary = polling.poll_shipments(shipment_ids=[shipment.pk])

    shipment.refresh_from_db()
    assert summary["errors"] == 1
    assert (shipment.last_error_code, shipment.poll_failures) == ("not_found", 1)
    assert shipment.next_poll_at > timezone.now() + timedelta(
        minutes=7
    )  # 4 x the 2-minute interval, jittered


def test_a_shipment_silent_for_the_whole_window_stops_being_tracked(scope_a, settings):
    settings.WISMO_TRACKING_WINDOW_DAYS = 30
    old = datetime.now(UTC) - timedelta(days=60)
    number = number_for("stalled", old)
    shipment = ShipmentFactory(
        tenant=scope_a, carrier="sandbox", tracking_number=number, created_at=old
    )

    polling.poll_shipments(shipment_ids=[shipment.pk])

    shipment.refresh_from_db()
    assert (shipment.status, shipment.substatus) == ("expired", "expired.no_updates")
    assert shipment.status_changes.filter(to_status="expired").count() == 1
    assert not shipment.is_active
    assert shipment.next_poll_at is None


def test_the_sweep_claims_due_shipments_once_and_enqueues_one_poll_per_group(parcel, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.poll_shipments, "apply_async", lambda kwargs: sent.append(kwargs))

    assert tasks.poll_due_shipments() == 1
    assert tasks.poll_due_shipments() == 0, "a claimed shipment is not enqueued twice"
    assert sent == [{"tenant_id": parcel.tenant_id, "shipment_ids": [parcel.pk]}]


def test_a_sweep_that_dies_before_its_enqueue_leaves_the_shipments_due(parcel, monkeypatch):
    """Found by bench/faults/worker_kill: the claim was committed before the enqueue, so a
    crash in between left the shipments leased for 10 minutes with no task on its way."""

    def crash(kwargs):
        raise KeyboardInterrupt("the worker dies between claim and enqueue")

    monkeypatch.setattr(tasks.poll_shipments, "apply_async", crash)
    with pytest.raises(KeyboardInterrupt):
        tasks.poll_due_shipments()

    assert [c.shipment_id for c in polling.claim_due()] == [parcel.pk], "still due, not leased"


def test_a_claim_is_a_lease_that_runs_out(parcel):
    """A worker that dies mid-poll loses nothing: after the lease the shipment is due again."""
    now = timezone.now()
    assert [c.shipment_id for c in polling.claim_due(now=now)] == [parcel.pk]
    assert polling.claim_due(now=now + timedelta(minutes=5)) == []
    assert [c.shipment_id for c in polling.claim_due(now=now + timedelta(minutes=11))] == [
        parcel.pk
    ]


def test_manual_shipments_are_never_claimed(scope_a):
    from wismo.tracking.services.shipments import shipment_create

    shipment, _ = shipment_create(tenant=scope_a, tracking_number="OWN1", carrier="manual")
    assert shipment.next_poll_at is None
    assert polling.claim_due(now=timezone.now() + timedelta(days=1)) == []


def test_the_poll_task_runs_inside_its_tenants_scope(parcel):
    result = tasks.poll_shipments.apply(
        kwargs={"tenant_id": parcel.tenant_id, "shipment_ids": [parcel.pk]}
    )
    assert result.get()["polled"] == 1


def test_the_poll_task_refuses_to_run_without_a_tenant(parcel):
    with pytest.raises(TypeError, match="tenant_id"):
        tasks.poll_shipments.apply(kwargs={"shipment_ids": [parcel.pk]}).get()


def test_groups_hold_several_carrier_batches_per_task(settings):
    settings.WISMO_POLL_CONCURRENCY = 2  # x 4 waves of DHL's one-number requests: 8 per group
    claims = [polling.Claim(i, 1, "dhl", 7) for i in range(10)] + [
        polling.Claim(99, 2, "dhl", None)
    ]
    groups = polling.group_claims(claims)
    assert [(g.tenant_id, g.carrier_account_id, g.shipment_ids) for g in groups] == [
        (1, 7, [0, 1, 2, 3, 4, 5, 6, 7]),
        (1, 7, [8, 9]),
        (2, None, [99]),
    ]


@pytest.mark.parametrize(
    ("status", "has_events", "unchanged", "low", "high"),
    [
        ("out_for_delivery", True, 0, 54, 66),
        ("in_transit", True, 0, 162, 198),
        ("in_transit", True, 2, 364, 446),
        ("in_transit", True, 10, 720, 720),  # capped at 12 hours
        ("info_received", True, 0, 324, 396),
        ("pending", False, 0, 27, 33),
    ],
)
def test_intervals_follow_the_status_and_back_off_while_quiet(
    status, has_events, unchanged, low, high
):
    minutes = polling.next_interval(
        carrier="dhl", status=status, unchanged_polls=unchanged, has_events=has_events
    )
    assert low <= minutes.total_seconds() / 60 <= high


def test_a_polled_shipment_gets_its_next_check_by_status(parcel):
    polling.poll_shipments(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    assert parcel.next_poll_at is None or parcel.next_poll_at > timezone.now()


def test_a_delivered_shipment_leaves_the_queue_when_it_comes_up(parcel):
    from tests.factories import ev
    from wismo.tracking.models import PollQueue
    from wismo.tracking.services.timeline import record_events

    record_events(shipment=parcel, events=[ev(1, "delivered")])
    claims = polling.claim_due(now=timezone.now() + timedelta(days=1))
    assert [c.shipment_id for c in claims] == [parcel.pk]

    polling.poll_shipments(shipment_ids=[parcel.pk])

    assert not PollQueue.objects.filter(shipment_id=parcel.pk).exists()


def test_the_queue_follows_each_polls_next_check(parcel):
    from wismo.tracking.models import PollQueue

    polling.poll_shipments(shipment_ids=[parcel.pk])
    parcel.refresh_from_db()
    queued = PollQueue.objects.filter(shipment_id=parcel.pk).first()
    if parcel.is_active:
        assert queued.due_at == parcel.next_poll_at
    else:
        assert queued is None


def test_a_poll_task_that_meets_a_dead_database_tries_again(parcel, monkeypatch):
    """Found by bench/faults/postgres_restart: the task failed once and was acknowledged, so its
    parcels waited for the 10-minute claim lease. It retries within seconds instead."""
    from django.db import OperationalError

    calls = []

    def flaky(*, shipment_ids):
        calls.append(shipment_ids)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return {"polled": len(shipment_ids), "events": 0, "errors": 0}

    from celery.exceptions import Retry

    monkeypatch.setattr(polling, "poll_shipments", flaky)
    assert OperationalError in tasks.poll_shipments.autoretry_for
    # The failed attempt asks Celery for a retry (a new message within seconds) instead of
    # failing and being acknowledged; the retry's own run is Celery's.
    with pytest.raises(Retry) as retry:
        tasks.poll_shipments.apply(
            kwargs={"tenant_id": parcel.tenant_id, "shipment_ids": [parcel.pk]}, throw=True
        )
    assert calls == [[parcel.pk]]
    assert retry.value.when is not None and float(retry.value.when) <= 60
    assert tasks.poll_shipments.retry_backoff_max <= 60 and tasks.poll_shipments.max_retries >= 5
