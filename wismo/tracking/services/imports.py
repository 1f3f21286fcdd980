"""Persisting imported orders: the one place every shop platform, CSV and API import ends.

``order_import`` is idempotent: the order is found by its external id in its store, each
tracking number by carrier and number. A fulfillment whose number changed re-links the parcel's
history (``shipment_change_tracking_number``); cancelled orders and fulfillments stop tracking.
A bad tracking number skips that parcel, never the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from carriers import registry
from carriers.names import slug_for_name
from wismo.tracking.importers.base import OrderDTO
from wismo.tracking.models import Order, Platform, Shipment, ShopConnection
from wismo.tracking.services.polling import poll_queue_sync
from wismo.tracking.services.shipments import (
    OrderData,
    _fits,
    normalize_tracking_number,
    order_upsert,
    resolve_carrier,
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
    failed: str = ""  # the order itself could not be imported (orders_import only)


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
    """Create or update one order and its parcels from a platform's order (see module docstring).
    A draft (an unfinished checkout) is not imported: it comes again once it is placed."""
    outcome = ImportOutcome()
    if dto.draft:
        return outcome
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
    if dto.cancelled and order.cancelled_at is None:
        # Whether the order is new (its orders/create never came) or known. Never undone here: a
        # CSV or API import knows nothing of cancellations and must not revive one.
        order.cancelled_at = timezone.now()
        Order.objects.filter(pk=order.pk).update(cancelled_at=order.cancelled_at)
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


# -- pages of orders -----------------------------------------------------------------------------


def _order_fields(dto: OrderDTO) -> dict:
    country = (dto.shipping_country or "").strip().upper()
    fields = {  # fitted to the columns as order_upsert does
        "order_number": dto.order_number,
        "customer_email": _fits(dto.customer_email, 254),
        "customer_name": (dto.customer_name or "")[:200],
        "locale": _fits(dto.locale, 16),
        "shipping_country": country if len(country) == 2 and country.isalpha() else "",
        "shipping_postcode": _fits(dto.shipping_postcode, 20),
    }
    items = [
        {
            "title": i.title,
            "quantity": i.quantity,
            "sku": i.sku,
            "price": i.price,
            "currency": dto.currency,
        }
        for i in dto.line_items
    ]
    if items:
        fields["line_items"] = items
    if dto.placed_at is not None:
        fields["placed_at"] = dto.placed_at
    return fields


def _simple(dto: OrderDTO) -> bool:
    return not dto.cancelled and not any(f.cancelled for f in dto.fulfillments)


def _unchanged(order: Order, dto: OrderDTO, numbers: set[str]) -> bool:
    """Nothing in ``dto`` that ``order_import`` would write: an idle re-sync skips it."""
    if not _simple(dto) or order.cancelled_at is not None:
        return False
    for name, value in _order_fields(dto).items():
        if value and getattr(order, name) != value:
            return False
    wanted = {
        normalize_tracking_number(n)
        for f in dto.fulfillments
        for n in f.tracking_numbers
        if n and n.strip()
    }
    return wanted <= numbers


def orders_import(*, store: ShopConnection, dtos: list[OrderDTO]) -> list[ImportOutcome]:
    """Import one page of orders, with the outcome of each, in as few queries as it allows.

    The common cases are done in bulk: an order we already have with nothing new is skipped,
    a new order (not cancelled) is created with its parcels in a handful of statements for the
    whole page. Everything else (changed fields, new or relabelled numbers, cancellations) goes
    through ``order_import`` one by one, which is the reference behaviour; so is a page that
    hits a conflict (a concurrent import) in the bulk step.
    """
    latest: dict[str, OrderDTO] = {}
    for dto in dtos:  # a page may list an order twice: the later copy is the newer one
        latest[dto.external_id] = dto
    outcomes: dict[str, ImportOutcome] = {}
    for external_id in [key for key, dto in latest.items() if dto.draft]:
        del latest[external_id]  # an unfinished checkout: not an order yet (see order_import)
        outcomes[external_id] = ImportOutcome()
    tenant = store.tenant
    existing = {
        o.external_id: o
        for o in Order.objects.filter(tenant=tenant, store=store, external_id__in=list(latest))
    }
    numbers: dict[int, set[str]] = {}
    for order_id, number in Shipment.objects.filter(
        tenant=tenant, order_id__in=[o.pk for o in existing.values()]
    ).values_list("order_id", "tracking_number"):
        numbers.setdefault(order_id, set()).add(number)
    fresh: list[OrderDTO] = []
    slow: list[OrderDTO] = []
    for external_id, dto in latest.items():
        order = existing.get(external_id)
        if order is not None and _unchanged(order, dto, numbers.get(order.pk, set())):
            outcomes[external_id] = ImportOutcome()
        elif order is None and _simple(dto):
            fresh.append(dto)
        else:
            slow.append(dto)
    if fresh:
        try:
            with transaction.atomic():
                outcomes.update(_create_fresh(store, fresh))
        except (IntegrityError, DataError):
            # Someone imported some of them meanwhile, or one order does not fit: the exact
            # path, order by order, so one bad order cannot sink the page.
            slow = fresh + slow
    for dto in slow:
        try:
            outcomes[dto.external_id] = order_import(store=store, dto=dto)
        except ValidationError as exc:
            outcomes[dto.external_id] = ImportOutcome(failed="; ".join(exc.messages))
        except DataError as exc:
            outcomes[dto.external_id] = ImportOutcome(failed=f"a value does not fit: {exc}"[:500])
    return [outcomes[dto.external_id] for dto in dtos if dto.external_id in outcomes]


def _create_fresh(store: ShopConnection, dtos: list[OrderDTO]) -> dict[str, ImportOutcome]:
    tenant = store.tenant
    orders = Order.objects.bulk_create(
        [
            Order(tenant=tenant, store=store, external_id=dto.external_id, **_order_fields(dto))
            for dto in dtos
        ]
    )
    outcomes = {dto.external_id: ImportOutcome(order_created=True) for dto in dtos}
    planned: dict[tuple[str, str], Shipment] = {}
    for dto, order in zip(dtos, orders, strict=True):
        outcome = outcomes[dto.external_id]
        for fulfillment in dto.fulfillments:
            carrier = _carrier_slug(fulfillment.carrier_name)
            for raw in fulfillment.tracking_numbers:
                if not raw or not raw.strip():
                    continue
                number = normalize_tracking_number(raw)
                try:
                    slug = _checked_carrier(number, carrier, tenant)
                except ValidationError as exc:
                    outcome.problems.append(f"{number}: {'; '.join(exc.messages)}")
                    continue
                if (slug, number) in planned:
                    continue  # the same parcel listed twice: one shipment, the first order's
                adapter = registry.get_adapter(slug)
                planned[(slug, number)] = Shipment(
                    tenant=tenant,
                    order=order,
                    store=store,
                    carrier=slug,
                    tracking_number=number,
                    destination_country=order.shipping_country,
                    destination_postcode=order.shipping_postcode,
                    shipped_at=fulfillment.shipped_at,
                    external_fulfillment_id=fulfillment.external_id,
                    next_poll_at=timezone.now() if adapter.pollable else None,
                )
    if not planned:
        return outcomes
    # A number this tenant already tracks (another order's, or from the API) is linked, not
    # duplicated: the exact path knows what to do with it.
    known = set(
        Shipment.objects.filter(
            tenant=tenant, tracking_number__in={n for _s, n in planned}
        ).values_list("carrier", "tracking_number")
    )
    if known & set(planned):
        raise IntegrityError("some numbers are already tracked")
    created = Shipment.objects.bulk_create(list(planned.values()))
    poll_queue_sync(created)
    by_order = {o.pk: o.external_id for o in orders}
    for shipment in created:
        outcomes[by_order[shipment.order_id]].shipments_created += 1
    return outcomes


def _checked_carrier(number: str, carrier: str | None, tenant) -> str:
    """What ``shipment_create`` checks before creating: the number's shape, then the carrier."""
    if not number or len(number) > 64 or not number.isascii() or not number.isalnum():
        raise ValidationError({"tracking_number": "Use 1-64 letters and digits."})
    return resolve_carrier(number, carrier, priority=tenant.carrier_priority)
