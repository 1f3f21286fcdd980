"""The outbox sends each owed email once, through a real SMTP server, branded and in the
shopper's language; failures retry, dead workers' rows are picked up, digests group parcels."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.test import TestCase
from django.utils import timezone

from notifications.models import EmailTemplate, Notification, NotificationPolicy, Suppression
from notifications.services import outbox
from notifications.services.dispatch import changes_dispatch
from tests.factories import ShipmentFactory
from tests.notifications.conftest import recent
from wismo.tracking.models import ShipmentStatusChange
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


def owe(shipment, *events, now=True) -> list[Notification]:
    """Record ``events`` and dispatch them; the owed emails are made due at once."""
    with TestCase.captureOnCommitCallbacks(execute=False):
        record_events(shipment=shipment, events=list(events))
    ids = list(ShipmentStatusChange.objects.values_list("pk", flat=True))
    changes_dispatch(change_ids=ids)
    if now:
        Notification.objects.update(send_after=timezone.now() - timedelta(seconds=1))
    return list(Notification.objects.order_by("pk"))


def parts(message) -> tuple[str, str]:
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    return html, text


def test_an_owed_email_goes_out_once_branded_in_the_shoppers_language(smtp, parcel, scope_a):
    scope_a.branding = {"sender_name": "Alpha Caffè", "primary_color": "#663399"}
    scope_a.save()
    [row] = owe(parcel, recent(1, "out_for_delivery"))

    report = outbox.outbox_drain()

    assert report.sent == 1
    [message] = smtp.messages
    html, text = parts(message)
    row.refresh_from_db()
    assert row.state == "sent" and row.sent_at and row.attempts == 1
    assert message["To"] == "ana@example.com"
    assert parseaddr(message["From"]) == ("Alpha Caffè", "updates@mail.wismo.test")
    assert message["Message-ID"] == row.message_id
    assert "consegna" in message["Subject"].lower()  # Italian: the order's locale
    link = f"https://track.wismo.test/t/{scope_a.slug}/{parcel.public_token}/"
    assert link in html and link in text
    assert "1042" in html and "#663399" in html
    assert "<" not in text.replace("<http", "")
    assert (
        message["List-Unsubscribe"].strip().startswith("<https://track.wismo.test/n/unsubscribe/")
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert outbox.outbox_drain().sent == 0 and len(smtp.messages) == 1


def test_parcels_of_one_order_due_together_make_one_digest_email(smtp, parcel, scope_a):
    second = ShipmentFactory(
        tenant=scope_a, order=parcel.order, store=parcel.store, tracking_number="TRK1042B"
    )
    owe(parcel, recent(2, "in_transit"))
    rows = owe(second, recent(1, "in_transit"))
    assert len(rows) == 2

    outbox.outbox_drain()

    [message] = smtp.messages
    html, _ = parts(message)
    assert "TRK1042A" in html and "TRK1042B" in html
    assert f"/t/{scope_a.slug}/{parcel.order.public_token}/" in html  # the order's page
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    assert len(set(Notification.objects.values_list("message_id", flat=True))) == 1


def test_a_suppressed_address_and_stale_news_are_skipped_not_sent(smtp, parcel, scope_a):
    [row] = owe(parcel, recent(3, "in_transit"))
    Suppression.objects.create(tenant=scope_a, email="ANA@example.com", reason="unsubscribed")

    outbox.outbox_drain()

    row.refresh_from_db()
    assert (row.state, row.skipped_reason) == ("skipped", "suppressed")
    assert smtp.messages == []


def test_an_email_made_stale_before_its_turn_is_not_sent(smtp, parcel):
    [row] = owe(parcel, recent(3, "in_transit"), now=False)
    record_events(shipment=parcel, events=[recent(1, "delivered")])  # before the 15-minute delay
    Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())

    outbox.outbox_drain()

    row.refresh_from_db()
    assert (row.state, row.skipped_reason) == ("skipped", "superseded")
    assert [m["Subject"] for m in smtp.messages] == []


def test_a_provider_outage_retries_later_with_the_same_message_id(smtp, parcel):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    smtp.fail_next("451 4.3.0 Try again later")

    report = outbox.outbox_drain()

    row.refresh_from_db()
    assert report.retried == 1 and row.state == "scheduled" and row.attempts == 1
    assert row.send_after > timezone.now() + timedelta(seconds=30)
    first_id = row.message_id

    Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
    outbox.outbox_drain()
    row.refresh_from_db()
    assert row.state == "sent" and row.attempts == 2 and row.message_id == first_id
    assert [m["Message-ID"] for m in smtp.messages] == [first_id]


def test_a_refused_address_fails_without_retrying(smtp, parcel):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    smtp.fail_next("550 5.1.1 No such user")

    outbox.outbox_drain()

    row.refresh_from_db()
    assert row.state == "failed" and "550" in row.last_error
    assert outbox.outbox_drain().sent == 0


def test_an_unreachable_server_is_retried(parcel, settings):
    from tests.fakes.smtp_server import free_port

    settings.EMAIL_BACKEND = "notifications.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    [row] = owe(parcel, recent(1, "out_for_delivery"))

    assert outbox.outbox_drain().retried == 1
    row.refresh_from_db()
    assert row.state == "scheduled" and "ConnectionRefused" in row.last_error


def test_a_row_left_sending_by_a_dead_worker_is_sent_after_its_lease(smtp, parcel):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    claimed = outbox.claim_due()
    assert sum(len(ids) for ids in claimed.values()) == 1
    assert outbox.claim_due() == {}  # leased: no other sender takes it
    # The worker dies here. Once the lease runs out, the row is due again.
    Notification.objects.filter(pk=row.pk).update(claimed_until=timezone.now())

    outbox.outbox_drain()

    row.refresh_from_db()
    assert row.state == "sent" and len(smtp.messages) == 1


def test_the_merchants_own_template_is_used_and_a_broken_one_falls_back(smtp, parcel, scope_a):
    EmailTemplate.objects.create(
        tenant=scope_a,
        trigger="out_for_delivery",
        language="it",
        subject="Oggi arriva l'ordine {{ order.number }}, {{ shopper.first_name }}!",
    )
    owe(parcel, recent(2, "out_for_delivery"))
    outbox.outbox_drain()
    assert smtp.messages[0]["Subject"] == "Oggi arriva l'ordine 1042, Ana!"

    EmailTemplate.objects.filter(trigger="out_for_delivery").update(
        subject="{{ ''.__class__.__mro__ }}", trigger="delivered"
    )
    owe(parcel, recent(1, "delivered"))
    outbox.outbox_drain()
    assert len(smtp.messages) == 2 and "__" not in smtp.messages[1]["Subject"]


def test_a_policy_turned_off_after_the_email_was_owed_skips_it(smtp, parcel, scope_a):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    NotificationPolicy.objects.create(tenant=scope_a, enabled=False)

    outbox.outbox_drain()

    row.refresh_from_db()
    assert (row.state, row.skipped_reason) == ("skipped", "trigger_off")
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_several_emails_go_out_in_parallel_each_once(smtp, tenant_a):
    from tenants.scoping import tenant_scope
    from tests.factories import OrderFactory

    with tenant_scope(tenant_a):
        for n in range(6):
            order = OrderFactory(tenant=tenant_a, customer_email=f"s{n}@example.com")
            owe(ShipmentFactory(tenant=tenant_a, order=order), recent(1, "out_for_delivery"))

    report = outbox.notifications_send(claimed=outbox.claim_due(), concurrency=3)

    assert report.sent == 6
    assert sorted(m["To"] for m in smtp.messages) == [f"s{n}@example.com" for n in range(6)]
    with tenant_scope(tenant_a):
        assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
