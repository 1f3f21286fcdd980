"""Australia Post Track API: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

import base64

import pytest

from carriers.adapters.australia_post import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TRACK_PATH = r"^/shipping/v1/track$"
CREDENTIALS = {"account_number": "0006519231", "api_key": "a1b2c3d4-key", "password": "pw-9"}


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"australia_post/{name}")))


def test_a_multi_number_answer_is_normalized_whole():
    assert parse("batch.json") == {
        "shipments": [
            {
                "tracking_number": "33AJD012345601000931504",
                "status": "delivered",
                "substatus": "delivered.safe_place",
                "estimated_delivery": None,
                "delivered_at": "2025-01-21T11:04:27+11:00",
                "events": [
                    {
                        "occurred_at": "2025-01-21T11:04:27+11:00",
                        "status": "delivered",
                        "substatus": "delivered.safe_place",
                        "code": "delivered - left in a safe place",
                        "description": "Delivered - Left in a safe place",
                        "location": "KEW VIC",
                    },
                    {
                        "occurred_at": "2025-01-21T08:34:14+11:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "onboard for delivery",
                        "description": "Onboard for delivery",
                        "location": "OAKLEIGH SOUTH VIC",
                    },
                    {
                        "occurred_at": "2025-01-20T11:55:37+11:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "in transit to next facility",
                        "description": "In transit to next facility in OAKLEIGH SOUTH VIC",
                        "location": "",
                    },
                    {
                        "occurred_at": "2025-01-20T11:48:23+11:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "item processed at facility",
                        "description": "Item processed at facility",
                        "location": "SUNSHINE WEST VIC",
                    },
                    {
                        "occurred_at": "2025-01-19T16:02:10+11:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "shipping information approved by australia post",
                        "description": "Shipping information approved by Australia Post",
                        "location": "",
                    },
                ],
            },
            {
                "tracking_number": "33AJD012346501000931501",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": None,
                "delivered_at": None,
                "events": [
                    {
                        # No offset: local to the state the location names (WA, +08:00).
                        "occurred_at": "2025-01-22T09:12:05+08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "item processed at facility",
                        "description": "Item processed at facility",
                        "location": "PERTH AIRPORT WA",
                    },
                    {
                        # No location at all: Sydney time (AEDT in January).
                        "occurred_at": "2025-01-21T23:50:00+11:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "in transit to next facility",
                        "description": "In transit to next facility in PERTH AIRPORT WA",
                        "location": "",
                    },
                    {
                        "occurred_at": "2025-01-21T17:40:11+11:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "received by australia post",
                        "description": "Received by Australia Post",
                        "location": "CHULLORA NSW",
                    },
                ],
            },
            {
                # A consignment's two articles merge into one timeline; the shared first scan once.
                "tracking_number": "2JD5000071",
                "status": "delivered",
                "substatus": "delivered.delivered",
                "estimated_delivery": None,
                "delivered_at": "2025-01-23T10:15:00+10:30",
                "events": [
                    {
                        "occurred_at": "2025-01-23T10:15:00+10:30",
                        "status": "delivered",
                        "substatus": "delivered.delivered",
                        "code": "delivered",
                        "description": "Delivered",
                        "location": "GLENELG SA",
                    },
                    {
                        "occurred_at": "2025-01-23T07:45:00+10:30",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "onboard for delivery",
                        "description": "Onboard for delivery",
                        "location": "ADELAIDE AIRPORT SA",
                    },
                    {
                        "occurred_at": "2025-01-20T09:00:00+10:30",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "shipping information received by australia post",
                        "description": "Shipping information received by Australia Post",
                        "location": "",
                    },
                ],
            },
        ],
        "errors": [
            {
                "tracking_number": "33AJD000000001000931500",
                "code": "not_found",
                "message": "Invalid tracking ID",
            }
        ],
    }


def test_the_product_type_is_the_service():
    results = ADAPTER.parse(fixture_text("australia_post/batch.json")).results
    assert [r.service for r in results] == ["Parcel Post", "Express Post", "Parcel Post"]


def test_a_missed_delivery_then_awaits_collection_at_the_post_office():
    shipment = parse("awaiting_collection.json")["shipments"][0]
    assert [(e["code"], e["substatus"]) for e in shipment["events"]] == [
        ("awaiting collection", "available_for_pickup.post_office"),
        ("attempted delivery", "failed_attempt.recipient_unavailable"),
        ("onboard for delivery", "out_for_delivery.out_for_delivery"),
        ("item processed at facility", "in_transit.arrived_at_facility"),
    ]
    assert shipment["events"][0]["occurred_at"] == "2025-06-05T13:31:40+10:00"


def test_unknown_descriptions_are_guessed_flagged_and_a_broken_event_is_skipped():
    first, second = ADAPTER.parse(fixture_text("australia_post/exception.json")).results
    assert [(e.substatus, e.unmapped) for e in first.events] == [
        ("exception.delayed_weather", True),
        ("exception.damaged", True),
        ("in_transit.picked_up", False),
    ]
    # Darwin keeps +09:30; Queensland has no daylight saving (+10:00 in February).
    assert [e.occurred_at.isoformat() for e in first.events] == [
        "2025-02-11T15:44:00+09:30",
        "2025-02-10T06:21:18+10:00",
        "2025-02-09T14:10:00+10:00",
    ]
    # Without events, the item's status string decides.
    assert (second.events, second.state()[:2]) == ([], ("exception", "exception.delayed"))


def test_request_level_errors_concern_every_number_asked():
    batch = ADAPTER.parse(
        fixture_text("australia_post/too_many.json"), tracking_numbers=["A1", "B2"]
    )
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("A1", "invalid_number", False),
        ("B2", "invalid_number", False),
    ]
    assert parse("rate_limited.json")["errors"] == [
        {"tracking_number": "", "code": "rate_limited", "message": "Too many requests"}
    ]
    assert ADAPTER.parse(fixture_text("australia_post/rate_limited.json")).errors[0].transient


@pytest.mark.parametrize(
    "body", ["", "[]", '{"mailPieces": {}}', "<html>Gateway Timeout</html>", '{"foo": 1}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_sends_account_basic_auth_and_comma_separated_ids(carrier_server):
    carrier_server.route("GET", TRACK_PATH, json_file("australia_post/batch.json"))
    numbers = ["33AJD012345601000931504", "33AJD012346501000931501", "2JD5000071"]

    batch = ADAPTER.track(
        numbers, credentials={**CREDENTIALS, "base_url": carrier_server.url}, http=HttpClient()
    )

    request = carrier_server.requests[0]
    assert request.query == {"tracking_ids": [",".join(numbers)]}
    assert request.headers["account-number"] == "0006519231"
    expected = base64.b64encode(b"a1b2c3d4-key:pw-9").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["accept"] == "application/json"
    assert [r.tracking_number for r in batch.results] == numbers
    assert [(e.tracking_number, e.code) for e in batch.errors] == [
        ("33AJD000000001000931500", "not_found")
    ]


def test_track_splits_numbers_into_calls_of_ten(carrier_server):
    carrier_server.route("GET", TRACK_PATH, {"tracking_results": []})
    numbers = [f"33AJD0123{i:05d}01000931504" for i in range(23)]

    ADAPTER.track(numbers, credentials={**CREDENTIALS, "base_url": carrier_server.url})

    asked = [r.query["tracking_ids"][0].split(",") for r in carrier_server.requests]
    assert [len(ids) for ids in asked] == [10, 10, 3]
    assert [n for ids in asked for n in ids] == numbers


def test_track_answers_under_the_number_as_it_was_asked(carrier_server):
    carrier_server.route("GET", TRACK_PATH, json_file("australia_post/awaiting_collection.json"))
    batch = ADAPTER.track(
        ["33ajd0123477 01000931508"], credentials={**CREDENTIALS, "base_url": carrier_server.url}
    )
    assert carrier_server.requests[0].query == {"tracking_ids": ["33AJD012347701000931508"]}
    assert [r.tracking_number for r in batch.results] == ["33ajd0123477 01000931508"]


def test_track_a_refused_request_becomes_an_error_for_each_number(carrier_server):
    carrier_server.route(
        "GET", TRACK_PATH, Reply(status=400, body=fixture_text("australia_post/too_many.json"))
    )
    batch = ADAPTER.track(["N1", "N2"], credentials={**CREDENTIALS, "base_url": carrier_server.url})
    assert [(e.tracking_number, e.code) for e in batch.errors] == [
        ("N1", "invalid_number"),
        ("N2", "invalid_number"),
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", TRACK_PATH, json_file("australia_post/batch.json"))
    credentials = {**CREDENTIALS, "base_url": carrier_server.url}
    numbers = ["33AJD012345601000931504"]

    carrier_server.fail_next(
        429, body=fixture_text("australia_post/rate_limited.json"), headers={"Retry-After": "30"}
    )
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(numbers, credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 30

    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(numbers, credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(numbers, credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(numbers, credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(numbers, credentials=credentials, http=HttpClient(timeout=(0.5, 0.5)))
