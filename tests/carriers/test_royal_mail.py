"""Royal Mail Tracking v2: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

from datetime import date

import pytest

from carriers.adapters.royal_mail import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

EVENTS_PATH = r"^/mailpieces/v2/[^/]+/events$"
CREDENTIALS = {"client_id": "3f1c0a52-7d1e-4c4b-9d63-1b2f0e7a9c11", "client_secret": "kR8vQ2"}


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"royal_mail/{name}")))


def test_a_tracked_48_item_in_transit_is_normalized_whole():
    assert parse("events_transit.json") == {
        "shipments": [
            {
                "tracking_number": "TT215643894GB",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": "2025-03-12",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-11T05:12:40+00:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "EVOCO",
                        "description": "We've received your item and it's now being processed "
                        "for delivery.",
                        "location": "Bristol Mail Centre",
                    },
                    {
                        "occurred_at": "2025-03-10T21:48:02+00:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "EVDAV",
                        "description": "Item Received",
                        "location": "Swindon Mail Centre",
                    },
                    {
                        # No offset in the answer: UK local time (GMT in March).
                        "occurred_at": "2025-03-10T14:31:00+00:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "EVPPA",
                        "description": "Accepted at Post Office.",
                        "location": "Bath Post Office",
                    },
                    {
                        "occurred_at": "2025-03-09T18:05:11+00:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "EVAIP",
                        "description": "Sender despatching item",
                        "location": "",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_the_estimated_window_and_product_are_kept():
    result = ADAPTER.parse(fixture_text("royal_mail/events_transit.json")).results[0]
    assert (result.estimated_delivery_earliest, result.estimated_delivery_latest) == (
        date(2025, 3, 12),
        date(2025, 3, 12),
    )
    assert result.service == "Royal Mail Tracked 48"


def test_a_signed_special_delivery_uses_the_barcode_not_the_internal_id():
    result = ADAPTER.parse(fixture_text("royal_mail/events_delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert result.tracking_number == "SD773054114GB"
    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at.isoformat() == "2025-07-15T11:42:00+01:00"
    assert result.signed_by == "R OKAFOR"
    # The broken event (no time) is skipped; a summer time without offset is BST.
    assert [e.code for e in result.events] == ["EVKSP", "EVGPD", "EVODO", "EVOAC", "EVPPA"]
    assert result.events[-1].occurred_at.isoformat() == "2025-07-14T12:05:00+01:00"


def test_a_missed_delivery_then_waits_at_the_delivery_office():
    events = ADAPTER.parse(fixture_text("royal_mail/events_attempted.json")).results[0].events
    assert [(e.code, e.substatus) for e in events] == [
        ("EVNDA", "available_for_pickup.post_office"),
        ("EVKNA", "failed_attempt.recipient_unavailable"),
        ("EVGPD", "out_for_delivery.out_for_delivery"),
        ("EVPPA", "in_transit.picked_up"),
    ]


def test_a_refusal_and_an_unknown_return_code_are_exceptions():
    events = ADAPTER.parse(fixture_text("royal_mail/events_refused.json")).results[0].events
    assert [(e.code, e.substatus, e.unmapped) for e in events] == [
        ("EVRTS", "exception.returning_to_sender", True),
        ("EVKRF", "exception.refused", False),
        ("EVGPD", "out_for_delivery.out_for_delivery", False),
    ]


def test_a_summary_answer_gives_the_latest_event_of_each_piece_and_per_piece_errors():
    document = parse("summary_batch.json")
    assert [(s["tracking_number"], s["status"]) for s in document["shipments"]] == [
        ("TT215643894GB", "in_transit"),
        ("SD773054114GB", "delivered"),
    ]
    assert [len(s["events"]) for s in document["shipments"]] == [1, 1]
    assert document["errors"] == [
        {
            "tracking_number": "QF400127400GB",
            "code": "not_found",
            "message": "Barcode reference QF400127400GB isn't recognised - A mail item with "
            "that barcode cannot be located",
        }
    ]


def test_error_documents_become_typed_errors():
    assert [
        (e.code, e.transient)
        for e in ADAPTER.parse(fixture_text("royal_mail/error_not_found.json")).errors
    ] == [("not_found", False)]
    assert parse("error_unauthorized.json")["errors"] == [
        {"tracking_number": "", "code": "unauthorized", "message": "Client id not registered."}
    ]
    busy = ADAPTER.parse(
        '{"httpCode": "503", "httpMessage": "Service Unavailable", "errors": [{"errorCode": '
        '"E1307", "errorDescription": "Tracking is temporarily unavailable"}]}'
    )
    assert [(e.code, e.transient) for e in busy.errors] == [("tracking_unavailable", True)]


@pytest.mark.parametrize(
    "body", ["", "[]", '{"foo": 1}', "<html>Bad gateway</html>", '{"tracking_results": []}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_sends_the_ibm_headers_and_accepts_the_terms(carrier_server):
    carrier_server.route("GET", EVENTS_PATH, json_file("royal_mail/events_delivered.json"))

    batch = ADAPTER.track(
        ["SD773054114GB"],
        credentials={**CREDENTIALS, "base_url": carrier_server.url},
        http=HttpClient(),
    )

    request = carrier_server.requests[0]
    assert request.path == "/mailpieces/v2/SD773054114GB/events"
    assert request.headers["x-ibm-client-id"] == CREDENTIALS["client_id"]
    assert request.headers["x-ibm-client-secret"] == CREDENTIALS["client_secret"]
    assert request.headers["x-accept-rmg-terms"] == "yes"
    assert request.headers["accept"] == "application/json"
    assert [r.tracking_number for r in batch.results] == ["SD773054114GB"]


def test_track_asks_for_each_items_events_one_call_per_number(carrier_server):
    carrier_server.route("GET", EVENTS_PATH, json_file("royal_mail/events_transit.json"))

    batch = ADAPTER.track(
        ["TT215643894GB", "tt 2156 4390 3gb"],
        credentials={**CREDENTIALS, "base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.path for r in carrier_server.requests] == [
        "/mailpieces/v2/TT215643894GB/events",
        "/mailpieces/v2/TT215643903GB/events",
    ]
    assert [r.tracking_number for r in batch.results] == ["TT215643894GB", "tt 2156 4390 3gb"]


def test_track_turns_an_unknown_barcode_into_a_not_found_error(carrier_server):
    carrier_server.route(
        "GET",
        EVENTS_PATH,
        Reply(status=404, body=fixture_text("royal_mail/error_not_found.json")),
    )
    batch = ADAPTER.track(
        ["QF400127400GB"], credentials={**CREDENTIALS, "base_url": carrier_server.url}
    )
    assert batch.results == []
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("QF400127400GB", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", EVENTS_PATH, json_file("royal_mail/events_transit.json"))
    credentials = {**CREDENTIALS, "base_url": carrier_server.url}
    number = ["TT215643894GB"]

    carrier_server.fail_next(429, headers={"Retry-After": "15"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(number, credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 15

    carrier_server.fail_next(502)
    with pytest.raises(TransientError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401, body=fixture_text("royal_mail/error_unauthorized.json"))
    with pytest.raises(TerminalError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(number, credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(number, credentials=credentials, http=HttpClient(timeout=(0.5, 0.5)))


def test_an_item_without_history_yet_shows_its_summarys_latest_event():
    body = (
        '{"mailPieces": {"mailPieceId": "TT215643894GB", "summary": {"oneDBarcode": '
        '"TT215643894GB", "lastEventCode": "EVAIP", "lastEventName": "Sender despatching item", '
        '"lastEventDateTime": "2025-03-09T18:05:11+00:00"}, "events": []}}'
    )
    [event] = ADAPTER.parse(body).results[0].events
    assert (event.code, event.substatus) == ("EVAIP", "info_received.label_created")
