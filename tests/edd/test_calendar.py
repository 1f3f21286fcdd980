"""Business-day calendars: public holidays, carriers' working weekdays and the daily cut-off."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from wismo.tracking.edd.calendar import (
    MONDAY_TO_FRIDAY,
    MONDAY_TO_SATURDAY,
    calendar,
    cutoff_for,
    delivery_days,
    journey_start,
)

ROME = ZoneInfo("Europe/Rome")


def test_a_weekend_is_skipped_by_a_monday_to_friday_carrier():
    italy = calendar("IT", MONDAY_TO_FRIDAY)

    assert italy.add(date(2026, 11, 20), 1) == date(2026, 11, 23)  # Friday + 1 = Monday
    assert italy.between(date(2026, 11, 20), date(2026, 11, 23)) == 1
    assert not italy.is_business_day(date(2026, 11, 21))


def test_public_holidays_of_the_destination_are_days_off():
    italy = calendar("IT", MONDAY_TO_FRIDAY)

    # Christmas (Friday) and Santo Stefano (Saturday) 2026: Thursday + 1 business day = Monday.
    assert italy.add(date(2026, 12, 24), 1) == date(2026, 12, 28)
    # Liberation Day, 25 April 2025, is a Friday: Thursday + 1 = Monday.
    assert italy.add(date(2025, 4, 24), 1) == date(2025, 4, 28)
    # The same Friday is a working day in Germany.
    assert calendar("DE", MONDAY_TO_FRIDAY).add(date(2025, 4, 24), 1) == date(2025, 4, 25)


def test_a_saturday_carrier_delivers_on_saturday_but_not_on_a_bank_holiday():
    assert delivery_days("royal_mail") == MONDAY_TO_SATURDAY
    britain = calendar("GB", delivery_days("royal_mail"))

    assert britain.add(date(2026, 11, 20), 1) == date(2026, 11, 21)  # Friday + 1 = Saturday
    # Boxing Day 2026 is a Saturday; its substitute day is Monday 28 December.
    assert britain.add(date(2026, 12, 24), 1) == date(2026, 12, 29)


def test_delivered_on_a_day_the_calendar_does_not_work_counts_as_the_day_before():
    italy = calendar("IT", MONDAY_TO_FRIDAY)

    assert italy.between(date(2026, 11, 19), date(2026, 11, 21)) == 1  # Thursday -> Saturday


def test_a_country_the_library_does_not_know_has_weekends_only():
    nowhere = calendar("ZZ", MONDAY_TO_FRIDAY)

    assert nowhere.add(date(2026, 12, 24), 1) == date(2026, 12, 25)


def test_a_date_years_away_widens_the_calendar():
    italy = calendar("IT", MONDAY_TO_FRIDAY)

    assert italy.add(date(2040, 12, 24), 1) == date(2040, 12, 27)  # 25th Tue, 26th Wed off
    assert italy.add(date(2010, 12, 23), 1) == date(2010, 12, 24)


def test_a_parcel_handed_over_after_the_cut_off_starts_the_next_business_day():
    before = datetime(2026, 11, 20, 16, 30, tzinfo=ROME)  # a Friday
    after = datetime(2026, 11, 20, 17, 30, tzinfo=ROME)

    def start(moment: datetime, carrier: str) -> date:
        return journey_start(
            moment, country="IT", workdays=MONDAY_TO_FRIDAY, cutoff=cutoff_for(carrier)
        )

    assert start(before, "brt") == date(2026, 11, 20)
    assert start(after, "brt") == date(2026, 11, 23)
    assert cutoff_for("ups") == time(18, 0)
    assert start(after, "ups") == date(2026, 11, 20)


def test_the_cut_off_is_read_in_the_origin_country_local_time():
    # 16:30 UTC is 17:30 in Rome in winter: after the cut-off there.
    assert journey_start(
        datetime(2026, 11, 19, 16, 30, tzinfo=UTC),
        country="IT",
        workdays=MONDAY_TO_FRIDAY,
        cutoff=cutoff_for("brt"),
    ) == date(2026, 11, 20)


def test_a_parcel_handed_over_on_a_holiday_starts_the_next_business_day():
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=ROME)

    assert journey_start(
        christmas, country="IT", workdays=MONDAY_TO_FRIDAY, cutoff=cutoff_for("brt")
    ) == date(2026, 12, 28)
