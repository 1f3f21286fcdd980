"""Poste Delivery Business tracking: recorded responses replayed, the OAuth client against the fake.

Only the PCP status code is confirmed by public material; the other three-letter codes in the
fixtures stand for Poste's unknown ones and are mapped through the event's phase.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from carriers.adapters.poste_italiane import ADAPTER, PRODUCTION_SCOPE
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TRACKING = r"^/postalandlogistics/parcel/tracking$"
SESSIONS = r"^/user/sessions$"
_clients = itertools.count()


def parse(name: str, **kwargs) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"poste_italiane/{name}"), **kwargs))


def credentials(server) -> dict:
    """A fresh client id per test: the token cache is process-wide."""
    return {
        "client_id": f"client-{next(_clients)}-{id(server)}",
        "client_secret": "s3cret",
        "base_url": server.url,
    }


def token_answer(token: str = "tok-1", expires_in: int = 3599):
    return {
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": token,
    }


def test_a_shipment_in_transit_is_normalized_whole():
    assert parse("in_transit.json") == {
        "shipments": [
            {
                "tracking_number": "3UW1A2B3C4D5E",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": None,
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-04T21:47:10+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "PCP",
                        "description": "In transito presso il Centro Operativo Postale",
                        "location": "Genova (GE)",
                    },
                    {
                        "occurred_at": "2025-03-04T02:31:05+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "PCP",
                        "description": "In transito presso il Centro Operativo Postale",
                        "location": "Peschiera Borromeo (MI)",
                    },
                    {
                        "occurred_at": "2025-03-03T16:12:44+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "ACC",
                        "description": "Spedizione presa in carico",
                        "location": "Milano (MI)",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_keeps_every_good_event_and_uses_summer_time():
    result = ADAPTER.parse(fixture_text("poste_italiane/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.delivered")
    assert delivered_at == datetime.fromisoformat("2025-07-28T09:02:11+02:00")
    assert len(result.events) == 4  # the event dated 25:61 is dropped, not the shipment
    assert result.service == "POSTEDELIVERY BUSINESS STANDARD"


def test_a_missed_delivery_then_waiting_at_the_post_office():
    events = ADAPTER.parse(fixture_text("poste_italiane/post_office.json")).results[0].events
    assert [e.substatus for e in events] == [
        "available_for_pickup.post_office",
        "failed_attempt.recipient_unavailable",
        "out_for_delivery.out_for_delivery",
    ]


def test_english_phases_a_refusal_and_the_return_to_the_sender():
    result = ADAPTER.parse(fixture_text("poste_italiane/returned.json")).results[0]
    assert result.state()[:2] == ("exception", "exception.returned_to_sender")
    assert [(e.code, e.substatus, e.unmapped) for e in result.events] == [
        ("RES", "exception.returned_to_sender", False),
        ("RIN", "exception.refused", False),
        ("PCP", "in_transit.arrived_at_facility", False),
        ("XYZ", "in_transit.in_transit", True),  # no known code nor phase: words, flagged
    ]


def test_an_unwrapped_shipment_object_is_read_too():
    body = (
        '{"waybillNumber": "3UW1", "product": "PDB", "tracking": [{"data": "2025-03-04 10:00:00",'
        ' "status": "PCP", "StatusDescription": "In transito", "phase": "IN TRANSITO"}]}'
    )
    [result] = ADAPTER.parse(body).results
    assert (result.tracking_number, result.events[0].substatus) == (
        "3UW1",
        "in_transit.arrived_at_facility",
    )


def test_business_and_formal_errors_become_tracking_errors():
    assert parse("not_found.json", tracking_number="3UW9") == {
        "shipments": [],
        "errors": [
            {"tracking_number": "3UW9", "code": "not_found", "message": "Spedizione non trovata"}
        ],
    }
    [error] = ADAPTER.parse(fixture_text("poste_italiane/invalid_number.json")).errors
    assert (error.code, error.transient) == ("invalid_number", False)
    [generic] = ADAPTER.parse('{"return": {"outcome": "KO", "code": 999}}').errors
    assert (generic.code, generic.transient) == ("carrier_error", True)


@pytest.mark.parametrize(
    "body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '{"return": "x"}', '{"return": {}}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_gets_a_token_then_asks_with_it(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer("tok-abc"))
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/in_transit.json"))
    creds = credentials(carrier_server)

    batch = ADAPTER.track(["3UW1A2B3C4D5E"], credentials=creds, http=HttpClient())

    assert [r.tracking_number for r in batch.results] == ["3UW1A2B3C4D5E"]
    token_request, data_request = carrier_server.requests
    assert (token_request.method, token_request.path) == ("POST", "/user/sessions")
    assert token_request.json() == {
        "clientId": creds["client_id"],
        "secretId": "s3cret",
        "scope": PRODUCTION_SCOPE,
        "grantType": "client_credentials",
    }
    assert token_request.headers["poste_clientid"] == creds["client_id"]
    assert data_request.method == "GET"
    assert data_request.query == {
        "statusDescription": ["E"],
        "customerType": ["DQ"],
        "waybillNumber": ["3UW1A2B3C4D5E"],
        "lastTracingState": ["N"],
    }
    assert data_request.headers["authorization"] == "Bearer tok-abc"
    assert data_request.headers["poste_clientid"] == creds["client_id"]


def test_the_token_is_reused_across_calls_and_numbers(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer())
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/in_transit.json"))
    creds = credentials(carrier_server)

    ADAPTER.track(["A1", "A2"], credentials=creds, http=HttpClient())
    ADAPTER.track(["A3"], credentials=creds, http=HttpClient())

    assert [r.method for r in carrier_server.requests] == ["POST", "GET", "GET", "GET"]
    assert [r.query["waybillNumber"] for r in carrier_server.requests[1:]] == [
        ["A1"],
        ["A2"],
        ["A3"],
    ]


def test_a_sandbox_scope_from_the_credentials_is_sent(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer())
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/in_transit.json"))
    creds = {**credentials(carrier_server), "scope": "api://sandbox/.default"}
    ADAPTER.track(["A1"], credentials=creds, http=HttpClient())
    assert carrier_server.requests[0].json()["scope"] == "api://sandbox/.default"


def test_a_401_with_a_cached_token_fetches_a_new_one_and_retries_once(carrier_server):
    answers = iter([token_answer("old"), token_answer("new")])
    carrier_server.route("POST", SESSIONS, lambda _request: next(answers))
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/in_transit.json"))
    creds = credentials(carrier_server)
    ADAPTER.track(["A1"], credentials=creds, http=HttpClient())

    carrier_server.fail_next(401)
    batch = ADAPTER.track(["A1"], credentials=creds, http=HttpClient())

    assert len(batch.results) == 1
    assert [(r.method, r.headers.get("authorization")) for r in carrier_server.requests] == [
        ("POST", None),
        ("GET", "Bearer old"),
        ("GET", "Bearer old"),
        ("POST", None),
        ("GET", "Bearer new"),
    ]


def test_a_second_401_is_terminal(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer())
    carrier_server.route("GET", TRACKING, Reply(status=401, body="{}"))
    with pytest.raises(TerminalError):
        ADAPTER.track(["A1"], credentials=credentials(carrier_server), http=HttpClient())
    assert [r.method for r in carrier_server.requests] == ["POST", "GET", "POST", "GET"]


def test_refused_client_credentials_are_terminal(carrier_server):
    carrier_server.route("POST", SESSIONS, Reply(status=400, body='{"error": "invalid_client"}'))
    with pytest.raises(TerminalError, match="client credentials"):
        ADAPTER.track(["A1"], credentials=credentials(carrier_server), http=HttpClient())


def test_a_token_answer_without_a_token_is_malformed(carrier_server):
    carrier_server.route("POST", SESSIONS, {"token_type": "Bearer"})
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["A1"], credentials=credentials(carrier_server), http=HttpClient())


def test_track_turns_a_poste_error_into_a_per_number_error(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer())
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/not_found.json"))
    batch = ADAPTER.track(["3UW9"], credentials=credentials(carrier_server), http=HttpClient())
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("3UW9", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("POST", SESSIONS, token_answer())
    carrier_server.route("GET", TRACKING, json_file("poste_italiane/in_transit.json"))
    creds = credentials(carrier_server)
    ADAPTER.track(["A1"], credentials=creds, http=HttpClient())  # caches the token

    carrier_server.fail_next(429, headers={"Retry-After": "20"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["A1"], credentials=creds, http=HttpClient())
    assert caught.value.retry_after == 20

    carrier_server.fail_next(502)
    with pytest.raises(TransientError):
        ADAPTER.track(["A1"], credentials=creds, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["A1"], credentials=creds, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(["A1"], credentials=creds, http=HttpClient(timeout=(1, 0.5)))
