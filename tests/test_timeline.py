"""record_events: idempotent storage and a state derived from the whole timeline."""

from __future__ import annotations

import random
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carriers.adapters.sandbox import journey_events, sandbox_tracking_number
from carriers.base import CarrierEvent
from tenants.scoping import tenant_scope
from tests.factories import T0, ShipmentFactory, TenantFactory, ev
from wismo.tracking.models import Shipment, ShipmentStatusChange, TrackingEvent
from wismo.tracking.services import timeline
from wismo.tracking.services.timeline import derive_state, record_events, record_events_batch
from wismo.tracking.signals import shipment_status_changed

pytestmark = pytest.mark.django_db

JOURNEY = [
    ev(0, "info_received", code="LBL"),
    ev(5, "in_transit", "in_transit.picked_up", code="PU"),
    ev(20, "in_transit", "in_transit.arrived_at_facility", code="ARR", location="Bologna, IT"),
    ev(30, "out_for_delivery", code="OFD"),
    ev(33, "delivered", "delivered.signed", code="DLV"),
]


@pytest.fixture(params=["native", "generic"])
def insert_path(request, monkeypatch):
    """Run each test through the PostgreSQL COPY path (when on PostgreSQL) and the generic one."""
    if request.param == "native" and connection.vendor != "postgresql":
        pytest.skip("the native path is PostgreSQL's")
    if request.param == "generic":
        monkeypatch.setattr(timeline, "_insert_events_postgres", timeline._insert_events_generic)
    return request.param


@pytest.fixture
def shipment(scope_a):
    return ShipmentFactory(tenant=scope_a)


def test_the_same_events_twice_are_stored_once(shipment, insert_path):
    first = record_events(shipment=shipment, events=JOURNEY)
    second = record_events(shipment=shipment, events=JOURNEY)

    assert (first.created, first.duplicates) == (5, 0)
    assert (second.created, second.duplicates) == (0, 5)
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 5


def test_reworded_descriptions_and_cosmetic_locations_are_the_same_event(shipment, insert_path):
    record_events(
        shipment=shipment,
        events=[ev(5, "in_transit", code="PU", description="Picked up", location="MILANO, IT")],
    )

    again = record_events(
        shipment=shipment,
        events=[
            ev(
                5,
                "in_transit",
                code="pu",
                description="Parcel collected by courier",
                location="Milano IT",
            )
        ],
    )

    assert again.created == 0
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1


def test_events_differing_in_code_time_or_place_are_distinct(shipment, insert_path):
    result = record_events(
        shipment=shipment,
        events=[
            ev(5, "in_transit", code="PU"),
            ev(5, "in_transit", code="DEP"),
            ev(6, "in_transit", code="PU"),
            ev(5, "in_transit", code="PU", location="Roma, IT"),
        ],
    )
    assert result.created == 4


def test_duplicates_inside_one_batch_are_stored_once(shipment, insert_path):
    result = record_events(shipment=shipment, events=[JOURNEY[1], JOURNEY[1], JOURNEY[2]])
    assert (result.created, result.duplicates) == (2, 1)


def test_status_and_times_are_derived_from_the_timeline(shipment, insert_path):
    record_events(shipment=shipment, events=JOURNEY[:3])
    shipment.refresh_from_db()
    assert (shipment.status, shipment.substatus) == ("in_transit", "in_transit.arrived_at_facility")
    assert shipment.last_event_at == T0 + timedelta(hours=20)
    assert shipment.delivered_at is None
    assert shipment.is_active

    record_events(shipment=shipment, events=JOURNEY[3:])
    shipment.refresh_from_db()
    assert (shipment.status, shipment.substatus) == ("delivered", "delivered.signed")
    assert shipment.delivered_at == T0 + timedelta(hours=33)
    assert not shipment.is_active, "a delivered parcel is no longer polled"


def test_a_stale_event_arriving_late_does_not_undo_delivery(shipment, insert_path):
    record_events(shipment=shipment, events=[JOURNEY[0], JOURNEY[4]])
    record_events(
        shipment=shipment, events=[JOURNEY[2]]
    )  # older scan, delivered late by the carrier

    shipment.refresh_from_db()
    assert shipment.status == "delivered"
    assert shipment.delivered_at == T0 + timedelta(hours=33)


def test_a_transit_scan_stamped_after_delivery_does_not_undo_it(shipment, insert_path):
    record_events(shipment=shipment, events=[*JOURNEY, ev(40, "in_transit", code="ARR2")])
    shipment.refresh_from_db()
    assert shipment.status == "delivered"


def test_a_return_after_delivery_is_shown(shipment, insert_path):
    record_events(
        shipment=shipment,
        events=[*JOURNEY, ev(60, "exception", "exception.returning_to_sender", code="RTS")],
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.substatus) == ("exception", "exception.returning_to_sender")
    assert shipment.delivered_at is None


def test_events_with_the_same_time_are_ordered_by_the_parcel_lifecycle(scope_a, insert_path):
    a, b = ShipmentFactory(tenant=scope_a), ShipmentFactory(tenant=scope_a)
    same_time = [ev(10, "in_transit", code="ARR"), ev(10, "out_for_delivery", code="OFD")]

    record_events(shipment=a, events=same_time)
    record_events(shipment=b, events=list(reversed(same_time)))

    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == b.status == "out_for_delivery"


def test_action_required_follows_the_substatus(shipment, insert_path):
    record_events(
        shipment=shipment, events=[ev(1, "exception", "exception.held_for_payment", code="FEE")]
    )
    shipment.refresh_from_db()
    assert shipment.action_required


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=10**6), chunks=st.integers(min_value=1, max_value=6))
def test_any_arrival_order_and_replay_gives_the_same_timeline(scope_a, seed, chunks):
    """Replaying or reordering a journey's events, in any chunks, changes nothing."""
    rng = random.Random(seed)
    number = sandbox_tracking_number(T0, seed % 10_000)
    events = journey_events(number, T0)
    expected = derive_state((e.occurred_at, e.status, e.substatus) for e in events)
    shuffled = events + rng.sample(events, k=len(events) // 2)  # with some duplicates
    rng.shuffle(shuffled)
    shipment = ShipmentFactory(tenant=scope_a)  # a fresh shipment per example

    step = max(1, len(shuffled) // chunks)
    for start in range(0, len(shuffled), step):
        record_events(shipment=shipment, events=shuffled[start : start + step])

    shipment.refresh_from_db()
    assert (shipment.status, shipment.substatus) == (expected.status, expected.substatus)
    assert shipment.last_event_at == expected.last_event_at
    assert shipment.delivered_at == expected.delivered_at
    assert TrackingEvent.objects.filter(shipment=shipment).count() == len(events)


def test_a_status_change_is_recorded_with_the_events_and_signalled_after_commit(
    shipment, insert_path, django_capture_on_commit_callbacks
):
    received = []

    def receiver(sender, change_ids, **kwargs):
        received.extend(change_ids)

    shipment_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            record_events(shipment=shipment, events=JOURNEY[:2])
            assert received == [], "nothing is signalled before the transaction commits"
        for callback in callbacks:
            callback()
    finally:
        shipment_status_changed.disconnect(receiver)

    change = ShipmentStatusChange.objects.get(shipment=shipment)
    assert (change.from_status, change.to_status) == ("pending", "in_transit")
    assert change.dispatched_at is None
    assert received == [change.pk]


def test_no_change_row_or_signal_when_the_status_stays(
    shipment, insert_path, django_capture_on_commit_callbacks
):
    record_events(shipment=shipment, events=JOURNEY[:2])
    with django_capture_on_commit_callbacks() as callbacks:
        result = record_events(shipment=shipment, events=JOURNEY[:2])
    assert callbacks == []
    assert not result.status_changed
    assert ShipmentStatusChange.objects.filter(shipment=shipment).count() == 1


def test_a_failure_halfway_leaves_nothing_half_done(shipment, insert_path):
    with (
        # The last write of the transaction: the events and shipment updates before it roll back.
        mock.patch.object(
            ShipmentStatusChange.objects.__class__,
            "bulk_create",
            side_effect=RuntimeError("worker killed"),
        ),
        pytest.raises(RuntimeError),
    ):
        record_events(shipment=shipment, events=JOURNEY)

    assert TrackingEvent.objects.filter(shipment=shipment).count() == 0
    assert ShipmentStatusChange.objects.filter(shipment=shipment).count() == 0
    shipment.refresh_from_db()
    assert shipment.status == "pending"


def test_a_batch_updates_many_shipments_in_one_call(scope_a, insert_path):
    shipments = [ShipmentFactory(tenant=scope_a) for _ in range(3)]
    results = record_events_batch(
        items=[(shipments[0].pk, JOURNEY), (shipments[1].pk, JOURNEY[:2]), (shipments[2].pk, [])]
    )
    assert {pk: r.created for pk, r in results.items()} == {
        shipments[0].pk: 5,
        shipments[1].pk: 2,
        shipments[2].pk: 0,
    }
    statuses = dict(Shipment.objects.values_list("id", "status"))
    assert statuses == {
        shipments[0].pk: "delivered",
        shipments[1].pk: "in_transit",
        shipments[2].pk: "pending",
    }


def test_descriptions_with_tabs_newlines_and_backslashes_survive(shipment, insert_path):
    text = "Line one\tcol\\two\nline two \\N end"
    record_events(shipment=shipment, events=[ev(1, "in_transit", code="X", description=text)])
    assert TrackingEvent.objects.get(shipment=shipment).description == text


def test_another_tenants_shipment_is_skipped(shipment, tenant_b, insert_path):
    with tenant_scope(tenant_b):
        results = record_events_batch(items=[(shipment.pk, JOURNEY)])
    assert results == {}
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 0


def test_naive_times_and_unknown_statuses_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        CarrierEvent(T0.replace(tzinfo=None), "in_transit")
    with pytest.raises(ValueError, match="unknown status"):
        CarrierEvent(T0, "teleported")


def test_a_substatus_of_another_status_falls_back_to_the_default():
    assert CarrierEvent(T0, "in_transit", "delivered.signed").substatus == "in_transit.in_transit"


def test_derive_state_of_an_empty_timeline_is_none():
    assert derive_state([]) is None


def test_unknown_source_is_refused(shipment):
    with pytest.raises(ValueError):
        record_events_batch(items=[(shipment.pk, JOURNEY)], source="carrier-pigeon")


def test_two_tenants_may_track_the_same_number(tenant_a, tenant_b):
    with tenant_scope(tenant_a):
        a = ShipmentFactory(tenant=tenant_a, tracking_number="SAME1")
        record_events(shipment=a, events=JOURNEY)
    with tenant_scope(tenant_b):
        b = ShipmentFactory(tenant=TenantFactory(slug="bravo"), tracking_number="SAME1")
        result = record_events(shipment=b, events=JOURNEY[:1])
    assert result.created == 1
