"""USPS Tracking v3: recorded responses replayed, and the OAuth client against the local fake."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import parse_qs
from uuid import uuid4

import pytest

from carriers.adapters.usps import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

TRACKING_PATH = r"^/tracking/v3/tracking/[^/]+$"
TOKEN_PATH = r"^/oauth2/v3/token$"


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"usps/{name}")))


def credentials_for(server) -> dict:
    # A fresh client id per test: the token cache is process-wide.
    return {"client_id": f"client-{uuid4().hex}", "client_secret": "s3cret", "base_url": server.url}


def serve(server, tracking: str = "usps/transit.json") -> None:
    server.route("POST", TOKEN_PATH, json_file("usps/token.json"))
    server.route("GET", TRACKING_PATH, json_file(tracking))


def token_requests(server) -> list:
    return [r for r in server.requests if r.path == "/oauth2/v3/token"]


def test_a_priority_mail_parcel_in_transit_is_normalized_whole():
    assert parse("transit.json") == {
        "shipments": [
            {
                "tracking_number": "9400111206213414325735",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": "2025-03-06",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-04T22:41:12-06:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "A1",
                        "description": "Arrived at USPS Regional Facility",
                        "location": "AUSTIN TX DISTRIBUTION CENTER",
                    },
                    {
                        "occurred_at": "2025-03-03T19:05:33-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "TL",
                        "description": "In Transit to Next Facility",
                        "location": "",
                    },
                    {
                        # No GMT instant: the local time takes the short "-8:00" offset.
                        "occurred_at": "2025-03-03T06:12:00-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "T1",
                        "description": "Departed USPS Regional Facility",
                        "location": "SEATTLE WA DISTRIBUTION CENTER",
                    },
                    {
                        # Neither GMT nor offset: Washington's zone (PST before March 9).
                        "occurred_at": "2025-03-02T20:47:00-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "10",
                        "description": "Arrived at USPS Regional Origin Facility",
                        "location": "SEATTLE, WA",
                    },
                    {
                        "occurred_at": "2025-03-02T14:03:27-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "03",
                        "description": "USPS picked up item",
                        "location": "SEATTLE, WA 98101",
                    },
                    {
                        "occurred_at": "2025-03-01T16:20:05-08:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "GX",
                        "description": "Shipping Label Created, USPS Awaiting Item",
                        "location": "SEATTLE, WA 98101",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_the_mail_class_loses_its_markup():
    result = ADAPTER.parse(fixture_text("usps/transit.json")).results[0]
    assert result.service == "Priority Mail®"


def test_a_delivery_to_a_named_person_is_signed_and_a_broken_event_is_skipped():
    result = ADAPTER.parse(fixture_text("usps/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at.isoformat() == "2025-02-14T12:31:09-05:00"
    assert result.signed_by == "M GARCIA"
    assert [e.code for e in result.events] == ["01", "OF", "07", "A1", "03", "GX"]
    assert result.service == "USPS Ground Advantage™"


def test_a_returned_parcel_keeps_its_attempts_and_flags_an_unknown_code():
    events = ADAPTER.parse(fixture_text("usps/returned.json")).results[0].events
    by_code = {e.code: e for e in events}

    assert by_code["27"].substatus == "exception.returning_to_sender"
    assert by_code["16"].substatus == "available_for_pickup.post_office"
    assert by_code["56"].substatus == "failed_attempt.recipient_unavailable"
    assert (by_code["HZ"].status, by_code["HZ"].unmapped) == ("in_transit", True)
    assert not any(e.unmapped for e in events if e.code != "HZ")
    assert parse("returned.json")["shipments"][0]["substatus"] == "exception.returning_to_sender"


def test_without_events_the_status_category_decides():
    shipment = parse("pre_shipment.json")["shipments"][0]
    assert (shipment["status"], shipment["substatus"], shipment["events"]) == (
        "info_received",
        "info_received.label_created",
        [],
    )
    assert shipment["estimated_delivery"] == "2025-05-06"


def test_a_summer_local_time_without_gmt_takes_the_states_daylight_offset():
    body = json.dumps(
        {
            "trackingNumber": "9400111206213414325735",
            "trackingEvents": [
                {
                    "eventType": "Out for Delivery",
                    "eventTimestamp": "2025-07-10T08:15:00",
                    "eventCity": "OAKLAND",
                    "eventState": "CA",
                    "eventCode": "OF",
                }
            ],
        }
    )
    event = ADAPTER.parse(body).results[0].events[0]
    assert event.occurred_at.isoformat() == "2025-07-10T08:15:00-07:00"


def test_error_documents_become_errors_not_crashes():
    assert parse("not_found.json")["errors"] == [
        {
            "tracking_number": "",
            "code": "not_found",
            "message": "Tracking is not available for this item. This may be because the "
            "tracking number is invalid; USPS has not yet received the item; the item does "
            "not include tracking; or other reasons.",
        }
    ]
    assert parse("unauthorized.json")["errors"][0]["code"] == "unauthorized"
    oauth = ADAPTER.parse(
        '{"error": "invalid_client", "error_description": "Client authentication failed."}'
    )
    assert [(e.code, e.message) for e in oauth.errors] == [
        ("unauthorized", "Client authentication failed.")
    ]


def test_a_rate_limit_document_is_a_transient_error():
    body = '{"apiVersion": "/tracking/v3", "error": {"code": "429", "message": "Too many"}}'
    assert [(e.code, e.transient) for e in ADAPTER.parse(body).errors] == [("rate_limited", True)]


@pytest.mark.parametrize("body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '{"shipments": []}'])
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_gets_a_token_once_and_sends_it_as_a_bearer(carrier_server):
    serve(carrier_server)
    credentials = credentials_for(carrier_server)
    http = HttpClient()

    first = ADAPTER.track(["9400111206213414325735"], credentials=credentials, http=http)
    ADAPTER.track(["9400111206213414325735"], credentials=credentials, http=http)

    [token_request] = token_requests(carrier_server)
    assert token_request.method == "POST"
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [credentials["client_id"]],
        "client_secret": ["s3cret"],
        "scope": ["tracking"],
    }
    data_calls = [r for r in carrier_server.requests if r.method == "GET"]
    assert len(data_calls) == 2
    assert data_calls[0].path == "/tracking/v3/tracking/9400111206213414325735"
    assert data_calls[0].query == {"expand": ["DETAIL"]}
    assert data_calls[0].headers["authorization"] == (
        "Bearer eyJraWQiOiJmYWtlIiwiYWxnIjoiUlMyNTYifQ.usps-test-token"
    )
    assert first.results[0].estimated_delivery == date(2025, 3, 6)


def test_track_asks_one_number_per_call_and_answers_for_the_number_asked(carrier_server):
    serve(carrier_server)
    batch = ADAPTER.track(
        ["9400111206213414325735", "9400109104250532901229"],
        credentials=credentials_for(carrier_server),
        http=HttpClient(),
    )

    paths = [r.path for r in carrier_server.requests if r.method == "GET"]
    assert paths == [
        "/tracking/v3/tracking/9400111206213414325735",
        "/tracking/v3/tracking/9400109104250532901229",
    ]
    assert [r.tracking_number for r in batch.results] == [
        "9400111206213414325735",
        "9400109104250532901229",
    ]


def test_track_refreshes_a_revoked_token_once(carrier_server):
    serve(carrier_server)
    credentials = credentials_for(carrier_server)
    ADAPTER.track(["9400111206213414325735"], credentials=credentials, http=HttpClient())
    carrier_server.fail_next(401, body=fixture_text("usps/unauthorized.json"))

    batch = ADAPTER.track(["9400111206213414325735"], credentials=credentials, http=HttpClient())

    assert len(token_requests(carrier_server)) == 2
    assert [r.tracking_number for r in batch.results] == ["9400111206213414325735"]


def test_track_a_401_with_a_fresh_token_is_terminal(carrier_server):
    carrier_server.route("POST", TOKEN_PATH, json_file("usps/token.json"))
    carrier_server.route(
        "GET", TRACKING_PATH, Reply(status=401, body=fixture_text("usps/unauthorized.json"))
    )
    credentials = credentials_for(carrier_server)

    with pytest.raises(TerminalError):
        ADAPTER.track(["9400111206213414325735"], credentials=credentials, http=HttpClient())
    # A token refused the moment it was issued is not retried: only a cached one may be stale.
    assert len(token_requests(carrier_server)) == 1
    assert len([r for r in carrier_server.requests if r.method == "GET"]) == 1


def test_track_refused_client_credentials_are_terminal(carrier_server):
    carrier_server.route(
        "POST",
        TOKEN_PATH,
        Reply(
            status=400,
            body='{"error": "invalid_client", "error_description": "Client authentication failed."}',
        ),
    )
    with pytest.raises(TerminalError) as caught:
        ADAPTER.track(["9400111206213414325735"], credentials=credentials_for(carrier_server))
    assert "Client authentication failed." in str(caught.value)
    assert not [r for r in carrier_server.requests if r.method == "GET"]


def test_track_turns_a_404_into_a_not_found_error(carrier_server):
    carrier_server.route("POST", TOKEN_PATH, json_file("usps/token.json"))
    carrier_server.route(
        "GET", TRACKING_PATH, Reply(status=404, body=fixture_text("usps/not_found.json"))
    )
    batch = ADAPTER.track(
        ["9400100000000000000000"], credentials=credentials_for(carrier_server), http=HttpClient()
    )
    assert batch.results == []
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("9400100000000000000000", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server):
    serve(carrier_server)
    credentials = credentials_for(carrier_server)
    number = ["9400111206213414325735"]
    ADAPTER.track(number, credentials=credentials, http=HttpClient())  # token now cached

    carrier_server.fail_next(429, headers={"Retry-After": "120"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(number, credentials=credentials, http=HttpClient())
    assert (caught.value.status, caught.value.retry_after) == (429, 120)

    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.fail_next(403)
    with pytest.raises(TerminalError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient(timeout=(0.5, 0.5)))
