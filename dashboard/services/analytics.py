"""Analytics figures of one tenant over a period: the dashboard's home and charts, and the API.

Flow: a ``Period`` (inclusive calendar days in the tenant's time zone, at most 366) is parsed
from user input by ``period_parse``; ``analytics_figures`` computes every figure with a handful of
SQL aggregations (never a Python loop over shipments) and caches the result per tenant and period
for a minute (five for periods over a month). Views and ``wismo.api.analytics`` render the same
dataclasses. The cohort is read once, grouped by (carrier, lane); carrier, lane and overall
figures are folded from those few rows.

Definitions (what each figure means):

- The cohort is the tenant's shipments *created* in the period (``created_at`` in the tenant's
  days): the index ``(tenant, -created_at, -id)`` bounds every shipment query. Statuses, delivery
  and on-time figures describe that cohort as it is now.
- In transit: ``in_transit``, ``out_for_delivery``, ``available_for_pickup`` or
  ``failed_attempt``. Exception: the shipment is in ``exception`` now or went through it (a
  recorded status change to ``exception``).
- On time: a delivered shipment whose delivery day (tenant time zone) is on or before its
  promise: ``promised_delivery`` (the last day of the first range the shopper was given, which
  EDD fixes at the first prediction), else the stored range's last day, else the stored single
  date. Delivered shipments with none of those are left out of the rate (``on_time_known``).
- Stored-range hit rate: delivered shipments whose delivery day lies inside the stored
  ``estimated_delivery_earliest .. estimated_delivery_latest`` (the last range shown before
  delivery). The backtest figures (``EddModel.accuracy``) score predictions made at shipping time.
- Processing time: order ``placed_at`` -> ``shipped_at``; transit time: ``shipped_at`` ->
  ``delivered_at``; averages in days, over the shipments that have both times in order.
- Emails: notifications of the cohort's shipments that were sent; opened / clicked / bounced as
  recorded by the email provider's tracking webhooks.
- Page views: tracking page views (``PageViewCount``) on the period's days, of any shipment.
- WISMO rate: "where is my order?" contacts recorded in the period per 100 shipments of the
  cohort. By carrier: the carrier's contacts per 100 of its shipments. By status: contacts made
  while the parcel had that status, per 100 shipments of the cohort (the parts add up to the
  whole). By notification: contacts about notified parcels per 100 cohort shipments that had an
  email sent, and the same for parcels without one.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Coalesce, TruncDate, TruncWeek
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from carriers.statuses import Status
from dashboard.models import WismoContact
from notifications.models import Notification
from tenants.models import Tenant
from tracking_pages.models import PageViewCount
from wismo.tracking.models import EddModel, Shipment, ShipmentStatusChange

log = logging.getLogger(__name__)

MAX_DAYS = 366
DEFAULT_DAYS = 30
PRESET_DAYS = (7, 30, 90)
CACHE_SECONDS = 60
LONG_CACHE_SECONDS = 300  # periods over a month scan many more rows: keep them a little longer
CACHE_VERSION = 1
TOP_LANES = 20

IN_TRANSIT = (
    Status.IN_TRANSIT,
    Status.OUT_FOR_DELIVERY,
    Status.AVAILABLE_FOR_PICKUP,
    Status.FAILED_ATTEMPT,
)
STATUS_ORDER = [s.value for s in Status]


class PeriodError(ValueError):
    """The requested period is not valid; the message says why (shown to the user)."""


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive calendar days ``start .. end`` in the time zone ``tz``."""

    start: date
    end: date
    tz: str = "UTC"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def bucket(self) -> str:
        """Charts over time group by day up to a month, by week beyond."""
        return "day" if self.days <= 31 else "week"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.tz)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.zone)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.zone)


def tenant_today(tenant: Tenant, *, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()


def period_parse(
    *,
    tenant: Tenant,
    start: date | None = None,
    end: date | None = None,
    days: int | None = None,
    now: datetime | None = None,
) -> Period:
    """The period asked for: ``start``/``end`` (both, inclusive), else the last ``days`` days
    ending today, else the last 30 days. Raises ``PeriodError`` for a bad period."""
    today = tenant_today(tenant, now=now)
    if start is not None or end is not None:
        if start is None or end is None:
            raise PeriodError("Give both a start and an end date.")
        if start > end:
            raise PeriodError("The start date is after the end date.")
        if (end - start).days + 1 > MAX_DAYS:
            raise PeriodError(f"The period is longer than {MAX_DAYS} days.")
        return Period(start=start, end=end, tz=tenant.timezone)
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise PeriodError(f"Choose between 1 and {MAX_DAYS} days.")
    return Period(start=today - timedelta(days=days - 1), end=today, tz=tenant.timezone)


# --- the figures -------------------------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    shipments: int = 0
    in_transit: int = 0
    delivered: int = 0
    exceptions: int = 0
    exception_rate: float | None = None
    on_time: int = 0
    on_time_known: int = 0
    on_time_rate: float | None = None
    avg_processing_days: float | None = None
    avg_transit_days: float | None = None
    wismo_contacts: int = 0
    wismo_rate: float | None = None
    emails_sent: int = 0
    page_views: int = 0


@dataclass(slots=True)
class GroupFigures:
    """One carrier's or one lane's figures (``key`` is the carrier slug or "FR -> DE")."""

    key: str
    shipments: int = 0
    delivered: int = 0
    exceptions: int = 0
    exception_rate: float | None = None
    on_time: int = 0
    on_time_known: int = 0
    on_time_rate: float | None = None
    avg_processing_days: float | None = None
    avg_transit_days: float | None = None
    wismo_contacts: int = 0
    wismo_rate: float | None = None


@dataclass(slots=True)
class StatusBucket:
    bucket: date
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(slots=True)
class WismoRow:
    key: str
    contacts: int
    shipments: int
    rate: float | None


@dataclass(slots=True)
class TriggerRow:
    trigger: str
    sent: int
    opened: int
    clicked: int


@dataclass(slots=True)
class Emails:
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    open_rate: float | None = None
    click_rate: float | None = None
    by_trigger: list[TriggerRow] = field(default_factory=list)


@dataclass(slots=True)
class DayViews:
    day: date
    views: int


@dataclass(slots=True)
class PageViews:
    views: int = 0
    shipments_viewed: int = 0
    views_per_viewed_shipment: float | None = None
    views_per_shipment: float | None = None
    by_day: list[DayViews] = field(default_factory=list)


@dataclass(slots=True)
class Accuracy:
    range_n: int = 0
    range_hits: int = 0
    range_hit_rate: float | None = None
    backtest: dict | None = None
    backtested_at: datetime | None = None


@dataclass(slots=True)
class Analytics:
    period: Period
    totals: Totals
    status_series: list[StatusBucket]
    by_carrier: list[GroupFigures]
    by_lane: list[GroupFigures]
    wismo_by_status: list[WismoRow]
    wismo_by_notified: list[WismoRow]
    emails: Emails
    page_views: PageViews
    accuracy: Accuracy
    computed_at: datetime


def _ratio(part: int, whole: int, *, per: int = 1, digits: int = 4) -> float | None:
    return round(part * per / whole, digits) if whole else None


def _days(value: timedelta | None) -> float | None:
    return round(value.total_seconds() / 86400, 2) if value is not None else None


def _cohort(tenant: Tenant, period: Period) -> QuerySet[Shipment]:
    return Shipment.objects.filter(
        tenant=tenant, created_at__gte=period.start_at, created_at__lt=period.end_at
    )


_DELIVERED = Q(status=Status.DELIVERED, delivered_at__isnull=False)
_PROCESSED = Q(
    shipped_at__isnull=False,
    order__placed_at__isnull=False,
    shipped_at__gte=F("order__placed_at"),
)
_TRANSITED = _DELIVERED & Q(shipped_at__isnull=False, delivered_at__gte=F("shipped_at"))
_PROMISE = ("promised_delivery", "estimated_delivery_latest", "estimated_delivery")


def _delivered_day(period: Period) -> TruncDate:
    return TruncDate("delivered_at", tzinfo=period.zone)


_SUMMED = (
    "shipments",
    "in_transit",
    "delivered",
    "exceptions",
    "on_time_known",
    "on_time",
    "processing_n",
    "transit_n",
    "range_n",
    "range_hits",
)


def _cells(tenant: Tenant, period: Period) -> list[dict]:
    """The cohort counted per (carrier, origin, destination): one scan of the period's rows.

    Carrier, lane and overall figures are folded from these few aggregated rows (sums and
    counts, never averages of averages). Per-shipment terms are written inline, not as
    annotations, so that Django emits one plain ``SELECT ... GROUP BY``.
    """
    went_exception = ShipmentStatusChange.objects.filter(
        tenant=tenant, shipment=OuterRef("pk"), to_status=Status.EXCEPTION
    )
    promise = Coalesce(*_PROMISE)
    has_promise = Q(*[Q(**{f"{name}__isnull": False}) for name in _PROMISE], _connector=Q.OR)
    has_range = Q(
        estimated_delivery_earliest__isnull=False, estimated_delivery_latest__isnull=False
    )
    day = _delivered_day(period)
    duration = DurationField()
    return list(
        _cohort(tenant, period)
        .values("carrier", "origin_country", "destination_country")
        .annotate(
            shipments=Count("id"),
            in_transit=Count("id", filter=Q(status__in=IN_TRANSIT)),
            delivered=Count("id", filter=_DELIVERED),
            exceptions=Count("id", filter=Q(status=Status.EXCEPTION) | Q(Exists(went_exception))),
            on_time_known=Count("id", filter=Q(_DELIVERED, has_promise)),
            on_time=Count("id", filter=Q(_DELIVERED, LessThanOrEqual(day, promise))),
            processing=Sum(
                ExpressionWrapper(F("shipped_at") - F("order__placed_at"), output_field=duration),
                filter=_PROCESSED,
            ),
            processing_n=Count("id", filter=_PROCESSED),
            transit=Sum(
                ExpressionWrapper(F("delivered_at") - F("shipped_at"), output_field=duration),
                filter=_TRANSITED,
            ),
            transit_n=Count("id", filter=_TRANSITED),
            range_n=Count("id", filter=Q(_DELIVERED, has_range)),
            range_hits=Count(
                "id",
                filter=Q(
                    _DELIVERED,
                    has_range,
                    GreaterThanOrEqual(day, F("estimated_delivery_earliest")),
                    LessThanOrEqual(day, F("estimated_delivery_latest")),
                ),
            ),
        )
        .order_by()
    )


def _fold(cells: list[dict], key) -> dict[str, dict]:
    """Sum the cells by ``key(cell)`` (a carrier, a lane, or one key for the whole)."""
    folded: dict[str, dict] = {}
    for cell in cells:  # aggregated rows: carriers x lanes at most
        acc = folded.setdefault(
            key(cell), {**dict.fromkeys(_SUMMED, 0), "processing": None, "transit": None}
        )
        for name in _SUMMED:
            acc[name] += cell[name]
        for name in ("processing", "transit"):
            if cell[name] is not None:
                acc[name] = cell[name] if acc[name] is None else acc[name] + cell[name]
    return folded


def _lane(cell: dict) -> str:
    return f"{cell['origin_country'] or '?'} -> {cell['destination_country'] or '?'}"


def _group(key: str, row: dict) -> GroupFigures:
    processing = row["processing"] / row["processing_n"] if row["processing_n"] else None
    transit = row["transit"] / row["transit_n"] if row["transit_n"] else None
    return GroupFigures(
        key=key,
        shipments=row["shipments"],
        delivered=row["delivered"],
        exceptions=row["exceptions"],
        exception_rate=_ratio(row["exceptions"], row["shipments"]),
        on_time=row["on_time"],
        on_time_known=row["on_time_known"],
        on_time_rate=_ratio(row["on_time"], row["on_time_known"]),
        avg_processing_days=_days(processing),
        avg_transit_days=_days(transit),
    )


def _status_series(tenant: Tenant, period: Period) -> list[StatusBucket]:
    trunc = (
        TruncDate("created_at", tzinfo=period.zone)
        if period.bucket == "day"
        else TruncWeek("created_at", tzinfo=period.zone)
    )
    rows = (
        _cohort(tenant, period)
        .annotate(bucket=trunc)
        .values("bucket", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    buckets: dict[date, dict[str, int]] = defaultdict(dict)
    for row in rows:  # one row per (bucket, status): at most 366 x 9
        bucket = row["bucket"]
        bucket = bucket.date() if isinstance(bucket, datetime) else bucket
        buckets[bucket][row["status"]] = row["n"]
    # Every bucket of the period, empty ones included, so the time axis has no holes.
    first = (
        period.start if period.bucket == "day" else period.start - timedelta(period.start.weekday())
    )
    step = timedelta(days=1 if period.bucket == "day" else 7)
    series = []
    day = first
    while day <= period.end:
        series.append(StatusBucket(bucket=day, counts=buckets.get(day, {})))
        day += step
    return series


def _status_rank(status: str) -> tuple[int, str]:
    return (STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER), status)


def _wismo(
    tenant: Tenant,
    period: Period,
    *,
    shipments: int,
    notified_shipments: int,
) -> tuple[int, dict[str, int], list[WismoRow], list[WismoRow]]:
    rows = (
        WismoContact.objects.filter(
            tenant=tenant, created_at__gte=period.start_at, created_at__lt=period.end_at
        )
        .values("carrier", "status", "notified")
        .annotate(n=Count("id"))
        .order_by()
    )
    total = 0
    by_carrier: dict[str, int] = defaultdict(int)
    by_status: dict[str, int] = defaultdict(int)
    by_notified: dict[bool, int] = defaultdict(int)
    for row in rows:  # aggregated rows: carriers x statuses x 2 at most
        total += row["n"]
        by_carrier[row["carrier"]] += row["n"]
        by_status[row["status"]] += row["n"]
        by_notified[row["notified"]] += row["n"]
    status_rows = [
        WismoRow(
            key=status or "unknown",
            contacts=by_status[status],
            shipments=shipments,
            rate=_ratio(by_status[status], shipments, per=100, digits=2),
        )
        for status in sorted(by_status, key=_status_rank)
    ]
    not_notified = shipments - notified_shipments
    notified_rows = [
        WismoRow(
            key="notified",
            contacts=by_notified[True],
            shipments=notified_shipments,
            rate=_ratio(by_notified[True], notified_shipments, per=100, digits=2),
        ),
        WismoRow(
            key="not_notified",
            contacts=by_notified[False],
            shipments=not_notified,
            rate=_ratio(by_notified[False], not_notified, per=100, digits=2),
        ),
    ]
    return total, dict(by_carrier), status_rows, notified_rows


def _emails(tenant: Tenant, period: Period) -> tuple[Emails, int]:
    """The cohort's sent emails, and how many of its shipments had at least one."""
    sent = Notification.objects.filter(
        tenant=tenant,
        sent_at__isnull=False,
        shipment__in=_cohort(tenant, period).values("pk"),
    )
    counts = {
        "sent": Count("id"),
        "opened": Count("id", filter=Q(opened_at__isnull=False)),
        "clicked": Count("id", filter=Q(clicked_at__isnull=False)),
    }
    totals = sent.aggregate(
        **counts,
        bounced=Count("id", filter=Q(bounced_at__isnull=False)),
        shipments=Count("shipment", distinct=True),
    )
    rows = sent.values("trigger").annotate(**counts).order_by("-sent", "trigger")
    emails = Emails(
        sent=totals["sent"],
        opened=totals["opened"],
        clicked=totals["clicked"],
        bounced=totals["bounced"],
        open_rate=_ratio(totals["opened"], totals["sent"]),
        click_rate=_ratio(totals["clicked"], totals["sent"]),
        by_trigger=[
            TriggerRow(
                trigger=r["trigger"], sent=r["sent"], opened=r["opened"], clicked=r["clicked"]
            )
            for r in rows
        ],
    )
    return emails, totals["shipments"]


def _page_views(tenant: Tenant, period: Period, *, shipments: int) -> PageViews:
    views = PageViewCount.objects.filter(tenant=tenant, day__gte=period.start, day__lte=period.end)
    total = views.aggregate(
        views=Coalesce(Sum("views"), 0), viewed=Count("shipment", distinct=True)
    )
    by_day = {
        r["day"]: r["views"]
        for r in views.values("day").annotate(views=Sum("views")).order_by("day")
    }
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    return PageViews(
        views=total["views"],
        shipments_viewed=total["viewed"],
        views_per_viewed_shipment=_ratio(total["views"], total["viewed"], digits=2),
        views_per_shipment=_ratio(total["views"], shipments, digits=2),
        by_day=[DayViews(day=d, views=by_day.get(d, 0)) for d in days],
    )


BACKTEST_KEYS = (
    "n",
    "range_hit_rate",
    "exact_day_hit_rate",
    "mae_days",
    "median_range_width_days",
    "naive_exact_day_hit_rate",
    "naive_mae_days",
)


def _score(stored: dict | None) -> dict:
    """One backtest score (``edd.backtest.Score.as_dict``) with exactly its known keys."""
    stored = stored if isinstance(stored, dict) else {}
    return {key: stored.get(key) for key in BACKTEST_KEYS}


def _accuracy(tenant: Tenant, *, overall: dict) -> Accuracy:
    model = EddModel.objects.filter(tenant=tenant).only("accuracy", "backtested_at").first()
    backtest = None
    if model is not None and model.accuracy:
        carriers = model.accuracy.get("carriers") or {}
        backtest = {
            "overall": _score(model.accuracy.get("overall")),
            "carriers": {str(k): _score(v) for k, v in sorted(carriers.items())},
        }
    return Accuracy(
        range_n=overall["range_n"],
        range_hits=overall["range_hits"],
        range_hit_rate=_ratio(overall["range_hits"], overall["range_n"]),
        backtest=backtest,
        backtested_at=model.backtested_at if model is not None else None,
    )


@contextmanager
def _no_jit() -> Iterator[None]:
    """PostgreSQL's JIT compiles these one-off aggregates for seconds longer than they run."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


def analytics_compute(*, tenant: Tenant, period: Period) -> Analytics:
    """Every figure of ``tenant`` over ``period`` (no cache; see ``analytics_figures``)."""
    with _no_jit():
        return _compute(tenant, period)


def _compute(tenant: Tenant, period: Period) -> Analytics:
    cells = _cells(tenant, period)
    overall = _fold(cells, lambda cell: "all").get("all") or {
        **dict.fromkeys(_SUMMED, 0),
        "processing": None,
        "transit": None,
    }
    carriers = sorted(
        (_group(key, row) for key, row in _fold(cells, lambda cell: cell["carrier"]).items()),
        key=lambda g: (-g.shipments, g.key),
    )
    lanes = sorted(
        (_group(key, row) for key, row in _fold(cells, _lane).items()),
        key=lambda g: (-g.shipments, g.key),
    )[:TOP_LANES]
    shipments = overall["shipments"]
    emails, notified_shipments = _emails(tenant, period)
    per_carrier = {g.key: g.shipments for g in carriers}
    contacts, contacts_by_carrier, wismo_status, wismo_notified = _wismo(
        tenant,
        period,
        shipments=shipments,
        notified_shipments=notified_shipments,
    )
    for group in carriers:
        group.wismo_contacts = contacts_by_carrier.get(group.key, 0)
        group.wismo_rate = _ratio(group.wismo_contacts, group.shipments, per=100, digits=2)
    # Contacts about carriers with no shipment in the cohort still count in the total.
    for carrier, n in sorted(contacts_by_carrier.items()):
        if carrier not in per_carrier:
            carriers.append(GroupFigures(key=carrier or "unknown", wismo_contacts=n))

    page_views = _page_views(tenant, period, shipments=shipments)
    whole = _group("all", overall)
    totals = Totals(
        shipments=shipments,
        in_transit=overall["in_transit"],
        delivered=whole.delivered,
        exceptions=whole.exceptions,
        exception_rate=whole.exception_rate,
        on_time=whole.on_time,
        on_time_known=whole.on_time_known,
        on_time_rate=whole.on_time_rate,
        avg_processing_days=whole.avg_processing_days,
        avg_transit_days=whole.avg_transit_days,
        wismo_contacts=contacts,
        wismo_rate=_ratio(contacts, shipments, per=100, digits=2),
        emails_sent=emails.sent,
        page_views=page_views.views,
    )
    return Analytics(
        period=period,
        totals=totals,
        status_series=_status_series(tenant, period),
        by_carrier=carriers,
        by_lane=lanes,
        wismo_by_status=wismo_status,
        wismo_by_notified=wismo_notified,
        emails=emails,
        page_views=page_views,
        accuracy=_accuracy(tenant, overall=overall),
        computed_at=timezone.now(),
    )


def _cache_key(tenant: Tenant, period: Period) -> str:
    return (
        f"{settings.WISMO_REDIS_PREFIX}:analytics:v{CACHE_VERSION}:{tenant.pk}:{period.tz}:"
        f"{period.start.isoformat()}:{period.end.isoformat()}"
    )


def analytics_figures(*, tenant: Tenant, period: Period) -> Analytics:
    """``analytics_compute``, cached per tenant and period for ``CACHE_SECONDS`` (periods
    longer than a month: ``LONG_CACHE_SECONDS``)."""
    key = _cache_key(tenant, period)
    try:
        figures = cache.get(key)
    except Exception:  # the cache is down: compute, slower but right
        log.warning("analytics cache unavailable")
        return analytics_compute(tenant=tenant, period=period)
    if figures is None:
        figures = analytics_compute(tenant=tenant, period=period)
        try:
            cache.set(key, figures, CACHE_SECONDS if period.days <= 31 else LONG_CACHE_SECONDS)
        except Exception:
            log.warning("analytics cache unavailable")
    return figures


@dataclass(slots=True)
class Attention:
    delayed: int
    stalled: int
    exceptions: int

    @property
    def total(self) -> int:
        return self.delayed + self.stalled + self.exceptions


def attention_counts(*, tenant: Tenant) -> Attention:
    """Tracked shipments in the attention queue now (the flags' small partial indexes)."""
    shipments = Shipment.objects.filter(tenant=tenant)
    return Attention(
        delayed=shipments.filter(is_delayed=True).count(),
        stalled=shipments.filter(is_stalled=True).count(),
        exceptions=shipments.filter(status=Status.EXCEPTION, is_active=True).count(),
    )
