"""What an agent can do to shipments, one at a time or in bulk: re-track now, stop tracking,
re-send the last email.

Every function runs inside the caller's tenant scope and takes ids: another tenant's ids simply
match nothing. Re-tracking reuses the kernel's ``polling.shipment_retrack`` (the API's
``retrack`` action) and asks the carrier after commit. A re-sent email is a new outbox row with
its own key (``<original key>:resend:<n>``), delivered by the normal sender: the outbox's
once-per-key rule stays intact, and a resend still waiting to go out is not doubled by a second
click.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import IntegrityError, transaction
from django.utils import timezone

from carriers import registry
from notifications.models import Notification
from wismo.tracking.models import Shipment
from wismo.tracking.services import polling
from wismo.tracking.services.background import enqueue_after_commit
from wismo.tracking.tasks import poll_shipments

POLL_CHUNK = 50
RESEND_MARK = ":resend:"


def _pollable(carrier: str) -> bool:
    try:
        return registry.get_adapter(carrier).pollable
    except registry.UnknownCarrier:
        return False


def shipments_retrack(*, shipment_ids: list[int]) -> int:
    """Ask the carriers again now (also restarts stopped shipments); returns how many were queued.

    Shipments of carriers with no API to ask (manual) are left alone.
    """
    queued: dict[tuple[int, str, int | None], list[int]] = defaultdict(list)
    with transaction.atomic():
        for shipment in Shipment.objects.filter(pk__in=list(shipment_ids)).order_by("pk"):
            if not _pollable(shipment.carrier):
                continue
            polling.shipment_retrack(shipment=shipment)
            key = (shipment.tenant_id, shipment.carrier, shipment.carrier_account_id)
            queued[key].append(shipment.pk)

    # Each parcel is due now (shipment_retrack): a task the broker refuses is the poll
    # sweep's to run.
    for (tenant_id, _carrier, _account), ids in queued.items():
        for start in range(0, len(ids), POLL_CHUNK):
            enqueue_after_commit(
                poll_shipments,
                kwargs={"tenant_id": tenant_id, "shipment_ids": ids[start : start + POLL_CHUNK]},
                what=f"a re-track of {len(ids[start : start + POLL_CHUNK])} shipments",
            )
    return sum(len(ids) for ids in queued.values())


def shipments_stop_tracking(*, shipment_ids: list[int], user=None) -> int:
    """Stop asking the carrier (out of the poll queue); returns how many were still tracked."""
    with transaction.atomic():
        ids = list(shipment_ids)
        stopped = Shipment.objects.filter(pk__in=ids, is_active=True).update(
            is_active=False, next_poll_at=None, updated_at=timezone.now()
        )
        # Idempotent: whatever was asked, nothing of it stays queued.
        polling.poll_queue_sync(list(Shipment.objects.filter(pk__in=ids, is_active=False)))
    return stopped


def notification_resend(*, shipment: Shipment, user=None) -> Notification | None:
    """Send the shopper the last email they got about this parcel again (a new outbox row).

    None when nothing was ever sent, or when there is no address to send to. A resend of this
    parcel still waiting for the sender is returned as it is: two clicks make one email.
    """
    order = shipment.order
    if order is None or not order.customer_email:
        return None
    pending = (
        Notification.objects.filter(
            shipment=shipment,
            dedupe_key__contains=RESEND_MARK,
            state__in=[Notification.State.SCHEDULED, Notification.State.SENDING],
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if pending is not None:
        return pending
    latest = (
        Notification.objects.filter(shipment=shipment, state=Notification.State.SENT)
        .order_by("-sent_at", "-id")
        .first()
    )
    if latest is None:
        return None
    # A resend of a resend counts from the original email.
    original = latest.dedupe_key.split(RESEND_MARK, 1)[0]
    prefix = f"{original}{RESEND_MARK}"
    if len(prefix) > 90:
        prefix = f"{shipment.pk}:{latest.trigger}:{latest.pk}{RESEND_MARK}"[:90]
    for _attempt in range(3):
        number = Notification.objects.filter(dedupe_key__startswith=prefix).count() + 1
        try:
            with transaction.atomic():
                return Notification.objects.create(
                    tenant=shipment.tenant,
                    shipment=shipment,
                    order=order,
                    change=latest.change,
                    trigger=latest.trigger,
                    dedupe_key=f"{prefix}{number}",
                    recipient=order.customer_email,
                    language=latest.language or order.locale,
                    context=latest.context,
                    state=Notification.State.SCHEDULED,
                    send_after=timezone.now(),
                )
        except IntegrityError:
            # Another click took this number at the same moment: that one is the resend.
            taken = Notification.objects.filter(dedupe_key=f"{prefix}{number}").first()
            if taken is not None and taken.state in (
                Notification.State.SCHEDULED,
                Notification.State.SENDING,
            ):
                return taken
    return None


def shipments_resend(*, shipment_ids: list[int], user=None) -> int:
    """Re-send the last email of each shipment; returns how many emails were queued."""
    count = 0
    for shipment in Shipment.objects.select_related("order", "tenant").filter(
        pk__in=list(shipment_ids)
    ):
        if notification_resend(shipment=shipment, user=user) is not None:
            count += 1
    return count
