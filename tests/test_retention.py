"""Retention: shoppers' personal data goes 120 days after their parcels finished, raw webhook
payloads 30 days after processing; in every tenant, in batches, and a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from notifications.models import Notification
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory
from wismo.tracking import tasks
from wismo.tracking.models import InboundWebhook, Order, PrivacyRequest, Shipment
from wismo.tracking.services import retention
from wismo.tracking.services.retention import retention_run

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ago(days: float):
    return NOW - timedelta(days=days)


def parcel(tenant, *, days_since: float | None, order=None, status="delivered", **fields):
    """A parcel whose delivery (``status``) was ``days_since`` days ago; None: still on its way."""
    finished = days_since is not None
    moment = ago(days_since) if finished else ago(1)
    values = {
        "status": status if finished else "in_transit",
        "substatus": f"{status}.delivered" if finished else "in_transit.on_the_way",
        "is_active": not finished,
        "delivered_at": moment if finished and status == "delivered" else None,
        "last_event_at": moment,
        "updated_at": moment,
        "created_at": moment - timedelta(days=5),
        "destination_postcode": "20121",
    }
    values.update(fields)
    if order is not None:
        values["order"] = order
    return ShipmentFactory(tenant=tenant, **values)


def order(tenant, **fields) -> Order:
    defaults = {
        "customer_email": "ana@example.com",
        "customer_name": "Ana Rossi",
        "shipping_postcode": "20121",
        "line_items": [{"title": "Engraved mug: ANA", "quantity": 1, "sku": "MUG"}],
    }
    return OrderFactory(tenant=tenant, **{**defaults, **fields})


def personal(o: Order) -> tuple:
    o.refresh_from_db()
    return (o.customer_email, o.customer_name, o.shipping_postcode, o.line_items)


ERASED = ("", "", "", [])


def webhook(tenant, *, state, days, n):
    return InboundWebhook.objects.create(
        tenant=tenant,
        source="shop:shopify",
        topic="orders/updated",
        headers={"x-shopify-hmac-sha256": "sig"},
        body='{"email": "ana@example.com"}',
        digest=f"digest-{tenant.pk}-{n}",
        state=state,
        received_at=ago(days),
        processed_at=ago(days) if state != "received" else None,
    )


def test_an_old_delivered_order_loses_its_shoppers_data_and_keeps_its_parcel(scope_a):
    old = order(scope_a)
    shipment = parcel(scope_a, days_since=150, order=old)
    note = Notification.objects.create(
        tenant=scope_a,
        shipment=shipment,
        order=old,
        trigger="delivered",
        dedupe_key=f"{shipment.pk}:delivered",
        recipient="ana@example.com",
        context={"name": "Ana"},
        state="sent",
    )

    report = retention_run(now=NOW)

    assert personal(old) == ERASED
    shipment.refresh_from_db()
    note.refresh_from_db()
    assert shipment.destination_postcode == "" and shipment.status == "delivered"
    assert (note.recipient, note.context) == ("", {})
    assert report.orders == 1 and report.handlers["notifications"] == 1


def test_recent_and_undelivered_orders_are_untouched(scope_a):
    recent = order(scope_a)
    parcel(scope_a, days_since=30, order=recent)
    moving = order(scope_a, created_at=ago(300))
    parcel(scope_a, days_since=None, order=moving, created_at=ago(300))
    half = order(scope_a)
    parcel(scope_a, days_since=200, order=half)
    parcel(scope_a, days_since=None, order=half)  # one parcel of the order is still on its way
    no_parcel = order(scope_a, created_at=ago(300))

    assert retention_run(now=NOW).orders == 0
    for kept in (recent, moving, half, no_parcel):
        assert personal(kept)[0] == "ana@example.com"


def test_returned_expired_and_cancelled_count_as_finished(scope_a):
    returned = order(scope_a)
    parcel(
        scope_a,
        days_since=130,
        order=returned,
        status="exception",
        substatus="exception.returned_to_sender",
    )
    expired = order(scope_a)
    parcel(scope_a, days_since=130, order=expired, status="expired", substatus="expired.expired")
    cancelled = order(scope_a, cancelled_at=ago(130))

    assert retention_run(now=NOW).orders == 3
    assert personal(returned) == personal(expired) == personal(cancelled) == ERASED


def test_the_period_is_configurable(scope_a, settings):
    settings.WISMO_RETENTION_PERSONAL_DAYS = 10
    recent = order(scope_a)
    parcel(scope_a, days_since=30, order=recent)

    retention_run(now=NOW)

    assert personal(recent) == ERASED


def test_a_parcel_without_an_order_loses_its_postcode(scope_a):
    alone = parcel(scope_a, days_since=150, order=None)
    Shipment.objects.filter(pk=alone.pk).update(order=None)

    retention_run(now=NOW)

    alone.refresh_from_db()
    assert alone.destination_postcode == ""


def test_raw_payloads_go_30_days_after_processing_and_waiting_ones_stay(scope_a):
    old = webhook(scope_a, state="processed", days=40, n=1)
    failed = webhook(scope_a, state="failed", days=40, n=2)
    fresh = webhook(scope_a, state="processed", days=10, n=3)
    waiting = webhook(scope_a, state="received", days=40, n=4)

    report = retention_run(now=NOW)

    assert report.webhooks == 2
    for row in (old, failed):
        row.refresh_from_db()
        assert (row.body, row.headers, row.digest) == ("{}", {}, row.digest)
        assert row.state in ("processed", "failed")
    for row in (fresh, waiting):
        row.refresh_from_db()
        assert "ana@example.com" in row.body


def test_old_shopper_exports_are_emptied(scope_a):
    request = PrivacyRequest.objects.create(
        tenant=scope_a,
        kind="data_request",
        customer_email="ana@example.com",
        export={"orders": [{"customer_email": "ana@example.com"}]},
    )
    PrivacyRequest.objects.filter(pk=request.pk).update(created_at=ago(200))

    assert retention_run(now=NOW).exports == 1

    request.refresh_from_db()
    assert (request.export, request.customer_email) == ({}, "")


def test_every_tenant_is_processed(tenant_a, tenant_b):
    made = []
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            o = order(tenant)
            parcel(tenant, days_since=150, order=o)
            made.append((tenant, o))

    report = retention_run(now=NOW)

    assert report.orders == 2 and report.tenants >= 2
    for tenant, o in made:
        with tenant_scope(tenant):
            assert personal(o) == ERASED


def test_a_second_run_changes_nothing(scope_a, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)  # several batches, each its own transaction
    orders = [order(scope_a) for _ in range(5)]
    for o in orders:
        parcel(scope_a, days_since=150, order=o)
    webhook(scope_a, state="processed", days=40, n=1)

    first = retention_run(now=NOW)
    second = retention_run(now=NOW)

    assert (first.orders, first.webhooks) == (5, 1)
    assert (second.orders, second.shipments, second.webhooks, second.exports) == (0, 0, 0, 0)
    assert all(personal(o) == ERASED for o in orders)


def test_a_dry_run_counts_and_changes_nothing(scope_a):
    old = order(scope_a)
    parcel(scope_a, days_since=150, order=old)
    webhook(scope_a, state="processed", days=40, n=1)

    report = retention_run(now=NOW, dry_run=True)

    assert (report.orders, report.webhooks) == (1, 1)
    assert personal(old)[0] == "ana@example.com"


def test_the_command_prints_what_it_erased(scope_a):
    old = order(scope_a)
    parcel(scope_a, days_since=150, order=old)
    out = StringIO()

    call_command("retention", "--dry-run", stdout=out)
    assert "Would erase personal data of 1 orders" in out.getvalue()
    assert personal(old)[0] == "ana@example.com"

    call_command("retention", stdout=out)
    assert "Erased personal data of 1 orders" in out.getvalue()
    assert personal(old) == ERASED


def test_the_daily_task_runs_the_sweep(scope_a, settings):
    old = order(scope_a)
    parcel(scope_a, days_since=150, order=old)

    result = tasks.retention_sweep.apply().get()

    assert result["orders"] == 1
    assert "retention" in settings.CELERY_BEAT_SCHEDULE
    assert personal(old) == ERASED


def test_a_zero_day_period_is_refused():
    with pytest.raises(ValueError, match="at least one day"):
        retention_run(personal_days=0)
