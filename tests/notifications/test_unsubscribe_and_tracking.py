"""Shoppers unsubscribe in one click; the provider's bounces and complaints suppress an address."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Notification, Suppression
from notifications.services.context import unsubscribe_token
from notifications.services.tracking import tracking_event_apply
from tenants.scoping import tenant_scope

pytestmark = pytest.mark.django_db


def test_the_unsubscribe_page_asks_then_suppresses(tenant_a):
    url = f"/n/unsubscribe/{unsubscribe_token(tenant_a.pk, 'Ana@Example.com')}/"

    page = Client().get(url)
    assert page.status_code == 200 and b"Stop shipping updates?" in page.content
    with tenant_scope(tenant_a):
        assert not Suppression.objects.exists()

    done = Client().post(url, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    Client().post(url)  # twice is fine
    with tenant_scope(tenant_a):
        [row] = Suppression.objects.all()
    assert (row.email, row.reason) == ("ana@example.com", "unsubscribed")


@pytest.mark.parametrize("token", ["garbage", "a" * 300, "e30:1tZ:bad"])
def test_a_forged_or_broken_unsubscribe_link_is_404(token):
    assert Client().post(f"/n/unsubscribe/{token}/").status_code == 404


def test_a_token_of_one_tenant_does_not_unsubscribe_from_another(tenant_a, tenant_b):
    token = unsubscribe_token(tenant_a.pk, "ana@example.com")
    Client().post(f"/n/unsubscribe/{token}/")
    with tenant_scope(tenant_b):
        assert not Suppression.objects.exists()


@pytest.fixture
def sent(parcel):
    return Notification.objects.create(
        tenant=parcel.tenant,
        shipment=parcel,
        order=parcel.order,
        trigger="shipped",
        dedupe_key=f"{parcel.pk}:shipped",
        recipient="ana@example.com",
        state="sent",
        provider_message_id="pm-123",
    )


def test_opens_and_clicks_are_stamped_once(sent):
    tracking_event_apply(event_type="opened", message_id="pm-123", recipient="", metadata={})
    sent.refresh_from_db()
    first = sent.opened_at
    tracking_event_apply(event_type="opened", message_id="pm-123", recipient="", metadata={})
    tracking_event_apply(
        event_type="clicked",
        message_id="",
        recipient="",
        metadata={"notification_ids": str(sent.pk)},
    )
    sent.refresh_from_db()
    assert sent.opened_at == first and sent.clicked_at is not None


@pytest.mark.parametrize(
    ("event", "reason"), [("bounced", "bounced"), ("complained", "complained")]
)
def test_bounces_and_complaints_suppress_the_address(sent, event, reason):
    assert (
        tracking_event_apply(
            event_type=event, message_id="pm-123", recipient="ana@example.com", metadata=None
        )
        == 1
    )
    [row] = Suppression.objects.all()
    assert (row.email, row.reason) == ("ana@example.com", reason)


def test_an_event_for_an_unknown_message_changes_nothing(sent):
    assert (
        tracking_event_apply(
            event_type="bounced", message_id="nope", recipient="x@example.com", metadata={}
        )
        == 0
    )
    assert not Suppression.objects.exists()
