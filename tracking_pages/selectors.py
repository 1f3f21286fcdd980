"""Tenant-scoped reads of the shopper pages: they own query shape, version keys and loading.

The page's own read is ``page_load``: one statement for a parcel (with its order, linked parcels
and timeline), written out in SQL because compiling the ORM's query costs
more than running it on the hottest uncached path. They are bound to the tenant of the open
scope and raise without one, like the scoped managers. Its ``version`` is a hash of everything the
page shows that can change, so a page whose data changed gets a new cache key: nothing has to be
invalidated by hand. ``page_ref`` is the light lookup of the actions (proof, emails, reports).

Tenants are found by slug or custom domain through small per-process maps (ids never change; a
renamed, re-branded or deactivated tenant shows within ``TENANT_TTL`` seconds). Tenant-owned
queries run only inside ``tenant_scope``: callers open it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from notifications.models import Suppression
from tenants.models import Tenant
from tenants.scoping import ScopeError, active_tenant_ids
from tracking_pages.models import PageViewCount, ProblemReport
from wismo.db import checking_connection, execute_prepared
from wismo.tracking.models import Order, Shipment, TrackingEvent

log = logging.getLogger(__name__)

TENANT_TTL = 10.0
_MAP_LIMIT = 5000

_TENANT_FIELDS = (
    "slug",
    "name",
    "branding",
    "timezone",
    "default_language",
    "custom_domain",
    "is_active",
)


@dataclass(frozen=True, slots=True)
class PageTenant:
    id: int
    slug: str
    name: str
    branding: dict
    timezone: str
    default_language: str
    custom_domain: str | None
    is_active: bool


@dataclass(frozen=True, slots=True)
class PageRef:
    """What a public token points at: a parcel ("shipment") or an order (all its parcels)."""

    kind: str
    id: int
    order_id: int | None
    order_locale: str


@dataclass(slots=True)
class ParcelRow:
    """One parcel as its page shows it (attribute names follow ``Shipment``)."""

    pk: int
    public_token: str
    carrier: str
    tracking_number: str
    status: str
    substatus: str
    action_required: bool
    estimated_delivery: date | None
    estimated_delivery_earliest: date | None
    estimated_delivery_latest: date | None
    estimated_delivery_source: str
    estimated_delivery_confidence: float | None
    delivered_at: datetime | None
    last_event_at: datetime | None
    last_checked_at: datetime | None
    next_poll_at: datetime | None
    is_active: bool
    last_error_code: str
    updated_at: datetime | None
    order_id: int | None
    previous_number: str  # the number this parcel replaced, if any
    replacement_token: str  # the parcel that replaced this one, if any
    replacement_number: str


@dataclass(slots=True)
class OrderRow:
    """An order as its pages show it (attribute names follow ``Order``)."""

    pk: int
    public_token: str
    order_number: str
    customer_email: str
    customer_name: str
    shipping_postcode: str
    shipping_country: str
    line_items: list
    placed_at: datetime | None
    locale: str
    updated_at: datetime | None


@dataclass(slots=True)
class EventRow:
    pk: int
    shipment_id: int
    occurred_at: datetime
    status: str
    substatus: str
    description: str
    location: str


@dataclass(slots=True)
class PageData:
    """Everything a tracking page shows, loaded, with the version of it all."""

    ref: PageRef
    order: OrderRow | None
    shipments: list[ParcelRow]
    events: dict[int, list[EventRow]]  # shipment id -> newest first
    version: str


class _TtlMap:
    """A small per-process map with expiry (slug or host -> tenant id)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, int | None]:
        entry = self._data.get(key)
        if entry is None or entry[1] < time.monotonic():
            return False, None
        return True, entry[0]

    def put(self, key: str, value: int | None) -> None:
        with self._lock:
            if len(self._data) >= _MAP_LIMIT:
                self._data.clear()
            self._data[key] = (value, time.monotonic() + TENANT_TTL)

    def forget(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_by_slug = _TtlMap()
_by_host = _TtlMap()


def forget_tenants() -> None:
    """Drop the per-process tenant maps (tests, or after renaming a tenant)."""
    _by_slug.clear()
    _by_host.clear()
    _tenants.clear()


def tenant_id_for_slug(slug: str) -> int | None:
    """The active tenant with this slug, or None."""
    known, tenant_id = _by_slug.get(slug)
    if not known:
        tenant_id = (
            Tenant.objects.filter(slug=slug, is_active=True).values_list("pk", flat=True).first()
        )
        _by_slug.put(slug, tenant_id)
    return tenant_id


def tenant_id_for_host(host: str) -> int | None:
    """The active tenant whose custom domain is ``host`` (lower case, no port), or None."""
    known, tenant_id = _by_host.get(host)
    if not known:
        tenant_id = (
            Tenant.objects.filter(custom_domain__iexact=host, is_active=True)
            .values_list("pk", flat=True)
            .first()
        )
        _by_host.put(host, tenant_id)
    return tenant_id


def page_tenant(tenant_id: int) -> PageTenant | None:
    """The active tenant ``tenant_id`` as pages need it, read from the database."""
    row = Tenant.objects.filter(pk=tenant_id).values_list(*_TENANT_FIELDS).first()
    if row is None or not row[-1]:
        return None
    return PageTenant(tenant_id, *row)


_tenants: dict[int, tuple[PageTenant | None, float]] = {}


def page_tenant_cached(tenant_id: int) -> PageTenant | None:
    """``page_tenant`` remembered for ``TENANT_TTL`` seconds in this process (the pages' hot
    path asks for it on every render; a branding change shows within that time)."""
    entry = _tenants.get(tenant_id)
    if entry is not None and entry[1] > time.monotonic():
        return entry[0]
    tenant = page_tenant(tenant_id)
    if len(_tenants) >= _MAP_LIMIT:
        _tenants.clear()
    _tenants[tenant_id] = (tenant, time.monotonic() + TENANT_TTL)
    return tenant


def _stamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _version(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()


def page_ref(*, token: str) -> PageRef | None:
    """What ``token`` points at in the active scope (one or two indexed queries), or None."""
    row = (
        Shipment.objects.filter(public_token=token)
        .order_by()
        .values_list("pk", "order_id", "order__locale")
        .first()
    )
    if row is not None:
        return PageRef("shipment", row[0], row[1], row[2] or "")
    row = Order.objects.filter(public_token=token).order_by().values_list("pk", "locale").first()
    if row is None:
        return None
    return PageRef("order", row[0], row[0], row[1] or "")


# --- the hot read of a page: explicit SQL bound to the open scope -------------------------------
#
# Compiling the ORM's queries for a page costs several times more than running them, and the
# uncached page must cost little more than a bare request. So the page's reads are written out
# once here (table and column names taken from the models), and bound to the tenant of the open
# scope: ``_scope_tenant`` raises without exactly one, as the scoped managers do, and every table
# of every statement is filtered by that tenant.


def _scope_tenant() -> int:
    ids = active_tenant_ids()
    if ids is None or len(ids) != 1:
        raise ScopeError("tracking pages read inside exactly one tenant_scope")
    return int(ids[0])


def _columns(model, alias: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{model._meta.get_field(name).column}" for name in names)


_PARCEL_FIELDS = (
    "id",
    "public_token",
    "carrier",
    "tracking_number",
    "status",
    "substatus",
    "action_required",
    "estimated_delivery",
    "estimated_delivery_earliest",
    "estimated_delivery_latest",
    "estimated_delivery_source",
    "estimated_delivery_confidence",
    "delivered_at",
    "last_event_at",
    "last_checked_at",
    "next_poll_at",
    "is_active",
    "last_error_code",
    "updated_at",
    "order",
)
_ORDER_FIELDS = (
    "id",
    "public_token",
    "order_number",
    "customer_email",
    "customer_name",
    "shipping_postcode",
    "shipping_country",
    "line_items",
    "placed_at",
    "locale",
    "updated_at",
)
# Where a parcel row's order and event columns start, and its order id.
_ORDER_AT = len(_PARCEL_FIELDS) + 3
_PARCEL_ORDER = _PARCEL_FIELDS.index("order")
_EVENT_FIELDS = ("id", "shipment", "occurred_at", "status", "substatus", "description", "location")
_EVENT_AT = _ORDER_AT + len(_ORDER_FIELDS)


def _parcel_sql(where: str, *, ordered: bool = False) -> str:
    """Parcels with their order and the numbers they replaced or were replaced by (one row each,
    empty event columns), then their events (one row each: the parcel's id and the event's
    columns, the rest empty). Joining events to the parcel row instead would repeat its thirty
    columns on every event: PostgreSQL would send and psycopg2 decode them eight times.
    ``ordered`` sorts the parcel rows by creation (the union's last column)."""
    table, orders, events = (
        Shipment._meta.db_table,
        Order._meta.db_table,
        TrackingEvent._meta.db_table,
    )
    column = Shipment._meta.get_field
    tenant, number, token = (
        column(n).column for n in ("tenant", "tracking_number", "public_token")
    )
    replaces, pk, order = column("replaces").column, column("id").column, column("order").column
    created = column("created_at").column
    order_pk, order_tenant = (Order._meta.get_field(n).column for n in ("id", "tenant"))
    event_parcel, event_tenant = (
        TrackingEvent._meta.get_field(n).column for n in ("shipment", "tenant")
    )
    no_events = ", ".join(["NULL"] * len(_EVENT_FIELDS))
    no_parcel = ", ".join(["NULL"] * (_EVENT_AT - 1))
    parcels = (
        f"SELECT {_columns(Shipment, 's', _PARCEL_FIELDS)}, p.{number}, n.{token}, n.{number}, "  # noqa: S608 - names from model metadata, values bound
        f"{_columns(Order, 'o', _ORDER_FIELDS)}, {no_events}, s.{created} "
        f"FROM {table} s "
        f"LEFT JOIN {table} p ON p.{pk} = s.{replaces} AND p.{tenant} = s.{tenant} "
        f"LEFT JOIN {table} n ON n.{replaces} = s.{pk} AND n.{tenant} = s.{tenant} "
        f"LEFT JOIN {orders} o ON o.{order_pk} = s.{order} AND o.{order_tenant} = s.{tenant} "
        f"WHERE s.{tenant} = %s AND {where}"
    )
    timeline = (
        f"SELECT s.{pk}, {no_parcel}, {_columns(TrackingEvent, 'e', _EVENT_FIELDS)}, NULL "  # noqa: S608
        f"FROM {table} s "
        f"JOIN {events} e ON e.{event_parcel} = s.{pk} AND e.{event_tenant} = s.{tenant} "
        f"WHERE s.{tenant} = %s AND {where}"
    )
    sql = f"{parcels} UNION ALL {timeline}"
    return sql + f" ORDER BY {_EVENT_AT + len(_EVENT_FIELDS) + 1}, 1" if ordered else sql


def _order_sql() -> str:
    column = Order._meta.get_field
    return (
        f"SELECT {_columns(Order, 'o', _ORDER_FIELDS)} FROM {Order._meta.db_table} o "  # noqa: S608
        f"WHERE o.{column('tenant').column} = %s AND o.{column('public_token').column} = %s"
    )


_SQL: dict[str, str] = {}


def _sql(name: str) -> str:
    if not _SQL:
        token, order = (Shipment._meta.get_field(n).column for n in ("public_token", "order"))
        _SQL["parcel"] = _parcel_sql(f"s.{token} = %s")
        _SQL["parcels"] = _parcel_sql(f"s.{order} = %s", ordered=True)
        _SQL["order"] = _order_sql()
    return _SQL[name]


# SQLite hands raw values back as text; PostgreSQL as Python types. Both become the latter.
def _dt(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        # SQLite's converter gives naive datetimes; Django stored them in UTC.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _d(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return parse_date(str(value)[:10])


def _json(value) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def _parcel(row) -> ParcelRow:
    return ParcelRow(
        pk=row[0],
        public_token=row[1],
        carrier=row[2],
        tracking_number=row[3],
        status=row[4],
        substatus=row[5],
        action_required=bool(row[6]),
        estimated_delivery=_d(row[7]),
        estimated_delivery_earliest=_d(row[8]),
        estimated_delivery_latest=_d(row[9]),
        estimated_delivery_source=row[10] or "",
        estimated_delivery_confidence=row[11],
        delivered_at=_dt(row[12]),
        last_event_at=_dt(row[13]),
        last_checked_at=_dt(row[14]),
        next_poll_at=_dt(row[15]),
        is_active=bool(row[16]),
        last_error_code=row[17] or "",
        updated_at=_dt(row[18]),
        order_id=row[19],
        previous_number=row[20] or "",
        replacement_token=row[21] or "",
        replacement_number=row[22] or "",
    )


def _order(row) -> OrderRow:
    return OrderRow(
        pk=row[0],
        public_token=row[1],
        order_number=row[2],
        customer_email=row[3] or "",
        customer_name=row[4] or "",
        shipping_postcode=row[5] or "",
        shipping_country=row[6] or "",
        line_items=_json(row[7]),
        placed_at=_dt(row[8]),
        locale=row[9] or "",
        updated_at=_dt(row[10]),
    )


def page_load(*, token: str) -> PageData | None:
    """The parcel or order of ``token`` in the open scope, with everything its page shows and the
    version of it all; None when the token is not this tenant's.

    One statement for a parcel (with its order, linked parcels and events), two for an order. The version changes whenever anything shown changes: the order, a
    parcel's state, dates or checks, its timeline (event ids), a tracking-number replacement.
    """
    tenant_id = _scope_tenant()
    # A read, safe to repeat: it stands in for Django's health check of the connection.
    return checking_connection(lambda: _page_load(tenant_id, token), what="page_load")


def _page_load(tenant_id: int, token: str) -> PageData | None:
    with connection.cursor() as cursor:
        execute_prepared(
            cursor, "tp_page_parcel", _sql("parcel"), [tenant_id, token, tenant_id, token]
        )
        rows = cursor.fetchall()
        if rows:
            first = next(row for row in rows if row[_EVENT_AT] is None)
            order = _order(first[_ORDER_AT:]) if first[_ORDER_AT] is not None else None
            ref = PageRef("shipment", first[0], first[_PARCEL_ORDER], "")
        else:
            execute_prepared(cursor, "tp_order", _sql("order"), [tenant_id, token])
            found = cursor.fetchone()
            if found is None:
                return None
            order = _order(found)
            execute_prepared(
                cursor,
                "tp_page_parcels",
                _sql("parcels"),
                [tenant_id, order.pk, tenant_id, order.pk],
            )
            rows = cursor.fetchall()
            ref = PageRef("order", order.pk, order.pk, "")
    shipments: list[ParcelRow] = []
    events: dict[int, list[EventRow]] = {}
    timeline_rows = []
    for row in rows:
        if row[_EVENT_AT] is None:
            shipments.append(_parcel(row))
            events[row[0]] = []
        else:
            timeline_rows.append(row[_EVENT_AT:])
    for e in timeline_rows:
        events[e[1]].append(EventRow(e[0], e[1], _dt(e[2]), e[3], e[4], e[5] or "", e[6] or ""))
    for timeline in events.values():
        timeline.sort(key=lambda event: (event.occurred_at, event.pk), reverse=True)
    ref = PageRef(ref.kind, ref.id, ref.order_id, order.locale if order else "")
    # Timestamps as numbers: their repr is far cheaper than a datetime's, and as unique.
    version = _version(
        (order.pk, _stamp(order.updated_at)) if order else None,
        [
            (
                s.pk,
                _stamp(s.updated_at),
                _stamp(s.last_checked_at),
                _stamp(s.next_poll_at),
                s.estimated_delivery and s.estimated_delivery.toordinal(),
                s.estimated_delivery_earliest and s.estimated_delivery_earliest.toordinal(),
                s.estimated_delivery_latest and s.estimated_delivery_latest.toordinal(),
                s.estimated_delivery_source,
                s.estimated_delivery_confidence,
                s.last_error_code,
                s.status,
                s.substatus,
                s.is_active,
                s.replacement_token,
                [e.pk for e in events[s.pk]],
            )
            for s in shipments
        ],
    )
    return PageData(ref, order, shipments, events, version)


def order_shipments(*, order_id: int) -> list[Shipment]:
    return list(Shipment.objects.filter(order_id=order_id).order_by("created_at", "id"))


def order_candidates(*, numbers: list[str]) -> list[tuple[int, str, str, str]]:
    """Orders whose number is one of ``numbers``: (id, email, postcode, public token)."""
    return list(
        Order.objects.filter(order_number__in=numbers)
        .order_by("pk")
        .values_list("pk", "customer_email", "shipping_postcode", "public_token")[:5]
    )


def order_secrets(*, order_id: int) -> tuple[str, str] | None:
    """(email, postcode) of an order, what a shopper proves to see it."""
    return (
        Order.objects.filter(pk=order_id).values_list("customer_email", "shipping_postcode").first()
    )


def email_suppression(*, email: str) -> str | None:
    """Why the active tenant does not email ``email`` (a Suppression reason), or None."""
    if not email:
        return None
    return (
        Suppression.objects.filter(email__iexact=email.strip())
        .values_list("reason", flat=True)
        .first()
    )


def problem_reports_of_order(*, order_id: int) -> list[ProblemReport]:
    return list(
        ProblemReport.objects.filter(order_id=order_id)
        .select_related("shipment")
        .order_by("-created_at", "-id")
    )


def problem_report_queue(
    *, state: str | None = ProblemReport.State.OPEN
) -> QuerySet[ProblemReport]:
    """The active tenant's problem reports (open ones by default), oldest first: the attention
    queue of the dashboard."""
    qs = ProblemReport.objects.select_related("order", "shipment")
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("created_at", "id")


def problem_reports_unnotified(*, limit: int = 500) -> list[int]:
    """Ids of the active scope's reports the merchant has not been told about yet."""
    return list(
        ProblemReport.objects.filter(merchant_notified_at__isnull=True)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def page_views(*, since=None, until=None) -> QuerySet[PageViewCount]:
    """The active tenant's daily page-view rows (for analytics), optionally within dates."""
    qs = PageViewCount.objects.all()
    if since:
        qs = qs.filter(day__gte=since)
    if until:
        qs = qs.filter(day__lte=until)
    return qs.order_by("day")
