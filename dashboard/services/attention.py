"""The "needs attention" queue: the parcels, orders and shopper cases someone should look at.

Each section is one bounded, keyset-paged read of the active tenant's rows, oldest first:

- ``exception``: parcels in the ``exception`` status;
- ``action``: parcels whose reason needs the shopper to act (pickup waiting, duties, address);
- ``delayed``, ``stalled``, ``never_scanned``: the flags the delivery-date sweep raises
  (``wismo.tracking.services.edd``), each read through its small partial index
  (``ship_delayed_idx``, ``ship_stalled_idx``, ``ship_never_scanned_idx``) ordered by
  ``flagged_at``;
- ``not_shipped``: orders placed more than ``WISMO_EDD_NOT_SHIPPED_DAYS`` ago with no parcel
  (``edd.unshipped_orders``);
- ``reports``: problems shoppers reported on the tracking page that are not resolved.

A page of a section is ``PAGE_SIZE`` rows after a cursor (the last row's sort value and id, as
an opaque string); counts stop at ``COUNT_LIMIT`` so a huge backlog costs a bounded query.
Everything here runs inside the tenant's scope and only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_datetime

from carriers.statuses import Status
from tracking_pages.models import ProblemReport
from tracking_pages.selectors import problem_report_queue
from wismo.tracking.models import Shipment
from wismo.tracking.services.edd import not_shipped_days, unshipped_orders

PAGE_SIZE = 50
COUNT_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    help: str
    model: str  # "shipment", "order" or "report"
    sort: str  # the field rows are ordered by (then by id)


SECTIONS: tuple[Section, ...] = (
    Section("exception", "Exceptions", "The carrier reports a problem.", "shipment", "updated_at"),
    Section(
        "action",
        "Action required",
        "The shopper has to do something: collect, pay duties, fix the address.",
        "shipment",
        "updated_at",
    ),
    Section(
        "delayed", "Delayed", "Later than the date the shopper was given.", "shipment", "flagged_at"
    ),
    Section(
        "stalled", "Stalled", "No carrier news for longer than usual.", "shipment", "flagged_at"
    ),
    Section(
        "never_scanned",
        "Label created, never scanned",
        "A label exists but the carrier has not scanned the parcel yet.",
        "shipment",
        "flagged_at",
    ),
    Section("not_shipped", "Not shipped", "Orders still without a parcel.", "order", "placed_at"),
    Section(
        "reports",
        "Reported by shoppers",
        "Problems shoppers reported on the tracking page.",
        "report",
        "created_at",
    ),
)
SECTION_KEYS = tuple(s.key for s in SECTIONS)
_BY_KEY = {s.key: s for s in SECTIONS}


class BadCursor(ValueError):
    """A cursor this module did not make."""


def section(key: str) -> Section:
    return _BY_KEY[key]


def _shipments() -> QuerySet[Shipment]:
    return Shipment.objects.select_related("order").only(
        "id",
        "carrier",
        "tracking_number",
        "status",
        "substatus",
        "action_required",
        "estimated_delivery",
        "last_event_at",
        "flagged_at",
        "updated_at",
        "created_at",
        "order__id",
        "order__order_number",
        "order__customer_name",
    )


def section_queryset(key: str) -> QuerySet:
    """All rows of one section, in queue order (unpaged)."""
    s = section(key)
    if key == "exception":
        qs = _shipments().filter(status=Status.EXCEPTION)
    elif key == "action":
        qs = (
            _shipments()
            .filter(action_required=True, is_active=True)
            .exclude(status=Status.DELIVERED)
        )
    elif key == "delayed":
        qs = _shipments().filter(is_delayed=True)
    elif key == "stalled":
        qs = _shipments().filter(is_stalled=True)
    elif key == "never_scanned":
        qs = _shipments().filter(never_scanned=True)
    elif key == "not_shipped":
        qs = unshipped_orders()
    elif key == "reports":
        qs = problem_report_queue(state=None).filter(state__in=ProblemReport.OPEN_STATES)
    else:  # pragma: no cover - guarded by section()
        raise KeyError(key)
    return qs.order_by(F(s.sort).asc(nulls_last=True), "id")


def _encode(value: datetime | None, pk: int) -> str:
    return f"{value.isoformat() if value else ''}|{pk}"


def _decode(cursor: str) -> tuple[datetime | None, int]:
    stamp, _, pk = str(cursor).rpartition("|")
    if not pk.isdigit() or len(cursor) > 80:
        raise BadCursor(cursor)
    when = None
    if stamp:
        when = parse_datetime(stamp)
        if when is None or when.tzinfo is None:
            raise BadCursor(cursor)
    return when, int(pk)


def _after(qs: QuerySet, sort: str, cursor: str) -> QuerySet:
    """Rows after the cursor in ``sort, id`` order, rows without a value last (as the partial
    indexes keep them, so the index gives the order)."""
    when, pk = _decode(cursor)
    if when is None:  # already among the rows without a value
        return qs.filter(Q(**{f"{sort}__isnull": True}, pk__gt=pk))
    return qs.filter(
        Q(**{f"{sort}__gt": when})
        | Q(**{sort: when, "pk__gt": pk})
        | Q(**{f"{sort}__isnull": True})
    )


@dataclass(slots=True)
class Page:
    section: Section
    rows: list
    next_cursor: str | None


def section_page(key: str, *, cursor: str | None = None, size: int | None = None) -> Page:
    """One page of a section after ``cursor`` (``BadCursor`` for a cursor we did not make)."""
    s = section(key)
    size = size or PAGE_SIZE
    qs = section_queryset(key)
    if cursor:
        qs = _after(qs, s.sort, cursor)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows else None
    next_cursor = _encode(getattr(last, s.sort), last.pk) if (more and last) else None
    return Page(s, rows, next_cursor)


def section_counts() -> dict[str, int]:
    """Rows per section, each counted up to ``COUNT_LIMIT`` (a bounded query per section)."""
    counts = {}
    for key in SECTION_KEYS:
        qs = section_queryset(key).order_by()
        counts[key] = qs.values("pk")[:COUNT_LIMIT].count()
    return counts


def not_shipped_after_days() -> int:
    return not_shipped_days()
