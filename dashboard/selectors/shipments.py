"""Reads of the merchant's shipment list: filtered, sorted, keyset-paginated, exported.

The list never uses OFFSET: a page is "the next N rows after this (sort value, id)", so page
10,000 costs what page 1 costs. The position travels in an opaque cursor signed with the site's
secret (``django.core.signing``); a forged or mangled cursor raises ``InvalidCursor`` (a 400).

Every read goes through the fail-closed ``Shipment.objects`` manager: the caller's tenant scope
must be open.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core import signing
from django.db.models import F, Q, QuerySet

from dashboard.models import SavedView
from wismo.tracking.filters import ShipmentFilter
from wismo.tracking.models import Shipment, ShopConnection

CURSOR_SALT = "dashboard.shipments.cursor"
PAGE_SIZE = 50
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class Sort:
    label: str
    field: str
    descending: bool
    nullable: bool
    is_date: bool = False


# Ties are broken by id in the same direction; nullable fields put their NULLs last.
SORTS: dict[str, Sort] = {
    "newest": Sort("Newest first", "created_at", descending=True, nullable=False),
    "oldest": Sort("Oldest first", "created_at", descending=False, nullable=False),
    "expected": Sort(
        "Expected delivery", "estimated_delivery", descending=False, nullable=True, is_date=True
    ),
    "last_scan": Sort("Last scan", "last_event_at", descending=True, nullable=True),
}
DEFAULT_SORT = "newest"
# What a list row shows: the wide columns (errors, EDD details, the order's line items) stay
# in the database.
LIST_FIELDS = (
    "id",
    "tenant_id",
    "tracking_number",
    "carrier",
    "status",
    "substatus",
    "is_delayed",
    "is_stalled",
    "never_scanned",
    "action_required",
    "is_active",
    "store_id",
    "destination_country",
    "created_at",
    "shipped_at",
    "estimated_delivery",
    "last_event_at",
    "order__id",
    "order__order_number",
)


class InvalidCursor(ValueError):
    """The cursor was not made by us for this sort."""


@dataclass
class ShipmentPage:
    rows: list[Shipment]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    sort: str = DEFAULT_SORT
    extra: dict = field(default_factory=dict)


def shipment_filter(*, data, request=None, queryset: QuerySet | None = None) -> ShipmentFilter:
    """The shared FilterSet bound to ``data`` over the active tenant's shipments."""
    if queryset is None:
        queryset = Shipment.objects.all()
    return ShipmentFilter(data=data, queryset=queryset, request=request)


def _ordering(sort: Sort, *, reverse: bool = False) -> list:
    descending = sort.descending != reverse
    if not sort.nullable:
        prefix = "-" if descending else ""
        return [f"{prefix}{sort.field}", f"{prefix}id"]
    # NULLs last in the forward direction, so first when walking backwards.
    nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
    expression = F(sort.field).desc(**nulls) if descending else F(sort.field).asc(**nulls)
    return [expression, "-id" if descending else "id"]


def _after(sort: Sort, value, pk: int) -> Q:
    """Rows strictly after (value, pk) in the forward order."""
    op = "lt" if sort.descending else "gt"
    if value is None:  # inside the NULL tail: only ids further on
        return Q(**{f"{sort.field}__isnull": True, f"id__{op}": pk})
    # ``field <= v AND (field < v OR id < pk)``: the first half is an index range condition.
    condition = Q(**{f"{sort.field}__{op}e": value}) & (
        Q(**{f"{sort.field}__{op}": value}) | Q(**{f"id__{op}": pk})
    )
    if sort.nullable:
        condition |= Q(**{f"{sort.field}__isnull": True})
    return condition


def _before(sort: Sort, value, pk: int) -> Q:
    """Rows strictly before (value, pk) in the forward order."""
    op = "gt" if sort.descending else "lt"
    if value is None:  # every non-NULL row, and the NULL tail's ids before pk
        return Q(**{f"{sort.field}__isnull": False}) | Q(
            **{f"{sort.field}__isnull": True, f"id__{op}": pk}
        )
    return Q(**{f"{sort.field}__{op}e": value}) & (
        Q(**{f"{sort.field}__{op}": value}) | Q(**{f"id__{op}": pk})
    )


def encode_cursor(*, sort: str, direction: str, value, pk: int) -> str:
    """An opaque, signed position: ``direction`` "n" (rows after) or "p" (rows before)."""
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return signing.dumps({"s": sort, "d": direction, "v": value, "i": pk}, salt=CURSOR_SALT)


def decode_cursor(cursor: str, *, sort: str) -> tuple[str, object, int]:
    """(direction, sort value, id) of a cursor made for ``sort``; raises ``InvalidCursor``."""
    if len(cursor) > 500:
        raise InvalidCursor("cursor too long")
    try:
        data = signing.loads(cursor, salt=CURSOR_SALT)
    except signing.BadSignature as exc:
        raise InvalidCursor("bad signature") from exc
    if not isinstance(data, dict) or data.get("s") != sort or data.get("d") not in ("n", "p"):
        raise InvalidCursor("cursor of another list")
    pk, raw = data.get("i"), data.get("v")
    if not isinstance(pk, int) or isinstance(pk, bool):
        raise InvalidCursor("bad id")
    spec = SORTS[sort]
    if raw is None:
        if not spec.nullable:
            raise InvalidCursor("missing value")
        return data["d"], None, pk
    if not isinstance(raw, str):
        raise InvalidCursor("bad value")
    try:
        value = date.fromisoformat(raw) if spec.is_date else datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidCursor("bad value") from exc
    if isinstance(value, datetime) and value.tzinfo is None:
        raise InvalidCursor("naive time")
    return data["d"], value, pk


def shipment_page(
    *,
    queryset: QuerySet,
    sort: str = DEFAULT_SORT,
    cursor: str | None = None,
    page_size: int = PAGE_SIZE,
) -> ShipmentPage:
    """One page of ``queryset`` (already filtered) in ``sort`` order, after/before ``cursor``."""
    if sort not in SORTS:
        sort = DEFAULT_SORT
    spec = SORTS[sort]
    # The store's name comes from the (small) store list, not a join: a store row carries
    # encrypted credentials that would be decrypted for every parcel.
    queryset = queryset.select_related("order").only(*LIST_FIELDS)
    direction, value, pk = ("n", None, None)
    if cursor:
        direction, value, pk = decode_cursor(cursor, sort=sort)

    def edge(row: Shipment, towards: str) -> str:
        return encode_cursor(
            sort=sort, direction=towards, value=getattr(row, spec.field), pk=row.pk
        )

    if direction == "p":
        rows = list(
            queryset.filter(_before(spec, value, pk)).order_by(*_ordering(spec, reverse=True))[
                : page_size + 1
            ]
        )
        more_before = len(rows) > page_size
        rows = rows[:page_size][::-1]
        page = ShipmentPage(rows=rows, sort=sort)
        if rows:
            page.next_cursor = edge(rows[-1], "n")
            page.previous_cursor = edge(rows[0], "p") if more_before else None
        return page

    if pk is not None:
        queryset = queryset.filter(_after(spec, value, pk))
    rows = list(queryset.order_by(*_ordering(spec))[: page_size + 1])
    more_after = len(rows) > page_size
    rows = rows[:page_size]
    page = ShipmentPage(rows=rows, sort=sort)
    if rows:
        page.next_cursor = edge(rows[-1], "n") if more_after else None
        page.previous_cursor = edge(rows[0], "p") if pk is not None else None
    return page


EXPORT_COLUMNS = [
    ("id", "id"),
    ("tracking_number", "tracking_number"),
    ("carrier", "carrier"),
    ("status", "status"),
    ("substatus", "substatus"),
    ("action_required", "action_required"),
    ("is_delayed", "is_delayed"),
    ("is_stalled", "is_stalled"),
    ("never_scanned", "never_scanned"),
    ("is_active", "is_active"),
    ("order_number", "order__order_number"),
    ("customer_email", "order__customer_email"),
    ("customer_name", "order__customer_name"),
    ("store", "store__name"),
    ("destination_country", "destination_country"),
    ("destination_postcode", "destination_postcode"),
    ("shipped_at", "shipped_at"),
    ("estimated_delivery", "estimated_delivery"),
    ("delivered_at", "delivered_at"),
    ("last_event_at", "last_event_at"),
    ("created_at", "created_at"),
    ("public_token", "public_token"),
]


def shipment_export_rows(*, queryset: QuerySet, chunk_size: int | None = None) -> Iterator[tuple]:
    """Every row of ``queryset`` newest first as tuples of ``EXPORT_COLUMNS``, fetched in keyset
    chunks (one bounded query each): memory stays flat whatever the number of rows."""
    chunk_size = chunk_size or EXPORT_CHUNK
    lookups = [lookup for _, lookup in EXPORT_COLUMNS]
    created_index = lookups.index("created_at")
    spec = SORTS["newest"]
    ordered = queryset.order_by("-created_at", "-id")
    last: tuple | None = None
    while True:
        chunk = ordered
        if last is not None:
            chunk = chunk.filter(_after(spec, last[0], last[1]))
        rows = list(chunk.values_list(*lookups)[:chunk_size])
        yield from rows
        if len(rows) < chunk_size:
            return
        last = (rows[-1][created_index], rows[-1][0])


def shipment_store_choices() -> list[tuple[int, str]]:
    """(id, name) of the active tenant's stores, for the store filter."""
    return list(ShopConnection.objects.order_by("name", "id").values_list("id", "name"))


def shipment_carrier_choices() -> list[tuple[str, str]]:
    """(slug, name) of every carrier wismo knows: a fixed list, no scan of the shipments."""
    from carriers.registry import carrier_choices

    return list(carrier_choices())


def saved_views_visible(*, user) -> QuerySet[SavedView]:
    """The user's own views and the team's shared ones, in the active tenant."""
    return SavedView.objects.filter(Q(user=user) | Q(shared=True)).order_by("name", "id")
