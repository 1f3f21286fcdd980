"""Status changes become owed emails: the right triggers, once, on time, never stale news."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from notifications.models import Notification, NotificationPolicy, WebhookDelivery, WebhookEndpoint
from notifications.services.dispatch import changes_dispatch, changes_undispatched
from notifications.services.policy import schedule_time
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory
from tests.notifications.conftest import recent
from wismo.tracking.models import ShipmentStatusChange
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


def record(shipment, *events):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return record_events(shipment=shipment, events=list(events))


def dispatch_all() -> int:
    ids = list(
        ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)
    )
    return changes_dispatch(change_ids=ids)


def owed(shipment) -> list[tuple[str, str]]:
    return sorted(Notification.objects.filter(shipment=shipment).values_list("trigger", "state"))


def test_a_label_then_a_first_scan_owe_shipped_then_in_transit(parcel, no_nudge):
    record(parcel, recent(3, "info_received"))
    record(parcel, recent(1, "in_transit"))

    assert dispatch_all() == 2
    assert owed(parcel) == [("in_transit", "scheduled"), ("shipped", "scheduled")]
    shipped = Notification.objects.get(shipment=parcel, trigger="shipped")
    assert shipped.recipient == "ana@example.com" and shipped.language == "it"
    # The default policy waits 15 minutes: a first scan right after would make one email.
    assert timedelta(minutes=14) < shipped.send_after - timezone.now() <= timedelta(minutes=15)
    assert len(no_nudge) == 2  # one after-commit nudge per recording transaction


def test_a_parcel_whose_first_news_is_a_scan_gets_shipped_alone(parcel, no_nudge):
    record(parcel, recent(1, "in_transit"))
    dispatch_all()

    assert owed(parcel) == [("shipped", "scheduled")]


def test_replays_and_repeated_dispatch_owe_nothing_more(parcel, no_nudge):
    events = [recent(5, "info_received"), recent(2, "out_for_delivery")]
    record(parcel, *events)
    assert dispatch_all() == 1  # label and out-for-delivery together: one change

    record(parcel, *events)
    ids = list(ShipmentStatusChange.objects.values_list("pk", flat=True))
    assert changes_dispatch(change_ids=ids) == 0
    assert Notification.objects.count() == 1


def test_news_older_than_three_days_emails_nobody(parcel, no_nudge):
    record(parcel, recent(24 * 5, "in_transit"), recent(24 * 4, "delivered"))
    dispatch_all()

    assert Notification.objects.count() == 0
    assert not ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).exists()


def test_delivered_owes_the_delivered_email_and_the_arrival_check_when_enabled(
    parcel, scope_a, no_nudge
):
    NotificationPolicy.objects.create(
        tenant=scope_a,
        triggers=["delivered", "delivery_check"],
        delays={"delivery_check": 48 * 60},
    )
    delivered_at = timezone.now() - timedelta(hours=1)
    record(parcel, recent(1, "delivered"))
    dispatch_all()

    assert owed(parcel) == [("delivered", "scheduled"), ("delivery_check", "scheduled")]
    check = Notification.objects.get(trigger="delivery_check")
    assert abs(check.send_after - (delivered_at + timedelta(hours=48))) < timedelta(seconds=5)


def test_problems_owe_an_exception_each_and_carrier_delays_owe_a_delay(parcel, no_nudge):
    record(parcel, recent(9, "in_transit"))
    record(parcel, recent(8, "exception", "exception.customs_hold"))
    record(parcel, recent(7, "in_transit"))
    record(parcel, recent(6, "exception", "exception.address_issue"))
    record(parcel, recent(5, "exception", "exception.delayed_weather"))
    dispatch_all()

    assert [t for t, _ in owed(parcel)] == ["delayed", "exception", "exception", "shipped"]


def test_a_progress_email_the_parcel_has_outrun_is_skipped(parcel, no_nudge):
    record(parcel, recent(2, "in_transit"))
    record(parcel, recent(1, "delivered"))
    dispatch_all()

    assert owed(parcel) == [("delivered", "scheduled"), ("shipped", "skipped")]
    assert Notification.objects.get(trigger="shipped").skipped_reason == "superseded"


def test_an_order_without_email_records_why_nothing_is_sent(scope_a, store_a, no_nudge):
    order = OrderFactory(tenant=scope_a, store=store_a, customer_email="")
    shipment = ShipmentFactory(tenant=scope_a, order=order, store=store_a)
    record(shipment, recent(1, "out_for_delivery"))
    dispatch_all()

    row = Notification.objects.get(shipment=shipment)
    assert (row.state, row.skipped_reason) == ("skipped", "no_email")


def test_a_trigger_the_merchant_turned_off_is_not_owed_and_a_store_policy_wins(
    parcel, scope_a, store_a, no_nudge
):
    NotificationPolicy.objects.create(tenant=scope_a, triggers=["delivered"])
    NotificationPolicy.objects.create(tenant=scope_a, store=store_a, triggers=["out_for_delivery"])
    record(parcel, recent(2, "out_for_delivery"))
    dispatch_all()  # before the delivery, or "out for delivery" would already be stale
    record(parcel, recent(1, "delivered"))
    dispatch_all()

    assert owed(parcel) == [("out_for_delivery", "scheduled")]


def test_changes_whose_nudge_was_lost_are_found_by_the_relay(parcel, no_nudge):
    record(parcel, recent(1, "in_transit"))
    assert changes_undispatched() == []  # too young: its nudge may still be on its way

    ShipmentStatusChange.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    [change_id] = changes_undispatched()
    changes_dispatch(change_ids=[change_id])
    assert changes_undispatched() == []


def test_a_broker_outage_on_the_nudge_loses_nothing(parcel, monkeypatch):
    from notifications import tasks

    def down(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.dispatch_status_changes, "apply_async", down)
    record(parcel, recent(1, "in_transit"))  # commits, the nudge fails quietly

    assert ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).count() == 1


def test_merchant_webhook_endpoints_get_one_delivery_per_change(parcel, scope_a, no_nudge):
    endpoint = WebhookEndpoint.objects.create(
        tenant=scope_a, url="https://merchant.example/hooks", secret="s3cret"
    )
    WebhookEndpoint.objects.create(
        tenant=scope_a, url="https://other.example/", secret="x", events=["order.created"]
    )
    record(parcel, recent(1, "in_transit"))
    dispatch_all()
    dispatch_all()

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint == endpoint and delivery.event == "shipment.status_changed"
    assert delivery.payload["data"]["tracking_number"] == "TRK1042A"
    assert delivery.payload["data"]["status"] == "in_transit"


def test_changes_of_two_tenants_are_dispatched_each_in_its_own_scope(parcel, tenant_b, no_nudge):
    with tenant_scope(tenant_b):
        other = ShipmentFactory(
            tenant=tenant_b, order=OrderFactory(tenant=tenant_b, customer_email="b@example.com")
        )
        record(other, recent(1, "in_transit"))
    record(parcel, recent(1, "in_transit"))
    from tenants.scoping import all_tenants

    with all_tenants():
        ids = list(ShipmentStatusChange.objects.values_list("pk", flat=True))
        assert changes_dispatch(change_ids=ids) == 2
        assert set(Notification.objects.values_list("tenant_id", flat=True)) == {
            parcel.tenant_id,
            tenant_b.pk,
        }


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-23 12:00", "2026-11-23 12:00"),  # outside quiet hours
        ("2026-11-23 23:30", "2026-11-24 07:00"),  # evening: next morning
        ("2026-11-24 03:00", "2026-11-24 07:00"),  # night: this morning
        ("2026-11-24 07:00", "2026-11-24 07:00"),  # the end is not quiet any more
    ],
)
def test_quiet_hours_move_a_send_to_their_end_in_the_tenants_timezone(scope_a, local, expected):
    from zoneinfo import ZoneInfo

    rome = ZoneInfo("Europe/Rome")
    scope_a.timezone = "Europe/Rome"
    policy = NotificationPolicy(
        tenant=scope_a, delays={}, quiet_start=time(21, 0), quiet_end=time(7, 0)
    )
    when = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=rome).astimezone(UTC)

    result = schedule_time(policy, "shipped", when, scope_a)

    assert result.astimezone(rome).strftime("%Y-%m-%d %H:%M") == expected


def test_a_new_tracking_number_is_announced_once_and_the_parcel_keeps_its_history(parcel, no_nudge):
    from wismo.tracking.services.shipments import shipment_change_tracking_number

    record(parcel, recent(5, "in_transit"))
    dispatch_all()
    with TestCase.captureOnCommitCallbacks(execute=True):
        new = shipment_change_tracking_number(shipment=parcel, tracking_number="TRK1042Z")
        shipment_change_tracking_number(shipment=parcel, tracking_number="TRK1042Z")
    dispatch_all()
    record(new, recent(1, "in_transit"))  # the new number's first scan: not "shipped" again
    dispatch_all()

    rows = Notification.objects.order_by("pk")
    assert [(n.trigger, n.shipment_id) for n in rows] == [
        ("shipped", parcel.pk),
        ("tracking_number_changed", new.pk),
    ]
    assert len(no_nudge) == 3


def test_a_quiet_carrier_with_a_date_that_holds_owes_one_reassurance_per_quiet_spell(
    parcel, scope_a, no_nudge
):
    from wismo.tracking.services.observations import quiet_sweep

    NotificationPolicy.objects.create(tenant=scope_a, triggers=["still_on_track"])
    record(parcel, recent(24 * 4, "in_transit"))  # old news: no email for the scan itself
    Shipment = type(parcel)
    Shipment.objects.filter(pk=parcel.pk).update(
        estimated_delivery=timezone.localdate() + timedelta(days=2)
    )

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert quiet_sweep() == 1
        assert quiet_sweep() == 0  # the same silence is reported once
    dispatch_all()

    assert owed(parcel) == [("still_on_track", "scheduled")]


def test_a_late_date_is_no_reassurance(parcel, no_nudge):
    from wismo.tracking.services.observations import quiet_sweep

    record(parcel, recent(24 * 4, "in_transit"))
    type(parcel).objects.filter(pk=parcel.pk).update(
        estimated_delivery=timezone.localdate() - timedelta(days=1)
    )
    assert quiet_sweep() == 0


def test_each_new_expected_date_owes_one_delay_email(parcel, no_nudge):
    from datetime import date

    from wismo.tracking.services.observations import delay_record

    record(parcel, recent(2, "in_transit"))
    dispatch_all()
    with TestCase.captureOnCommitCallbacks(execute=True):
        delay_record(shipment=parcel, reason="slipped", expected=date(2026, 12, 1))
        delay_record(shipment=parcel, reason="slipped", expected=date(2026, 12, 1))
        delay_record(shipment=parcel, reason="slipped", expected=date(2026, 12, 3))
    dispatch_all()

    delays = Notification.objects.filter(trigger="delayed").order_by("pk")
    assert [n.context["change"]["expected"] for n in delays] == ["2026-12-01", "2026-12-03"]


def test_quiet_hours_follow_the_destination_countrys_zone_when_it_has_one(scope_a):
    from zoneinfo import ZoneInfo

    scope_a.timezone = "Europe/London"
    policy = NotificationPolicy(
        tenant=scope_a, delays={}, quiet_start=time(21, 0), quiet_end=time(7, 0)
    )
    # 21:30 in London is 22:30 in Rome: quiet for an Italian shopper, not for a British one.
    when = datetime(2026, 11, 23, 21, 30, tzinfo=ZoneInfo("Europe/London")).astimezone(UTC)
    held = schedule_time(policy, "shipped", when, scope_a, "IT")
    assert held.astimezone(ZoneInfo("Europe/Rome")).strftime("%d %H:%M") == "24 07:00"
    # Unknown or multi-zone country: the tenant's zone.
    held = schedule_time(policy, "shipped", when, scope_a, "US")
    assert held.astimezone(ZoneInfo("Europe/London")).strftime("%d %H:%M") == "24 07:00"
    assert schedule_time(policy, "shipped", when - timedelta(hours=1), scope_a, "GB") == (
        when - timedelta(hours=1)
    )
