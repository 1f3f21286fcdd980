"""Fitting transit-time distributions from delivered journeys, and the platform prior.

What a model holds (all JSON-serializable, see ``Model.to_json``):

- ``hists[stage][group]``: how many parcels took 0, 1, 2, ... business days from reaching
  ``stage`` to delivery (counts, fractional after the seasonal adjustment below). ``stage`` is
  where the parcel was when predicted: handed to us (``shipped``), first carrier scan
  (``in_transit``), arrived in the destination country, out for delivery, after a failed attempt,
  waiting at a pickup point. Groups are a chain from fine to coarse (``Lane.keys``): carrier +
  service + origin + destination + postcode prefix, then without the prefix, without the service,
  without the origin, any carrier to the destination, the carrier anywhere, everything. Predicting
  shrinks each group towards its parent, so a thin group borrows from a coarser one.
- ``offsets``: additive business-day effects per carrier and stage of the half-month of the year
  (peak season, summer closures) and of the weekday the journey started (a Friday's parcels wait
  in a depot over the weekend). Counts are stored net of them and predictions add them back.
- ``workdays``: the weekdays each carrier really delivered on (from the data when there is enough
  of it, else ``calendar.CARRIER_DELIVERY_DAYS``).
- ``gaps``: the 95th percentile, in hours, of the time between two carrier scans per carrier,
  destination and status: a parcel quiet for longer than that is stalled. Filled by the service
  from SQL (it needs every scan, not only delivered journeys' milestones).

The platform prior (``build_prior``) is made from tenants' fitted models only, never from rows:
only the coarse groups (no postcode prefix, no service), only groups that at least
``PRIOR_MIN_TENANTS`` tenants contributed to, as normalized shares with a capped, rounded weight
instead of counts, so no tenant's volume, postcode area or single parcel can be read back from it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from wismo.tracking.edd.calendar import (
    MONDAY_TO_FRIDAY,
    calendar,
    cutoff_for,
    delivery_days,
    local_date,
    zone,
)

FORMAT = 1

SHIPPED = "shipped"
IN_TRANSIT = "in_transit"
DESTINATION = "destination"
OUT_FOR_DELIVERY = "out_for_delivery"
FAILED_ATTEMPT = "failed_attempt"
PICKUP = "pickup"
STAGES = (SHIPPED, IN_TRANSIT, DESTINATION, OUT_FOR_DELIVERY, FAILED_ATTEMPT, PICKUP)
# Long horizons, where the season and the starting weekday move the delivery day.
ADJUSTED_STAGES = (SHIPPED, IN_TRANSIT, DESTINATION)
# Stages whose start is a handover to a carrier: the cut-off applies to them.
HANDOVER_STAGES = (SHIPPED, IN_TRANSIT)

MAX_DAYS = 40  # business days; a longer journey counts as this long
LEVELS = 7
PRIOR_LEVELS = (2, 3, 4, 5, 6)  # no postcode prefix, no service
PRIOR_MIN_TENANTS = 3
PRIOR_WEIGHT_CAP = 200  # one tenant's say in a prior group, in parcels
OFFSET_SHRINK = 30.0  # pseudo-parcels pulling an offset towards 0
WORKDAY_MIN_SAMPLES = 300
WORKDAY_MIN_SHARE = 0.025
DEFAULT_RANGE_MASS = 0.85

_ALNUM = re.compile(r"[^0-9A-Z]")
_LEADING_LETTERS = re.compile(r"^[A-Z]+")


def postcode_prefix(country: str, postcode: str) -> str:
    """The postcode area used for grouping: the outward letters in GB/IE, three characters in
    US/CA (ZIP3, FSA), two elsewhere (a province or district in most European systems)."""
    code = (postcode or "").strip().upper()
    if not code.isalnum():
        code = _ALNUM.sub("", code)
    if not code:
        return ""
    if country in ("GB", "UK", "IE"):
        letters = _LEADING_LETTERS.match(code)
        return letters.group(0)[:2] if letters else code[:2]
    if country in ("US", "CA"):
        return code[:3]
    return code[:2]


@dataclass(frozen=True, slots=True)
class Lane:
    """Who carries a parcel from where to where: what a distribution is grouped by."""

    carrier: str
    service: str = ""
    origin: str = ""
    destination: str = ""
    postcode: str = ""  # the prefix (``postcode_prefix``), not the whole postcode

    @classmethod
    def of(
        cls,
        carrier: str,
        *,
        service: str = "",
        origin: str = "",
        destination: str = "",
        postcode: str = "",
    ) -> Lane:
        destination = (destination or "").upper()
        return cls(
            carrier=carrier or "",
            service=(service or "").strip().lower(),
            origin=(origin or "").upper(),
            destination=destination,
            postcode=postcode_prefix(destination, postcode),
        )

    def keys(self) -> tuple[str, ...]:
        """The group chain, finest first (see the module docstring)."""
        c, s, o, d, p = self.carrier, self.service, self.origin, self.destination, self.postcode
        return (
            f"{c}|{s}|{o}|{d}|{p}",
            f"{c}|{s}|{o}|{d}|*",
            f"{c}|*|{o}|{d}|*",
            f"{c}|*|*|{d}|*",
            f"*|*|*|{d}|*",
            f"{c}|*|*|*|*",
            "*|*|*|*|*",
        )

    @property
    def name(self) -> str:
        return f"{self.origin or '?'}->{self.destination or '?'}"


@dataclass(slots=True)
class Journey:
    """A delivered parcel, as the fit needs it: when it reached each stage and was delivered."""

    lane: Lane
    shipped_at: datetime
    delivered_at: datetime
    in_transit_at: datetime | None = None
    destination_at: datetime | None = None
    out_for_delivery_at: datetime | None = None
    failed_attempt_at: datetime | None = None
    pickup_at: datetime | None = None


def half_month(day: date) -> int:
    """0..23: the half of the month of the year a day falls in."""
    return (day.month - 1) * 2 + (day.day > 15)


_DAY_SLOTS: dict[int, tuple[int, int]] = {}


def day_slot(ordinal: int) -> tuple[int, int]:
    """(half-month, weekday) of a day given by its ordinal; memoized, days repeat a lot."""
    found = _DAY_SLOTS.get(ordinal)
    if found is None:
        day = date.fromordinal(ordinal)
        found = _DAY_SLOTS[ordinal] = (half_month(day), day.weekday())
    return found


class LaneClock:
    """Where a lane's days are counted: the destination's delivery calendar, the origin's
    pickup calendar and cut-off, both time zones. Shared by fitting and predicting, so that a
    parcel's days are counted the same way in both.
    """

    __slots__ = ("cutoff", "delivery", "destination_zone", "origin_zone", "pickup")

    def __init__(self, lane: Lane, workdays: frozenset[int]) -> None:
        destination = lane.destination or lane.origin
        origin = lane.origin or lane.destination
        self.delivery = calendar(destination, workdays)
        self.pickup = calendar(origin, MONDAY_TO_FRIDAY)
        self.destination_zone = zone(destination)
        self.origin_zone = zone(origin)
        cutoff = cutoff_for(lane.carrier)
        self.cutoff = cutoff.hour * 60 + cutoff.minute

    def cover(self, first: datetime, last: datetime) -> None:
        """Make both calendars hold the days from ``first`` to ``last`` (see BusinessCalendar)."""
        first_day, last_day = first.toordinal() - 7, last.toordinal() + 7
        self.delivery.cover(first_day, last_day + 3 * MAX_DAYS)
        self.pickup.cover(first_day, last_day)

    def anchor(self, stage: str, at: datetime) -> tuple[int, int]:
        """(the day a stage's count starts, as an ordinal; its position in ``delivery``).

        A handover (``shipped``, ``in_transit``) counts from the origin's local day, or the next
        pickup day when it was a day off or after the cut-off; later stages from the destination's
        local day, rolled to a delivery day.
        """
        if stage in HANDOVER_STAGES:
            local = at.astimezone(self.origin_zone)
            day = local.toordinal()
            pickup = self.pickup
            through = pickup.count_through_ordinal(day)
            before = pickup.count_through_ordinal(day - 1)
            if through == before:  # a day off: the next pickup day
                day = pickup.ordinal_at(before)
            elif local.hour * 60 + local.minute >= self.cutoff:
                day = pickup.ordinal_at(through)
            return day, self.delivery.count_through_ordinal(day - 1)
        day = at.astimezone(self.destination_zone).toordinal()
        position = self.delivery.count_through_ordinal(day - 1)
        return self.delivery.ordinal_at(position), position

    def position_of(self, at: datetime) -> int:
        """The position in ``delivery`` of the destination's local day of ``at`` (a day off
        counts as the business day before it)."""
        return (
            self.delivery.count_through_ordinal(at.astimezone(self.destination_zone).toordinal())
            - 1
        )

    def first_position_from(self, at: datetime) -> int:
        """The position of the first delivery day on or after the local day of ``at``."""
        return self.delivery.count_through_ordinal(
            at.astimezone(self.destination_zone).toordinal() - 1
        )


@dataclass(slots=True)
class Model:
    """A fitted delivery-date model (one tenant's, or a prior's shape without counts)."""

    hists: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)
    workdays: dict[str, list[int]] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)
    range_mass: float = DEFAULT_RANGE_MASS
    samples: int = 0
    trained_until: str = ""

    def workdays_for(self, carrier: str) -> frozenset[int]:
        learned = self.workdays.get(carrier)
        return frozenset(learned) if learned else delivery_days(carrier)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "hists": self.hists,
            "offsets": self.offsets,
            "workdays": self.workdays,
            "gaps": self.gaps,
            "range_mass": self.range_mass,
            "samples": self.samples,
            "trained_until": self.trained_until,
        }

    @classmethod
    def from_json(cls, data: dict) -> Model:
        if not data or data.get("format") != FORMAT:
            return cls()
        return cls(
            hists={stage: dict(groups) for stage, groups in data.get("hists", {}).items()},
            offsets=dict(data.get("offsets", {})),
            workdays={k: list(v) for k, v in data.get("workdays", {}).items()},
            gaps=dict(data.get("gaps", {})),
            range_mass=float(data.get("range_mass", DEFAULT_RANGE_MASS)),
            samples=int(data.get("samples", 0)),
            trained_until=str(data.get("trained_until", "")),
        )


def learn_workdays(journeys: Sequence[Journey]) -> dict[str, list[int]]:
    """The weekdays each carrier delivered on, where there is enough data to say."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for j in journeys:
        country = j.lane.destination or j.lane.origin
        counts[j.lane.carrier][local_date(j.delivered_at, country).weekday()] += 1
    learned = {}
    for carrier, per_day in counts.items():
        total = sum(per_day)
        if total < WORKDAY_MIN_SAMPLES:
            continue
        days = [d for d in range(7) if per_day[d] / total >= WORKDAY_MIN_SHARE]
        if days:
            learned[carrier] = days
    return learned


def _trim(hist: list[float], digits: int = 2) -> list[float]:
    size = len(hist)
    while size and hist[size - 1] < 10**-digits / 2:
        size -= 1
    out = []
    for v in hist[:size]:
        if v:
            v = round(v, digits)
            out.append(int(v) if v == int(v) else v)
        else:
            out.append(0)
    return out


def fit(
    journeys: Sequence[Journey],
    *,
    range_mass: float = DEFAULT_RANGE_MASS,
    trained_until: datetime | None = None,
) -> Model:
    """Learn a model from delivered journeys (any order). Pure and deterministic."""
    workdays = learn_workdays(journeys)

    # 1. One sample per journey and stage reached: (finest key, carrier, L3 key, business days,
    #    half-month * 7 + weekday of the start). Lanes are few: their keys and clocks are
    #    computed once each.
    lanes: dict[Lane, tuple[tuple[str, ...], LaneClock]] = {}
    samples: dict[str, list[tuple]] = {stage: [] for stage in STAGES}
    carrier_days = {
        carrier: frozenset(workdays[carrier]) if carrier in workdays else delivery_days(carrier)
        for carrier in {j.lane.carrier for j in journeys}
    }
    if journeys:
        earliest = min(j.shipped_at for j in journeys)
        latest = max(j.delivered_at for j in journeys)
    for j in journeys:
        lane = j.lane
        known = lanes.get(lane)
        if known is None:
            clock = LaneClock(lane, carrier_days[lane.carrier])
            clock.cover(earliest, latest)
            known = lanes[lane] = (lane.keys(), clock)
        keys, clock = known
        delivered = j.delivered_at
        end = clock.position_of(delivered)
        head = (keys[0], lane.carrier, keys[3])
        for stage, at in (
            (SHIPPED, j.shipped_at),
            (IN_TRANSIT, j.in_transit_at),
            (DESTINATION, j.destination_at),
            (OUT_FOR_DELIVERY, j.out_for_delivery_at),
            (FAILED_ATTEMPT, j.failed_attempt_at),
            (PICKUP, j.pickup_at),
        ):
            if at is None or at > delivered:
                continue
            day, position = clock.anchor(stage, at)
            taken = min(max(end - position, 0), MAX_DAYS)
            period, weekday = day_slot(day)
            samples[stage].append((*head, taken, period, weekday))

    # 2. Offsets of the season and the starting weekday, on the long stages: mean residuals
    #    against the carrier-to-destination mean, shrunk towards zero when thin.
    offsets: dict[str, float] = {}
    shifts: dict[str, dict[tuple[str, int, int], float]] = {}
    for stage in ADJUSTED_STAGES:
        rows = samples[stage]
        if not rows:
            continue
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for _key, _carrier, l3, taken, _p, _w in rows:
            slot = totals[l3]
            slot[0] += taken
            slot[1] += 1
        means = {k: s / n for k, (s, n) in totals.items()}
        by_period: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0])
        for _key, carrier, l3, taken, period, _w in rows:
            slot = by_period[(carrier, period)]
            slot[0] += taken - means[l3]
            slot[1] += 1
        period_offset = {k: s / (n + OFFSET_SHRINK) for k, (s, n) in by_period.items()}
        by_weekday: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0])
        for _key, carrier, l3, taken, period, weekday in rows:
            slot = by_weekday[(carrier, weekday)]
            slot[0] += taken - means[l3] - period_offset[(carrier, period)]
            slot[1] += 1
        weekday_offset = {k: s / (n + OFFSET_SHRINK) for k, (s, n) in by_weekday.items()}
        for (carrier, period), value in period_offset.items():
            offsets[f"{carrier}|{stage}|p{period}"] = value
        for (carrier, weekday), value in weekday_offset.items():
            offsets[f"{carrier}|{stage}|w{weekday}"] = value
        shifts[stage] = {
            (carrier, period, weekday): value + weekday_offset.get((carrier, weekday), 0.0)
            for (carrier, period), value in period_offset.items()
            for weekday in range(7)
        }

    # 3. Histograms at the finest group, net of the offsets, then summed up the chain.
    hists: dict[str, dict[str, list[float]]] = {}
    by_finest = {keys[0]: keys for keys, _clock in lanes.values()}
    for stage in STAGES:
        fine: dict[str, list[float]] = {}
        stage_shifts = shifts.get(stage)
        for key0, carrier, _l3, taken, period, weekday in samples[stage]:
            hist = fine.get(key0)
            if hist is None:
                hist = fine[key0] = [0.0] * (MAX_DAYS + 1)
            if stage_shifts is None:
                hist[taken] += 1.0
                continue
            # The parcel's days net of its season and weekday, split between two whole days.
            value = taken - stage_shifts[(carrier, period, weekday)]
            value = 0.0 if value < 0 else MAX_DAYS if value > MAX_DAYS else value
            low = int(value)
            share = value - low
            hist[low] += 1.0 - share
            if share:
                hist[low + 1 if low < MAX_DAYS else MAX_DAYS] += share
        groups: dict[str, list[float]] = {}
        for key0, hist in fine.items():
            for key in by_finest[key0]:
                total = groups.get(key)
                if total is None:
                    groups[key] = list(hist)
                else:
                    for i, v in enumerate(hist):
                        if v:
                            total[i] += v
        if groups:
            hists[stage] = {key: _trim(hist) for key, hist in groups.items()}

    return Model(
        hists=hists,
        offsets={k: round(v, 3) for k, v in offsets.items() if abs(v) >= 0.005},
        workdays=workdays,
        range_mass=range_mass,
        samples=len(journeys),
        trained_until=trained_until.isoformat() if trained_until else "",
    )


def p95_from_buckets(buckets: dict[int, int], quantile: float = 0.95) -> float | None:
    """The quantile (in the buckets' unit) of a histogram {bucket: count}; None when empty."""
    total = sum(buckets.values())
    if not total:
        return None
    need = quantile * total
    running = 0
    for bucket in sorted(buckets):
        running += buckets[bucket]
        if running >= need:
            return float(bucket + 1)  # the bucket's upper edge
    return float(max(buckets) + 1)  # pragma: no cover - the loop always reaches the total


# --- the platform prior ------------------------------------------------------------------------


@dataclass(slots=True)
class Prior:
    """Coarse shares, offsets and gap thresholds agreed by several tenants; no counts, no rows."""

    hists: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # [weight, *shares]
    offsets: dict[str, float] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)
    tenants: int = 0

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "hists": self.hists,
            "offsets": self.offsets,
            "gaps": self.gaps,
            "tenants": self.tenants,
        }

    @classmethod
    def from_json(cls, data: dict) -> Prior:
        if not data or data.get("format") != FORMAT:
            return cls()
        return cls(
            hists={stage: dict(groups) for stage, groups in data.get("hists", {}).items()},
            offsets=dict(data.get("offsets", {})),
            gaps=dict(data.get("gaps", {})),
            tenants=int(data.get("tenants", 0)),
        )


def _is_prior_key(key: str) -> bool:
    _carrier, service, _origin, _destination, prefix = key.split("|")
    return service == "*" and prefix == "*"


def build_prior(models: Iterable[Model], *, min_tenants: int = PRIOR_MIN_TENANTS) -> Prior:
    """Aggregate tenants' models into the platform prior (see the module docstring).

    Each tenant counts once per group, its shares weighted by its parcels capped at
    ``PRIOR_WEIGHT_CAP`` so that a big tenant does not become the prior; the stored weight is
    capped and rounded so it tells nothing of anyone's volume.
    """
    shares: dict[tuple[str, str], list[tuple[float, list[float]]]] = defaultdict(list)
    offsets: dict[str, list[float]] = defaultdict(list)
    gaps: dict[str, list[float]] = defaultdict(list)
    tenants = 0
    for model in models:
        if not model.samples:
            continue
        tenants += 1
        for stage, groups in model.hists.items():
            for key, hist in groups.items():
                total = sum(hist)
                if total < 5 or not _is_prior_key(key):
                    continue
                shares[(stage, key)].append(
                    (min(total, PRIOR_WEIGHT_CAP), [v / total for v in hist])
                )
        for key, value in model.offsets.items():
            offsets[key].append(value)
        for key, value in model.gaps.items():
            if key.split("|")[1] == "*":  # carrier-wide thresholds only
                gaps[key].append(value)

    hists: dict[str, dict[str, list[float]]] = defaultdict(dict)
    for (stage, key), contributions in shares.items():
        if len(contributions) < min_tenants:
            continue
        weight = sum(w for w, _ in contributions)
        width = max(len(s) for _, s in contributions)
        mixed = [0.0] * width
        for w, share in contributions:
            for i, v in enumerate(share):
                mixed[i] += w * v / weight
        stored_weight = float(min(round(weight, -1), 10 * PRIOR_WEIGHT_CAP))
        hists[stage][key] = [stored_weight, *_trim(mixed, 3)]
    return Prior(
        hists=dict(hists),
        offsets={k: round(sum(v) / len(v), 3) for k, v in offsets.items() if len(v) >= min_tenants},
        gaps={
            k: round(sorted(v)[len(v) // 2], 1) for k, v in gaps.items() if len(v) >= min_tenants
        },
        tenants=tenants,
    )
