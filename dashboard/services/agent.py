"""What support agents write: "where is my order?" contacts and internal notes.

A contact is logged each time a ready reply is shown for a shipment (opening it from the search,
the helpdesk sidebar, the API lookup). A refresh is not a new contact: one person (or, for API
keys, one channel) counts once per shipment per ``CONTACT_WINDOW``. The agent may say how the
shopper reached them ("Log contact"): that sets the channel of the contact just logged rather
than counting it twice.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from dashboard.models import ContactChannel, ShipmentNote, WismoContact
from notifications.models import Notification
from wismo.tracking.models import Order, Shipment

CONTACT_WINDOW = timedelta(minutes=30)
# Channels an agent picks by hand; the others are set by where the lookup came from.
AGENT_CHANNELS = (ContactChannel.EMAIL, ContactChannel.PHONE, ContactChannel.CHAT)


def _recent(*, shipment: Shipment, user, channel: str) -> WismoContact | None:
    recent = WismoContact.objects.filter(
        shipment=shipment, created_at__gte=timezone.now() - CONTACT_WINDOW
    )
    if user is not None:
        recent = recent.filter(user=user)
    else:
        recent = recent.filter(user__isnull=True, channel=channel)
    return recent.order_by("-created_at", "-id").first()


@transaction.atomic
def contact_log(
    *,
    shipment: Shipment,
    channel: str,
    query: str = "",
    user=None,
    order: Order | None = None,
) -> WismoContact | None:
    """Count a WISMO contact about ``shipment``; None when this one was already counted.

    Locks the shipment's row so that two refreshes at once still count once.
    """
    Shipment.objects.select_for_update().filter(pk=shipment.pk).values_list("pk").first()
    if _recent(shipment=shipment, user=user, channel=channel) is not None:
        return None
    return WismoContact.objects.create(
        tenant=shipment.tenant,
        shipment=shipment,
        order=order or shipment.order,
        channel=channel,
        query=(query or "")[:200],
        carrier=shipment.carrier[:40],
        status=shipment.status,
        notified=Notification.objects.filter(
            shipment=shipment, state=Notification.State.SENT
        ).exists(),
        user=user,
    )


@transaction.atomic
def contact_set_channel(*, shipment: Shipment, channel: str, user, query: str = "") -> WismoContact:
    """The agent says how the shopper asked: the contact just logged takes that channel (a new
    contact is logged when there is none in the window)."""
    if channel not in AGENT_CHANNELS:
        raise ValueError(f"{channel!r} is not a channel an agent picks")
    Shipment.objects.select_for_update().filter(pk=shipment.pk).values_list("pk").first()
    contact = _recent(shipment=shipment, user=user, channel=channel)
    if contact is not None:
        contact.channel = channel
        contact.save(update_fields=["channel"])
        return contact
    return contact_log(shipment=shipment, channel=channel, query=query, user=user)


def shipment_note_add(*, shipment: Shipment, author, body: str) -> ShipmentNote:
    """An internal note on a shipment (the team sees it, the shopper never does)."""
    body = body.strip()
    if not body:
        raise ValueError("A note needs some text.")
    return ShipmentNote.objects.create(
        tenant=shipment.tenant, shipment=shipment, author=author, body=body[:5000]
    )
