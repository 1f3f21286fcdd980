"""17TRACK v2.2: recorded answers replayed, the register-then-ask client and the signed push."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime

import pytest

from carriers.adapters.seventeen_track import ADAPTER, parse_push
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text

KEY = "sk-17-0123456789abcdef"


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"seventeen_track/{name}")))


def signed(body: bytes, key: str = KEY) -> dict:
    return {"sign": hashlib.sha256(body + b"/" + key.encode()).hexdigest()}


def pending(number: str) -> dict:
    return {
        "number": number,
        "carrier": 3011,
        "track_info": {"latest_status": {"status": "NotFound", "sub_status": "NotFound_Other"}},
    }


def answer(accepted=(), rejected=()) -> dict:
    return {"code": 0, "data": {"accepted": list(accepted), "rejected": list(rejected)}}


def rejection(number: str, code: int, message: str = "") -> dict:
    return {"number": number, "error": {"code": code, "message": message or str(code)}}


def test_a_batch_with_a_parcel_in_transit_is_normalized_whole():
    assert parse("in_transit.json") == {
        "shipments": [
            {
                "tracking_number": "RR123456785NL",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": "2025-03-07",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T07:41:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "InTransit_Arrival",
                        "description": "Arrived at sorting center",
                        "location": "Nieuwegein",
                    },
                    {
                        "occurred_at": "2025-03-04T22:02:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "InTransit_Departure",
                        "description": "Departed from the sorting center",
                        "location": "Amsterdam",
                    },
                    {
                        "occurred_at": "2025-03-03T16:10:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "InTransit_PickedUp",
                        "description": "Item accepted",
                        "location": "Amsterdam",
                    },
                    {
                        "occurred_at": "2025-03-02T19:05:00+01:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "InfoReceived",
                        "description": "The item is pre-advised",
                        "location": "NL",
                    },
                ],
            }
        ],
        "errors": [
            {
                "tracking_number": "LX000000001CN",
                "code": "no_information_yet",
                "message": "No tracking information at this time.",
            }
        ],
    }


def test_the_real_carrier_and_the_delivery_window_are_kept():
    batch = ADAPTER.parse(fixture_text("seventeen_track/in_transit.json"))
    [result] = batch.results
    assert result.carrier_hint == "PostNL International"
    assert (result.estimated_delivery_earliest, result.estimated_delivery_latest) == (
        date(2025, 3, 6),
        date(2025, 3, 7),
    )
    assert result.estimated_delivery is None  # a window, not one day
    assert batch.errors[0].transient is True  # no data yet: ask again later


def test_a_delivery_to_the_neighbour_keeps_every_good_event_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("seventeen_track/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.neighbor")
    assert delivered_at == datetime.fromisoformat("2025-03-06T11:02:00+01:00")
    assert len(result.events) == 4
    # An offset-less time is local to the event's country (Germany here).
    processed = next(e for e in result.events if e.location == "Köln, DE")
    assert processed.occurred_at == datetime.fromisoformat("2025-03-05T20:15:00+01:00")


def test_returns_customs_pickup_lockers_and_per_number_errors():
    batch = ADAPTER.parse(fixture_text("seventeen_track/exceptions.json"))
    returning, locker, not_found = batch.results

    assert returning.state()[:2] == ("exception", "exception.returning_to_sender")
    assert [e.substatus for e in returning.events] == [
        "exception.returning_to_sender",
        "exception.customs_hold",
        "exception.held_for_payment",  # Exception_Security refined by "duties"
        "in_transit.departed_facility",
        "in_transit.picked_up",
    ]
    assert returning.carrier_hint == "USPS"  # the first provider names the carrier
    assert locker.state()[:2] == ("available_for_pickup", "available_for_pickup.locker")
    assert locker.events[1].substatus == "failed_attempt.recipient_unavailable"
    assert (not_found.events, not_found.state()[:2]) == (
        [],
        ("pending", "pending.awaiting_carrier"),
    )
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("1234", "invalid_number", False),
        ("9400111206206406260787", "quota_exhausted", False),
        ("ZZ1", "carrier_not_detected", False),
    ]


def test_an_unknown_sub_status_keeps_its_main_status_and_is_flagged():
    body = json.dumps(
        answer(
            [
                {
                    "number": "X1",
                    "track_info": {
                        "tracking": {
                            "providers": [
                                {
                                    "events": [
                                        {
                                            "time_utc": "2025-01-01T10:00:00Z",
                                            "description": "Handed to the local partner",
                                            "sub_status": "InTransit_Handover",
                                        }
                                    ]
                                }
                            ]
                        }
                    },
                }
            ]
        )
    )
    [event] = ADAPTER.parse(body).results[0].events
    assert (event.status, event.code, event.unmapped) == ("in_transit", "InTransit_Handover", True)


def test_a_request_level_refusal_is_an_error_without_a_number():
    assert parse("request_error.json") == {
        "shipments": [],
        "errors": [
            {"tracking_number": "", "code": "unauthorized", "message": "Invalid access key."}
        ],
    }


@pytest.mark.parametrize(
    "body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '{"code": 0, "data": {}}', '{"code": 0}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


# -- the client --------------------------------------------------------------------------------


def test_track_sends_the_token_and_batches_numbers_by_forty(carrier_server):
    def gettrackinfo(request):
        return answer([pending(item["number"]) for item in request.json()])

    carrier_server.route("POST", r"^/gettrackinfo$", gettrackinfo)
    numbers = [f"RR{i:09d}NL" for i in range(45)]

    batch = ADAPTER.track(
        numbers,
        credentials={"api_key": "tok-17", "base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == numbers
    assert [len(r.json()) for r in carrier_server.requests] == [40, 5]
    first = carrier_server.requests[0]
    assert (first.method, first.path) == ("POST", "/gettrackinfo")
    assert first.headers["17token"] == "tok-17"
    assert first.headers["content-type"] == "application/json"
    assert first.json()[0] == {"number": "RR000000000NL"}


def test_track_registers_unknown_numbers_then_asks_again(carrier_server):
    registered: set[str] = {"RR1NL"}

    def gettrackinfo(request):
        asked = [item["number"] for item in request.json()]
        return answer(
            [pending(n) for n in asked if n in registered],
            [rejection(n, -18019902) for n in asked if n not in registered],
        )

    def register(request):
        registered.update(item["number"] for item in request.json())
        return json.loads(fixture_text("seventeen_track/register.json"))

    carrier_server.route("POST", r"^/gettrackinfo$", gettrackinfo)
    carrier_server.route("POST", r"^/register$", register)

    batch = ADAPTER.track(
        ["RR1NL", "RR2NL"], credentials={"base_url": carrier_server.url}, http=HttpClient()
    )

    assert [(r.path, r.json()) for r in carrier_server.requests] == [
        ("/gettrackinfo", [{"number": "RR1NL"}, {"number": "RR2NL"}]),
        ("/register", [{"number": "RR2NL"}]),
        ("/gettrackinfo", [{"number": "RR2NL"}]),
    ]
    assert [r.tracking_number for r in batch.results] == ["RR1NL", "RR2NL"]
    assert batch.errors == []


def test_an_already_registered_answer_is_fine(carrier_server):
    calls = iter(
        [
            answer(rejected=[rejection("RR1NL", -18019902)]),
            answer(rejected=[rejection("RR1NL", -18019909, "No tracking information")]),
        ]
    )
    carrier_server.route("POST", r"^/gettrackinfo$", lambda _request: next(calls))
    carrier_server.route(
        "POST", r"^/register$", answer(rejected=[rejection("RR1NL", -18019901, "registered")])
    )

    batch = ADAPTER.track(
        ["RR1NL"], credentials={"base_url": carrier_server.url}, http=HttpClient()
    )

    assert [r.path for r in carrier_server.requests] == [
        "/gettrackinfo",
        "/register",
        "/gettrackinfo",
    ]
    assert [(e.code, e.transient) for e in batch.errors] == [("no_information_yet", True)]


def test_a_refused_registration_is_a_per_number_error(carrier_server):
    carrier_server.route("POST", r"^/gettrackinfo$", answer(rejected=[rejection("ZZ1", -18019902)]))
    carrier_server.route(
        "POST", r"^/register$", answer(rejected=[rejection("ZZ1", -18019903, "carrier?")])
    )

    batch = ADAPTER.track(["ZZ1"], credentials={"base_url": carrier_server.url}, http=HttpClient())

    assert [r.path for r in carrier_server.requests] == ["/gettrackinfo", "/register"]
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("ZZ1", "carrier_not_detected", False)
    ]


def test_a_refused_key_is_terminal(carrier_server):
    carrier_server.route(
        "POST", r"^/gettrackinfo$", Reply(body=fixture_text("seventeen_track/request_error.json"))
    )
    with pytest.raises(TerminalError, match="Invalid access key"):
        ADAPTER.track(["RR1NL"], credentials={"base_url": carrier_server.url}, http=HttpClient())


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("POST", r"^/gettrackinfo$", answer([pending("RR1NL")]))
    credentials = {"base_url": carrier_server.url}

    carrier_server.fail_next(429, headers={"Retry-After": "2"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["RR1NL"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 2

    carrier_server.fail_next(500)
    with pytest.raises(TransientError):
        ADAPTER.track(["RR1NL"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["RR1NL"], credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["RR1NL"], credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(["RR1NL"], credentials=credentials, http=HttpClient(timeout=(1, 0.5)))


def test_a_json_body_that_is_not_17track_is_malformed(carrier_server):
    carrier_server.route("POST", r"^/gettrackinfo$", {"message": "hello"})
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["RR1NL"], credentials={"base_url": carrier_server.url}, http=HttpClient())


# -- the push ----------------------------------------------------------------------------------


def test_a_signed_update_push_is_parsed():
    body = fixture_text("seventeen_track/push_updated.json").encode()

    batch = parse_push(body, {"Sign": signed(body)["sign"]}, KEY)

    [result] = batch.results
    assert result.tracking_number == "RR123456785NL"
    assert result.state()[:2] == ("out_for_delivery", "out_for_delivery.out_for_delivery")
    assert result.estimated_delivery == date(2025, 3, 6)
    assert result.carrier_hint == "PostNL International"
    assert batch.errors == []


def test_a_push_with_a_wrong_signature_is_refused():
    body = fixture_text("seventeen_track/push_updated.json").encode()
    with pytest.raises(PermissionError):
        parse_push(body, signed(body, key="another-key"), KEY)
    with pytest.raises(PermissionError):
        parse_push(body, {}, KEY)
    with pytest.raises(PermissionError):
        parse_push(body, {"sign": "not-hex-é"}, KEY)
    with pytest.raises(PermissionError):
        parse_push(body, signed(body, key=""), "")


def test_a_tampered_push_body_is_refused():
    body = fixture_text("seventeen_track/push_updated.json").encode()
    headers = signed(body)
    tampered = body.replace(b"OutForDelivery_Other", b"Delivered_Other")
    with pytest.raises(PermissionError):
        parse_push(tampered, headers, KEY)


def test_a_stopped_push_is_a_tracking_stopped_error():
    body = fixture_text("seventeen_track/push_stopped.json").encode()

    batch = parse_push(body, signed(body), KEY)

    assert batch.results == []
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("RR123456785NL", "tracking_stopped", False)
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"<html></html>",
        b"[]",
        b'{"event": "SOMETHING_ELSE", "data": {"number": "X"}}',
        b'{"event": "TRACKING_UPDATED", "data": {}}',
    ],
)
def test_a_signed_foreign_body_is_not_this_format(body):
    with pytest.raises(NotThisFormat):
        parse_push(body, signed(body), KEY)
