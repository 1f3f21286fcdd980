"""BRT REST tracking: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from carriers.adapters.brt import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

PATH = r"^/tracking/parcelID/[^/]+$"


def parse(name: str, **kwargs) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"brt/{name}"), **kwargs))


def test_a_parcel_out_for_delivery_is_normalized_whole():
    assert parse("in_delivery.json", tracking_number="05930123456789") == {
        "shipments": [
            {
                "tracking_number": "05930123456789",
                "status": "out_for_delivery",
                "substatus": "out_for_delivery.out_for_delivery",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T08:12:00+01:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "703",
                        "description": "IN CONSEGNA",
                        "location": "Bologna",
                    },
                    {
                        "occurred_at": "2025-03-05T05:40:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "702",
                        "description": "ARRIVATA IN FILIALE",
                        "location": "Bologna",
                    },
                    {
                        "occurred_at": "2025-03-04T19:55:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.departed_facility",
                        "code": "701",
                        "description": "PARTITA",
                        "location": "Milano",
                    },
                    {
                        "occurred_at": "2025-03-04T16:30:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "700",
                        "description": "RITIRATA",
                        "location": "Milano",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_the_padding_entries_are_skipped_and_the_service_is_kept():
    result = ADAPTER.parse(fixture_text("brt/in_delivery.json")).results[0]
    assert len(result.events) == 4
    assert result.service == "EXPRESS"
    # Without the asked number (the parse command), the waybill's own id names the result.
    assert result.tracking_number == "171834500123"


def test_a_delivery_keeps_every_good_event_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("brt/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.delivered")
    assert delivered_at == datetime.fromisoformat("2025-03-26T11:47:00+01:00")
    assert result.signed_by == "ROSSI MARIO"
    assert [e.code for e in result.events] == ["704", "703", "799", "700"]


def test_an_unknown_description_falls_back_to_the_words_and_is_flagged():
    events = ADAPTER.parse(fixture_text("brt/delivered.json")).results[0].events
    unknown = next(e for e in events if e.code == "799")
    assert (unknown.status, unknown.unmapped) == ("in_transit", True)
    assert not any(e.unmapped for e in events if e.code != "799")


def test_failed_attempts_storage_and_the_return_to_the_sender():
    result = ADAPTER.parse(fixture_text("brt/returned.json")).results[0]
    assert result.state()[:2] == ("exception", "exception.returning_to_sender")
    assert [e.substatus for e in result.events] == [
        "exception.returning_to_sender",
        "failed_attempt.other",
        "failed_attempt.recipient_unavailable",
        "failed_attempt.recipient_unavailable",
        "out_for_delivery.out_for_delivery",
        "in_transit.picked_up",
    ]


def test_a_parcel_waiting_at_a_brt_fermopoint():
    result = ADAPTER.parse(fixture_text("brt/fermopoint.json")).results[0]
    assert result.state()[:2] == ("available_for_pickup", "available_for_pickup.pickup_point")
    assert result.estimated_delivery == date(2025, 3, 18)
    assert result.events[1].substatus == "in_transit.in_transit"  # on its way to the point


def test_a_negative_execution_code_is_a_not_found_error():
    assert parse("not_found.json", tracking_number="05930999999999") == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "05930999999999",
                "code": "not_found",
                "message": "Dati non trovati - Nessuna spedizione trovata per il parcelID indicato",
            }
        ],
    }
    assert ADAPTER.parse(fixture_text("brt/not_found.json")).errors[0].transient is False


def test_a_generic_brt_error_is_retried():
    body = (
        '{"ttParcelIdResponse": {"executionMessage": {"code": -1, "codeDesc": "Errore generico",'
        ' "message": "Riprovare"}, "esito": -1}}'
    )
    [error] = ADAPTER.parse(body, tracking_number="1").errors
    assert (error.code, error.transient) == ("carrier_error", True)


@pytest.mark.parametrize(
    "body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '{"ttParcelIdResponse": []}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_asks_one_parcel_per_call_with_the_credential_headers(carrier_server):
    carrier_server.route("GET", PATH, json_file("brt/in_delivery.json"))

    batch = ADAPTER.track(
        ["0593 0123 456789", "05930123456790"],
        credentials={"user_id": "1020304", "password": "s3cret", "base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == ["05930123456789", "05930123456790"]
    assert [r.path for r in carrier_server.requests] == [
        "/tracking/parcelID/05930123456789",
        "/tracking/parcelID/05930123456790",
    ]
    request = carrier_server.requests[0]
    assert request.method == "GET"
    assert (request.headers["userid"], request.headers["password"]) == ("1020304", "s3cret")
    assert request.headers["accept"] == "application/json"
    assert "authorization" not in request.headers


def test_track_turns_brt_errors_into_per_number_errors(carrier_server):
    carrier_server.route(
        "GET",
        r"/05930999999999$",
        Reply(status=200, body=fixture_text("brt/not_found.json")),
    )
    carrier_server.route("GET", r"/05930123456789$", json_file("brt/in_delivery.json"))

    batch = ADAPTER.track(
        ["05930999999999", "05930123456789"],
        credentials={"base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == ["05930123456789"]
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("05930999999999", "not_found", False)
    ]


def test_track_reads_a_brt_error_sent_with_a_404(carrier_server):
    carrier_server.route("GET", PATH, Reply(status=404, body=fixture_text("brt/not_found.json")))
    batch = ADAPTER.track(["1"], credentials={"base_url": carrier_server.url}, http=HttpClient())
    assert [(e.code, e.transient) for e in batch.errors] == [("not_found", False)]


def test_a_404_without_a_brt_body_is_not_found(carrier_server):
    carrier_server.route(
        "GET", PATH, Reply(status=404, body="Not Found", content_type="text/plain")
    )
    batch = ADAPTER.track(["1"], credentials={"base_url": carrier_server.url}, http=HttpClient())
    assert [(e.tracking_number, e.code) for e in batch.errors] == [("1", "not_found")]


def test_a_refused_login_is_terminal(carrier_server):
    carrier_server.route("GET", PATH, json_file("brt/login_failed.json"))
    with pytest.raises(TerminalError, match="Login fallito"):
        ADAPTER.track(["1"], credentials={"base_url": carrier_server.url}, http=HttpClient())


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", PATH, json_file("brt/in_delivery.json"))
    credentials = {"base_url": carrier_server.url}

    carrier_server.fail_next(429, headers={"Retry-After": "30"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 30

    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401)
    with pytest.raises(TerminalError):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient(timeout=(1, 0.5)))


def test_a_json_body_that_is_not_brt_is_malformed(carrier_server):
    carrier_server.route("GET", PATH, {"message": "gateway says hello"})
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1"], credentials={"base_url": carrier_server.url}, http=HttpClient())
