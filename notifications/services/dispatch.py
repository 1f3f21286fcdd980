"""From status changes to owed emails and webhook deliveries (the outbox's input).

The kernel writes a ``ShipmentStatusChange`` in the transaction that changed the status and
nudges us after commit (``shipment_status_changed``). ``changes_dispatch`` turns each change not
dispatched yet into ``Notification`` rows (one per parcel and trigger, the unique key making a
repeat a no-op) and ``WebhookDelivery`` rows, and marks the change dispatched, all in one
transaction: a worker killed half-way leaves the change undispatched, and the relay
(``changes_undispatched``) hands it over again.

What a change owes (``triggers_for``):

- ``shipped`` when the parcel first shows a life sign (label or first scan), ``in_transit`` on
  the first scan after a label (a parcel whose first news is a scan gets "shipped" alone);
- ``out_for_delivery``, ``available_for_pickup``, ``failed_attempt``, ``delivered`` (plus the
  "did it arrive?" check hours later) and ``exception`` by reason; a carrier-reported delay is
  ``delayed``;
- nothing for news older than what the shopper already knows: no "in transit" once delivered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from carriers.statuses import STATUS_RANK, Status
from notifications.models import (
    Notification,
    NotificationPolicy,
    Trigger,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.services.policy import policy_for, schedule_time
from tenants.scoping import all_tenants, tenant_scope
from wismo.tracking.models import Shipment, ShipmentStatusChange

DELAY_SUBSTATUSES = frozenset({"exception.delayed", "exception.delayed_weather"})
# Progress emails and the furthest status at which they are still news (checked again when
# sending): no "shipped" or "in transit" for a parcel already out for delivery or delivered.
PROGRESS_TRIGGERS = {
    Trigger.SHIPPED: Status.IN_TRANSIT,
    Trigger.IN_TRANSIT: Status.IN_TRANSIT,
    Trigger.OUT_FOR_DELIVERY: Status.OUT_FOR_DELIVERY,
}
RELAY_AFTER = timedelta(seconds=30)
# A change about an event older than this is history (a first sync of old orders, a carrier
# catching up): the shopper is not emailed about it.
OLD_NEWS = timedelta(days=3)


def triggers_for(change: ShipmentStatusChange) -> list[str]:
    """The triggers one status change owes (see the module docstring)."""
    if change.kind == ShipmentStatusChange.Kind.NUMBER:
        return [Trigger.TRACKING_NUMBER_CHANGED]
    if change.kind == ShipmentStatusChange.Kind.DELAY:
        return [Trigger.DELAYED]
    if change.kind == ShipmentStatusChange.Kind.QUIET:
        return [Trigger.STILL_ON_TRACK]
    to, before, reason = change.to_status, change.from_status, change.to_substatus
    if to == Status.INFO_RECEIVED and before == Status.PENDING:
        return [Trigger.SHIPPED]
    if to == Status.IN_TRANSIT:
        if before == Status.PENDING:
            return [Trigger.SHIPPED]
        if before == Status.INFO_RECEIVED:
            return [Trigger.IN_TRANSIT]
        return []
    if to == Status.EXCEPTION:
        return [Trigger.DELAYED if reason in DELAY_SUBSTATUSES else Trigger.EXCEPTION]
    if to == Status.DELIVERED:
        return [Trigger.DELIVERED, Trigger.DELIVERY_CHECK]
    if to in (
        Status.OUT_FOR_DELIVERY,
        Status.AVAILABLE_FOR_PICKUP,
        Status.FAILED_ATTEMPT,
    ):
        return [to]
    return []


def is_stale(trigger: str, shipment: Shipment) -> bool:
    """A progress email the parcel has outrun ("in transit" for a delivered parcel)."""
    furthest = PROGRESS_TRIGGERS.get(trigger)
    if furthest is None or shipment.status == Status.EXCEPTION:
        return False
    return STATUS_RANK.get(shipment.status, 0) > STATUS_RANK[furthest]


def root_id(shipment: Shipment) -> int:
    """The first shipment of a parcel that changed tracking number (``replaces`` chain)."""
    seen, current = {shipment.pk}, shipment
    while current.replaces_id and current.replaces_id not in seen:
        seen.add(current.replaces_id)
        current = current.replaces
    return current.pk


def dedupe_key(shipment: Shipment, trigger: str, change: ShipmentStatusChange) -> str:
    """Once per parcel and trigger; a parcel keeps its identity across new tracking numbers,
    so a relabelled parcel's first scan does not announce "shipped" a second time."""
    if trigger == Trigger.TRACKING_NUMBER_CHANGED:
        return f"{shipment.pk}:{trigger}"
    parcel = root_id(shipment)
    if change.kind == ShipmentStatusChange.Kind.DELAY:
        # Each new expected date is news; the same one twice is not.
        return f"{parcel}:{trigger}:{change.detail.get('reason')}:{change.detail.get('expected')}"
    if change.kind == ShipmentStatusChange.Kind.QUIET:
        return f"{parcel}:{trigger}:{change.detail.get('since')}"
    if trigger in (Trigger.EXCEPTION, Trigger.DELAYED):
        # A parcel may meet several problems (customs, then the address): each is news once.
        return f"{parcel}:{trigger}:{change.to_substatus}"
    return f"{parcel}:{trigger}"


def notification_add(
    *,
    shipment: Shipment,
    trigger: str,
    key: str,
    policy: NotificationPolicy,
    when: datetime,
    change: ShipmentStatusChange | None = None,
    context: dict | None = None,
) -> Notification | None:
    """Owe one email (idempotent by ``key``); a skipped row records why nothing will be sent."""
    order = shipment.order
    skipped = ""
    if not policy.enabled or trigger not in policy.triggers:
        return None  # the merchant does not send this: no row at all, nothing to show
    if order is None or not order.customer_email:
        skipped = "no_email"
    elif is_stale(trigger, shipment):
        skipped = "superseded"
    notification, _ = Notification.objects.get_or_create(
        tenant=shipment.tenant,
        dedupe_key=key,
        defaults={
            "shipment": shipment,
            "order": order,
            "change": change,
            "trigger": trigger,
            "recipient": order.customer_email if order else "",
            "language": order.locale if order else "",
            "context": context or {},
            "state": Notification.State.SKIPPED if skipped else Notification.State.SCHEDULED,
            "skipped_reason": skipped,
            "send_after": schedule_time(
                policy,
                trigger,
                when,
                shipment.tenant,
                shipment.destination_country or (order.shipping_country if order else ""),
            ),
        },
    )
    return notification


EVENT_NAMES = {
    ShipmentStatusChange.Kind.NUMBER: "shipment.tracking_number_changed",
    ShipmentStatusChange.Kind.DELAY: "shipment.delayed",
    ShipmentStatusChange.Kind.QUIET: "shipment.still_on_track",
}


def event_name(change: ShipmentStatusChange) -> str:
    return EVENT_NAMES.get(change.kind, "shipment.status_changed")


def _webhook_payload(change: ShipmentStatusChange) -> dict:
    shipment, order = change.shipment, change.shipment.order
    return {
        "id": f"chg_{change.pk}",
        "type": event_name(change),
        "created_at": change.created_at.isoformat(),
        "data": {
            "shipment_id": shipment.pk,
            "tracking_number": shipment.tracking_number,
            "previous_tracking_number": (
                shipment.replaces.tracking_number if shipment.replaces_id else None
            ),
            "carrier": shipment.carrier,
            "order_number": order.order_number if order else "",
            "order_external_id": order.external_id if order else "",
            "from_status": change.from_status,
            "status": change.to_status,
            "substatus": change.to_substatus,
            "occurred_at": change.occurred_at.isoformat() if change.occurred_at else None,
            "estimated_delivery": (
                shipment.estimated_delivery.isoformat() if shipment.estimated_delivery else None
            ),
            "detail": change.detail or {},
        },
    }


def _dispatch_tenant(tenant_id: int, change_ids: list[int]) -> int:
    now = timezone.now()
    owed = 0
    with transaction.atomic():
        changes = list(
            ShipmentStatusChange.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=change_ids, dispatched_at__isnull=True)
            .select_related(
                "shipment__order", "shipment__tenant", "shipment__store", "shipment__replaces"
            )
            .order_by("pk")
        )
        if not changes:
            return 0
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True))
        policies: dict[int | None, NotificationPolicy] = {}
        for change in changes:
            shipment = change.shipment
            store_id = shipment.store_id
            if store_id not in policies:
                policies[store_id] = policy_for(tenant=shipment.tenant, store_id=store_id)
            happened = change.occurred_at or now
            for trigger in triggers_for(change) if happened >= now - OLD_NEWS else ():
                made = notification_add(
                    shipment=shipment,
                    trigger=trigger,
                    key=dedupe_key(shipment, trigger, change),
                    policy=policies[store_id],
                    # The arrival check counts from the delivery; the rest from now.
                    when=happened if trigger == Trigger.DELIVERY_CHECK else now,
                    change=change,
                    context={"change": change.detail} if change.detail else None,
                )
                owed += made is not None
            event = event_name(change)
            for endpoint in endpoints:
                if endpoint.events and event not in endpoint.events:
                    continue
                WebhookDelivery.objects.get_or_create(
                    tenant=endpoint.tenant,
                    endpoint=endpoint,
                    event_id=f"chg_{change.pk}",
                    defaults={
                        "event": event,
                        "payload": _webhook_payload(change),
                    },
                )
        ShipmentStatusChange.objects.filter(pk__in=[c.pk for c in changes]).update(
            dispatched_at=now
        )
    return owed


def changes_dispatch(*, change_ids: list[int]) -> int:
    """Turn these status changes (any tenants) into owed emails and webhooks; returns emails owed."""
    with all_tenants():
        tenants = defaultdict(list)
        for change_id, tenant_id in ShipmentStatusChange.objects.filter(
            pk__in=change_ids, dispatched_at__isnull=True
        ).values_list("pk", "tenant_id"):
            tenants[tenant_id].append(change_id)
    owed = 0
    for tenant_id, ids in tenants.items():
        with tenant_scope(tenant_id):
            owed += _dispatch_tenant(tenant_id, ids)
    return owed


def changes_undispatched(*, limit: int = 2000) -> list[int]:
    """Changes older than ``RELAY_AFTER`` still undispatched: their nudge was lost."""
    cutoff = timezone.now() - RELAY_AFTER
    with all_tenants():
        return list(
            ShipmentStatusChange.objects.filter(dispatched_at__isnull=True, created_at__lte=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:limit]
        )
