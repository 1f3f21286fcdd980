"""La Poste Suivi v2: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carriers.adapters.la_poste import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"la_poste/{name}")))


def test_a_colissimo_out_for_delivery_is_normalized_whole():
    assert parse("transit.json") == {
        "shipments": [
            {
                "tracking_number": "6A15602676300",
                "status": "out_for_delivery",
                "substatus": "out_for_delivery.out_for_delivery",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T07:58:00+01:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "MD2",
                        "description": "Your parcel is at the delivery site serving your address. "
                        "We are preparing it for delivery.",
                        "location": "",
                    },
                    {
                        "occurred_at": "2025-03-04T02:13:12+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "ET1",
                        "description": "Your parcel is in transit on our logistics platforms.",
                        "location": "",
                    },
                    {
                        "occurred_at": "2025-03-03T17:42:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "PC1",
                        "description": "Your parcel has been dropped off at a post office.",
                        "location": "",
                    },
                    {
                        "occurred_at": "2025-03-03T11:05:00+01:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "DR1",
                        "description": "Your Colissimo will soon be entrusted to us! "
                        "It is being prepared by your sender.",
                        "location": "",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_to_the_neighbour_in_french_keeps_the_good_events_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("la_poste/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.neighbor")
    assert delivered_at == datetime.fromisoformat("2025-03-12T11:47:00+01:00")
    assert [e.code for e in result.events] == ["DI1", "MD2", "ET1", "PC1"]
    assert result.service == "Colissimo"


def test_a_parcel_waiting_at_a_pickup_point_after_a_missed_delivery():
    events = ADAPTER.parse(fixture_text("la_poste/pickup_point.json")).results[0].events
    assert [(e.code, e.substatus) for e in events[:2]] == [
        ("AG1", "available_for_pickup.pickup_point"),
        ("ND1", "failed_attempt.recipient_unavailable"),
    ]


def test_customs_hold_then_return_to_sender():
    result = ADAPTER.parse(fixture_text("la_poste/returned.json")).results[0]
    assert result.state()[:2] == ("exception", "exception.returned_to_sender")
    assert [(e.code, e.substatus) for e in result.events[:4]] == [
        ("DI2", "exception.returned_to_sender"),
        ("RE1", "exception.returning_to_sender"),
        ("DO3", "exception.customs_hold"),
        ("DO1", "in_transit.customs_processing"),
    ]


def test_an_unknown_code_falls_back_to_the_words_and_is_flagged():
    body = (
        '{"returnCode": 200, "shipment": {"idShip": "6A1", "event": ['
        '{"code": "ZZ9", "label": "Your parcel was refused by the recipient.",'
        ' "date": "2025-03-05T10:00:00+01:00"}]}}'
    )
    event = ADAPTER.parse(body).results[0].events[0]
    assert (event.status, event.substatus, event.unmapped) == (
        "exception",
        "exception.refused",
        True,
    )


def test_a_multi_number_answer_gives_results_and_per_number_errors():
    assert parse("batch.json")["errors"] == [
        {
            "tracking_number": "6A00000000001",
            "code": "not_found",
            "message": "Your tracking is not yet available. If you have dropped off your item, "
            "tracking information may be shown with a delay; please try again later.",
        },
        {
            "tracking_number": "12AB",
            "code": "invalid_number",
            "message": "The number you entered is not valid. Please check your entry, in "
            "particular the number of characters.",
        },
    ]
    assert [s["tracking_number"] for s in parse("batch.json")["shipments"]] == ["XY746876977FR"]


@pytest.mark.parametrize(
    ("name", "code"),
    [("not_found.json", "not_found"), ("invalid.json", "invalid_number")],
)
def test_single_number_refusals_are_errors_not_crashes(name, code):
    batch = ADAPTER.parse(fixture_text(f"la_poste/{name}"))
    assert batch.results == []
    assert [(e.code, e.transient) for e in batch.errors] == [(code, False)]


def test_the_gateway_quota_error_is_a_transient_error_for_every_number_asked():
    batch = ADAPTER.parse(fixture_text("la_poste/quota.json"), tracking_numbers=["A1", "B2"])
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("A1", "rate_limited", True),
        ("B2", "rate_limited", True),
    ]


@pytest.mark.parametrize(
    "body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '[{"returnCode": 200}, 3]', "42"]
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_sends_the_key_and_the_numbers_comma_separated(carrier_server):
    carrier_server.route("GET", r"^/idships/", json_file("la_poste/transit.json"))

    batch = ADAPTER.track(
        ["6A15602676300"],
        credentials={"api_key": "okapi-1", "base_url": carrier_server.url},
        http=HttpClient(),
    )

    request = carrier_server.requests[0]
    assert request.path == "/idships/6A15602676300"
    assert request.query == {"lang": ["en_GB"]}
    assert request.headers["x-okapi-key"] == "okapi-1"
    assert request.headers["accept"] == "application/json"
    assert batch.results[0].estimated_delivery == date(2025, 3, 5)


def test_track_batches_numbers_ten_per_call(carrier_server):
    carrier_server.route(
        "GET", r"^/idships/", Reply(status=207, body=fixture_text("la_poste/batch.json"))
    )
    numbers = [f"6A{n:011d}" for n in range(23)]

    ADAPTER.track(numbers, credentials={"base_url": carrier_server.url}, http=HttpClient())

    asked = [r.path.removeprefix("/idships/").split(",") for r in carrier_server.requests]
    assert [len(chunk) for chunk in asked] == [10, 10, 3]
    assert [n for chunk in asked for n in chunk] == numbers


def test_track_reads_a_404_single_number_refusal(carrier_server):
    carrier_server.route(
        "GET", r"^/idships/", Reply(status=404, body=fixture_text("la_poste/not_found.json"))
    )
    batch = ADAPTER.track(
        ["6S00993561113"], credentials={"base_url": carrier_server.url}, http=HttpClient()
    )
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("6S00993561113", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", r"^/idships/", json_file("la_poste/transit.json"))
    credentials = {"base_url": carrier_server.url}
    carrier_server.fail_next(429, headers={"Retry-After": "12"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["6A1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 12
    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(["6A1"], credentials=credentials, http=HttpClient())
    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["6A1"], credentials=credentials, http=HttpClient())
    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["6A1"], credentials=credentials, http=HttpClient())


def test_track_times_out_as_a_transient_error(carrier_server):
    carrier_server.route("GET", r"^/idships/", json_file("la_poste/transit.json"))
    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(
            ["6A1"],
            credentials={"base_url": carrier_server.url},
            http=HttpClient(timeout=(1.0, 0.3)),
        )
