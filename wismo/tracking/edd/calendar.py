"""Business days: the days a carrier hands parcels over and delivers them in a country.

Transit times are learned and predicted in business days, so that a parcel shipped on a Friday
before a public holiday is not expected on the Monday. A calendar is (country, working weekdays):

- public holidays come from the ``holidays`` library (national holidays of the country, no
  regional ones); a country the library does not know has weekends only;
- working weekdays depend on the carrier: parcel networks deliver Monday to Friday, several postal
  operators and parcel networks also on Saturday (``CARRIER_DELIVERY_DAYS``), nobody on Sunday by
  default. A fitted model may widen or narrow this from the weekdays a carrier really delivered on;
- a parcel handed over after the carrier's daily collection (the cut-off, ``CARRIER_CUTOFF``,
  17:00 local unless the table says otherwise) starts its journey on the next business day.

A calendar answers in O(1) from two arrays built once per (country, weekdays): the running count
of business days, and the list of business days in order.
"""

from __future__ import annotations

import threading
from array import array
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from carriers.tz import zone_for

MONDAY_TO_FRIDAY = frozenset({0, 1, 2, 3, 4})
MONDAY_TO_SATURDAY = frozenset({0, 1, 2, 3, 4, 5})

# Weekdays (Monday = 0) on which a carrier delivers parcels to homes as a rule. Carriers not
# listed deliver Monday to Friday.
CARRIER_DELIVERY_DAYS: dict[str, frozenset[int]] = {
    "royal_mail": MONDAY_TO_SATURDAY,
    "usps": MONDAY_TO_SATURDAY,
    "la_poste": MONDAY_TO_SATURDAY,
    "postnl": MONDAY_TO_SATURDAY,
    "dhl": MONDAY_TO_SATURDAY,  # DHL Paket delivers on Saturdays in Germany
}

DEFAULT_CUTOFF = time(17, 0)
# The local time after which a parcel handed over counts as handed over the next business day.
CARRIER_CUTOFF: dict[str, time] = {
    "ups": time(18, 0),
    "fedex": time(18, 0),
    "dhl_express": time(18, 0),
}

# The span built up front (widened on demand): recent history and the coming years.
_YEARS_BACK = 4
_YEARS_AHEAD = 3


def delivery_days(carrier: str) -> frozenset[int]:
    return CARRIER_DELIVERY_DAYS.get(carrier, MONDAY_TO_FRIDAY)


def cutoff_for(carrier: str) -> time:
    return CARRIER_CUTOFF.get(carrier, DEFAULT_CUTOFF)


@lru_cache(maxsize=1024)
def zone(country: str) -> ZoneInfo:
    """The time zone parcels of ``country`` live in (its main zone; UTC when unknown).

    Cached here: ``ZoneInfo``'s own cache keeps only a handful of zones, and reloading a zone
    file per parcel would dominate a fit.
    """
    return zone_for(country or None)


class BusinessCalendar:
    """Business days of one country for one set of working weekdays.

    Counts and positions are relative to the first day built: compare them only within one
    computation, after ``cover`` made sure the span holds every day involved (a span widened
    backwards renumbers them).
    """

    def __init__(self, country: str, workdays: frozenset[int]) -> None:
        self.country = (country or "").upper()
        self.workdays = frozenset(workdays) or MONDAY_TO_FRIDAY
        self._lock = threading.Lock()
        this_year = datetime.now(UTC).year
        self._build(this_year - _YEARS_BACK, this_year + _YEARS_AHEAD)

    def _holiday_dates(self, first_year: int, last_year: int) -> set[date]:
        code = {"UK": "GB"}.get(self.country, self.country)
        if not code:
            return set()
        try:
            found = holidays.country_holidays(code, years=range(first_year, last_year + 1))
        except NotImplementedError:  # a country the library does not know: weekends only
            return set()
        return set(found)

    def _build(self, first_year: int, last_year: int) -> None:
        off = {d.toordinal() for d in self._holiday_dates(first_year, last_year)}
        first = date(first_year, 1, 1).toordinal()
        last = date(last_year, 12, 31).toordinal()
        cum = array("l")
        days = array("l")
        running = 0
        weekday = date.fromordinal(first).weekday()
        for ordinal in range(first, last + 1):
            if weekday in self.workdays and ordinal not in off:
                running += 1
                days.append(ordinal)
            cum.append(running)
            weekday = (weekday + 1) % 7
        # One attribute, swapped whole: a reader never sees a new start with old counts.
        self._span = (first, last, cum, days)
        self.holidays = frozenset(date.fromordinal(o) for o in off)

    def cover(self, first: int, last: int) -> None:
        """Make sure the span holds the ordinals ``first`` to ``last`` (with room after)."""
        span_first, span_last, _cum, _days = self._span
        if span_first <= first and last + 400 <= span_last:
            return
        with self._lock:  # rare: dates years away
            span_first, span_last, _cum, _days = self._span
            first_year = min(date.fromordinal(span_first).year, date.fromordinal(first).year - 1)
            last_year = max(date.fromordinal(span_last).year, date.fromordinal(last).year + 2)
            self._build(first_year, last_year)

    # Ordinal-based primitives (the fast path of fits and predictions).

    def count_through_ordinal(self, ordinal: int) -> int:
        """How many business days fall on or before the day ``ordinal`` (see the class doc)."""
        first, last, cum, _days = self._span
        if not first <= ordinal <= last:
            self.cover(ordinal, ordinal)
            first, last, cum, _days = self._span
        return cum[ordinal - first]

    def ordinal_at(self, position: int) -> int:
        """The ordinal of the business day at a 0-based ``position``."""
        days = self._span[3]
        if position >= len(days):
            self.cover(self._span[1], self._span[1] + 400)
            days = self._span[3]
        return days[max(position, 0)]

    # Date-based conveniences.

    def is_business_day(self, day: date) -> bool:
        ordinal = day.toordinal()
        return self.count_through_ordinal(ordinal) != self.count_through_ordinal(ordinal - 1)

    def count_through(self, day: date) -> int:
        """How many business days fall on or before ``day`` (from the calendar's first day)."""
        return self.count_through_ordinal(day.toordinal())

    def position(self, day: date) -> int:
        """The 0-based position of the first business day on or after ``day``."""
        return self.count_through_ordinal(day.toordinal() - 1)

    def day_at(self, position: int) -> date:
        """The business day at ``position`` (see ``position``)."""
        return date.fromordinal(self.ordinal_at(position))

    def on_or_after(self, day: date) -> date:
        return self.day_at(self.position(day))

    def after(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        return self.day_at(self.count_through(day))

    def add(self, start: date, business_days: int) -> date:
        """The ``business_days``-th business day after the first business day on/after ``start``."""
        self.cover(start.toordinal(), start.toordinal() + 2 * business_days + 14)
        return self.day_at(self.position(start) + business_days)

    def between(self, start: date, end: date) -> int:
        """Business days from ``start`` (rolled to a business day) to ``end``; 0 when not after.

        A parcel delivered on a day the calendar does not work counts as delivered on the
        business day before it.
        """
        self.cover(min(start, end).toordinal(), max(start, end).toordinal())
        return max(0, self.count_through(end) - 1 - self.position(start))

    def business_days_in(self, start: date, end: date) -> int:
        """Business days in the half-open span (start, end]."""
        if end <= start:
            return 0
        self.cover(start.toordinal(), end.toordinal())
        return self.count_through(end) - self.count_through(start)

    def __repr__(self) -> str:
        days = "".join("MTWTFSS"[d] if d in self.workdays else "-" for d in range(7))
        return f"<BusinessCalendar {self.country or '??'} {days}>"


@lru_cache(maxsize=512)
def calendar(country: str, workdays: frozenset[int] = MONDAY_TO_FRIDAY) -> BusinessCalendar:
    """The shared calendar of ``country`` for ``workdays`` (built once per process)."""
    return BusinessCalendar(country, workdays)


def journey_start(
    handed_over: datetime, *, country: str, workdays: frozenset[int], cutoff: time
) -> date:
    """The business day a parcel's journey starts: the local handover day, or the next business
    day when it was handed over on a day off or after the cut-off."""
    local = handed_over.astimezone(zone(country))
    cal = calendar(country, workdays)
    day = local.date()
    if not cal.is_business_day(day):
        return cal.on_or_after(day)
    if local.time() >= cutoff:
        return cal.after(day)
    return day


def local_date(moment: datetime, country: str) -> date:
    return moment.astimezone(zone(country)).date()
