"""DHL Express (MyDHL API): recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

import base64
from datetime import date, datetime

import pytest

from carriers.adapters.dhl_express import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

CREDENTIALS = {"api_key": "apiK3y", "api_secret": "s3cret"}


def parse(name: str):
    return ADAPTER.parse(fixture_text(f"dhl_express/{name}"))


def credentials_for(server) -> dict:
    return {**CREDENTIALS, "base_url": server.url}


def test_an_express_shipment_out_for_delivery_is_normalized_whole():
    assert batch_document(parse("transit.json")) == {
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
                        "code": "WC",
                        "description": "Shipment is out with courier for delivery",
                        "location": "Milan-IT",
                    },
                    {
                        "occurred_at": "2025-03-05T08:10:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.customs_released",
                        "code": "CR",
                        "description": "Clearance processing complete at MILAN - ITALY",
                        "location": "Milan-IT",
                    },
                    {
                        "occurred_at": "2025-03-04T16:20:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "AR",
                        "description": "Arrived at DHL Delivery Facility MILAN - ITALY",
                        "location": "Milan-IT",
                    },
                    {
                        "occurred_at": "2025-03-04T06:05:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "AF",
                        "description": "Arrived at DHL Sort Facility LEIPZIG - GERMANY",
                        "location": "Leipzig-DE",
                    },
                    {
                        "occurred_at": "2025-03-03T21:15:00+08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "DF",
                        "description": (
                            "Shipment has departed from a DHL facility "
                            "HONG KONG - HONG KONG SAR, CHINA"
                        ),
                        "location": "Hong Kong-HK",
                    },
                    {
                        "occurred_at": "2025-03-03T14:02:00+08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "PU",
                        "description": "Shipment picked up",
                        "location": "Hong Kong-HK",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_signed_delivery_keeps_every_good_event_and_skips_one_without_a_date():
    result = parse("delivered.json").results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at == datetime.fromisoformat("2025-02-11T11:02:00+01:00")
    assert result.signed_by == "MUSTER"
    assert [e.code for e in result.events] == ["PU", "DF", "AR", "WC", "OK"]
    # "LONDON-HEATHROW - UK" is in London: GMT in February.
    assert result.events[0].occurred_at.isoformat() == "2025-02-10T17:05:00+00:00"


def test_duties_to_pay_need_the_shopper_and_us_hubs_use_their_state_time_zone():
    result = parse("duties.json").results[0]
    by_code = {e.code: e for e in result.events}

    assert result.state()[:2] == ("exception", "exception.held_for_payment")
    assert by_code["IC"].substatus == "in_transit.customs_processing"
    # Atlanta, GA and Hebron, KY are on US Eastern time.
    assert by_code["PU"].occurred_at.isoformat() == "2025-03-01T16:30:00-05:00"
    assert by_code["PL"].occurred_at.isoformat() == "2025-03-02T01:20:00-05:00"
    assert result.estimated_delivery == date(2025, 3, 5)


def test_a_checkpoint_code_no_table_knows_falls_back_to_its_words_and_is_flagged():
    event = next(e for e in parse("duties.json").results[0].events if e.code == "SI")
    assert (event.substatus, event.unmapped) == ("exception.customs_hold", True)
    known = next(e for e in parse("duties.json").results[0].events if e.code == "HP")
    assert known.unmapped is False


def test_a_missed_delivery_then_a_service_point_waits_for_the_shopper():
    events = parse("pickup.json").results[0].events
    assert [(e.code, e.substatus) for e in events] == [
        ("PU", "in_transit.picked_up"),
        ("WC", "out_for_delivery.out_for_delivery"),
        ("NH", "failed_attempt.recipient_unavailable"),
        ("CC", "available_for_pickup.pickup_point"),
    ]
    assert parse("pickup.json").results[0].state()[0] == "available_for_pickup"


def test_a_refused_parcel_ends_returned_to_the_sender():
    result = parse("returned.json").results[0]
    assert [e.substatus for e in result.events] == [
        "in_transit.picked_up",
        "exception.refused",
        "exception.returned_to_sender",
    ]
    assert result.state()[:2] == ("exception", "exception.returned_to_sender")


def test_a_multi_number_answer_gives_one_result_per_shipment():
    batch = parse("batch.json")
    assert [(r.tracking_number, r.state()[0]) for r in batch.results] == [
        ("1234567890", "in_transit"),
        ("5310347920", "delivered"),
    ]


def test_problem_documents_become_errors():
    assert batch_document(parse("not_found.json"))["errors"] == [
        {"tracking_number": "", "code": "not_found", "message": "No data found"}
    ]
    [error] = parse("bad_request.json").errors
    assert (error.code, error.transient) == ("invalid_request", False)


@pytest.mark.parametrize(
    "body",
    [
        "<html>nope</html>",
        "[]",
        '{"foo": 1}',
        "",
        fixture_text("dhl/transit.json"),  # DHL's unified API is another format
    ],
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_asks_for_several_numbers_at_once_with_basic_auth(carrier_server):
    carrier_server.route("GET", r"^/tracking$", json_file("dhl_express/batch.json"))

    batch = ADAPTER.track(
        ["1234567890", "5310347920", "9999999999"],
        credentials=credentials_for(carrier_server),
        http=HttpClient(),
    )

    [request] = carrier_server.requests
    assert request.query == {
        "shipmentTrackingNumber": ["1234567890", "5310347920", "9999999999"],
        "trackingView": ["all-checkpoints"],
        "levelOfDetail": ["shipment"],
    }
    expected_auth = base64.b64encode(b"apiK3y:s3cret").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["accept"] == "application/json"
    assert len(request.headers["message-reference"]) == 36
    assert [r.tracking_number for r in batch.results] == ["1234567890", "5310347920"]
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("9999999999", "not_found", False)
    ]


def test_track_splits_long_lists_into_calls_of_at_most_one_hundred(carrier_server):
    carrier_server.route("GET", r"^/tracking$", {"shipments": []})
    numbers = [f"{1000000000 + i}" for i in range(230)]

    batch = ADAPTER.track(numbers, credentials=credentials_for(carrier_server), http=HttpClient())

    sizes = [len(r.query["shipmentTrackingNumber"]) for r in carrier_server.requests]
    assert sizes == [100, 100, 30]
    assert [e.tracking_number for e in batch.errors] == numbers


def test_track_turns_a_404_into_not_found_for_every_number_asked(carrier_server):
    carrier_server.route(
        "GET",
        r"^/tracking$",
        Reply(status=404, body=fixture_text("dhl_express/not_found.json")),
    )
    batch = ADAPTER.track(
        ["9999999999", "8888888888"], credentials=credentials_for(carrier_server), http=HttpClient()
    )
    assert batch.results == []
    assert [(e.tracking_number, e.code, e.message) for e in batch.errors] == [
        ("9999999999", "not_found", "No data found"),
        ("8888888888", "not_found", "No data found"),
    ]


def test_track_reports_a_rejected_request_as_a_terminal_error(carrier_server):
    carrier_server.route(
        "GET",
        r"^/tracking$",
        Reply(status=400, body=fixture_text("dhl_express/bad_request.json")),
    )
    batch = ADAPTER.track(["12"], credentials=credentials_for(carrier_server), http=HttpClient())
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("12", "invalid_request", False)
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", r"^/tracking$", json_file("dhl_express/transit.json"))
    credentials = credentials_for(carrier_server)

    carrier_server.fail_next(429, headers={"Retry-After": "30"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 30

    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient(timeout=(1, 0.3)))

    batch = ADAPTER.track(["1234567890"], credentials=credentials, http=HttpClient())
    assert batch.results[0].state()[0] == "out_for_delivery"
