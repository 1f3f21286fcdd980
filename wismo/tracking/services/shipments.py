"""Creating orders and shipments from the API, imports and the demo.

Both are idempotent: an order is found by its external id (per store), a shipment by carrier and
tracking number, so a repeated import or API call updates instead of duplicating.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from carriers import detection, registry
from carriers.base import CarrierEvent
from tenants.models import Tenant
from wismo.tracking.models import (
    CarrierAccount,
    EventSource,
    Order,
    Shipment,
    ShipmentStatusChange,
    ShopConnection,
)
from wismo.tracking.services.polling import poll_queue_sync
from wismo.tracking.services.timeline import RecordResult, record_events
from wismo.tracking.signals import shipment_status_changed


def normalize_tracking_number(value: str) -> str:
    """Tracking numbers are compared without separators (spaces, dashes, dots) in upper case."""
    return detection.compact(value)


@dataclass(frozen=True, slots=True)
class OrderData:
    external_id: str
    order_number: str
    customer_email: str = ""
    customer_name: str = ""
    locale: str = ""
    shipping_country: str = ""
    shipping_postcode: str = ""
    line_items: list | None = None
    placed_at: datetime | None = None


def _fits(value: str | None, length: int) -> str:
    """The value when it fits its column, else nothing (a cut email is a wrong email)."""
    value = (value or "").strip()
    return value if len(value) <= length else ""


def order_upsert(
    *, tenant: Tenant, data: OrderData, store: ShopConnection | None = None
) -> tuple[Order, bool]:
    """Create the order or update the fields that came with ``data``. Returns (order, created)."""
    country = (data.shipping_country or "").strip().upper()
    defaults = {
        # Platforms send what they like. A name of 300 letters is still that shopper's name
        # (cut); an email, locale or postcode too long for its column is not one (blank), nor
        # a country that is not two letters. The order number is its identity: never cut.
        "order_number": data.order_number,
        "customer_email": _fits(data.customer_email, 254),
        "customer_name": (data.customer_name or "")[:200],
        "locale": _fits(data.locale, 16),
        "shipping_country": country if len(country) == 2 and country.isalpha() else "",
        "shipping_postcode": _fits(data.shipping_postcode, 20),
    }
    if data.line_items is not None:
        defaults["line_items"] = data.line_items
    if data.placed_at is not None:
        defaults["placed_at"] = data.placed_at
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .filter(tenant=tenant, store=store, external_id=data.external_id)
            .first()
        )
        if order is None:
            try:
                with transaction.atomic():
                    return Order.objects.create(
                        tenant=tenant, store=store, external_id=data.external_id, **defaults
                    ), True
            except IntegrityError:  # created concurrently: fall through to update it
                order = Order.objects.select_for_update().get(
                    tenant=tenant, store=store, external_id=data.external_id
                )
        changed = [
            name for name, value in defaults.items() if value and getattr(order, name) != value
        ]
        for name in changed:
            setattr(order, name, defaults[name])
        if changed:
            order.save(update_fields=[*changed, "updated_at"])
    return order, False


MIN_DETECTION_CONFIDENCE = 0.5


def resolve_carrier(
    tracking_number: str, carrier: str | None, *, priority: list[str] | None = None
) -> str:
    """The carrier slug to use: the given one if known, else a confidently detected one.

    ``priority`` is the merchant's carrier list: it breaks ties and picks among weak matches.
    """
    if carrier:
        try:
            registry.get_adapter(carrier)
        except registry.UnknownCarrier:
            raise ValidationError({"carrier": f"Unknown carrier {carrier!r}."}) from None
        return carrier
    candidates = registry.detect(tracking_number, priority=priority)
    preferred = [c for c in candidates if c[0] in (priority or [])]
    # A bare run of digits fits several carriers weakly: guessing would track the wrong parcel.
    # Take a confident match, or the merchant's preferred carrier among the candidates.
    best = next((c for c in candidates if c[1] >= MIN_DETECTION_CONFIDENCE), None)
    choice = best or (preferred[0] if preferred else None)
    if choice is None:
        names = ", ".join(slug for slug, _ in candidates[:5])
        hint = f" (it could be {names})" if names else ""
        raise ValidationError(
            {
                "carrier": f"The carrier could not be detected from this tracking number{hint}; name it."
            }
        )
    return choice[0]


@transaction.atomic
def shipment_create(
    *,
    tenant: Tenant,
    tracking_number: str,
    carrier: str | None = None,
    order: Order | None = None,
    store: ShopConnection | None = None,
    carrier_account: CarrierAccount | None = None,
    destination_country: str = "",
    destination_postcode: str = "",
    shipped_at: datetime | None = None,
    priority: list[str] | None = None,
) -> tuple[Shipment, bool]:
    """Start tracking a parcel, or return the one already tracked. Returns (shipment, created).

    Without ``carrier`` it is detected; ``priority`` is the merchant's carrier preference list.
    """
    number = normalize_tracking_number(tracking_number)
    if not number or len(number) > 64 or not number.isascii() or not number.isalnum():
        raise ValidationError({"tracking_number": "Use 1-64 letters and digits."})
    slug = resolve_carrier(number, carrier, priority=priority)
    if carrier_account is not None and carrier_account.carrier != slug:
        raise ValidationError({"carrier_account": "This account belongs to another carrier."})
    existing = Shipment.objects.filter(tenant=tenant, carrier=slug, tracking_number=number).first()
    if existing is not None:
        return existing, False
    adapter = registry.get_adapter(slug)
    shipment = Shipment(
        tenant=tenant,
        order=order,
        store=store or (order.store if order else None),
        carrier_account=carrier_account,
        carrier=slug,
        tracking_number=number,
        destination_country=(
            destination_country or (order.shipping_country if order else "")
        ).upper(),
        destination_postcode=destination_postcode or (order.shipping_postcode if order else ""),
        shipped_at=shipped_at,
        next_poll_at=timezone.now() if adapter.pollable else None,
    )
    try:
        with transaction.atomic():
            shipment.save()
    except IntegrityError:  # the same number was created concurrently
        return Shipment.objects.get(tenant=tenant, carrier=slug, tracking_number=number), False
    poll_queue_sync([shipment])
    return shipment, True


def shipment_add_manual_event(*, shipment: Shipment, event: CarrierEvent) -> RecordResult:
    """A merchant reports an event for a shipment they deliver themselves."""
    if shipment.carrier != "manual":
        raise ValidationError("Events can only be posted for shipments of the manual carrier.")
    return record_events(shipment=shipment, events=[event], source=EventSource.MANUAL)


@transaction.atomic
def shipment_change_tracking_number(
    *, shipment: Shipment, tracking_number: str, carrier: str | None = None
) -> Shipment:
    """The shop gave the parcel a new tracking number (a relabel, a carrier change).

    The old shipment stops being tracked and keeps its timeline; a new one, linked to it through
    ``replaces``, is tracked from now on with the same order, store and destination. Calling it
    again with the same number returns the same new shipment.
    """
    number = normalize_tracking_number(tracking_number)
    slug = resolve_carrier(
        number, carrier or shipment.carrier, priority=shipment.tenant.carrier_priority
    )
    if (slug, number) == (shipment.carrier, shipment.tracking_number):
        return shipment
    account = (
        shipment.carrier_account
        if shipment.carrier_account and shipment.carrier_account.carrier == slug
        else None
    )
    new, _ = shipment_create(
        tenant=shipment.tenant,
        tracking_number=number,
        carrier=slug,
        order=shipment.order,
        store=shipment.store,
        carrier_account=account,
        destination_country=shipment.destination_country,
        destination_postcode=shipment.destination_postcode,
        shipped_at=shipment.shipped_at,
    )
    if new.replaces_id is None and new.pk != shipment.pk:
        new.replaces = shipment
        new.save(update_fields=["replaces"])
        # A change the shopper should hear of, as durable as a status change (same row, same
        # after-commit signal, same relay for a lost nudge).
        change = ShipmentStatusChange.objects.create(
            tenant=shipment.tenant,
            shipment=new,
            kind=ShipmentStatusChange.Kind.NUMBER,
            from_status=shipment.status,
            from_substatus=shipment.substatus,
            to_status=new.status,
            to_substatus=new.substatus,
            occurred_at=timezone.now(),
        )
        transaction.on_commit(
            lambda: shipment_status_changed.send(
                sender=ShipmentStatusChange, change_ids=[change.pk]
            )
        )
    Shipment.objects.filter(pk=shipment.pk).update(
        is_active=False, next_poll_at=None, updated_at=timezone.now()
    )
    shipment.refresh_from_db()
    poll_queue_sync([shipment])
    return new
