"""Canada Post VIS tracking: recorded XML replayed, and the client against the local fake."""

from __future__ import annotations

import base64
from datetime import date

import pytest

from carriers.adapters.canada_post import ADAPTER
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, xml_file

DETAIL_PATH = r"^/vis/track/pin/[^/]+/detail$"
CONTENT_TYPE = "application/vnd.cpc.track-v2+xml"


def parse(name: str) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"canada_post/{name}")))


def one_event(time_zone: str, province: str = "", site: str = "TORONTO") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<tracking-detail xmlns="http://www.canadapost.ca/ws/track-v2">
  <pin>7023210039414604</pin>
  <significant-events>
    <occurrence>
      <event-identifier>0174</event-identifier>
      <event-date>2025-07-02</event-date>
      <event-time>09:15:00</event-time>
      <event-time-zone>{time_zone}</event-time-zone>
      <event-description>Item out for delivery</event-description>
      <event-site>{site}</event-site>
      <event-province>{province}</event-province>
    </occurrence>
  </significant-events>
</tracking-detail>"""


def test_an_expedited_parcel_in_transit_is_normalized_whole():
    assert parse("transit.xml") == {
        "shipments": [
            {
                "tracking_number": "7023210039414604",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": "2025-03-07",  # the changed date wins over the first one
                "delivered_at": None,
                "events": [
                    {
                        # No event-time-zone: British Columbia's zone (PST before March 9).
                        "occurred_at": "2025-03-06T05:02:19-08:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "0100",
                        "description": "Item processed at postal facility",
                        "location": "RICHMOND, BC",
                    },
                    {
                        "occurred_at": "2025-03-05T11:40:00-06:00",
                        "status": "exception",
                        "substatus": "exception.delayed_weather",
                        "code": "0160",
                        "description": "Delivery delayed due to weather conditions",
                        "location": "WINNIPEG, MB",
                    },
                    {
                        "occurred_at": "2025-03-04T02:47:31-05:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "0100",
                        "description": "Item processed at postal facility",
                        "location": "MISSISSAUGA, ON",
                    },
                    {
                        "occurred_at": "2025-03-03T16:05:12-05:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "3000",
                        "description": "Electronic information submitted by shipper",
                        "location": "MISSISSAUGA, ON",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_an_unknown_event_identifier_is_flagged_and_guessed_from_its_words():
    events = ADAPTER.parse(fixture_text("canada_post/transit.xml")).results[0].events
    assert [(e.code, e.unmapped) for e in events] == [
        ("0100", False),
        ("0160", False),
        ("0100", False),
        ("3000", True),
    ]


def test_a_signed_delivery_keeps_the_signatory_and_skips_a_broken_event():
    result = ADAPTER.parse(fixture_text("canada_post/delivered.xml")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.signed")
    assert delivered_at.isoformat() == "2025-02-20T14:12:45-04:00"
    assert result.signed_by == "J MACNEIL"
    assert result.service == "Xpresspost"
    assert result.estimated_delivery == date(2025, 2, 20)
    assert [e.code for e in result.events] == ["20", "1496", "0174", "0100", "0100"]


def test_a_card_for_pickup_after_a_missed_delivery_waits_at_the_post_office():
    events = ADAPTER.parse(fixture_text("canada_post/pickup.xml")).results[0].events
    assert [e.substatus for e in events] == [
        "available_for_pickup.post_office",
        "failed_attempt.recipient_unavailable",
        "out_for_delivery.out_for_delivery",
        "in_transit.arrived_at_facility",
    ]
    assert events[0].occurred_at.isoformat() == "2025-06-10T15:20:06-06:00"


def test_customs_and_duties_are_exceptions_and_a_foreign_site_takes_its_countrys_zone():
    shipment = parse("customs.xml")["shipments"][0]
    assert [(e["code"], e["substatus"]) for e in shipment["events"]] == [
        ("1494", "exception.held_for_payment"),
        ("0810", "exception.customs_hold"),
        ("4000", "in_transit.in_transit"),
    ]
    assert shipment["events"][2]["occurred_at"] == "2025-01-08T11:30:00+00:00"  # London, winter
    assert shipment["tracking_number"] == "RR123456785GB"


@pytest.mark.parametrize(
    ("zone", "province", "expected"),
    [
        ("EDT", "", "2025-07-02T09:15:00-04:00"),
        ("PDT", "", "2025-07-02T09:15:00-07:00"),
        ("NDT", "", "2025-07-02T09:15:00-02:30"),
        ("NST", "", "2025-07-02T09:15:00-03:30"),
        ("EST", "ON", "2025-07-02T09:15:00-05:00"),  # the stated abbreviation wins
        ("", "SK", "2025-07-02T09:15:00-06:00"),  # Saskatchewan keeps standard time
        ("", "", "2025-07-02T09:15:00-04:00"),  # nothing known: Toronto
    ],
)
def test_event_time_zones_become_offsets(zone, province, expected):
    event = ADAPTER.parse(one_event(zone, province)).results[0].events[0]
    assert event.occurred_at.isoformat() == expected


def test_message_documents_become_errors():
    assert parse("not_found.xml")["errors"] == [
        {"tracking_number": "", "code": "not_found", "message": "No Pin History"}
    ]
    assert parse("auth_error.xml")["errors"][0]["code"] == "unauthorized"
    other = ADAPTER.parse(
        "<messages xmlns='http://www.canadapost.ca/ws/messages'><message><code>9999</code>"
        "<description>Internal error</description></message></messages>"
    )
    assert [(e.code, e.message) for e in other.errors] == [
        ("carrier_error", "Internal error (9999)")
    ]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<tracking-detail><pin>&lol2;</pin></tracking-detail>"""


@pytest.mark.parametrize(
    "body",
    [
        "",
        "{}",
        "<html><body>Service unavailable</body></html>",
        "<foo/>",
        "not xml",
        BILLION_LAUGHS,
    ],
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_sends_basic_auth_and_the_versioned_accept_header(carrier_server):
    carrier_server.route("GET", DETAIL_PATH, xml_file("canada_post/delivered.xml", CONTENT_TYPE))

    batch = ADAPTER.track(
        ["1234567890123456"],
        credentials={
            "username": "6e93d53968881714",
            "password": "0bfa9fcb9853d1f5",
            "base_url": carrier_server.url,
        },
        http=HttpClient(),
    )

    request = carrier_server.requests[0]
    assert request.path == "/vis/track/pin/1234567890123456/detail"
    assert request.headers["accept"] == "application/vnd.cpc.track-v2+xml"
    assert request.headers["accept-language"] == "en-CA"
    expected = base64.b64encode(b"6e93d53968881714:0bfa9fcb9853d1f5").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert [r.tracking_number for r in batch.results] == ["1234567890123456"]


def test_track_asks_one_pin_per_call_in_the_accounts_language(carrier_server):
    carrier_server.route("GET", DETAIL_PATH, xml_file("canada_post/transit.xml", CONTENT_TYPE))

    batch = ADAPTER.track(
        ["7023210039414604", "4002517713306280"],
        credentials={"base_url": carrier_server.url, "language": "fr-CA"},
        http=HttpClient(),
    )

    assert [r.path for r in carrier_server.requests] == [
        "/vis/track/pin/7023210039414604/detail",
        "/vis/track/pin/4002517713306280/detail",
    ]
    assert {r.headers["accept-language"] for r in carrier_server.requests} == {"fr-CA"}
    assert [r.tracking_number for r in batch.results] == ["7023210039414604", "4002517713306280"]


def test_track_turns_no_pin_history_into_a_not_found_error(carrier_server):
    carrier_server.route(
        "GET",
        DETAIL_PATH,
        Reply(
            status=404, body=fixture_text("canada_post/not_found.xml"), content_type=CONTENT_TYPE
        ),
    )
    batch = ADAPTER.track(["0000000000000000"], credentials={"base_url": carrier_server.url})
    assert batch.results == []
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("0000000000000000", "not_found", False)
    ]


def test_track_a_404_without_a_messages_document_is_still_not_found(carrier_server):
    carrier_server.route("GET", DETAIL_PATH, Reply(status=404, body="", content_type="text/html"))
    batch = ADAPTER.track(["0000000000000000"], credentials={"base_url": carrier_server.url})
    assert [(e.code, e.transient) for e in batch.errors] == [("not_found", False)]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", DETAIL_PATH, xml_file("canada_post/transit.xml", CONTENT_TYPE))
    credentials = {"base_url": carrier_server.url}
    pin = ["7023210039414604"]

    carrier_server.fail_next(429, headers={"Retry-After": "60"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(pin, credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 60

    carrier_server.fail_next(500)
    with pytest.raises(TransientError):
        ADAPTER.track(pin, credentials=credentials, http=HttpClient())

    carrier_server.fail_next(401, body=fixture_text("canada_post/auth_error.xml"))
    with pytest.raises(TerminalError):
        ADAPTER.track(pin, credentials=credentials, http=HttpClient())

    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(pin, credentials=credentials, http=HttpClient())

    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(pin, credentials=credentials, http=HttpClient(timeout=(0.5, 0.5)))
