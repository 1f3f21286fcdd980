"""PostNL Shipping Status v2: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from carriers.adapters.postnl import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

STATUS_PATH = r"^/shipment/v2/status/barcode/"


def parse(name: str, number: str = "") -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"postnl/{name}"), tracking_number=number))


def test_a_parcel_out_for_delivery_is_normalized_whole():
    assert parse("out_for_delivery.json") == {
        "shipments": [
            {
                "tracking_number": "3SDEVC288882229",
                "status": "out_for_delivery",
                "substatus": "out_for_delivery.out_for_delivery",
                "estimated_delivery": "2025-03-05",
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T09:02:11+01:00",
                        "status": "out_for_delivery",
                        "substatus": "out_for_delivery.out_for_delivery",
                        "code": "J05",
                        "description": "Driver is en route",
                        "location": "170721",
                    },
                    {
                        "occurred_at": "2025-03-05T04:48:37+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "J01",
                        "description": "Shipment has been sorted",
                        "location": "170721",
                    },
                    {
                        "occurred_at": "2025-03-04T18:20:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "B01",
                        "description": "Shipment received by PostNL",
                        "location": "157091",
                    },
                    {
                        "occurred_at": "2025-03-04T11:07:43+01:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "A01",
                        "description": "Shipment expected, but not yet arrived at PostNL",
                        "location": "888888",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_the_eta_window_is_read_month_first():
    result = ADAPTER.parse(fixture_text("postnl/out_for_delivery.json")).results[0]
    assert (result.estimated_delivery_earliest, result.estimated_delivery_latest) == (
        date(2025, 3, 5),
        date(2025, 3, 5),
    )
    assert result.service == "Standard shipment"


def test_dutch_local_times_follow_summer_time():
    events = ADAPTER.parse(fixture_text("postnl/status_only.json")).results[0].events
    assert events[0].occurred_at.isoformat() == "2024-04-19T23:53:58+02:00"


def test_a_delivery_to_the_neighbour_keeps_the_good_events_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("postnl/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.neighbor")
    assert delivered_at == datetime.fromisoformat("2025-03-26T13:41:09+01:00")
    assert [e.code for e in result.events] == ["I10", "J05", "B01"]


def test_a_missed_delivery_then_a_postnl_outlet():
    events = ADAPTER.parse(fixture_text("postnl/pickup_point.json")).results[0].events
    assert [(e.code, e.substatus) for e in events] == [
        ("J02", "available_for_pickup.post_office"),
        ("K70", "failed_attempt.recipient_unavailable"),
        ("J05", "out_for_delivery.out_for_delivery"),
    ]


def test_a_refused_parcel_back_with_the_sender_and_an_unknown_code_flagged():
    result = ADAPTER.parse(fixture_text("postnl/returned.json")).results[0]
    assert result.state()[:2] == ("exception", "exception.returned_to_sender")
    by_code = {e.code: e for e in result.events}
    assert by_code["H01"].substatus == "exception.refused"
    assert (by_code["ZZ1"].substatus, by_code["ZZ1"].unmapped) == ("exception.damaged", True)
    assert by_code["J05"].unmapped is False


def test_without_events_the_status_history_is_the_timeline():
    result = ADAPTER.parse(fixture_text("postnl/status_only.json")).results[0]
    # 99 "not applicable" is no news, and Status repeats the newest OldStatus only once.
    assert [(e.code, e.substatus) for e in result.events] == [
        ("9", "in_transit.customs_processing"),
        ("3", "in_transit.picked_up"),
        ("13", "info_received.label_created"),
    ]


def test_a_multi_parcel_answer_lists_every_parcel():
    batch = ADAPTER.parse(fixture_text("postnl/multi_collo.json"))
    assert [(r.tracking_number, r.state()[0]) for r in batch.results] == [
        ("3SABCD2000001", "delivered"),
        ("3SABCD2000002", "in_transit"),
    ]


@pytest.mark.parametrize(
    ("name", "code"), [("not_found.json", "not_found"), ("unauthorized.json", "unauthorized")]
)
def test_postnl_refusals_are_errors_not_crashes(name, code):
    assert parse(name, "3SABCD0000000")["errors"][0]["tracking_number"] == "3SABCD0000000"
    assert parse(name)["errors"][0]["code"] == code


@pytest.mark.parametrize("body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '"text"'])
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_postnl_is_polled_gently():
    assert ADAPTER.poll_interval >= timedelta(hours=1)
    assert ADAPTER.max_batch_size == 1


def test_track_asks_one_barcode_per_call_with_the_key(carrier_server):
    carrier_server.route("GET", STATUS_PATH, json_file("postnl/out_for_delivery.json"))

    batch = ADAPTER.track(
        ["3SDEVC288882229", "3S DEVC 288882230"],
        credentials={"api_key": "pnl-key", "base_url": carrier_server.url, "max_days": 30},
        http=HttpClient(),
    )

    assert [r.path for r in carrier_server.requests] == [
        "/shipment/v2/status/barcode/3SDEVC288882229",
        "/shipment/v2/status/barcode/3SDEVC288882230",
    ]
    request = carrier_server.requests[0]
    assert request.headers["apikey"] == "pnl-key"
    assert request.query == {"detail": ["true"], "language": ["EN"], "maxDays": ["30"]}
    # The fake answers the same parcel twice; each result answers for the barcode asked.
    assert [r.tracking_number for r in batch.results] == ["3SDEVC288882229", "3SDEVC288882230"]


def test_track_keeps_only_the_parcel_asked_from_a_multi_parcel_answer(carrier_server):
    carrier_server.route("GET", STATUS_PATH, json_file("postnl/multi_collo.json"))
    batch = ADAPTER.track(
        ["3SABCD2000002"], credentials={"base_url": carrier_server.url}, http=HttpClient()
    )
    assert [(r.tracking_number, r.state()[0]) for r in batch.results] == [
        ("3SABCD2000002", "in_transit")
    ]


def test_track_reports_an_unknown_barcode(carrier_server):
    carrier_server.route(
        "GET", STATUS_PATH, Reply(status=404, body=fixture_text("postnl/not_found.json"))
    )
    batch = ADAPTER.track(
        ["3SABCD0000000"], credentials={"base_url": carrier_server.url}, http=HttpClient()
    )
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("3SABCD0000000", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", STATUS_PATH, json_file("postnl/out_for_delivery.json"))
    credentials = {"base_url": carrier_server.url}
    carrier_server.fail_next(429, headers={"Retry-After": "120"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["3S1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 120
    carrier_server.fail_next(500)
    with pytest.raises(TransientError):
        ADAPTER.track(["3S1"], credentials=credentials, http=HttpClient())
    carrier_server.fail_next(401, body=fixture_text("postnl/unauthorized.json"))
    with pytest.raises(TerminalError):
        ADAPTER.track(["3S1"], credentials=credentials, http=HttpClient())
    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["3S1"], credentials=credentials, http=HttpClient())
    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(["3S1"], credentials=credentials, http=HttpClient(timeout=(1.0, 0.3)))
