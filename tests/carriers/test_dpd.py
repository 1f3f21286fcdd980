"""DPD NL/BE ParcelLifeCycleService (SOAP): recorded answers replayed, the client against the fake."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from carriers.adapters.dpd import ADAPTER, label_number
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError, tokens
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, xml_file

LOGIN_PATH = r"^/soap/services/LoginService/V2_1$"
TRACK_PATH = r"^/soap/services/ParcelLifeCycleService/V2_0$"
NS = {
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "auth": "http://dpd.com/common/service/types/Authentication/2.0",
    "login": "http://dpd.com/common/service/types/LoginService/2.1",
    "plc": "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0",
}
NOW = datetime(2025, 3, 5, 13, 0, tzinfo=UTC)
_delis_ids = itertools.count()


def parse(name: str, number: str = "") -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"dpd/{name}"), tracking_number=number))


def fault_reply() -> Reply:
    return Reply(status=500, body=fixture_text("dpd/auth_fault.xml"), content_type="text/xml")


@pytest.fixture
def credentials(carrier_server):
    """A DPD account on the fake, with a DELIS id no other test has cached a token for."""
    delis_id = f"KD{next(_delis_ids):06d}"
    yield {"delis_id": delis_id, "password": "pw&<1>", "base_url": carrier_server.url}
    tokens.forget(f"dpd:{delis_id}")


def requests_to(server, suffix: str) -> list:
    return [r for r in server.requests if r.path.endswith(suffix)]


def test_a_parcel_in_transit_is_normalized_whole_and_future_steps_are_skipped():
    assert parse("transit.xml", "05308801410058") == {
        "shipments": [
            {
                "tracking_number": "05308801410058",
                "status": "in_transit",
                "substatus": "in_transit.arrived_at_facility",
                "estimated_delivery": None,
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T04:09:55+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "Depot",
                        "description": "At parcel delivery centre.",
                        "location": "Eindhoven (NL)",
                    },
                    {
                        "occurred_at": "2025-03-04T19:48:00+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "BetweenDepots",
                        "description": "The parcel is at the parcel dispatch centre.",
                        "location": "Puurs (BE)",
                    },
                    {
                        "occurred_at": "2025-03-04T17:42:10+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "PickedUp",
                        "description": "DPD has received your parcel.",
                        "location": "Puurs (BE)",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_to_the_neighbour_keeps_every_good_step_and_skips_a_broken_date():
    result = ADAPTER.parse(fixture_text("dpd/delivered.xml")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.neighbor")
    assert delivered_at == datetime.fromisoformat("2025-03-12T11:20:05+01:00")
    assert [e.code for e in result.events] == ["PickedUp", "BetweenDepots", "Courier", "Delivered"]
    assert result.service == "DPD HOME"


def test_local_times_follow_the_country_in_the_location():
    events = ADAPTER.parse(fixture_text("dpd/delivered.xml")).results[0].events
    picked_up = events[0]
    assert picked_up.location == "Aschaffenburg (DE)"
    assert picked_up.occurred_at.isoformat() == "2025-03-10T18:15:00+01:00"
    assert str(picked_up.occurred_at.tzinfo) == "Europe/Berlin"


def test_a_failed_delivery_then_a_parcelshop():
    result = ADAPTER.parse(fixture_text("dpd/parcelshop.xml")).results[0]
    assert result.state()[:2] == ("available_for_pickup", "available_for_pickup.pickup_point")
    assert [(e.code, e.substatus) for e in result.events if e.status != "in_transit"] == [
        ("Courier", "out_for_delivery.out_for_delivery"),
        ("DeliveryFailure", "failed_attempt.other"),
        ("ParcelShop", "available_for_pickup.pickup_point"),
    ]


def test_an_unknown_step_falls_back_to_the_description_and_is_flagged():
    events = ADAPTER.parse(fixture_text("dpd/returning.xml")).results[0].events
    assert [(e.code, e.substatus, e.unmapped) for e in events] == [
        ("Courier", "out_for_delivery.out_for_delivery", False),
        ("ReturningFromDelivery", "failed_attempt.other", False),
        ("ReturnToSender", "exception.returning_to_sender", True),
    ]


def test_an_empty_tracking_result_is_not_found():
    assert parse("not_found.xml", "05308801410059") == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "05308801410059",
                "code": "not_found",
                "message": "DPD has no parcel with this number",
            }
        ],
    }


def test_an_authentication_fault_is_an_error_not_a_crash():
    batch = ADAPTER.parse(fixture_text("dpd/auth_fault.xml"))
    assert [(e.code, e.message, e.transient) for e in batch.errors] == [
        ("unauthorized", "Authentication failure, check delisId and password.", False)
    ]


@pytest.mark.parametrize(
    "body",
    ["<html>nope</html>", "not xml at all", "", '{"json": true}', "<a><b/></a>"],
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("05308801410058", "05308801410058"),
        ("05308801410058B", "05308801410058"),
        ("0530 8801 4100 58", "05308801410058"),
        ("007000005308801410058101056Z", "05308801410058"),  # the 28-char barcode
    ],
)
def test_the_parcel_label_number_is_the_14_digits(given, sent):
    assert label_number(given) == sent


def test_track_logs_in_then_asks_with_the_token(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, xml_file("dpd/login.xml", "text/xml"))
    carrier_server.route("POST", TRACK_PATH, xml_file("dpd/transit.xml", "text/xml"))

    batch = ADAPTER.track(["05308801410058X"], credentials=credentials, http=HttpClient(), now=NOW)

    [login] = requests_to(carrier_server, "/LoginService/V2_1")
    assert login.headers["soapaction"] == f"{NS['login']}/getAuth"
    assert login.headers["content-type"].startswith("text/xml")
    get_auth = ET.fromstring(login.body).find("soap:Body/login:getAuth", NS)  # noqa: S314
    assert get_auth.findtext("delisId") == credentials["delis_id"]
    assert get_auth.findtext("password") == "pw&<1>"
    assert get_auth.findtext("messageLanguage") == "en_EN"

    [track] = requests_to(carrier_server, "/ParcelLifeCycleService/V2_0")
    assert track.headers["soapaction"] == f"{NS['plc']}/getTrackingData"
    envelope = ET.fromstring(track.body)  # noqa: S314
    authentication = envelope.find("soap:Header/auth:authentication", NS)
    assert authentication.findtext("authToken").startswith("GFadfGob14")
    assert authentication.findtext("delisId") == credentials["delis_id"]
    assert (
        envelope.findtext("soap:Body/plc:getTrackingData/parcelLabelNumber", namespaces=NS)
        == "05308801410058"
    )
    # The result answers for the number the merchant holds, check character included.
    assert [r.tracking_number for r in batch.results] == ["05308801410058X"]


def test_the_token_is_cached_and_one_call_goes_per_parcel(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, xml_file("dpd/login.xml", "text/xml"))
    carrier_server.route("POST", TRACK_PATH, xml_file("dpd/transit.xml", "text/xml"))

    batch = ADAPTER.track(
        ["05308801410058", "05308801410059", "05308801410060"],
        credentials=credentials,
        http=HttpClient(),
        now=NOW,
    )

    assert len(requests_to(carrier_server, "/LoginService/V2_1")) == 1
    assert len(requests_to(carrier_server, "/ParcelLifeCycleService/V2_0")) == 3
    assert len(batch.results) == 3


def test_an_expired_cached_token_is_renewed_once(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, xml_file("dpd/login.xml", "text/xml"))
    carrier_server.route("POST", TRACK_PATH, xml_file("dpd/transit.xml", "text/xml"))
    ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)

    answers = iter([fault_reply(), xml_file("dpd/transit.xml", "text/xml")])
    carrier_server.route("POST", TRACK_PATH, lambda request: next(answers))
    batch = ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)

    assert len(requests_to(carrier_server, "/LoginService/V2_1")) == 2
    assert batch.errors == [] and len(batch.results) == 1


def test_a_refused_login_is_terminal(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, fault_reply())
    with pytest.raises(TerminalError):
        ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)
    assert len(carrier_server.requests) == 1


def test_an_unknown_parcel_is_a_per_number_error(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, xml_file("dpd/login.xml", "text/xml"))
    carrier_server.route("POST", TRACK_PATH, xml_file("dpd/not_found.xml", "text/xml"))
    batch = ADAPTER.track(["09981122334455"], credentials=credentials, http=HttpClient(), now=NOW)
    assert [(e.tracking_number, e.code, e.transient) for e in batch.errors] == [
        ("09981122334455", "not_found", False)
    ]


def test_track_faults_are_typed(carrier_server, credentials):
    carrier_server.route("POST", LOGIN_PATH, xml_file("dpd/login.xml", "text/xml"))
    carrier_server.route("POST", TRACK_PATH, xml_file("dpd/transit.xml", "text/xml"))
    ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)

    carrier_server.fail_next(429, headers={"Retry-After": "20"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)
    assert caught.value.retry_after == 20
    carrier_server.fail_next(500, body="<html>Internal Server Error</html>")
    with pytest.raises(TransientError):
        ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)
    carrier_server.fail_next(503)
    with pytest.raises(TransientError):
        ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)
    carrier_server.malformed_next()
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["05308801410058"], credentials=credentials, http=HttpClient(), now=NOW)
    carrier_server.blackhole_next()
    with pytest.raises(TransientError):
        ADAPTER.track(
            ["05308801410058"],
            credentials=credentials,
            http=HttpClient(timeout=(1.0, 0.3)),
            now=NOW,
        )


def test_the_token_lifetime_comes_from_auth_token_expires():
    # 13:02:56 Brussels time on 6 March is 12:02:56 UTC: 23 h 2 min 56 s after NOW.
    assert ADAPTER._lifetime("2025-03-06T13:02:56.06", NOW) == pytest.approx(82_976.06)
    assert ADAPTER._lifetime("garbage", NOW) == 12 * 3600


def test_the_country_picks_the_production_host():
    assert ADAPTER.endpoint({"country": "NL"}) == "https://wsshipper.dpd.nl"
    assert ADAPTER.endpoint({"country": "BE"}) == "https://wsshipper.dpd.be"
    assert ADAPTER.endpoint({"country": "NL", "base_url": "http://fake/"}) == "http://fake"
