"""DHL Unified tracking: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carriers.adapters.dhl import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"dhl/{name}")))


def test_an_express_shipment_in_transit_is_normalized_whole():
    assert parse("transit.json") == {
        "shipments": [
            {
                "tracking_number": "1234567890",
                "status": "out_for_delivery",
                "substatus": "out_for_delivery.out_for_delivery",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T09:12:00+01:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "transit",
                        "description": "Shipment is out with courier for delivery",
                        "location": "MILAN - ITALY",
                    },
                    {
                        "occurred_at": "2025-03-04T22:05:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "transit",
                        "description": "Arrived at Delivery Facility in MILAN - ITALY",
                        "location": "MILAN - ITALY",
                    },
                    {
                        "occurred_at": "2025-03-04T18:40:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "pre-transit",
                        "description": "Shipment picked up",
                        "location": "LEIPZIG - GERMANY",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_to_the_neighbour_keeps_every_good_event_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("dhl/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.neighbor")
    assert delivered_at == datetime.fromisoformat("2025-03-06T11:02:00+01:00")
    assert [e.substatus for e in result.events] == [
        "delivered.neighbor",
        "out_for_delivery.out_for_delivery",
        "in_transit.arrived_at_facility",
        "info_received.label_created",
    ]
    assert result.signed_by == "Nachbar"
    assert result.events[2].location == "Köln"


def test_an_unknown_code_falls_back_to_the_words_and_is_flagged():
    events = ADAPTER.parse(fixture_text("dhl/failure.json")).results[0].events
    assert (events[0].substatus, events[0].unmapped) == ("exception.held_for_payment", False)
    assert (events[1].status, events[1].unmapped) == ("in_transit", True)


def test_a_problem_document_is_an_error_not_a_crash():
    assert parse("not_found.json") == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "",
                "code": "not_found",
                "message": "No shipment with given tracking number found.",
            }
        ],
    }


@pytest.mark.parametrize("body", ["<html>nope</html>", "[]", '{"foo": 1}', ""])
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_sends_the_key_and_reads_the_answer(carrier_server):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))

    batch = ADAPTER.track(
        ["1234567890"],
        credentials={"api_key": "k-1", "base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == ["1234567890"]
    request = carrier_server.requests[0]
    assert request.headers["dhl-api-key"] == "k-1"
    assert request.query == {"trackingNumber": ["1234567890"]}
    assert batch.results[0].estimated_delivery == date(2025, 3, 5)


def test_track_turns_a_404_into_a_not_found_error(carrier_server):
    carrier_server.route(
        "GET", r"^/track/shipments$", Reply(status=404, body=fixture_text("dhl/not_found.json"))
    )
    batch = ADAPTER.track(["999"], credentials={"base_url": carrier_server.url}, http=HttpClient())
    assert batch.results == [] and [
        (e.tracking_number, e.code, e.transient) for e in batch.errors
    ] == [("999", "not_found", False)]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    credentials = {"base_url": carrier_server.url}
    carrier_server.fail_next(429, headers={"Retry-After": "30"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 30
    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
