"""Predicting a delivery day and range from a fitted model (and the prior), given where a parcel is.

Flow of ``Predictor.predict``:

1. the stage reached decides the distribution: the furthest milestone the parcel has passed
   (``stage_marks`` reads them off its timeline), falling back to an earlier one the model knows;
2. the distribution of business days from that stage is the group chain's, each group shrunk
   towards its parent with ``SHRINK`` pseudo-parcels; the tenant's coarsest group shrinks
   towards the prior's matching chain when there is a prior;
3. the season's and starting weekday's offsets are added back (a fractional shift splits the
   mass between two neighbouring days);
4. days already gone are ruled out: a parcel not yet delivered today arrives today or later;
5. the most likely day is the mode; the range is the shortest run of days holding the model's
   ``range_mass`` of the probability; the confidence grows with the parcels behind the group
   and shrinks with the width of the range.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from carriers.statuses import Status
from wismo.tracking.edd.calendar import BusinessCalendar, delivery_days
from wismo.tracking.edd.model import (
    ADJUSTED_STAGES,
    DEFAULT_RANGE_MASS,
    DESTINATION,
    FAILED_ATTEMPT,
    IN_TRANSIT,
    LEVELS,
    MAX_DAYS,
    OUT_FOR_DELIVERY,
    PICKUP,
    PRIOR_LEVELS,
    SHIPPED,
    Lane,
    LaneClock,
    Model,
    Prior,
    day_slot,
)

SHRINK = 10.0  # pseudo-parcels of the parent group in each group's distribution
CONFIDENCE_SAMPLES = 30.0  # parcels at which the sample-size factor is one half
HIGH, MEDIUM = 0.7, 0.4  # confidence score thresholds of the labels

# Substatuses that mean "arrived in the destination country" (customs release included: it is
# the destination's customs).
DESTINATION_SUBSTATUSES = frozenset(
    {"in_transit.arrived_destination_country", "in_transit.customs_released"}
)
# The parcel will not reach the shopper: nothing to predict.
NO_DELIVERY_SUBSTATUSES = frozenset(
    {
        "exception.returning_to_sender",
        "exception.returned_to_sender",
        "exception.cancelled",
        "exception.lost",
        "exception.refused",
        "exception.damaged",
    }
)

# Where to look, from the stage reached back to earlier ones the model may know better.
_FALLBACK = {
    SHIPPED: (SHIPPED,),
    IN_TRANSIT: (IN_TRANSIT, SHIPPED),
    DESTINATION: (DESTINATION, IN_TRANSIT, SHIPPED),
    OUT_FOR_DELIVERY: (OUT_FOR_DELIVERY,),
    FAILED_ATTEMPT: (FAILED_ATTEMPT, OUT_FOR_DELIVERY),
    PICKUP: (PICKUP,),
}
# Short last legs nobody needs history for (business days 0, 1, 2, ...).
_DEFAULT_LAST_LEG = {
    OUT_FOR_DELIVERY: [0.9, 0.08, 0.02],
    FAILED_ATTEMPT: [0.05, 0.6, 0.25, 0.1],
    PICKUP: [0.25, 0.25, 0.15, 0.1, 0.08, 0.06, 0.06, 0.05],
}


def confidence_label(score: float | None) -> str:
    """ "high", "medium" or "low" for a stored confidence score (empty when there is none)."""
    if score is None:
        return ""
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


@dataclass(frozen=True, slots=True)
class Prediction:
    estimated: date
    earliest: date
    latest: date
    confidence: float
    stage: str
    basis: str  # "tenant", "prior" or "default"
    samples: float  # parcels behind the finest group of the tenant's own that was used

    @property
    def label(self) -> str:
        return confidence_label(self.confidence)

    @property
    def width_days(self) -> int:
        return (self.latest - self.earliest).days


def stage_marks(
    timeline: Iterable[tuple[datetime, str, str]], *, shipped_at: datetime | None
) -> dict[str, datetime]:
    """When a parcel reached each stage, from its timeline of (occurred_at, status, substatus).

    First times for the handover, the destination country and a pickup point; last times for
    "out for delivery" and "failed attempt" (the latest round is the one that counts).
    """
    marks: dict[str, datetime] = {}
    if shipped_at is not None:
        marks[SHIPPED] = shipped_at
    for at, status, substatus in timeline:
        if status == Status.IN_TRANSIT:
            _first(marks, IN_TRANSIT, at)
            if substatus in DESTINATION_SUBSTATUSES:
                _first(marks, DESTINATION, at)
        elif status == Status.OUT_FOR_DELIVERY:
            _last(marks, OUT_FOR_DELIVERY, at)
        elif status == Status.FAILED_ATTEMPT:
            _last(marks, FAILED_ATTEMPT, at)
        elif status == Status.AVAILABLE_FOR_PICKUP:
            _first(marks, PICKUP, at)
    return marks


def _first(marks: dict[str, datetime], stage: str, at: datetime) -> None:
    if stage not in marks or at < marks[stage]:
        marks[stage] = at


def _last(marks: dict[str, datetime], stage: str, at: datetime) -> None:
    if stage not in marks or at > marks[stage]:
        marks[stage] = at


def current_stage(status: str, marks: dict[str, datetime]) -> str | None:
    """The stage to predict from, given the shipment's status; None when there is nothing to say."""
    if status in (Status.PENDING, Status.INFO_RECEIVED):
        return SHIPPED
    if status in (Status.IN_TRANSIT, Status.EXCEPTION):
        for stage in (DESTINATION, IN_TRANSIT, SHIPPED):
            if stage in marks:
                return stage
        return None
    if status == Status.OUT_FOR_DELIVERY:
        return OUT_FOR_DELIVERY
    if status == Status.FAILED_ATTEMPT:
        return FAILED_ATTEMPT
    if status == Status.AVAILABLE_FOR_PICKUP:
        return PICKUP
    return None  # delivered, expired


def _shift(pmf: list[float], offset: float) -> list[float]:
    """``pmf`` moved by ``offset`` business days (fractional: split between two whole days)."""
    if abs(offset) < 1e-9:
        return pmf
    whole = int(offset // 1)
    share = offset - whole
    out = [0.0] * (MAX_DAYS + 1)
    for i, v in enumerate(pmf):
        if not v:
            continue
        for j, part in ((i + whole, 1.0 - share), (i + whole + 1, share)):
            if part:
                out[min(max(j, 0), MAX_DAYS)] += v * part
    return out


def shortest_run(pmf: list[float], mass: float) -> tuple[int, int]:
    """The shortest run of days [a, b] holding at least ``mass`` (the heavier one on ties)."""
    best = (0, len(pmf) - 1)
    best_mass = -1.0
    a = 0
    running = 0.0
    for b, v in enumerate(pmf):
        running += v
        while a < b and running - pmf[a] >= mass - 1e-12:
            running -= pmf[a]
            a += 1
        if running >= mass - 1e-12:
            width, best_width = b - a, best[1] - best[0]
            if width < best_width or (width == best_width and running > best_mass):
                best, best_mass = (a, b), running
    return best


@dataclass(frozen=True, slots=True)
class Situation:
    """Where a parcel stands: shares of delivery ``k`` business days after ``base``."""

    pmf: list[float]
    base: int  # the anchor's position in ``calendar``
    calendar: BusinessCalendar
    stage: str  # the stage whose distribution was used
    own: float
    basis: str
    late: bool


class Predictor:
    """A tenant's model and the prior, ready to answer fast (distributions memoized)."""

    def __init__(self, model: Model | None, prior: Prior | None = None) -> None:
        self.model = model if model and model.samples else None
        self.prior = prior if prior and prior.hists else None
        self._memo: dict[tuple[str, str], tuple[list[float], float, str] | None] = {}
        self._clocks: dict[Lane, LaneClock] = {}

    @property
    def usable(self) -> bool:
        return self.model is not None or self.prior is not None

    def workdays(self, carrier: str) -> frozenset[int]:
        return self.model.workdays_for(carrier) if self.model else delivery_days(carrier)

    def distribution(self, stage: str, lane: Lane) -> tuple[list[float], float, str] | None:
        """(shares per business day, the tenant's own parcels behind it, basis) or None."""
        keys = lane.keys()
        memo_key = (stage, keys[0])
        if memo_key in self._memo:
            return self._memo[memo_key]
        pmf: list[float] | None = None
        basis = ""
        own = 0.0
        if self.prior is not None:
            groups = self.prior.hists.get(stage, {})
            for level in reversed(PRIOR_LEVELS):
                entry = groups.get(keys[level])
                if entry:
                    pmf = _blend(entry[1:], entry[0], pmf)
                    basis = "prior"
        if self.model is not None:
            groups = self.model.hists.get(stage, {})
            for level in reversed(range(LEVELS)):
                counts = groups.get(keys[level])
                if counts:
                    n = sum(counts)
                    pmf = _blend([v / n for v in counts], n, pmf)
                    basis, own = "tenant", n
        if pmf is None and stage in _DEFAULT_LAST_LEG:
            pmf, basis = list(_DEFAULT_LAST_LEG[stage]), "default"
        result = None if pmf is None else (_pad(pmf), own, basis)
        if len(self._memo) > 50_000:
            self._memo.clear()
        self._memo[memo_key] = result
        return result

    def offset(self, carrier: str, stage: str, period: int, weekday: int) -> float:
        if stage not in ADJUSTED_STAGES:
            return 0.0
        source = self.model.offsets if self.model else self.prior.offsets if self.prior else {}
        return source.get(f"{carrier}|{stage}|p{period}", 0.0) + source.get(
            f"{carrier}|{stage}|w{weekday}", 0.0
        )

    def clock(self, lane: Lane) -> LaneClock:
        found = self._clocks.get(lane)
        if found is None:
            if len(self._clocks) > 10_000:
                self._clocks.clear()
            found = self._clocks[lane] = LaneClock(lane, self.workdays(lane.carrier))
        return found

    @property
    def range_mass(self) -> float:
        return self.model.range_mass if self.model else DEFAULT_RANGE_MASS

    def situation(
        self, *, lane: Lane, marks: dict[str, datetime], stage: str, now: datetime
    ) -> Situation | None:
        """Steps 1-4 of the module docstring: the shares of each business day from the anchor."""
        for candidate in _FALLBACK.get(stage, ()):
            at = marks.get(candidate)
            if at is None:
                continue
            found = self.distribution(candidate, lane)
            if found is not None:
                break
        else:
            return None
        pmf, own, basis = found
        clock = self.clock(lane)
        clock.cover(min(at, now), max(at, now))
        day, base = clock.anchor(candidate, at)
        pmf = _shift(pmf, self.offset(lane.carrier, candidate, *day_slot(day)))
        gone = max(0, clock.first_position_from(now) - base)
        late = False
        if gone:
            pmf = [0.0] * gone + pmf[gone:]
            total = sum(pmf)
            if total < 0.02:  # later than anything seen: say "soon" with little confidence
                pmf = [0.0] * gone + [0.5, 0.3, 0.2]
                late = True
            else:
                pmf = [v / total for v in pmf]
        return Situation(pmf, base, clock.delivery, candidate, own, basis, late)

    def predict(
        self,
        *,
        lane: Lane,
        marks: dict[str, datetime],
        stage: str,
        now: datetime,
        troubled: bool = False,
    ) -> Prediction | None:
        """The delivery day and range of a parcel at ``stage`` (see the module docstring).

        ``troubled`` (an exception on the timeline) keeps the prediction but lowers confidence.
        """
        s = self.situation(lane=lane, marks=marks, stage=stage, now=now)
        if s is None:
            return None
        pmf = s.pmf
        first, last = shortest_run(pmf, self.range_mass)
        mode = max(range(first, last + 1), key=lambda i: (pmf[i], -i))
        if s.late or s.basis == "default":
            score = 0.15
        else:
            samples = s.own if s.basis == "tenant" else 0.5 * CONFIDENCE_SAMPLES
            score = (samples / (samples + CONFIDENCE_SAMPLES)) / (
                1.0 + 0.3 * max(0, last - first - 1)
            )
            if troubled or s.stage != stage:
                score *= 0.6
        return Prediction(
            estimated=s.calendar.day_at(s.base + mode),
            earliest=s.calendar.day_at(s.base + first),
            latest=s.calendar.day_at(s.base + last),
            confidence=round(score, 2),
            stage=s.stage,
            basis=s.basis,
            samples=round(s.own, 1),
        )

    def stall_after(self, carrier: str, destination: str, status: str) -> timedelta | None:
        """How long a parcel in ``status`` may stay quiet before it counts as stalled."""
        default = DEFAULT_STALL_HOURS.get(status)
        if default is None:
            return None
        for source in (
            self.model.gaps if self.model else {},
            self.prior.gaps if self.prior else {},
        ):
            for key in (f"{carrier}|{destination}|{status}", f"{carrier}|*|{status}"):
                hours = source.get(key)
                if hours:
                    return timedelta(hours=max(hours, MIN_STALL_HOURS))
        return timedelta(hours=default)


# Quiet hours after which a parcel counts as stalled when history is thin, per status. Pickup
# waits for the shopper and exceptions are flagged as such: neither stalls. Label-only parcels
# are "never scanned" instead.
DEFAULT_STALL_HOURS: dict[str, float] = {
    Status.IN_TRANSIT: 96.0,
    Status.OUT_FOR_DELIVERY: 36.0,
    Status.FAILED_ATTEMPT: 96.0,
}
MIN_STALL_HOURS = 24.0


def _blend(shares: list[float], weight: float, parent: list[float] | None) -> list[float]:
    if parent is None:
        return list(shares)
    size = max(len(shares), len(parent))
    out = [0.0] * size
    total = weight + SHRINK
    for i, v in enumerate(shares):
        out[i] += v * weight / total
    for i, v in enumerate(parent):
        out[i] += v * SHRINK / total
    return out


def _pad(pmf: list[float]) -> list[float]:
    total = sum(pmf) or 1.0
    out = [v / total for v in pmf[: MAX_DAYS + 1]]
    return out + [0.0] * (MAX_DAYS + 1 - len(out))
