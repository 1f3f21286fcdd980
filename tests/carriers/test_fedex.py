"""FedEx Track API: recorded responses replayed, and the OAuth client against the local fake."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import parse_qs

import pytest

from carriers.adapters.fedex import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TOKEN_PATH = r"^/oauth/token$"
TRACK_PATH = r"^/track/v1/trackingnumbers$"
TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.fedex-sandbox-token"


def parse(name: str):
    return ADAPTER.parse(fixture_text(f"fedex/{name}"))


def serve(server, answer="fedex/in_transit.json") -> dict:
    """The fake answers tokens and tracking; returns credentials aimed at it."""
    server.route("POST", TOKEN_PATH, json_file("fedex/token.json"))
    server.route("POST", TRACK_PATH, json_file(answer) if isinstance(answer, str) else answer)
    return {"client_id": "l7-fedex-key", "client_secret": "fedex-secret", "base_url": server.url}


def asked(request) -> list[str]:
    return [i["trackingNumberInfo"]["trackingNumber"] for i in request.json()["trackingInfo"]]


def test_a_package_at_the_destination_facility_is_normalized_whole():
    assert batch_document(parse("in_transit.json")) == {
        "shipments": [
            {
                "tracking_number": "794644790138",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T06:38:00-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "AR",
                        "description": "At local FedEx facility",
                        "location": "FRESNO, CA, US",
                    },
                    {
                        "occurred_at": "2025-03-04T23:10:00-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "DP",
                        "description": "Departed FedEx hub",
                        "location": "OAKLAND, CA, US",
                    },
                    {
                        "occurred_at": "2025-03-03T22:41:00-06:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "AR",
                        "description": "Arrived at FedEx hub",
                        "location": "MEMPHIS, TN, US",
                    },
                    {
                        "occurred_at": "2025-03-03T14:25:00-06:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "PU",
                        "description": "Picked up",
                        "location": "MEMPHIS, TN, US",
                    },
                    {
                        "occurred_at": "2025-03-03T09:02:11-06:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "OC",
                        "description": "Shipment information sent to FedEx",
                        "location": "",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_the_delivery_window_and_service_are_kept():
    result = parse("in_transit.json").results[0]
    assert (result.estimated_delivery_earliest, result.estimated_delivery_latest) == (
        date(2025, 3, 5),
        date(2025, 3, 5),
    )
    assert result.service == "FedEx 2Day"


def test_a_signed_delivery_after_a_missed_attempt_skips_a_scan_without_a_date():
    result = parse("delivered.json").results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at == datetime.fromisoformat("2025-04-26T09:26:00-07:00")
    assert result.delivered_at == delivered_at
    assert result.signed_by == "D.HERRERA"
    assert [(e.code, e.substatus) for e in result.events] == [
        ("DL", "delivered.signed"),
        ("OD", "out_for_delivery.out_for_delivery"),
        ("DE", "failed_attempt.recipient_unavailable"),
        ("OD", "out_for_delivery.out_for_delivery"),
        ("PU", "in_transit.picked_up"),
    ]
    assert result.events[2].description == "Customer not available or business closed"


def test_a_redirect_to_a_fedex_location_waits_for_the_shopper():
    result = parse("hold_at_location.json").results[0]
    assert [e.substatus for e in result.events] == [
        "available_for_pickup.pickup_point",
        "available_for_pickup.pickup_point",
        "out_for_delivery.out_for_delivery",
    ]
    assert result.events[0].description.startswith("Package available for pickup at")


def test_exceptions_customs_and_a_return_are_mapped():
    result = parse("exception.json").results[0]
    by_code = {e.code: e for e in result.events}
    assert by_code["CD"].substatus == "exception.customs_hold"
    assert by_code["RS"].substatus == "exception.returning_to_sender"
    assert result.state()[:2] == ("exception", "exception.returning_to_sender")
    assert result.estimated_delivery == date(2025, 3, 12)


def test_unknown_event_types_use_the_derived_code_else_the_words_and_are_flagged():
    by_code = {e.code: e for e in parse("exception.json").results[0].events}
    # "AE" is not in FedEx's table but its derived status code "IT" is.
    assert (by_code["AE"].substatus, by_code["AE"].unmapped) == ("in_transit.in_transit", False)
    # "TD" has neither: the words decide, and the event is counted as unmapped.
    assert (by_code["TD"].substatus, by_code["TD"].unmapped) == (
        "exception.delayed_weather",
        True,
    )
    # Its date has no offset: local to the scan's place (Milano, CET).
    assert by_code["TD"].occurred_at.isoformat() == "2025-03-12T17:40:00+01:00"


def test_a_batch_keeps_the_live_shipment_of_a_reused_number_and_reports_unknown_ones():
    batch = parse("batch.json")
    assert [(r.tracking_number, r.state()[0]) for r in batch.results] == [
        ("794644790138", "in_transit"),
        ("776094337676", "out_for_delivery"),
    ]
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("123456789012", "not_found", False)
    ]


def test_a_refused_request_document_becomes_errors():
    assert batch_document(parse("error.json")) == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "",
                "code": "invalid_number",
                "message": "Please provide tracking number.",
            }
        ],
    }


@pytest.mark.parametrize(
    "body",
    [
        "<html>nope</html>",
        "[]",
        '{"foo": 1}',
        "",
        '{"errors": [{"code": "TW0001", "message": "nope"}]}',
        fixture_text("fedex/token.json"),
        fixture_text("ups/in_transit.json"),
    ],
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_gets_a_token_then_posts_the_numbers(carrier_server):
    credentials = serve(carrier_server)

    batch = ADAPTER.track(["7946 4479 0138"], credentials=credentials, http=HttpClient())

    token_request, track_request = carrier_server.requests
    assert token_request.path == "/oauth/token"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["l7-fedex-key"],
        "client_secret": ["fedex-secret"],
    }
    assert track_request.method == "POST"
    assert track_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert track_request.headers["content-type"] == "application/json"
    assert track_request.json() == {
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "794644790138"}}],
    }
    assert [r.tracking_number for r in batch.results] == ["794644790138"]


def test_track_sends_at_most_thirty_numbers_per_call_with_one_token(carrier_server):
    credentials = serve(carrier_server, answer={"output": {"completeTrackResults": []}})
    numbers = [f"{700000000000 + i}" for i in range(65)]

    batch = ADAPTER.track(numbers, credentials=credentials, http=HttpClient())

    token_requests = [r for r in carrier_server.requests if r.path == "/oauth/token"]
    track_requests = [r for r in carrier_server.requests if r.path != "/oauth/token"]
    assert len(token_requests) == 1
    assert [len(asked(r)) for r in track_requests] == [30, 30, 5]
    assert [n for r in track_requests for n in asked(r)] == numbers
    assert [e.tracking_number for e in batch.errors] == numbers


def test_per_number_errors_and_missing_numbers_come_back_as_errors(carrier_server):
    credentials = serve(carrier_server, answer="fedex/batch.json")

    batch = ADAPTER.track(
        ["794644790138", "776094337676", "123456789012", "111111111111"],
        credentials=credentials,
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == ["794644790138", "776094337676"]
    assert [(e.tracking_number, e.code) for e in batch.errors] == [
        ("123456789012", "not_found"),
        ("111111111111", "not_found"),
    ]


def test_a_rejected_request_is_an_error_for_every_number_of_the_chunk(carrier_server):
    credentials = serve(
        carrier_server, answer=Reply(status=400, body=fixture_text("fedex/error.json"))
    )
    batch = ADAPTER.track(["1", "2"], credentials=credentials, http=HttpClient())
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("1", "invalid_number", False),
        ("2", "invalid_number", False),
    ]


def test_a_cached_token_refused_with_401_is_renewed_once(carrier_server):
    credentials = serve(carrier_server)
    ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    batch = ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())

    assert [r.path for r in carrier_server.requests] == [
        "/oauth/token",
        "/track/v1/trackingnumbers",
        "/track/v1/trackingnumbers",
        "/oauth/token",
        "/track/v1/trackingnumbers",
    ]
    assert batch.results[0].tracking_number == "794644790138"


def test_a_fresh_token_refused_is_terminal_without_looping(carrier_server):
    credentials = serve(carrier_server, answer=Reply(status=401, body="{}"))
    with pytest.raises(TerminalError):
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())
    assert len(carrier_server.requests) == 2


def test_refused_client_credentials_are_terminal(carrier_server):
    credentials = serve(carrier_server)
    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())
    assert [r.path for r in carrier_server.requests] == ["/oauth/token"]


def test_track_faults_are_typed(carrier_server):
    credentials = serve(carrier_server)
    ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(429, headers={"Retry-After": "10"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 10

    carrier_server.fail_next(500)
    with pytest.raises(TransientError):
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(["794644790138"], credentials=credentials, http=HttpClient(timeout=(1, 0.3)))
