"""A changed tracking number retires the old shipment's polling and links the history."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.factories import ShipmentFactory, ev
from wismo.tracking.models import PollQueue, Shipment
from wismo.tracking.services.shipments import shipment_change_tracking_number
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


def test_the_new_number_is_tracked_and_the_old_one_keeps_its_history(scope_a):
    old = ShipmentFactory(tenant=scope_a, carrier="sandbox", tracking_number="OLD1")
    record_events(shipment=old, events=[ev(1, "in_transit", code="PU")])

    new = shipment_change_tracking_number(
        shipment=old, tracking_number="1Z5R89390357567127", carrier="ups"
    )

    old.refresh_from_db()
    assert (new.carrier, new.tracking_number, new.replaces_id, new.order_id) == (
        "ups",
        "1Z5R89390357567127",
        old.pk,
        old.order_id,
    )
    assert not old.is_active and old.next_poll_at is None
    assert old.events.count() == 1, "the old timeline is kept"
    assert old.replaced_by == new
    assert PollQueue.objects.filter(shipment_id=new.pk).exists()
    assert not PollQueue.objects.filter(shipment_id=old.pk).exists()


def test_changing_to_the_same_new_number_twice_changes_nothing_more(scope_a):
    old = ShipmentFactory(tenant=scope_a, carrier="sandbox", tracking_number="OLD2")
    first = shipment_change_tracking_number(shipment=old, tracking_number="NEW2", carrier="sandbox")
    again = shipment_change_tracking_number(
        shipment=old, tracking_number="new-2", carrier="sandbox"
    )
    assert first.pk == again.pk
    assert Shipment.objects.count() == 2


def test_the_same_number_is_no_change(scope_a):
    shipment = ShipmentFactory(tenant=scope_a, carrier="sandbox", tracking_number="SAME3")
    assert shipment_change_tracking_number(shipment=shipment, tracking_number="same3") == shipment
    shipment.refresh_from_db()
    assert shipment.is_active


def test_a_bad_new_number_changes_nothing(scope_a):
    shipment = ShipmentFactory(tenant=scope_a, carrier="sandbox", tracking_number="KEEP4")
    with pytest.raises(ValidationError):
        shipment_change_tracking_number(
            shipment=shipment, tracking_number="<bad>", carrier="sandbox"
        )
    shipment.refresh_from_db()
    assert shipment.is_active and Shipment.objects.count() == 1


def test_the_merchants_carrier_priority_picks_among_weak_matches(api_a, tenant_a):
    number = "123456789012345678"  # fits several carriers only weakly
    assert (
        api_a.post("/api/v1/shipments/", {"tracking_number": number}, format="json").status_code
        == 400
    )
    tenant_a.carrier_priority = ["brt"]
    tenant_a.save()
    response = api_a.post("/api/v1/shipments/", {"tracking_number": number}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["carrier"] == "brt"
