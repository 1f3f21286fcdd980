"""GLS Track And Trace V1: recorded responses replayed, and the OAuth client against the fake."""

from __future__ import annotations

import base64
import itertools
from datetime import datetime

import pytest

from carriers.adapters.gls import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError, tokens
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TRACK_PATH = r"^/track-and-trace-v1/tracking/simple/trackids/"
TOKEN_PATH = r"^/oauth2/v2/token$"
_client_ids = itertools.count()


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"gls/{name}")))


@pytest.fixture
def credentials(carrier_server):
    """A GLS account on the fake, with a client id no other test has cached a token for."""
    client_id = f"gls-app-{next(_client_ids)}"
    yield {"client_id": client_id, "client_secret": "s3cret", "base_url": carrier_server.url}
    tokens.forget(f"gls:{client_id}")


def token_requests(server) -> list:
    return [r for r in server.requests if r.path == "/oauth2/v2/token"]


def track_requests(server) -> list:
    return [r for r in server.requests if r.path.startswith("/track-and-trace-v1/")]


def test_a_parcel_in_transit_is_normalized_whole():
    assert parse("transit.json") == {
        "shipments": [
            {
                "tracking_number": "93835368025",
                "status": "in_transit",
                "substatus": "in_transit.departed_facility",
                "estimated_delivery": None,
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T05:41:09+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "OUTBOD.NORMAL",
                        "description": "The parcel has left the parcel center.",
                        "location": "36286 Neuenstein, DE",
                    },
                    {
                        "occurred_at": "2025-03-04T22:17:40+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "INBOUD.NORMAL",
                        "description": "The parcel has reached the parcel center.",
                        "location": "36286 Neuenstein, DE",
                    },
                    {
                        "occurred_at": "2025-03-04T17:02:55+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "INTIAL.NORMAL",
                        "description": "The parcel was handed over to GLS.",
                        "location": "28197 Bremen, DE",
                    },
                    {
                        "occurred_at": "2025-03-04T09:12:31+01:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "INTIAL.PREADVICE",
                        "description": "The parcel data was entered into the GLS IT system; "
                        "the parcel was not yet handed over to GLS.",
                        "location": "DE",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_keeps_every_good_event_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("gls/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.delivered")
    assert delivered_at == datetime.fromisoformat("2025-07-29T10:02:00+02:00")
    assert [e.code for e in result.events] == ["DELIVD.NORMAL", "OUTDEL.NORMAL", "INTIAL.NORMAL"]


def test_a_parcel_left_at_a_parcelshop_is_waiting_for_pickup():
    result = ADAPTER.parse(fixture_text("gls/parcelshop.json")).results[0]
    assert result.state()[:2] == ("available_for_pickup", "available_for_pickup.pickup_point")
    assert result.events[-1].substatus == "info_received.awaiting_pickup"


def test_a_batch_mixes_results_per_parcel_errors_and_refined_codes():
    batch = ADAPTER.parse(fixture_text("gls/batch.json"))

    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("42249018928", "not_found", False)
    ]
    by_number = {r.tracking_number: r for r in batch.results}
    assert set(by_number) == {"36301917596", "62006256336", "62006256337"}
    refused = by_number["62006256336"].events
    assert [(e.code, e.substatus, e.unmapped) for e in refused] == [
        ("NOTDEL.REFUSED", "exception.refused", False),
        ("NOTDEL.ABSENT", "failed_attempt.recipient_unavailable", False),
        ("XXXXXX.WHAT", "in_transit.in_transit", True),
    ]
    # No events asked for or sent: the parcel's status enum stands in.
    assert by_number["62006256337"].state()[:2] == ("in_transit", "in_transit.arrived_at_facility")


@pytest.mark.parametrize(
    ("name", "code", "transient"),
    [
        ("too_many.json", "bad_request", False),
        ("token_expired.json", "unauthorized", False),
        ("quota.json", "rate_limited", True),
    ],
)
def test_call_level_errors_concern_every_number_asked(name, code, transient):
    batch = ADAPTER.parse(fixture_text(f"gls/{name}"), tracking_numbers=["1", "2"])
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("1", code, transient),
        ("2", code, transient),
    ]


@pytest.mark.parametrize("body", ["<html>nope</html>", "[]", '{"foo": 1}', "", "null"])
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_gets_a_token_then_asks_with_it(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route("GET", TRACK_PATH, json_file("gls/transit.json"))

    batch = ADAPTER.track(["93835368025"], credentials=credentials, http=HttpClient())

    [token_request] = token_requests(carrier_server)
    expected_basic = base64.b64encode(f"{credentials['client_id']}:s3cret".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected_basic}"
    assert token_request.body == b"grant_type=client_credentials"
    [request] = track_requests(carrier_server)
    assert request.path == "/track-and-trace-v1/tracking/simple/trackids/93835368025"
    assert request.query == {"showEvents": ["true"]}
    assert request.headers["authorization"].startswith("Bearer eyJraWQi")
    assert request.headers["accept-language"] == "EN"
    assert [r.tracking_number for r in batch.results] == ["93835368025"]


def test_the_token_is_cached_across_calls(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route("GET", TRACK_PATH, json_file("gls/transit.json"))

    for _ in range(3):
        ADAPTER.track(["93835368025"], credentials=credentials, http=HttpClient())

    assert len(token_requests(carrier_server)) == 1
    assert len(track_requests(carrier_server)) == 3


def test_a_refused_cached_token_is_renewed_once(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route("GET", TRACK_PATH, json_file("gls/transit.json"))
    ADAPTER.track(["1"], credentials=credentials, http=HttpClient())  # caches a token

    carrier_server.fail_next(401, body=fixture_text("gls/token_expired.json"))
    batch = ADAPTER.track(["93835368025"], credentials=credentials, http=HttpClient())

    assert len(token_requests(carrier_server)) == 2
    assert batch.results[0].tracking_number == "93835368025"


def test_wrong_credentials_are_terminal_without_a_retry_loop(carrier_server, credentials):
    carrier_server.route(
        "POST",
        TOKEN_PATH,
        Reply(status=401, body='{"errors": [{"message": "Invalid client", "type": "401"}]}'),
    )
    with pytest.raises(TerminalError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    assert len(carrier_server.requests) == 1


def test_track_batches_parcels_ten_per_call(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route("GET", TRACK_PATH, json_file("gls/batch.json"))
    numbers = [f"{93835368000 + n}" for n in range(21)]

    ADAPTER.track(numbers, credentials=credentials, http=HttpClient())

    asked = [r.path.rsplit("/", 1)[1].split(",") for r in track_requests(carrier_server)]
    assert [len(chunk) for chunk in asked] == [10, 10, 1]
    assert [n for chunk in asked for n in chunk] == numbers
    assert len(token_requests(carrier_server)) == 1


def test_track_faults_are_typed(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route("GET", TRACK_PATH, json_file("gls/transit.json"))
    ADAPTER.track(["1"], credentials=credentials, http=HttpClient())  # token cached

    carrier_server.fail_next(
        429, body=fixture_text("gls/quota.json"), headers={"Retry-After": "60"}
    )
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 60
    carrier_server.fail_next(500)
    with pytest.raises(TransientError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient(timeout=(1.0, 0.3)))


def test_a_400_problem_becomes_errors_for_the_chunk(carrier_server, credentials):
    carrier_server.route("POST", TOKEN_PATH, json_file("gls/token.json"))
    carrier_server.route(
        "GET", TRACK_PATH, Reply(status=400, body=fixture_text("gls/too_many.json"))
    )
    batch = ADAPTER.track(["1", "2"], credentials=credentials, http=HttpClient())
    assert [(e.tracking_number, e.code) for e in batch.errors] == [
        ("1", "bad_request"),
        ("2", "bad_request"),
    ]
