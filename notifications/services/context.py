"""The plain values an email template sees (``notifications.rendering.VARIABLES``).

Only dicts, lists and text reach the sandbox, never model objects: a merchant's template cannot
call a method or walk a relation. Dates are formatted here, in the shopper's language.
"""

from __future__ import annotations

from datetime import date, datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from carriers import registry
from carriers.statuses import action_required
from notifications.models import Notification, NotificationPolicy, Trigger
from notifications.services.policy import shopper_zone
from wismo.tracking import labels
from wismo.tracking.models import Order, Shipment

UNSUBSCRIBE_SALT = "wismo.notifications.unsubscribe"


def format_date(value: date | datetime | None, language: str, tenant) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(shopper_zone("", tenant)).date()
    with translation.override(language):
        return date_format(value, "DATE_FORMAT")


def format_time(value: datetime | None, language: str, tenant) -> str:
    if value is None:
        return ""
    with translation.override(language):
        return date_format(value.astimezone(shopper_zone("", tenant)), "DATETIME_FORMAT")


def tracking_url(tenant, target: Order | Shipment) -> str:
    """The public page of an order (all its parcels) or a parcel (DESIGN.md §4)."""
    base = settings.WISMO_BASE_URL.rstrip("/")
    return f"{base}/t/{tenant.slug}/{target.public_token}/"


def unsubscribe_token(tenant_id: int, email: str) -> str:
    return signing.dumps([tenant_id, email.lower()], salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(tenant_id: int, email: str) -> str:
    base = settings.WISMO_BASE_URL.rstrip("/")
    token = unsubscribe_token(tenant_id, email)
    return base + reverse("notifications:unsubscribe", args=[token])


def _carrier_name(slug: str) -> str:
    try:
        adapter = registry.get_adapter(slug)
    except registry.UnknownCarrier:
        return slug
    return adapter.name or slug


def _carrier_url(slug: str, number: str) -> str:
    try:
        return registry.get_adapter(slug).tracking_url(number) or ""
    except (registry.UnknownCarrier, NotImplementedError):
        return ""


def shipment_values(shipment: Shipment, language: str, tenant) -> dict:
    last = shipment.events.order_by("-occurred_at", "-pk").first()
    previous = shipment.replaces
    return {
        "carrier": _carrier_name(shipment.carrier),
        "carrier_slug": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "previous_tracking_number": previous.tracking_number if previous else "",
        "carrier_tracking_url": _carrier_url(shipment.carrier, shipment.tracking_number),
        "tracking_url": tracking_url(tenant, shipment),
        "status": shipment.status,
        "status_label": labels.status_label(shipment.status, language),
        "substatus": shipment.substatus,
        "reason": labels.substatus_text(shipment.substatus, language),
        "next_step": labels.next_step(shipment.substatus, language),
        "action_required": action_required(shipment.substatus),
        "last_event": {
            "description": last.description if last else "",
            "location": last.location if last else "",
            "occurred_at": format_time(last.occurred_at, language, tenant) if last else "",
        },
        "expected_date": format_date(shipment.estimated_delivery, language, tenant),
        "expected_earliest": format_date(shipment.estimated_delivery_earliest, language, tenant),
        "expected_latest": format_date(shipment.estimated_delivery_latest, language, tenant),
        "delivered_at": format_time(shipment.delivered_at, language, tenant),
        "pickup_point": {},
    }


def email_context(
    *, notifications: list[Notification], policy: NotificationPolicy, language: str
) -> dict:
    """Everything the templates of one email see; several notifications make a digest."""
    first = notifications[0]
    shipment, order, tenant = first.shipment, first.order, first.shipment.tenant
    branding = tenant.branding or {}
    store = shipment.store or (order.store if order else None)
    name = (order.customer_name if order else "").strip()
    parcels = [shipment_values(n.shipment, language, tenant) for n in notifications]
    several = order is not None and order.shipments.count() > 1
    context = {
        "shopper": {
            "name": name,
            "first_name": name.split()[0] if name else "",
            "email": first.recipient,
        },
        "order": {
            "number": order.order_number if order else "",
            "placed_at": format_date(order.placed_at, language, tenant) if order else "",
            "items": [
                {
                    "title": str(item.get("title", "")),
                    "quantity": item.get("quantity", 1),
                    "sku": str(item.get("sku", "")),
                    "image_url": str(item.get("image_url", "")),
                    "price": str(item.get("price", "")),
                }
                for item in (order.line_items if order else [])
                if isinstance(item, dict)
            ],
        },
        "shipment": parcels[0],
        "shipments": parcels,
        "tracking_url": tracking_url(tenant, order if (order and several) else shipment),
        "store": {
            "name": (store.name if store and store.name != "REST API" else "") or tenant.name,
            "url": store.shop_url if store else "",
            "support_email": policy.reply_to,
        },
        "brand": {
            "name": tenant.name,
            "sender_name": policy.sender_name or branding.get("sender_name") or tenant.name,
            "logo_url": branding.get("logo_url", ""),
            "primary_color": branding.get("primary_color", "#1f4e79"),
            "accent_color": branding.get("accent_color", "#f2a900"),
            "font": branding.get("font", ""),
        },
        "promotion": (policy.promotion or None) if first.trigger != Trigger.EXCEPTION else None,
        "discount_code": policy.delay_discount_code if first.trigger == Trigger.DELAYED else "",
        "unsubscribe_url": unsubscribe_url(tenant.pk, first.recipient),
        "language": language,
    }
    context.update({k: v for k, v in (first.context or {}).items() if k not in context})
    return context
