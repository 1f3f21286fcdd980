"""Write-back: tell the shop platform what the carriers said (per store, off by default).

- Shopify: each status change of a parcel that came from a Shopify fulfillment becomes a
  fulfillment event (in transit, out for delivery, delivered, ...), which Shopify shows on its
  order status page and in the merchant's admin.
- WooCommerce: once every tracked parcel of an order is delivered, the order is set to
  ``completed``.

Flow: beat's ``write_back_due`` lists the stores with write-back on; ``store_write_back`` reads
that store's ``ShipmentStatusChange`` rows after its cursor (oldest first), calls the
platform outside any transaction, and moves the cursor past what is done. Only changes older
than ``SETTLE`` are read: ids are assigned at insert, so a younger id may still be invisible
behind a slower transaction with a smaller id. A transient failure stops the batch with the
cursor before it (retried next tick); a refusal of one call (fulfillment deleted on the
platform) is logged and skipped; refused credentials stop write-back and are shown.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from carriers.http import HttpClient, TerminalError, TransientError
from carriers.statuses import Status
from tenants.scoping import all_tenants
from wismo.tracking.models import Platform, Shipment, ShipmentStatusChange, ShopConnection
from wismo.tracking.services.sync import store_client

logger = logging.getLogger(__name__)

SETTLE = timedelta(seconds=60)
BATCH = 500
REFUSED_RETRY = timedelta(hours=6)
FIRST_WINDOW = timedelta(hours=1)  # a store that just turned write-back on: recent news only

# Our main status -> Shopify's fulfillment event status; the rest is not worth an event.
SHOPIFY_EVENT = {
    Status.INFO_RECEIVED: "label_printed",
    Status.IN_TRANSIT: "in_transit",
    Status.OUT_FOR_DELIVERY: "out_for_delivery",
    Status.AVAILABLE_FOR_PICKUP: "ready_for_pickup",
    Status.FAILED_ATTEMPT: "attempted_delivery",
    Status.DELIVERED: "delivered",
    Status.EXCEPTION: "failure",
}
DELAYED_SUBSTATUSES = frozenset({"exception.delayed", "exception.delayed_weather"})
WRITE_BACK_PLATFORMS = (Platform.SHOPIFY, Platform.WOOCOMMERCE)


def stores_with_write_back() -> list[tuple[int, int]]:
    """``(tenant_id, store_id)`` of active stores that asked for write-back (all tenants)."""
    with all_tenants():
        return list(
            ShopConnection.objects.filter(
                write_back=True,
                is_active=True,
                tenant__is_active=True,
                platform__in=WRITE_BACK_PLATFORMS,
            )
            # Refused credentials: try again every few hours (the merchant may have fixed them).
            .exclude(
                write_back_error__startswith="refused",
                updated_at__gt=timezone.now() - REFUSED_RETRY,
            )
            .values_list("tenant_id", "id")
        )


def _pending(store: ShopConnection) -> list[ShipmentStatusChange]:
    now = timezone.now()
    changes = ShipmentStatusChange.objects.filter(
        tenant=store.tenant,
        shipment__store=store,
        pk__gt=store.write_back_cursor,
        created_at__lte=now - SETTLE,
    )
    if not store.write_back_cursor:
        changes = changes.filter(created_at__gte=now - FIRST_WINDOW)
    return list(changes.select_related("shipment__order").order_by("pk")[:BATCH])


def _shopify(client, change: ShipmentStatusChange) -> None:
    shipment, order = change.shipment, change.shipment.order
    status = SHOPIFY_EVENT.get(change.to_status)
    if change.to_substatus in DELAYED_SUBSTATUSES:
        status = "delayed"
    if status is None or order is None or not shipment.external_fulfillment_id:
        return  # not a Shopify fulfillment's parcel (API, CSV), or nothing worth telling
    latest = shipment.estimated_delivery
    client.fulfillment_event_create(
        order.external_id,
        shipment.external_fulfillment_id,
        status,
        happened_at=change.occurred_at,
        estimated_delivery_at=(
            datetime.combine(latest, time(12), tzinfo=UTC)
            if latest and status != "delivered"
            else None
        ),
    )


def _woocommerce(client, change: ShipmentStatusChange, completed: set[int]) -> None:
    order = change.shipment.order
    if change.to_status != Status.DELIVERED or order is None or order.pk in completed:
        return
    parcels = Shipment.objects.filter(order=order, replaced_by__isnull=True)
    if parcels.exclude(status=Status.DELIVERED).filter(is_active=True).exists():
        return  # a split order: completed only when the last parcel arrives
    client.order_complete(order.external_id)
    completed.add(order.pk)


def store_write_back(*, store: ShopConnection, http: HttpClient | None = None) -> int:
    """Push this store's pending status changes to its platform; returns how many were handled."""
    if not store.write_back or store.platform not in WRITE_BACK_PLATFORMS:
        return 0
    changes = _pending(store)
    if not changes:
        return 0
    try:
        client = store_client(store, http or HttpClient())
    except (ValidationError, ValueError) as exc:
        store.write_back_error = f"refused: {exc}"[:2000]
        store.save(update_fields=["write_back_error", "updated_at"])
        return 0
    # Only the newest change of a parcel in this batch matters: no "in transit" after delivered.
    newest = {c.shipment_id: c.pk for c in changes}
    done, cursor, error, completed = 0, store.write_back_cursor, "", set()
    for change in changes:
        if newest[change.shipment_id] == change.pk:
            try:
                if store.platform == Platform.SHOPIFY:
                    _shopify(client, change)
                else:
                    _woocommerce(client, change, completed)
            except TransientError as exc:
                error = f"retrying: {exc}"
                break
            except TerminalError as exc:
                if exc.status in (401, 403):
                    error = f"refused: {exc}"
                    break
                logger.warning("write-back of change %s skipped: %s", change.pk, exc)
        cursor, done = change.pk, done + 1
    store.write_back_cursor, store.write_back_error = cursor, error[:2000]
    store.save(update_fields=["write_back_cursor", "write_back_error", "updated_at"])
    return done
