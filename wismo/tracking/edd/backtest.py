"""Measuring predictions against what really happened, the way they would have been made.

``backtest`` replays a tenant's history in time order: for each of the last ``months`` calendar
months, a model is fitted on the parcels delivered before the month began and predicts, at the
moment each parcel of the month was shipped, when it would arrive. Nothing from the future is
used (the prior, which is built from today's models, is left out for that reason).

``evaluate`` scores predictions: the share of deliveries inside the range (range hit rate), on
the most likely day (exact-day hit rate), the mean absolute error in calendar days, the median
range width, overall and per carrier, per lane (origin -> destination country) and per both.
Next to it, the naive baseline: the carrier's average transit time in calendar days, from the
same training data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from wismo.tracking.edd.calendar import local_date
from wismo.tracking.edd.model import SHIPPED, Journey, fit
from wismo.tracking.edd.predict import Prediction, Predictor, shortest_run

RANGE_COVERAGE = 0.88  # what a tuned range aims to cover, with a margin over the 85% promised


@dataclass(slots=True)
class Score:
    n: int = 0
    in_range: int = 0
    exact: int = 0
    abs_error: int = 0
    widths: list[int] = field(default_factory=list)
    naive_exact: int = 0
    naive_abs_error: int = 0

    def add(self, prediction: Prediction, actual: date, naive: date | None) -> None:
        self.n += 1
        self.in_range += prediction.earliest <= actual <= prediction.latest
        self.exact += prediction.estimated == actual
        self.abs_error += abs((prediction.estimated - actual).days)
        self.widths.append((prediction.latest - prediction.earliest).days)
        if naive is not None:
            self.naive_exact += naive == actual
            self.naive_abs_error += abs((naive - actual).days)

    def as_dict(self) -> dict:
        n = self.n or 1
        widths = sorted(self.widths)
        return {
            "n": self.n,
            "range_hit_rate": round(self.in_range / n, 4),
            "exact_day_hit_rate": round(self.exact / n, 4),
            "mae_days": round(self.abs_error / n, 3),
            "median_range_width_days": widths[len(widths) // 2] if widths else None,
            "naive_exact_day_hit_rate": round(self.naive_exact / n, 4),
            "naive_mae_days": round(self.naive_abs_error / n, 3),
        }


@dataclass(slots=True)
class Report:
    overall: Score = field(default_factory=Score)
    carriers: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    lanes: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    carrier_lanes: dict[str, Score] = field(default_factory=lambda: defaultdict(Score))
    folds: list[dict] = field(default_factory=list)
    unpredicted: int = 0

    def add(self, journey: Journey, prediction: Prediction, actual: date, naive: date | None):
        lane = journey.lane
        for score in (
            self.overall,
            self.carriers[lane.carrier],
            self.lanes[lane.name],
            self.carrier_lanes[f"{lane.carrier} {lane.name}"],
        ):
            score.add(prediction, actual, naive)

    def as_dict(self) -> dict:
        return {
            "overall": self.overall.as_dict(),
            "carriers": {k: v.as_dict() for k, v in sorted(self.carriers.items())},
            "lanes": {k: v.as_dict() for k, v in sorted(self.lanes.items())},
            "carrier_lanes": {k: v.as_dict() for k, v in sorted(self.carrier_lanes.items())},
            "folds": self.folds,
            "unpredicted": self.unpredicted,
        }


def naive_baseline(journeys: Sequence[Journey]) -> Callable[[Journey], date | None]:
    """The carrier's average transit time in calendar days, as a predictor of the day."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for j in journeys:
        country = j.lane.destination or j.lane.origin
        days = (local_date(j.delivered_at, country) - local_date(j.shipped_at, country)).days
        totals[j.lane.carrier][0] += days
        totals[j.lane.carrier][1] += 1
    means = {c: round(s / n) for c, (s, n) in totals.items() if n}

    def guess(journey: Journey) -> date | None:
        mean = means.get(journey.lane.carrier)
        if mean is None:
            return None
        country = journey.lane.destination or journey.lane.origin
        return date.fromordinal(local_date(journey.shipped_at, country).toordinal() + mean)

    return guess


def evaluate(
    predictor: Predictor,
    journeys: Sequence[Journey],
    *,
    naive: Callable[[Journey], date | None] | None = None,
    report: Report | None = None,
) -> Report:
    """Score predictions made at shipping time for delivered ``journeys``."""
    report = report if report is not None else Report()
    for j in journeys:
        prediction = predictor.predict(
            lane=j.lane, marks={SHIPPED: j.shipped_at}, stage=SHIPPED, now=j.shipped_at
        )
        if prediction is None:
            report.unpredicted += 1
            continue
        actual = local_date(j.delivered_at, j.lane.destination or j.lane.origin)
        report.add(j, prediction, actual, naive(j) if naive else None)
    return report


def _month_starts(last: datetime, months: int) -> list[datetime]:
    year, month = last.year, last.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(starts)


def backtest(
    journeys: Sequence[Journey],
    *,
    months: int = 6,
    now: datetime,
    min_train: int = 30,
    coverage: float = RANGE_COVERAGE,
) -> Report:
    """Rolling monthly folds over the last ``months`` months up to ``now`` (see module docs)."""
    ordered = sorted(journeys, key=lambda j: j.delivered_at)
    report = Report()
    for start in _month_starts(now, months):
        end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
        train = [j for j in ordered if j.delivered_at < start]
        test = [j for j in ordered if start <= j.shipped_at < end]
        if len(train) < min_train or not test:
            continue
        before = report.overall.n
        # Fitted as production fits: with the range tuned to its coverage on recent parcels.
        mass = tune_range_mass(train, coverage=coverage)
        model = fit(train, **({"range_mass": mass} if mass else {}))
        evaluate(Predictor(model), test, naive=naive_baseline(train), report=report)
        report.folds.append(
            {"month": start.strftime("%Y-%m"), "trained_on": len(train), "tested": len(test),
             "scored": report.overall.n - before}
        )  # fmt: skip
    return report


RANGE_MASSES = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def tune_range_mass(
    journeys: Sequence[Journey],
    *,
    coverage: float,
    holdout: float = 0.1,
    max_train: int = 100_000,
    max_test: int = 20_000,
) -> float | None:
    """The smallest range mass whose ranges cover ``coverage`` of recent deliveries.

    A model fitted on the older deliveries (a regular subsample of at most ``max_train``: the
    mass needs the distributions' shape, not every parcel) predicts the most recent ``holdout``
    share at shipping time. None when there is too little history to say.
    """
    if len(journeys) < 200:
        return None
    ordered = sorted(journeys, key=lambda j: j.delivered_at)
    cut = int(len(ordered) * (1 - holdout))
    train, test = ordered[:cut], ordered[cut:]
    train = train[:: max(1, len(train) // max_train)]
    test = test[:: max(1, len(test) // max_test)]
    predictor = Predictor(fit(train))
    cases = []
    for j in test:
        s = predictor.situation(
            lane=j.lane, marks={SHIPPED: j.shipped_at}, stage=SHIPPED, now=j.shipped_at
        )
        if s is None:
            continue
        actual = local_date(j.delivered_at, j.lane.destination or j.lane.origin)
        cases.append((s.pmf, s.calendar.count_through(actual) - 1 - s.base))
    if not cases:
        return None
    for mass in RANGE_MASSES:
        hits = 0
        for pmf, actual in cases:
            first, last = shortest_run(pmf, mass)
            hits += first <= actual <= last
        if hits / len(cases) >= coverage:
            return mass
    return RANGE_MASSES[-1]
