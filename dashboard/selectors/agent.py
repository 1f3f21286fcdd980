"""Reads for support agents: the one-box search and a shipment's full picture.

``search`` finds shipments (and orders with no shipment yet) of the active tenant by tracking
number, order number, email or name, exact matches first, always bounded. Every lookup but the
name goes through an index: ``ship_tenant_tracking_idx``, ``order_tenant_number_idx`` and
``order_tenant_email_idx``; the name match is a bounded ``icontains`` (no index: a scan of the
tenant's orders) and is only tried for terms that look like a name (letters, no digit, no "@").
The API's ``lookup`` runs the same search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import QuerySet

from carriers import registry
from carriers.detection import compact
from carriers.statuses import DEFAULT_SUBSTATUS, SUBSTATUSES
from dashboard.models import ShipmentNote, WismoContact
from notifications.models import Notification
from tracking_pages.models import PageViewCount
from wismo.tracking import labels
from wismo.tracking.models import Order, Shipment, TrackingEvent

MAX_RESULTS = 25
MAX_QUERY_LENGTH = 200


class Match:
    TRACKING_NUMBER = "tracking_number"
    ORDER_NUMBER = "order_number"
    EMAIL = "email"
    NAME = "name"


@dataclass(slots=True)
class Hit:
    """One search result: a shipment (with its order), or an order that has no shipment yet."""

    match: str
    order: Order | None
    shipment: Shipment | None = None
    summary: dict = field(default_factory=dict)


def order_number_forms(term: str) -> set[str]:
    """An order number as typed, without its "#", and in upper case: exact, indexed lookups."""
    bare = term.lstrip("#").strip()
    return {term, bare, bare.upper()} - {""}


def _looks_like_name(term: str) -> bool:
    # Names have letters and no digits: a tracking or order number (even mistyped) or an email
    # never pays for the unindexed name scan.
    return (
        "@" not in term
        and len(term) >= 2
        and any(c.isalpha() for c in term)
        and not any(c.isdigit() for c in term)
    )


def _shipments() -> QuerySet[Shipment]:
    return Shipment.objects.select_related("order", "tenant")


def search(*, q: str, limit: int = MAX_RESULTS) -> list[Hit]:
    """Shipments and shipment-less orders matching ``q``, best matches first, at most ``limit``.

    Order: exact tracking number, exact order number, exact email, then names containing ``q``.
    """
    term = " ".join((q or "").split())[:MAX_QUERY_LENGTH]
    if not term:
        return []
    hits: list[Hit] = []
    seen_shipments: set[int] = set()
    seen_orders: set[int] = set()

    def full() -> bool:
        return len(hits) >= limit

    number = compact(term)  # as the importers store it
    for shipment in (
        _shipments()
        .filter(tracking_number__in={term, number})
        .order_by("-created_at", "-id")[:limit]
    ):
        seen_shipments.add(shipment.pk)
        hits.append(Hit(match=Match.TRACKING_NUMBER, order=shipment.order, shipment=shipment))

    # (match, indexed lookup, fallback tried only when the first finds nothing)
    order_queries: list[tuple[str, dict, dict | None]] = [
        (Match.ORDER_NUMBER, {"order_number__in": order_number_forms(term)}, None)
    ]
    if "@" in term:
        # Through the (tenant, customer_email) index as typed and in lower case; emails are
        # stored as the shop sent them, so a differently cased one falls back to a scan.
        order_queries.append(
            (
                Match.EMAIL,
                {"customer_email__in": {term, term.lower()}},
                {"customer_email__iexact": term},
            )
        )
    if _looks_like_name(term):
        order_queries.append((Match.NAME, {"customer_name__icontains": term}, None))

    def find_orders(lookup: dict) -> list[Order]:
        return list(
            Order.objects.filter(**lookup)
            .exclude(pk__in=seen_orders)
            .order_by("-created_at", "-id")[: limit - len(hits)]
        )

    for match, lookup, fallback in order_queries:
        if full():
            break
        orders = find_orders(lookup)
        if not orders and fallback:
            orders = find_orders(fallback)
        if not orders:
            continue
        by_order: dict[int, list[Shipment]] = {}
        for shipment in _shipments().filter(order__in=orders).order_by("-created_at", "-id"):
            by_order.setdefault(shipment.order_id, []).append(shipment)
        for order in orders:
            seen_orders.add(order.pk)
            parcels = [s for s in by_order.get(order.pk, []) if s.pk not in seen_shipments]
            if not parcels and order.pk not in by_order:
                hits.append(Hit(match=match, order=order))
            for shipment in parcels:
                seen_shipments.add(shipment.pk)
                hits.append(Hit(match=match, order=order, shipment=shipment))
            if full():
                break
    hits = hits[:limit]
    for hit in hits:
        if hit.shipment is not None:
            hit.summary = shipment_summary(hit.shipment)
    return hits


def carrier_name(slug: str) -> str:
    try:
        return registry.get_adapter(slug).name or slug
    except registry.UnknownCarrier:
        return slug


def carrier_link(slug: str, number: str) -> str:
    """The carrier's own tracking page for this number, when it has one."""
    try:
        url = registry.get_adapter(slug).tracking_url(number) or ""
    except (registry.UnknownCarrier, NotImplementedError):
        return ""
    return url if url.startswith(("https://", "http://")) else ""


def reason_label(substatus: str) -> str:
    """The substatus's short label ("Waiting at a pickup point")."""
    known = SUBSTATUSES.get(substatus) or SUBSTATUSES.get(
        DEFAULT_SUBSTATUS.get(substatus.split(".", 1)[0], "")
    )
    return known.label if known else substatus


def shipment_summary(shipment: Shipment) -> dict:
    """What a result row and the detail header show, in plain (English) words."""
    earliest, latest = shipment.estimated_delivery_earliest, shipment.estimated_delivery_latest
    expected: dict[str, date | None] = {"day": shipment.estimated_delivery}
    if earliest and latest and earliest != latest:
        expected = {"earliest": earliest, "latest": latest, "day": shipment.estimated_delivery}
    return {
        "status_label": labels.status_label(shipment.status, "en") or shipment.status,
        "reason": reason_label(shipment.substatus),
        "expected": expected,
        "carrier_name": carrier_name(shipment.carrier),
        "last_scan": shipment.last_event_at,
        "checked": shipment.last_checked_at,
    }


def shipment_for_agent(*, shipment_id: int) -> Shipment:
    """One shipment of the active tenant; raises Shipment.DoesNotExist (missing or not ours)."""
    return Shipment.objects.select_related("order", "tenant", "replaces").get(pk=shipment_id)


def shipment_timeline(*, shipment: Shipment) -> QuerySet[TrackingEvent]:
    return TrackingEvent.objects.filter(shipment=shipment).order_by("-occurred_at", "-id")


def shipment_notifications(*, shipment: Shipment) -> QuerySet[Notification]:
    return Notification.objects.filter(shipment=shipment).order_by("-created_at", "-id")


def shipment_page_views(*, shipment: Shipment, days: int = 30) -> dict:
    """Views of the shipment's tracking page: the total and the last ``days`` days, newest first."""
    rows = list(
        PageViewCount.objects.filter(shipment=shipment)
        .order_by("-day")
        .values_list("day", "views")[:days]
    )
    total = sum(views for _day, views in rows)
    return {"total": total, "days": rows}


def shipment_notes(*, shipment: Shipment) -> QuerySet[ShipmentNote]:
    return ShipmentNote.objects.filter(shipment=shipment).select_related("author")


def shipment_contacts(*, shipment: Shipment, limit: int = 20) -> list[WismoContact]:
    return list(WismoContact.objects.filter(shipment=shipment).select_related("user")[:limit])


def helpdesk_lookup(
    *, email: str = "", order_number: str = "", limit: int = MAX_RESULTS
) -> list[Shipment]:
    """Shipments of the orders with exactly this email and/or order number (both must match
    when both are given), newest first. Indexed: (tenant, customer_email), (tenant, order_number).
    """
    if not (email or order_number):
        return []

    def order_ids(email_lookup: dict) -> list[int]:
        orders = Order.objects.filter(**email_lookup)
        if order_number:
            orders = orders.filter(order_number__in=order_number_forms(order_number))
        return list(orders.order_by("-created_at", "-id").values_list("pk", flat=True)[:limit])

    ids = order_ids({"customer_email__in": {email, email.lower()}} if email else {})
    if not ids and email:
        ids = order_ids({"customer_email__iexact": email})  # stored in another case
    return list(_shipments().filter(order_id__in=ids).order_by("-created_at", "-id")[:limit])
