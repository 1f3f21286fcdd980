"""Fitting and predicting (pure): the fallback hierarchy, stages, seasons, the prior."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from wismo.tracking.edd import Journey, Lane, Predictor, build_prior, fit
from wismo.tracking.edd.calendar import MONDAY_TO_FRIDAY, calendar
from wismo.tracking.edd.model import PRIOR_LEVELS, Model, postcode_prefix
from wismo.tracking.edd.predict import current_stage, stage_marks

ITALY = calendar("IT", MONDAY_TO_FRIDAY)
GERMANY = calendar("DE", MONDAY_TO_FRIDAY)
MONDAY = date(2026, 10, 5)


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


def journeys(
    count: int,
    *,
    days: int | list[int],
    carrier: str = "dpd",
    postcode: str = "20121",
    service: str = "",
    origin: str = "IT",
    destination: str = "IT",
    first: date = MONDAY,
    destination_before: int | None = None,
) -> list[Journey]:
    """``count`` parcels shipped on business days from ``first`` (09:00 UTC, before the cut-off)
    and delivered ``days`` business days later (a list cycles through several values)."""
    cal = calendar(destination, MONDAY_TO_FRIDAY)
    spread = days if isinstance(days, list) else [days]
    lane = Lane.of(carrier, service=service, origin=origin, destination=destination,
                   postcode=postcode)  # fmt: skip
    made = []
    for i in range(count):
        shipped = ITALY.add(first, i % 40)
        taken = spread[i % len(spread)]
        delivered = cal.add(shipped, taken)
        arrived = None
        if destination_before is not None:
            arrived = at(cal.add(shipped, max(taken - destination_before, 0)), 6)
        made.append(Journey(lane, at(shipped), at(delivered, 14), at(shipped, 12), arrived))
    return made


def predict_at_shipping(predictor: Predictor, lane: Lane, shipped: date):
    moment = at(shipped)
    return predictor.predict(lane=lane, marks={"shipped": moment}, stage="shipped", now=moment)


def test_a_well_known_lane_predicts_its_usual_business_days():
    model = fit(journeys(200, days=2))
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20100")

    prediction = predict_at_shipping(Predictor(model), lane, date(2026, 11, 19))  # Thursday

    assert prediction.estimated == date(2026, 11, 23)  # Thursday + 2 business days = Monday
    assert prediction.earliest <= prediction.estimated <= prediction.latest
    assert prediction.basis == "tenant"
    assert prediction.label == "high"


def test_a_thin_postcode_group_leans_on_its_parent_and_a_thick_one_stands_alone():
    history = (
        journeys(300, days=2, postcode="20121")
        + journeys(3, days=6, postcode="90100")  # three odd parcels to Palermo
        + journeys(100, days=4, postcode="09100")  # a well-known slow area
    )
    predictor = Predictor(fit(history))
    monday = date(2026, 11, 16)

    def days_for(postcode: str) -> int:
        lane = Lane.of("dpd", origin="IT", destination="IT", postcode=postcode)
        return ITALY.between(monday, predict_at_shipping(predictor, lane, monday).estimated)

    assert days_for("90100") == 2
    assert days_for("09100") == 4
    assert days_for("20121") == 2


def test_an_unseen_service_or_postcode_falls_back_to_coarser_groups():
    history = journeys(100, days=1, service="express") + journeys(100, days=3, service="")
    predictor = Predictor(fit(history))
    monday = date(2026, 11, 16)

    unseen_service = Lane.of("dpd", service="economy", origin="IT", destination="IT",
                             postcode="20121")  # fmt: skip
    express = Lane.of("dpd", service="express", origin="IT", destination="IT", postcode="20121")
    unseen_area = Lane.of("dpd", service="express", origin="IT", destination="IT",
                          postcode="50100")  # fmt: skip

    assert predict_at_shipping(predictor, express, monday).estimated == date(2026, 11, 17)
    assert predict_at_shipping(predictor, unseen_area, monday).estimated == date(2026, 11, 17)
    # Both services mixed: two business days would be the middle, one or three the modes.
    assert predict_at_shipping(predictor, unseen_service, monday).estimated in (
        date(2026, 11, 17),
        date(2026, 11, 19),
    )


def test_another_carrier_to_a_known_destination_uses_the_destination_group():
    predictor = Predictor(fit(journeys(200, days=3, destination="DE", carrier="gls")))
    lane = Lane.of("brt", origin="IT", destination="DE", postcode="10115")

    prediction = predict_at_shipping(predictor, lane, date(2026, 11, 16))

    assert prediction.estimated == date(2026, 11, 19)


def test_arrival_in_the_destination_country_narrows_the_range():
    history = journeys(300, days=[3, 4, 5, 6, 7], destination="DE", postcode="10115",
                       destination_before=1)  # fmt: skip
    predictor = Predictor(fit(history))
    lane = Lane.of("dpd", origin="IT", destination="DE", postcode="10115")
    shipped = at(date(2026, 11, 16))
    arrived = at(date(2026, 11, 20), 6)  # Friday morning
    timeline = [
        (shipped + timedelta(hours=3), "in_transit", "in_transit.picked_up"),
        (arrived, "in_transit", "in_transit.arrived_destination_country"),
    ]
    marks = stage_marks(timeline, shipped_at=shipped)

    at_shipping = predictor.predict(lane=lane, marks={"shipped": shipped}, stage="shipped",
                                    now=shipped)  # fmt: skip
    at_arrival = predictor.predict(
        lane=lane, marks=marks, stage=current_stage("in_transit", marks), now=arrived
    )

    assert at_arrival.stage == "destination"
    assert at_arrival.estimated == date(2026, 11, 23)  # one business day after Friday
    assert (at_arrival.latest - at_arrival.earliest) < (at_shipping.latest - at_shipping.earliest)
    assert at_arrival.confidence > at_shipping.confidence


def test_out_for_delivery_means_today():
    predictor = Predictor(fit(journeys(50, days=2)))
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20121")
    morning = at(date(2026, 11, 18), 7)
    marks = {"shipped": morning - timedelta(days=2), "out_for_delivery": morning}

    prediction = predictor.predict(lane=lane, marks=marks, stage="out_for_delivery", now=morning)

    assert (prediction.earliest, prediction.estimated) == (date(2026, 11, 18), date(2026, 11, 18))


def test_days_already_gone_are_ruled_out():
    predictor = Predictor(fit(journeys(200, days=[1, 2, 2, 3])))
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20121")
    shipped = at(date(2026, 11, 16))

    later = predictor.predict(lane=lane, marks={"shipped": shipped}, stage="shipped",
                              now=at(date(2026, 11, 19)))  # fmt: skip
    far_later = predictor.predict(lane=lane, marks={"shipped": shipped}, stage="shipped",
                                  now=at(date(2026, 12, 1)))  # fmt: skip

    assert later.earliest >= date(2026, 11, 19)
    assert far_later.earliest >= date(2026, 12, 1)
    assert far_later.label == "low"


def test_the_season_learned_from_last_year_moves_this_year_s_date():
    october = journeys(200, days=2, first=date(2025, 10, 1))
    december = journeys(200, days=4, first=date(2025, 12, 1))
    predictor = Predictor(fit(october + december))
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20121")

    in_october = predict_at_shipping(predictor, lane, date(2026, 10, 12))
    in_december = predict_at_shipping(predictor, lane, date(2026, 12, 7))

    assert ITALY.between(date(2026, 10, 12), in_october.estimated) == 2
    assert ITALY.between(date(2026, 12, 7), in_december.estimated) >= 3


def test_a_model_survives_json_and_predicts_the_same():
    model = fit(journeys(100, days=[1, 2, 2, 3], destination="DE", postcode="10115",
                         destination_before=1))  # fmt: skip
    copy = Model.from_json(json.loads(json.dumps(model.to_json())))
    lane = Lane.of("dpd", origin="IT", destination="DE", postcode="10115")

    shipped = date(2026, 11, 16)
    assert predict_at_shipping(Predictor(copy), lane, shipped) == predict_at_shipping(
        Predictor(model), lane, shipped
    )


def test_no_history_and_no_prior_predicts_nothing():
    lane = Lane.of("dpd", origin="IT", destination="IT")

    assert predict_at_shipping(Predictor(None, None), lane, MONDAY) is None


def test_postcode_prefixes_follow_each_country_s_system():
    assert postcode_prefix("IT", "20121") == "20"
    assert postcode_prefix("GB", "sw1a 1aa") == "SW"
    assert postcode_prefix("GB", "M1 1AE") == "M"
    assert postcode_prefix("US", "10001-1234") == "100"
    assert postcode_prefix("DE", "") == ""


# --- the prior ------------------------------------------------------------------------------


def _tenant_model(days: int, *, postcode: str = "20121", destination: str = "IT") -> Model:
    return fit(journeys(120, days=days, postcode=postcode, destination=destination,
                        service="express"))  # fmt: skip


def test_the_prior_needs_three_tenants_to_agree_on_a_group():
    two = build_prior([_tenant_model(2), _tenant_model(2)])
    three = build_prior([_tenant_model(2), _tenant_model(2), _tenant_model(3)])

    assert two.hists == {}
    assert "dpd|*|IT|IT|*" in three.hists["shipped"]


def test_the_prior_holds_no_postcode_area_no_service_and_no_counts():
    models = [_tenant_model(2), _tenant_model(3), _tenant_model(2, postcode="90100")]
    # Only one tenant ships to Germany: that lane must not appear at all.
    models[0] = fit(
        journeys(120, days=2, service="express")
        + journeys(500, days=5, destination="DE", postcode="10115", service="express")
    )

    prior = build_prior(models)
    keys = [key for groups in prior.hists.values() for key in groups]

    assert keys
    for key in keys:
        _carrier, service, _origin, destination, prefix = key.split("|")
        assert service == "*" and prefix == "*"
        assert destination != "DE"
    for groups in prior.hists.values():
        for weight, *shares in groups.values():
            assert weight % 10 == 0 and weight <= 2000  # a rounded, capped weight, not a count
            assert abs(sum(shares) - 1) < 0.01
    text = json.dumps(prior.to_json())
    assert "90" not in text.replace("0.9", "")  # no postcode area anywhere
    assert "express" not in text


def test_a_new_tenant_predicts_from_the_prior_with_modest_confidence():
    prior = build_prior([_tenant_model(2), _tenant_model(2), _tenant_model(2)])
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20121")

    prediction = predict_at_shipping(Predictor(None, prior), lane, date(2026, 11, 16))

    assert prediction.basis == "prior"
    assert prediction.estimated == date(2026, 11, 18)
    assert prediction.label != "high"


def test_a_tenant_s_own_history_outweighs_the_prior():
    prior = build_prior([_tenant_model(5), _tenant_model(5), _tenant_model(5)])
    own = fit(journeys(200, days=1))
    lane = Lane.of("dpd", origin="IT", destination="IT", postcode="20121")

    prediction = predict_at_shipping(Predictor(own, prior), lane, date(2026, 11, 16))

    assert prediction.estimated == date(2026, 11, 17)


def test_prior_levels_leave_out_the_fine_groups():
    assert PRIOR_LEVELS == (2, 3, 4, 5, 6)
    keys = Lane.of("dpd", service="x", origin="IT", destination="IT", postcode="20121").keys()
    assert all("|x|" not in keys[level] and "|20" not in keys[level] for level in PRIOR_LEVELS)
