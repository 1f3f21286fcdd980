"""Expected delivery dates and the delayed / stalled / never-scanned flags, on the database.

The learning and predicting is pure (``wismo.tracking.edd``); this module feeds it and writes
its answers. Flows:

- **fit** (``edd_fit``, a task per tenant on a schedule, ``manage.py edd fit``): one aggregate
  query streams the tenant's delivered parcels with the time each reached every milestone
  (filtered MIN/MAX over its events, no model instances), the pure fit learns the distributions
  and tunes the range to its target coverage, one SQL aggregate adds the 95th percentile of the
  gaps between scans per carrier, destination and status; the model is stored as JSON with a new
  version. ``edd_prior_fit`` then builds the platform prior from the stored models, never from
  shipments.
- **cache** (``predictor_for``): a predictor per tenant in an in-process LRU, keyed by the
  versions of its model and of the prior; the versions come from Django's cache (set by every
  fit), re-read at most every ``VERSION_TTL`` seconds, so a refit reaches every worker quickly.
- **apply** (``shipments_refresh``): the timeline service calls it, in its transaction, for the
  shipments that got new events. A carrier's own estimate is kept while it holds (source
  "carrier"); otherwise the prediction from the stage reached is written (source "predicted").
  The first range given becomes the promise; flags are set and cleared from the new state.
- **sweep** (``edd_sweep``, hourly): parcels quiet for a while get the same treatment, which is
  how a date that passed without delivery, a stall (no scan for longer than the 95th percentile
  of gaps) or a label never scanned are noticed when no event arrives.
- **notices**: a parcel newly running late past its promise (or past the last delay notice's
  range) gets ``delay_record(reason="slipped")``; a parcel that newly stalls gets
  ``delay_record(reason="stuck")``. ``delay_record`` keeps them once per expected date.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from carriers.statuses import Status
from tenants.models import Tenant
from tenants.scoping import all_tenants, tenant_scope
from wismo.tracking.edd import backtest as edd_backtest_lib
from wismo.tracking.edd.calendar import MONDAY_TO_FRIDAY, calendar, local_date
from wismo.tracking.edd.model import (
    Journey,
    Lane,
    Model,
    Prior,
    build_prior,
    fit,
    p95_from_buckets,
    postcode_prefix,
)
from wismo.tracking.edd.predict import (
    DESTINATION_SUBSTATUSES,
    NO_DELIVERY_SUBSTATUSES,
    Prediction,
    Predictor,
    current_stage,
    stage_marks,
)
from wismo.tracking.models import EddModel, EddPrior, Order, Shipment, TrackingEvent
from wismo.tracking.services.observations import delay_record

logger = logging.getLogger(__name__)

WINDOW_DAYS = 730  # history a fit reads: two years, so each season is seen at least once
VERSION_TTL = 10.0  # seconds a worker trusts the versions it read
LRU_SIZE = 256  # tenants' predictors kept per process
SWEEP_QUIET = timedelta(hours=20)  # fresher parcels were refreshed by their last event
GAP_MIN_SAMPLES = 30
GAP_WINDOW_DAYS = 180  # scans whose gaps set the stall thresholds: the recent half year


def never_scanned_days() -> int:
    """Business days a label may wait for its first carrier scan before it is flagged."""
    return int(getattr(settings, "WISMO_EDD_NEVER_SCANNED_DAYS", 3))


def not_shipped_days() -> int:
    """Days an order may wait for its first parcel before it counts as not shipped."""
    return int(getattr(settings, "WISMO_EDD_NOT_SHIPPED_DAYS", 3))


# --- fit -----------------------------------------------------------------------------------------


# Times travel as seconds since the epoch: parsing millions of timestamps with their time zone
# costs more than the query itself.
_EPOCH = {
    "postgresql": "date_part('epoch', {})",
    "sqlite": "((julianday({}) - 2440587.5) * 86400.0)",
}


def _journeys(*, tenant_id: int, since: datetime, until: datetime) -> Iterator[Journey]:
    """A tenant's delivered parcels in [since, until), streamed as pure journeys.

    One aggregate query: each delivered shipment with the first or last time it reached every
    milestone (filtered MIN/MAX over its events), no model instances.
    """
    epoch = _EPOCH.get(connection.vendor, _EPOCH["postgresql"]).format
    first, last = "MIN(e.occurred_at) FILTER (WHERE {})", "MAX(e.occurred_at) FILTER (WHERE {})"
    before_delivery = "AND e.occurred_at <= s.delivered_at"
    sql = f"""
        SELECT s.carrier, s.service, s.origin_country, s.destination_country,
               s.destination_postcode, o.shipping_country, o.shipping_postcode,
               {epoch("s.shipped_at")}, {epoch("s.created_at")}, {epoch("s.delivered_at")},
               {epoch(first.format("e.status = %(transit)s"))},
               {epoch(first.format("e.substatus IN (%(arrived)s, %(released)s)"))},
               {epoch(last.format(f"e.status = %(ofd)s {before_delivery}"))},
               {epoch(last.format(f"e.status = %(failed)s {before_delivery}"))},
               {epoch(first.format("e.status = %(pickup)s"))}
        FROM {Shipment._meta.db_table} s
        LEFT JOIN {TrackingEvent._meta.db_table} e ON e.shipment_id = s.id
        LEFT JOIN {Order._meta.db_table} o ON o.id = s.order_id
        WHERE s.tenant_id = %(tenant)s AND s.status = %(delivered)s
          AND s.delivered_at >= %(since)s AND s.delivered_at < %(until)s
        GROUP BY s.id, o.id
    """  # noqa: S608 - our own identifiers and fixed expressions; values are parameters
    arrived, released = sorted(DESTINATION_SUBSTATUSES)
    params = {
        "tenant": tenant_id,
        "delivered": Status.DELIVERED.value,
        "since": since,
        "until": until,
        "transit": Status.IN_TRANSIT.value,
        "arrived": arrived,
        "released": released,
        "ofd": Status.OUT_FOR_DELIVERY.value,
        "failed": Status.FAILED_ATTEMPT.value,
        "pickup": Status.AVAILABLE_FOR_PICKUP.value,
    }
    moment = datetime.fromtimestamp
    lanes: dict[tuple, Lane] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(20_000):
            for (
                carrier, service, origin, country, postcode, order_country, order_postcode,
                shipped_at, created_at, delivered_at, *milestones,
            ) in rows:  # fmt: skip
                shipped = shipped_at if shipped_at is not None else created_at
                transit_at = milestones[0]
                if shipped > delivered_at:  # imported after the fact: only later milestones
                    if transit_at is None or transit_at > delivered_at:
                        continue
                    shipped = transit_at
                country = country or order_country or ""
                # Interned per group: a fit sees few lanes and many parcels.
                ident = (
                    carrier,
                    service,
                    origin,
                    country,
                    postcode_prefix(country, postcode or order_postcode or ""),
                )
                lane = lanes.get(ident)
                if lane is None:
                    lane = lanes[ident] = Lane.of(
                        carrier, service=service, origin=origin, destination=country,
                        postcode=ident[4],
                    )  # fmt: skip
                yield Journey(
                    lane,
                    moment(shipped, UTC),
                    moment(delivered_at, UTC),
                    *(None if m is None else moment(m, UTC) for m in milestones),
                )


_GAPS_SQL = {
    "postgresql": (
        "date_part('epoch', LEAD(e.occurred_at) OVER w - e.occurred_at) / 3600.0",
        "LEAST(FLOOR(g.hours), 720)",
    ),
    "sqlite": (
        "(julianday(LEAD(e.occurred_at) OVER w) - julianday(e.occurred_at)) * 24.0",
        "MIN(CAST(g.hours AS INTEGER), 720)",
    ),
}


def _gap_thresholds(*, tenant_id: int, since: datetime, until: datetime) -> dict[str, float]:
    """95th percentile of hours between consecutive scans, per carrier(/destination)/status."""
    hours, bucket = _GAPS_SQL.get(connection.vendor, _GAPS_SQL["postgresql"])
    events = TrackingEvent._meta.db_table
    shipments = Shipment._meta.db_table
    sql = f"""
        SELECT s.carrier, s.destination_country, g.status, {bucket} AS bucket, COUNT(*)
        FROM (
            SELECT e.shipment_id, e.status, {hours} AS hours
            FROM {events} e
            WHERE e.tenant_id = %s AND e.occurred_at >= %s AND e.occurred_at < %s
            WINDOW w AS (PARTITION BY e.shipment_id ORDER BY e.occurred_at)
        ) g
        JOIN {shipments} s ON s.id = g.shipment_id
        WHERE g.hours IS NOT NULL AND g.status IN (%s, %s, %s)
        GROUP BY s.carrier, s.destination_country, g.status, bucket
    """  # noqa: S608 - our own identifiers and fixed expressions
    per_lane: dict[str, dict[int, int]] = defaultdict(dict)
    per_carrier: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                tenant_id,
                since,
                until,
                Status.IN_TRANSIT.value,
                Status.OUT_FOR_DELIVERY.value,
                Status.FAILED_ATTEMPT.value,
            ],
        )
        for carrier, country, status, hour, count in cursor.fetchall():
            per_lane[f"{carrier}|{country}|{status}"][int(hour)] = count
            per_carrier[f"{carrier}|*|{status}"][int(hour)] += count
    thresholds = {}
    for groups in (per_lane, per_carrier):
        for key, buckets in groups.items():
            if sum(buckets.values()) >= GAP_MIN_SAMPLES:
                thresholds[key] = p95_from_buckets(buckets)
    return thresholds


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a fit builds millions of small acyclic objects.

    Each generation-2 pass would walk all of them again (it doubled a 500k-parcel refit);
    reference counting still frees everything, and collection resumes right after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True, slots=True)
class FitResult:
    tenant: str
    samples: int
    version: int
    seconds: float
    range_mass: float


def edd_fit(
    *,
    tenant: Tenant,
    now: datetime | None = None,
    until: datetime | None = None,
    window_days: int = WINDOW_DAYS,
    tune: bool = True,
) -> FitResult:
    """Refit ``tenant``'s model from its delivered parcels (see the module docstring).

    ``until`` trains on deliveries before it only (backtests, benchmarks); default now.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    until = until or now
    since = until - timedelta(days=window_days)
    with tenant_scope(tenant), _no_cyclic_gc():
        journeys = list(_journeys(tenant_id=tenant.pk, since=since, until=until))
        mass = (
            edd_backtest_lib.tune_range_mass(journeys, coverage=edd_backtest_lib.RANGE_COVERAGE)
            if tune
            else None
        )
        model = fit(journeys, trained_until=until, **({"range_mass": mass} if mass else {}))
        del journeys
        model.gaps = _gap_thresholds(
            tenant_id=tenant.pk, since=until - timedelta(days=GAP_WINDOW_DAYS), until=until
        )
        data = model.to_json()
        seconds = time.perf_counter() - started
        with transaction.atomic():
            row, _ = EddModel.objects.select_for_update().get_or_create(tenant=tenant)
            row.version += 1
            row.data = data
            row.samples = model.samples
            row.fitted_at = now
            row.fit_seconds = round(seconds, 3)
            row.save()
            version = row.version
    _publish_versions(tenant.pk, version)
    logger.info("edd: fitted %s on %s parcels in %.1fs", tenant.slug, model.samples, seconds)
    return FitResult(tenant.slug, model.samples, version, seconds, model.range_mass)


def edd_prior_fit() -> EddPrior:
    """Rebuild the platform prior from the tenants' stored models (aggregates only)."""
    with all_tenants():  # platform-wide on purpose: the prior reads every tenant's model
        models = [Model.from_json(data) for data in EddModel.objects.values_list("data", flat=True)]
    prior = build_prior(models)
    with transaction.atomic():
        row, _ = EddPrior.objects.select_for_update().get_or_create(pk=1)
        row.version += 1
        row.data = prior.to_json()
        row.tenants = prior.tenants
        row.fitted_at = timezone.now()
        row.save()
    cache.set(_prior_key(), row.version, None)
    reset_cache()  # every predictor holds the prior: this process knows at once
    return row


def edd_fit_all(*, now: datetime | None = None) -> list[FitResult]:
    """Refit every active tenant's model, then the prior from them."""
    results = [edd_fit(tenant=tenant, now=now) for tenant in Tenant.objects.filter(is_active=True)]
    edd_prior_fit()
    return results


# --- cached predictors --------------------------------------------------------------------------


def _model_key(tenant_id: int) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:edd:model-version:{tenant_id}"


def _prior_key() -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:edd:prior-version"


@dataclass(slots=True)
class _Cached:
    versions: tuple[int, int]
    predictor: Predictor
    checked: float


_lru: OrderedDict[int, _Cached] = OrderedDict()
_lru_lock = threading.Lock()


def reset_cache() -> None:
    """Forget every cached predictor in this process (tests; a refit does not need it)."""
    with _lru_lock:
        _lru.clear()


def _publish_versions(tenant_id: int, version: int) -> None:
    cache.set(_model_key(tenant_id), version, None)
    with _lru_lock:  # this process knows at once; others within VERSION_TTL
        _lru.pop(tenant_id, None)


def _versions(tenant_id: int) -> tuple[int, int]:
    found = cache.get_many([_model_key(tenant_id), _prior_key()])
    model_version = found.get(_model_key(tenant_id))
    prior_version = found.get(_prior_key())
    if model_version is None:
        with tenant_scope(tenant_id):
            rows = EddModel.objects.values_list("version", flat=True)
            model_version = next(iter(rows), 0)
        cache.set(_model_key(tenant_id), model_version, None)
    if prior_version is None:
        prior_version = next(iter(EddPrior.objects.values_list("version", flat=True)), 0)
        cache.set(_prior_key(), prior_version, None)
    return int(model_version), int(prior_version)


def predictor_for(tenant_id: int) -> Predictor:
    """The tenant's predictor (its model and the prior), cached; see the module docstring."""
    now = time.monotonic()
    with _lru_lock:
        entry = _lru.get(tenant_id)
        if entry is not None and now - entry.checked < VERSION_TTL:
            _lru.move_to_end(tenant_id)
            return entry.predictor
    versions = _versions(tenant_id)
    if entry is not None and entry.versions == versions:
        entry.checked = now
        return entry.predictor
    with tenant_scope(tenant_id):
        data = next(iter(EddModel.objects.values_list("data", flat=True)), None)
    prior_data = next(iter(EddPrior.objects.values_list("data", flat=True)), None)
    predictor = Predictor(
        Model.from_json(data) if data else None, Prior.from_json(prior_data) if prior_data else None
    )
    with _lru_lock:
        _lru[tenant_id] = _Cached(versions, predictor, now)
        _lru.move_to_end(tenant_id)
        while len(_lru) > LRU_SIZE:
            _lru.popitem(last=False)
    return predictor


# --- apply: predictions and flags ----------------------------------------------------------------

_ROW_FIELDS = (
    "id",
    "tenant_id",
    "carrier",
    "service",
    "origin_country",
    "destination_country",
    "destination_postcode",
    "order__shipping_country",
    "order__shipping_postcode",
    "status",
    "substatus",
    "shipped_at",
    "created_at",
    "last_event_at",
    "estimated_delivery",
    "estimated_delivery_earliest",
    "estimated_delivery_latest",
    "estimated_delivery_source",
    "estimated_delivery_confidence",
    "promised_delivery",
    "delay_notified_for",
    "is_delayed",
    "is_stalled",
    "never_scanned",
    "flagged_at",
)
# What ``shipments_refresh`` may write, with the SQL types of PostgreSQL's unnest update.
_WRITE_FIELDS = (
    ("estimated_delivery", "date"),
    ("estimated_delivery_earliest", "date"),
    ("estimated_delivery_latest", "date"),
    ("estimated_delivery_source", "text"),
    ("estimated_delivery_confidence", "float8"),
    ("promised_delivery", "date"),
    ("delay_notified_for", "date"),
    ("is_delayed", "boolean"),
    ("is_stalled", "boolean"),
    ("never_scanned", "boolean"),
    ("flagged_at", "timestamptz"),
)
_WRITE_NAMES = tuple(name for name, _ in _WRITE_FIELDS)


@dataclass(frozen=True, slots=True)
class _Notice:
    shipment_id: int
    tenant_id: int
    status: str
    substatus: str
    reason: str
    expected: date | None
    previous: date | None


def _lane(row: dict) -> Lane:
    return Lane.of(
        row["carrier"],
        service=row["service"],
        origin=row["origin_country"],
        destination=row["destination_country"] or row["order__shipping_country"] or "",
        postcode=row["destination_postcode"] or row["order__shipping_postcode"] or "",
    )


def shipment_prediction(
    shipment: Shipment,
    *,
    timeline: Sequence[tuple[datetime, str, str]] | None = None,
    now: datetime | None = None,
) -> Prediction | None:
    """What the tenant's model says of one shipment now (no writes)."""
    now = now or timezone.now()
    if timeline is None:
        timeline = list(
            TrackingEvent.objects.filter(shipment=shipment).values_list(
                "occurred_at", "status", "substatus"
            )
        )
    order = shipment.order if shipment.order_id else None
    lane = Lane.of(
        shipment.carrier,
        service=shipment.service,
        origin=shipment.origin_country,
        destination=shipment.destination_country or (order.shipping_country if order else ""),
        postcode=shipment.destination_postcode or (order.shipping_postcode if order else ""),
    )
    marks = stage_marks(timeline, shipped_at=shipment.shipped_at or shipment.created_at)
    stage = current_stage(shipment.status, marks)
    if stage is None or shipment.substatus in NO_DELIVERY_SUBSTATUSES:
        return None
    predictor = predictor_for(shipment.tenant_id)
    return predictor.predict(
        lane=lane,
        marks=marks,
        stage=stage,
        now=now,
        troubled=shipment.status == Status.EXCEPTION,
    )


def _evaluate(
    row: dict,
    timeline: Iterable[tuple[datetime, str, str]],
    predictor: Predictor,
    now: datetime,
    *,
    sweep: bool,
) -> tuple[dict, list[_Notice]]:
    """The new values of ``_WRITE_NAMES`` for one shipment, and the notices it earns."""
    new = {name: row[name] for name in _WRITE_NAMES}
    notices: list[_Notice] = []
    status, substatus = row["status"], row["substatus"]

    def notice(reason: str, expected: date | None, previous: date | None) -> None:
        notices.append(
            _Notice(row["id"], row["tenant_id"], status, substatus, reason, expected, previous)
        )

    if status in (Status.DELIVERED, Status.EXPIRED) or substatus in NO_DELIVERY_SUBSTATUSES:
        new.update(is_delayed=False, is_stalled=False, never_scanned=False, flagged_at=None)
        if status != Status.DELIVERED and new["estimated_delivery_source"] == "predicted":
            new.update(
                estimated_delivery=None,
                estimated_delivery_earliest=None,
                estimated_delivery_latest=None,
                estimated_delivery_source="",
                estimated_delivery_confidence=None,
            )
        return new, notices

    lane = _lane(row)
    country = lane.destination or lane.origin
    today = local_date(now, country)
    carrier_date = new["estimated_delivery_latest"] or new["estimated_delivery"]
    carrier_holds = new["estimated_delivery_source"] == "carrier" and (
        carrier_date is not None and carrier_date >= today
    )
    if not carrier_holds and predictor.usable:
        marks = stage_marks(timeline, shipped_at=row["shipped_at"] or row["created_at"])
        stage = current_stage(status, marks)
        prediction = (
            predictor.predict(
                lane=lane, marks=marks, stage=stage, now=now, troubled=status == Status.EXCEPTION
            )
            if stage
            else None
        )
        if prediction is not None:
            new.update(
                estimated_delivery=prediction.estimated,
                estimated_delivery_earliest=prediction.earliest,
                estimated_delivery_latest=prediction.latest,
                estimated_delivery_source="predicted",
                estimated_delivery_confidence=prediction.confidence,
            )

    expected = new["estimated_delivery"]
    last_day = new["estimated_delivery_latest"] or expected
    if new["promised_delivery"] is None and last_day is not None:
        new["promised_delivery"] = last_day
    promised = new["promised_delivery"]

    # Delayed: the expected day moved past the promise, or passed with no new one to give.
    passed = expected is not None and expected < today
    late = expected is not None and (passed or (promised is not None and expected > promised))
    new["is_delayed"] = late
    if late:
        told = new["delay_notified_for"]
        if told is None or (not passed and expected > told):
            notice("slipped", None if passed else expected, told or promised)
            new["delay_notified_for"] = today if passed else last_day

    # Stalled: quiet for longer than is normal for this carrier, lane and status.
    quiet_limit = predictor.stall_after(lane.carrier, lane.destination, status)
    last_event = row["last_event_at"]
    stalled = bool(quiet_limit and last_event and now - last_event > quiet_limit)
    if not sweep:  # new scans just arrived: they may end a stall; raising one is the sweep's job
        stalled = stalled and row["is_stalled"]
    if stalled and not row["is_stalled"]:
        notice("stuck", expected, None)
    new["is_stalled"] = stalled

    # Never scanned: a label and nothing else after N business days of the origin.
    if status in (Status.PENDING, Status.INFO_RECEIVED):
        since = row["shipped_at"] or row["created_at"]
        origin = lane.origin or lane.destination
        cal = calendar(origin, MONDAY_TO_FRIDAY)
        waited = cal.business_days_in(local_date(since, origin), local_date(now, origin))
        new["never_scanned"] = waited >= never_scanned_days()
    else:
        new["never_scanned"] = False

    flags = (new["is_delayed"], new["is_stalled"], new["never_scanned"])
    if not any(flags):
        new["flagged_at"] = None
    elif new["flagged_at"] is None:
        new["flagged_at"] = now
    return new, notices


def _write(changes: list[tuple[int, dict]]) -> None:
    if not changes:
        return
    if connection.vendor != "postgresql":
        Shipment.objects.bulk_update(
            [Shipment(pk=pk, **values) for pk, values in changes], _WRITE_NAMES, batch_size=500
        )
        return
    table = Shipment._meta.db_table
    assignments = ", ".join(f"{name} = v.{name}" for name in _WRITE_NAMES)
    arrays = ", ".join(f"%s::{kind}[]" for kind in ("bigint", *(k for _, k in _WRITE_FIELDS)))
    columns = [[pk for pk, _ in changes]] + [
        [values[name] for _, values in changes] for name in _WRITE_NAMES
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET {assignments} "  # noqa: S608 - our own identifiers
            f"FROM unnest({arrays}) AS v(id, {', '.join(_WRITE_NAMES)}) WHERE s.id = v.id",
            columns,
        )


def _refresh(
    ids: Sequence[int],
    *,
    timelines: dict[int, list[tuple[datetime, str, str]]] | None,
    now: datetime,
    sweep: bool,
) -> dict[str, int]:
    rows = [dict(zip(_ROW_FIELDS, values, strict=True)) for values in
            Shipment.objects.filter(pk__in=ids).order_by().values_list(*_ROW_FIELDS)]  # fmt: skip
    if timelines is None:
        timelines = defaultdict(list)
        for shipment_id, at, status, substatus in TrackingEvent.objects.filter(
            shipment_id__in=[row["id"] for row in rows]
        ).values_list("shipment_id", "occurred_at", "status", "substatus"):
            timelines[shipment_id].append((at, status, substatus))
    predictors: dict[int, Predictor] = {}
    changes: list[tuple[int, dict]] = []
    notices: list[_Notice] = []
    for row in rows:
        predictor = predictors.get(row["tenant_id"])
        if predictor is None:
            predictor = predictors[row["tenant_id"]] = predictor_for(row["tenant_id"])
        new, earned = _evaluate(row, timelines.get(row["id"], ()), predictor, now, sweep=sweep)
        notices.extend(earned)
        if any(new[name] != row[name] for name in _WRITE_NAMES):
            changes.append((row["id"], new))
    _write(changes)
    for n in notices:
        shipment = Shipment(
            pk=n.shipment_id, tenant_id=n.tenant_id, status=n.status, substatus=n.substatus
        )
        delay_record(shipment=shipment, reason=n.reason, expected=n.expected, previous=n.previous)
    return {"checked": len(rows), "changed": len(changes), "notices": len(notices)}


def shipments_refresh(
    *,
    shipment_ids: Sequence[int],
    timelines: dict[int, list[tuple[datetime, str, str]]] | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Re-predict and re-flag shipments after their timelines changed (the timeline service).

    Runs in the caller's transaction, behind a savepoint: a fault here is logged and leaves the
    events just recorded untouched, never loses them. ``timelines`` (occurred_at, status,
    substatus per shipment id) saves re-reading the events when the caller has them.
    """
    if not shipment_ids:
        return {"checked": 0, "changed": 0, "notices": 0}
    try:
        with transaction.atomic():
            return _refresh(
                shipment_ids, timelines=timelines, now=now or timezone.now(), sweep=False
            )
    except Exception:  # a prediction fault must never cost the carrier's events
        logger.exception("edd: refreshing %s shipments failed", len(shipment_ids))
        return {"checked": 0, "changed": 0, "notices": 0, "failed": len(shipment_ids)}


def carrier_estimate_apply(
    *, shipment: Shipment, estimated: date | None, earliest: date | None, latest: date | None
) -> list[str]:
    """Put a carrier's own estimate on ``shipment`` (not saved); returns the fields to save.

    The carrier's word wins over a prediction and is said to be the carrier's. The first
    estimate a carrier gives replaces a promise that came from a prediction.
    """
    estimated = estimated or latest
    if estimated is None:
        return []
    was_carrier = shipment.estimated_delivery_source == "carrier"
    shipment.estimated_delivery = estimated
    shipment.estimated_delivery_earliest = earliest or estimated
    shipment.estimated_delivery_latest = latest or estimated
    shipment.estimated_delivery_source = "carrier"
    shipment.estimated_delivery_confidence = None
    fields = [
        "estimated_delivery",
        "estimated_delivery_earliest",
        "estimated_delivery_latest",
        "estimated_delivery_source",
        "estimated_delivery_confidence",
    ]
    if shipment.promised_delivery is None or not was_carrier:
        shipment.promised_delivery = shipment.estimated_delivery_latest
        fields.append("promised_delivery")
    return fields


# --- the sweep -----------------------------------------------------------------------------------


def edd_sweep(*, now: datetime | None = None, chunk: int = 1000) -> dict[str, int]:
    """Hourly, all tenants: re-predict and re-flag tracked parcels with no recent scan."""
    now = now or timezone.now()
    totals: dict[str, int] = defaultdict(int)
    last_id = 0
    while True:
        with all_tenants():  # platform-wide on purpose; each chunk is handled in its tenant's scope
            batch = list(
                Shipment.objects.filter(
                    Q(last_event_at__lt=now - SWEEP_QUIET) | Q(last_event_at__isnull=True),
                    is_active=True,
                    pk__gt=last_id,
                )
                .exclude(status__in=(Status.DELIVERED, Status.EXPIRED))
                .order_by("pk")
                .values_list("pk", "tenant_id")[:chunk]
            )
        if not batch:
            break
        last_id = batch[-1][0]
        by_tenant: dict[int, list[int]] = defaultdict(list)
        for pk, tenant_id in batch:
            by_tenant[tenant_id].append(pk)
        for tenant_id, ids in by_tenant.items():
            with tenant_scope(tenant_id), transaction.atomic():
                for key, value in _refresh(ids, timelines=None, now=now, sweep=True).items():
                    totals[key] += value
    return dict(totals)


def unshipped_orders(*, now: datetime | None = None, days: int | None = None) -> QuerySet[Order]:
    """The active scope's orders placed more than N days ago with no parcel yet, oldest first."""
    now = now or timezone.now()
    days = not_shipped_days() if days is None else days
    return Order.objects.filter(
        cancelled_at__isnull=True,
        placed_at__lt=now - timedelta(days=days),
        shipments__isnull=True,
    ).order_by("placed_at")


# --- backtest ------------------------------------------------------------------------------------


def edd_backtest(
    *, tenant: Tenant, months: int = 6, now: datetime | None = None
) -> edd_backtest_lib.Report:
    """Replay the tenant's history month by month (see ``edd.backtest``); stores the report."""
    now = now or timezone.now()
    with tenant_scope(tenant), _no_cyclic_gc():
        journeys = list(
            _journeys(tenant_id=tenant.pk, since=now - timedelta(days=WINDOW_DAYS), until=now)
        )
        report = edd_backtest_lib.backtest(journeys, months=months, now=now)
        with transaction.atomic():
            row, _ = EddModel.objects.select_for_update().get_or_create(tenant=tenant)
            row.accuracy = report.as_dict()
            row.backtested_at = now
            row.save(update_fields=["accuracy", "backtested_at"])
    return report
