"""Persisting imported orders: the one place every shop platform, CSV and API import ends.

``order_import`` is idempotent: the order is found by its external id in its store, each
tracking number by carrier and number. A fulfillment whose number changed re-links the parcel's
history (``shipment_change_tracking_number``); cancelled orders and fulfillments stop tracking.
A bad tracking number skips that parcel, never the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from carriers import registry
from carriers.names import slug_for_name
from wismo.tracking.importers.base import OrderDTO
from wismo.tracking.models import Platform, Shipment, ShopConnection
from wismo.tracking.services.polling import poll_queue_sync
from wismo.tracking.services.shipments import (
    OrderData,
    normalize_tracking_number,
    order_upsert,
    shipment_change_tracking_number,
    shipment_create,
)


@dataclass(slots=True)
class ImportOutcome:
    order_created: bool = False
    shipments_created: int = 0
    shipments_relinked: int = 0
    shipments_stopped: int = 0
    problems: list[str] = field(default_factory=list)


def api_store(*, tenant) -> ShopConnection:
    """The tenant's store for orders pushed through the REST API (made on first use)."""
    store = (
        ShopConnection.objects.filter(tenant=tenant, platform=Platform.API).order_by("pk").first()
    )
    return store or ShopConnection.objects.create(
        tenant=tenant, platform=Platform.API, name="REST API"
    )


def _carrier_slug(name: str) -> str | None:
    """Our slug for a platform's carrier name ("UPS", "BRT - Bartolini", "ups"); None: detect."""
    name = (name or "").strip()
    if not name:
        return None
    try:
        return registry.get_adapter(name.lower()).slug
    except registry.UnknownCarrier:
        return slug_for_name(name)


def _stop(shipments: list[Shipment]) -> int:
    live = [s for s in shipments if s.is_active]
    for shipment in live:
        shipment.is_active, shipment.next_poll_at = False, None
    if live:
        Shipment.objects.bulk_update(live, ["is_active", "next_poll_at"])
        poll_queue_sync(live)
    return len(live)


@transaction.atomic
def order_import(*, store: ShopConnection, dto: OrderDTO) -> ImportOutcome:
    """Create or update one order and its parcels from a platform's order (see module docstring)."""
    outcome = ImportOutcome()
    tenant = store.tenant
    order, outcome.order_created = order_upsert(
        tenant=tenant,
        store=store,
        data=OrderData(
            external_id=dto.external_id,
            order_number=dto.order_number,
            customer_email=dto.customer_email,
            customer_name=dto.customer_name,
            locale=dto.locale,
            shipping_country=dto.shipping_country,
            shipping_postcode=dto.shipping_postcode,
            line_items=[
                {
                    "title": i.title,
                    "quantity": i.quantity,
                    "sku": i.sku,
                    "price": i.price,
                    "currency": dto.currency,
                }
                for i in dto.line_items
            ]
            or None,
            placed_at=dto.placed_at,
        ),
    )
    existing = list(Shipment.objects.filter(order=order))
    for fulfillment in dto.fulfillments:
        mine = [s for s in existing if s.external_fulfillment_id == fulfillment.external_id]
        if dto.cancelled or fulfillment.cancelled:
            outcome.shipments_stopped += _stop(mine)
            continue
        carrier = _carrier_slug(fulfillment.carrier_name)
        wanted = [
            normalize_tracking_number(n) for n in fulfillment.tracking_numbers if n and n.strip()
        ]
        known = {s.tracking_number for s in mine}
        new_numbers = [n for n in wanted if n not in known]
        gone = [s for s in mine if s.tracking_number not in wanted and s.is_active]
        # One number replaced by another in the same fulfillment: a relabel, keep the history.
        while gone and new_numbers:
            old, number = gone.pop(0), new_numbers.pop(0)
            try:
                new = shipment_change_tracking_number(
                    shipment=old, tracking_number=number, carrier=carrier
                )
            except ValidationError as exc:
                outcome.problems.append(f"{number}: {'; '.join(exc.messages)}")
                continue
            Shipment.objects.filter(pk=new.pk).update(
                external_fulfillment_id=fulfillment.external_id
            )
            outcome.shipments_relinked += 1
        outcome.shipments_stopped += _stop(gone)
        for number in new_numbers:
            try:
                with transaction.atomic():
                    shipment, created = shipment_create(
                        tenant=tenant,
                        tracking_number=number,
                        carrier=carrier,
                        order=order,
                        store=store,
                        shipped_at=fulfillment.shipped_at,
                        priority=tenant.carrier_priority,
                    )
            except ValidationError as exc:
                outcome.problems.append(f"{number}: {'; '.join(exc.messages)}")
                continue
            if (
                shipment.order_id == order.pk
                and shipment.external_fulfillment_id != fulfillment.external_id
            ):
                Shipment.objects.filter(pk=shipment.pk).update(
                    external_fulfillment_id=fulfillment.external_id
                )
            outcome.shipments_created += int(created)
    if dto.cancelled:
        outcome.shipments_stopped += _stop([s for s in existing if s.is_active])
    return outcome
