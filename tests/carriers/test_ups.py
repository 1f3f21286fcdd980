"""UPS Track API: recorded responses replayed, and the OAuth client against the local fake."""

from __future__ import annotations

import base64
from datetime import date, datetime
from urllib.parse import parse_qs

import pytest

from carriers.adapters.ups import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TOKEN_PATH = r"^/security/v1/oauth/token$"
DETAILS_PATH = r"^/api/track/v1/details/"
TOKEN = "eyJraWQiOiI2NGM0YjYyMC0yZmFhLTQzNTYtYjA0MS1mM2EwZjM2Y2MxZmEi"


def parse(name: str):
    return ADAPTER.parse(fixture_text(f"ups/{name}"))


def serve(server, details="ups/in_transit.json") -> dict:
    """The fake answers tokens and details; returns credentials aimed at it."""
    server.route("POST", TOKEN_PATH, json_file("ups/token.json"))
    server.route("GET", DETAILS_PATH, json_file(details) if isinstance(details, str) else details)
    return {"client_id": "ups-client-1", "client_secret": "ups-secret", "base_url": server.url}


def paths(server) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


def test_a_package_out_for_delivery_is_normalized_whole():
    assert batch_document(parse("in_transit.json")) == {
        "shipments": [
            {
                "tracking_number": "1Z5R89390357567127",
                "status": "out_for_delivery",
                "substatus": "out_for_delivery.out_for_delivery",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T07:45:00-05:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "OT",
                        "description": "Out For Delivery Today",
                        "location": "Atlanta, GA, 30301, US",
                    },
                    {
                        "occurred_at": "2025-03-05T03:12:00-05:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "AR",
                        "description": "Arrived at Facility",
                        "location": "Atlanta, GA, US",
                    },
                    {
                        "occurred_at": "2025-03-04T22:10:00-05:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "DP",
                        "description": "Departed from Facility",
                        "location": "Louisville, KY, US",
                    },
                    {
                        "occurred_at": "2025-03-03T17:15:00-06:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "PU",
                        "description": "Pickup Scan",
                        "location": "Nashville, TN, US",
                    },
                    {
                        "occurred_at": "2025-03-03T09:42:33-05:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "MP",
                        "description": "Shipper created a label, UPS has not received the package yet.",
                        "location": "US",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_signed_delivery_skips_an_activity_without_a_date_and_localizes_by_state():
    result = parse("delivered.json").results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at == datetime.fromisoformat("2025-02-12T14:18:33-08:00")
    assert (result.signed_by, result.service) == ("GARCIA", "UPS 2nd Day Air")
    assert [e.code for e in result.events] == ["FS", "OT", "DP", "MP"]
    # No gmtOffset on the Phoenix scan: Arizona's own zone (no daylight saving) decides.
    assert result.events[2].occurred_at.isoformat() == "2025-02-11T19:40:00-07:00"


def test_exceptions_are_read_from_their_words_and_the_rescheduled_date_wins():
    result = parse("exception.json").results[0]
    assert [(e.code, e.substatus) for e in result.events] == [
        ("XD", "exception.address_issue"),
        ("48", "failed_attempt.recipient_unavailable"),
        ("7M", "in_transit.in_transit"),
        ("OT", "out_for_delivery.out_for_delivery"),
    ]
    assert result.state()[:2] == ("exception", "exception.address_issue")
    assert result.estimated_delivery == date(2025, 3, 19)


def test_an_activity_type_no_table_knows_falls_back_to_its_words_and_is_flagged():
    events = {e.code: e for e in parse("exception.json").results[0].events}
    assert events["7M"].unmapped is True
    assert events["XD"].unmapped is False and events["OT"].unmapped is False


def test_an_access_point_waits_for_the_shopper_until_they_collect():
    result = parse("access_point.json").results[0]
    assert [e.substatus for e in result.events] == [
        "delivered.picked_up",
        "available_for_pickup.pickup_point",
        "in_transit.departed_facility",
    ]
    assert result.state()[:2] == ("delivered", "delivered.picked_up")


def test_unknown_numbers_and_error_documents_become_errors():
    assert batch_document(parse("not_found_warning.json")) == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "1Z5629230309413682",
                "code": "not_found",
                "message": "Tracking Information Not Found",
            }
        ],
    }
    assert [(e.code, e.message) for e in parse("not_found.json").errors] == [
        ("not_found", "No tracking information available")
    ]
    assert [e.code for e in parse("invalid.json").errors] == ["invalid_number"]


@pytest.mark.parametrize(
    "body",
    [
        "<html>nope</html>",
        "[]",
        '{"foo": 1}',
        "",
        fixture_text("ups/token.json"),
        fixture_text("dhl_express/transit.json"),
    ],
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_gets_a_token_then_asks_for_each_number_with_the_required_headers(carrier_server):
    credentials = serve(carrier_server)

    batch = ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    token_request, details_request = carrier_server.requests
    assert token_request.path == "/security/v1/oauth/token"
    basic = base64.b64encode(b"ups-client-1:ups-secret").decode()
    assert token_request.headers["authorization"] == f"Basic {basic}"
    assert parse_qs(token_request.body.decode()) == {"grant_type": ["client_credentials"]}
    assert details_request.path == "/api/track/v1/details/1Z5R89390357567127"
    assert details_request.query == {
        "locale": ["en_US"],
        "returnSignature": ["false"],
        "returnMilestones": ["false"],
        "returnPOD": ["false"],
    }
    assert details_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert details_request.headers["transactionsrc"] == "wismo"
    assert 0 < len(details_request.headers["transid"]) <= 32
    assert [r.tracking_number for r in batch.results] == ["1Z5R89390357567127"]


def test_track_asks_one_number_per_call_and_reuses_the_cached_token(carrier_server):
    credentials = serve(carrier_server)

    ADAPTER.track(["1Z5R89390357567127", "1Z999AA10123456784"], credentials=credentials)
    ADAPTER.track(["1Z4W32E80396528853"], credentials=credentials, http=HttpClient())

    assert paths(carrier_server) == [
        "POST /security/v1/oauth/token",
        "GET /api/track/v1/details/1Z5R89390357567127",
        "GET /api/track/v1/details/1Z999AA10123456784",
        "GET /api/track/v1/details/1Z4W32E80396528853",
    ]
    trans_ids = {r.headers["transid"] for r in carrier_server.requests[1:]}
    assert len(trans_ids) == 3


def test_a_cached_token_refused_with_401_is_renewed_once(carrier_server):
    credentials = serve(carrier_server)
    ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    batch = ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    assert paths(carrier_server)[2:] == [
        "GET /api/track/v1/details/1Z5R89390357567127",
        "POST /security/v1/oauth/token",
        "GET /api/track/v1/details/1Z5R89390357567127",
    ]
    assert batch.results[0].tracking_number == "1Z5R89390357567127"


def test_a_fresh_token_refused_is_terminal_without_looping(carrier_server):
    credentials = serve(carrier_server, details=Reply(status=401, body="{}"))
    with pytest.raises(TerminalError):
        ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())
    assert len(carrier_server.requests) == 2


def test_refused_client_credentials_are_terminal(carrier_server):
    credentials = serve(carrier_server)
    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())
    assert paths(carrier_server) == ["POST /security/v1/oauth/token"]


def test_unknown_and_invalid_numbers_are_per_number_errors(carrier_server):
    def answer(request):
        number = request.path.rsplit("/", 1)[1]
        if number == "1Z5629230309413682":
            return json_file("ups/not_found_warning.json")
        if number == "1Z0000000000000000":
            return Reply(status=404, body=fixture_text("ups/not_found.json"))
        if number == "1ZBAD":
            return Reply(status=400, body=fixture_text("ups/invalid.json"))
        return json_file("ups/delivered.json")

    credentials = serve(carrier_server, details=answer)
    batch = ADAPTER.track(
        ["1Z5629230309413682", "1Z0000000000000000", "1ZBAD", "1Z999AA10123456784"],
        credentials=credentials,
        http=HttpClient(),
    )

    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("1Z5629230309413682", "not_found", False),
        ("1Z0000000000000000", "not_found", False),
        ("1ZBAD", "invalid_number", False),
    ]
    assert [r.tracking_number for r in batch.results] == ["1Z999AA10123456784"]


def test_track_faults_are_typed(carrier_server):
    credentials = serve(carrier_server)
    ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(429, headers={"Retry-After": "45"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 45

    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1Z5R89390357567127"], credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(
            ["1Z5R89390357567127"], credentials=credentials, http=HttpClient(timeout=(1, 0.3))
        )


def test_a_track_alert_push_is_verified_and_read():
    body = fixture_text("ups/track_alert.json").encode()
    credentials = {"push_token": "alert-secret"}

    ADAPTER.verify_push(body, {"x-api-key": "alert-secret"}, credentials)
    ADAPTER.verify_push(body, {"authorization": "Bearer alert-secret"}, credentials)
    for headers in ({"x-api-key": "wrong"}, {}, {"authorization": "Basic alert-secret"}):
        with pytest.raises(PermissionError):
            ADAPTER.verify_push(body, headers, credentials)
    with pytest.raises(PermissionError):
        ADAPTER.verify_push(body, {"x-api-key": ""}, {})

    result = ADAPTER.parse_push(body).results[0]
    assert result.tracking_number == "1Z5R89390357567127"
    [event] = result.events
    assert (event.status, event.occurred_at.isoformat()) == (
        "delivered",
        "2025-03-05T14:23:00-05:00",
    )
    assert event.location == "ATLANTA, GA, 30301, US"
    with pytest.raises(NotThisFormat):
        ADAPTER.parse_push(b'{"trackResponse": {}}')
