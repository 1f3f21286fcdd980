"""Shoppers' privacy rights: export everything wismo holds about a shopper, or erase it.

Shop platforms forward their shoppers' requests (Shopify's mandatory compliance webhooks reach
``shop_webhook_process``); a merchant can also run them from the admin. Each request leaves a
``PrivacyRequest`` row saying what was found or erased.

- ``customer_data_export``: the shopper's orders in one store, with parcels, timelines and
  whatever other apps registered (notifications sent), as one JSON document kept encrypted on
  the request for the merchant to hand over.
- ``customer_redact``: blanks the shopper's email, name and postcode on orders and parcels,
  scrubs stored webhook bodies that carried them, drops earlier exports, and asks the other
  apps to erase theirs. Parcels and timelines stay (no personal data once unlinked), so the
  merchant's delivery statistics survive.
- ``store_redact``: a shop that uninstalled wismo: every order, parcel, event and stored webhook
  of that store is deleted and its credentials wiped.

Other apps (notifications) hold personal data the kernel must not import; they register a
``PersonalDataHandler`` at startup (``personal_data_handler_register``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from wismo.tracking.models import (
    InboundWebhook,
    Order,
    PollQueue,
    PrivacyRequest,
    Shipment,
    ShipmentStatusChange,
    ShopConnection,
    TrackingEvent,
)

DELETE_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class PersonalDataHandler:
    """What another app holds about a shopper: ``export`` returns JSON-able data for the orders,
    ``erase`` erases it and returns how many rows it touched."""

    name: str
    export: Callable[[list[int], str], object]
    erase: Callable[[list[int], str], int]


_handlers: dict[str, PersonalDataHandler] = {}


def personal_data_handler_register(handler: PersonalDataHandler) -> None:
    """Register (or replace, by name) an app's handler; call from ``AppConfig.ready``."""
    _handlers[handler.name] = handler


def _orders(
    tenant, store: ShopConnection | None, email: str, order_ids: Iterable[str]
) -> QuerySet[Order]:
    match = Q(external_id__in=list(order_ids))
    if email:
        match |= Q(customer_email__iexact=email)
    orders = Order.objects.filter(tenant=tenant).filter(match)
    # A platform's request is about its own store; a merchant's is about the whole tenant.
    return orders.filter(store=store) if store is not None else orders


def _tenant_of(store: ShopConnection | None, tenant):
    if store is None and tenant is None:
        raise ValueError("a privacy request needs a store or a tenant")
    return store.tenant if store is not None else tenant


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _shipment_export(shipment: Shipment) -> dict:
    return {
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "status": shipment.status,
        "substatus": shipment.substatus,
        "destination_country": shipment.destination_country,
        "destination_postcode": shipment.destination_postcode,
        "shipped_at": _iso(shipment.shipped_at),
        "delivered_at": _iso(shipment.delivered_at),
        "events": [
            {
                "occurred_at": _iso(e.occurred_at),
                "status": e.status,
                "substatus": e.substatus,
                "description": e.description,
                "location": e.location,
            }
            for e in shipment.events.order_by("occurred_at", "pk")
        ],
    }


def customer_data_export(
    *,
    store: ShopConnection | None = None,
    tenant=None,
    email: str,
    order_ids: Iterable[str] = (),
    external_id: str = "",
) -> PrivacyRequest:
    """Collect what wismo holds about one shopper of ``store`` (or, with ``tenant`` and no
    store, of every store of the tenant) into a new ``PrivacyRequest``."""
    tenant = _tenant_of(store, tenant)
    email = (email or "").strip().lower()
    order_ids = [str(i) for i in order_ids]
    orders = list(
        _orders(tenant, store, email, order_ids)
        .select_related("store")
        .prefetch_related("shipments")
    )
    export = {
        "store": store.name if store is not None else None,
        "customer_email": email,
        "generated_at": timezone.now().isoformat(),
        "orders": [
            {
                "store": o.store.name if o.store is not None else None,
                "external_id": o.external_id,
                "order_number": o.order_number,
                "customer_email": o.customer_email,
                "customer_name": o.customer_name,
                "locale": o.locale,
                "shipping_country": o.shipping_country,
                "shipping_postcode": o.shipping_postcode,
                "line_items": o.line_items,
                "placed_at": _iso(o.placed_at),
                "shipments": [_shipment_export(s) for s in o.shipments.all()],
            }
            for o in orders
        ],
    }
    pks = [o.pk for o in orders]
    for name, handler in sorted(_handlers.items()):
        export[name] = handler.export(pks, email)
    return PrivacyRequest.objects.create(
        tenant=tenant,
        store=store,
        kind=PrivacyRequest.Kind.DATA_REQUEST,
        external_id=external_id[:100],
        customer_email=email,
        order_external_ids=order_ids,
        export=export,
        summary={
            "orders": len(orders),
            "shipments": sum(len(o["shipments"]) for o in export["orders"]),
        },
        completed_at=timezone.now(),
    )


def _mentions(body: str, email: str, order_ids: set[str]) -> bool:
    """Whether a stored webhook body is about this shopper (their email, or one of the orders)."""
    if email and email in body.lower():
        return True
    if not order_ids:
        return False
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if not isinstance(payload, dict):
        return False
    for key in ("order", "fulfillment"):  # Shopify may wrap the resource
        if isinstance(payload.get(key), dict):
            payload = payload[key]
    if "order_id" in payload:  # a fulfillment names its order
        return str(payload.get("order_id")) in order_ids
    return str(payload.get("id")) in order_ids


@transaction.atomic
def customer_redact(
    *,
    store: ShopConnection | None = None,
    tenant=None,
    email: str,
    order_ids: Iterable[str] = (),
    external_id: str = "",
) -> PrivacyRequest:
    """Erase one shopper's personal data in ``store`` (or, with ``tenant`` and no store, in
    every store of the tenant); see the module docstring."""
    tenant = _tenant_of(store, tenant)
    email = (email or "").strip().lower()
    order_ids = [str(i) for i in order_ids]
    orders = _orders(tenant, store, email, order_ids)
    order_pks = list(orders.values_list("pk", flat=True))
    known_ids = set(order_ids) | set(orders.values_list("external_id", flat=True))
    # The other apps first: they may match on what the orders still say (the shopper's name).
    handled = {name: handler.erase(order_pks, email) for name, handler in sorted(_handlers.items())}
    redacted_orders = Order.objects.filter(pk__in=order_pks).update(
        customer_email="", customer_name="", shipping_postcode="", updated_at=timezone.now()
    )
    Shipment.objects.filter(order_id__in=order_pks).update(destination_postcode="")
    # Raw webhook bodies carry the same personal data: scrub the ones about this shopper.
    candidates = InboundWebhook.objects.filter(tenant=tenant)
    if store is not None:
        candidates = candidates.filter(store=store)
    prefilter = Q(pk__in=[])
    if email:
        prefilter |= Q(body__icontains=email)
    for order_id in known_ids:
        prefilter |= Q(body__contains=order_id)
    scrubbed = []
    for webhook in candidates.filter(prefilter).only("pk", "body", "state"):
        if _mentions(webhook.body, email, known_ids):
            scrubbed.append(webhook.pk)
    InboundWebhook.objects.filter(pk__in=scrubbed).update(
        body="{}",
        headers={},
        state=InboundWebhook.State.PROCESSED,
        error="erased at the shopper's request",
        processed_at=timezone.now(),
    )
    # Earlier exports for this shopper are personal data too.
    earlier = [
        r.pk
        for r in PrivacyRequest.objects.filter(tenant=tenant).exclude(
            kind=PrivacyRequest.Kind.SHOP_REDACT
        )
        if email and r.customer_email == email and (store is None or r.store_id == store.pk)
    ]
    PrivacyRequest.objects.filter(pk__in=earlier).update(export={}, customer_email="")
    summary = {
        "orders": redacted_orders,
        "webhooks": len(scrubbed),
        "exports": len(earlier),
    }
    summary.update(handled)
    return PrivacyRequest.objects.create(
        tenant=tenant,
        store=store,
        kind=PrivacyRequest.Kind.CUSTOMER_REDACT,
        external_id=external_id[:100],
        order_external_ids=order_ids,
        summary=summary,
        completed_at=timezone.now(),
    )


def _delete_in_chunks(queryset: QuerySet) -> int:
    total = 0
    while True:
        pks = list(queryset.values_list("pk", flat=True)[:DELETE_CHUNK])
        if not pks:
            return total
        total += (
            queryset.model.objects.filter(pk__in=pks).delete()[1].get(queryset.model._meta.label, 0)
        )


@transaction.atomic
def store_redact(
    *, store: ShopConnection, external_id: str = "", keep_webhook: int | None = None
) -> PrivacyRequest:
    """Erase everything of an uninstalled store (see the module docstring).

    ``keep_webhook``: the inbox row that asked for this (it carries no personal data), kept so
    its processing can be recorded.
    """
    tenant = store.tenant
    shipments = Shipment.objects.filter(tenant=tenant).filter(
        Q(store=store) | Q(order__store=store)
    )
    shipment_pks = shipments.values("pk")
    # Children first, in single statements: the cascade collector would load them all.
    events = TrackingEvent.objects.filter(tenant=tenant, shipment__in=shipment_pks).delete()[0]
    ShipmentStatusChange.objects.filter(tenant=tenant, shipment__in=shipment_pks).delete()
    PollQueue.objects.filter(tenant=tenant, shipment__in=shipment_pks).delete()
    Shipment.objects.filter(tenant=tenant, replaces__in=shipment_pks).update(replaces=None)
    pks = list(shipments.values_list("pk", flat=True))
    order_pks = list(Order.objects.filter(tenant=tenant, store=store).values_list("pk", flat=True))
    summary = {"events": events}
    for name, handler in sorted(_handlers.items()):
        summary[name] = handler.erase(order_pks, "")
    summary["shipments"] = _delete_in_chunks(Shipment.objects.filter(tenant=tenant, pk__in=pks))
    summary["orders"] = _delete_in_chunks(Order.objects.filter(tenant=tenant, store=store))
    summary["webhooks"] = (
        InboundWebhook.objects.filter(tenant=tenant, store=store)
        .exclude(pk=keep_webhook)
        .delete()[0]
    )
    PrivacyRequest.objects.filter(tenant=tenant, store=store).update(export={}, customer_email="")
    store.credentials, store.webhook_secret, store.is_active = {}, "", False
    store.sync_cursor, store.sync_since = "", None
    store.save(
        update_fields=[
            "credentials",
            "webhook_secret",
            "is_active",
            "sync_cursor",
            "sync_since",
            "updated_at",
        ]
    )
    return PrivacyRequest.objects.create(
        tenant=tenant,
        store=store,
        kind=PrivacyRequest.Kind.SHOP_REDACT,
        external_id=external_id[:100],
        summary=summary,
        completed_at=timezone.now(),
    )
