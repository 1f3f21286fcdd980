"""Correos Localizador: recorded responses replayed, and the client against the local fake."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest

from carriers.adapters.correos import ADAPTER, CANARY, MADRID, zone_for_unit
from carriers.base import NotThisFormat
from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.services import batch_document
from tests.fakes.carrier_server import Reply, fixture_text, json_file

PATH = r"^/eventos_envio_servicio_auth/[^/]+$"


def parse(name: str, **kwargs) -> dict:
    return batch_document(ADAPTER.parse(fixture_text(f"correos/{name}"), **kwargs))


def test_a_parcel_on_its_way_is_normalized_whole():
    assert parse("in_transit.json") == {
        "shipments": [
            {
                "tracking_number": "PQ4B6D0412345670108001C",
                "status": "in_transit",
                "substatus": "in_transit.in_transit",
                "estimated_delivery": None,
                "delivered_at": None,
                "events": [
                    {
                        "occurred_at": "2025-03-05T04:51:02+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.in_transit",
                        "code": "P180000V",
                        "description": "En tránsito",
                        "location": "CTA ZARAGOZA",
                    },
                    {
                        "occurred_at": "2025-03-04T22:14:30+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.arrived_at_facility",
                        "code": "P040000V",
                        "description": "Clasificado",
                        "location": "CTA MADRID",
                    },
                    {
                        "occurred_at": "2025-03-04T11:37:09+01:00",
                        "status": "in_transit",
                        "substatus": "in_transit.picked_up",
                        "code": "A010000V",
                        "description": "Admitido",
                        "location": "OFICINA MADRID SUC 45",
                    },
                    {
                        "occurred_at": "2025-03-03T18:02:51+01:00",
                        "status": "info_received",
                        "substatus": "info_received.label_created",
                        "code": "A090000V",
                        "description": "Pre-registrado",
                        "location": "",
                    },
                ],
            }
        ],
        "errors": [],
    }


def test_a_delivery_keeps_every_good_event_and_skips_a_broken_one():
    result = ADAPTER.parse(fixture_text("correos/delivered.json")).results[0]
    status, substatus, delivered_at = result.state()

    assert (status, substatus) == ("delivered", "delivered.delivered")
    assert delivered_at == datetime.fromisoformat("2025-03-26T12:09:27+01:00")
    assert [e.code for e in result.events] == ["A010000V", "G01L010V", "H020000V", "I010000V"]


def test_a_missed_delivery_then_waiting_at_the_post_office():
    events = ADAPTER.parse(fixture_text("correos/office_pickup.json")).results[0].events
    assert [(e.substatus, e.unmapped) for e in events] == [
        ("out_for_delivery.out_for_delivery", False),
        ("failed_attempt.recipient_unavailable", False),  # unknown code, phase 3 + words
        ("available_for_pickup.post_office", False),
    ]
    assert events[0].occurred_at.utcoffset().total_seconds() == 7200  # summer time in Bilbao


def test_a_refusal_and_the_return_to_the_sender():
    result = ADAPTER.parse(fixture_text("correos/returned.json")).results[0]
    assert result.state()[:2] == ("exception", "exception.returned_to_sender")
    assert [e.substatus for e in result.events][1:] == [
        "exception.refused",
        "exception.returning_to_sender",
        "exception.returned_to_sender",
    ]


def test_canary_island_units_are_read_in_canary_time():
    events = ADAPTER.parse(fixture_text("correos/canary.json")).results[0].events
    madrid, las_palmas, tenerife = events
    assert madrid.occurred_at == datetime.fromisoformat("2025-07-07T23:10:00+02:00")
    assert las_palmas.occurred_at == datetime.fromisoformat("2025-07-08T15:20:00+01:00")
    assert tenerife.occurred_at == datetime.fromisoformat("2025-07-10T08:40:00+01:00")
    assert las_palmas.substatus == "in_transit.customs_processing"


@pytest.mark.parametrize(
    ("unit", "zone"),
    [
        ("CTA LAS PALMAS", CANARY),
        ("UR ARRECIFE 1", CANARY),
        ("OFICINA SANTA CRUZ DE LA PALMA", CANARY),
        ("CTA PALMA DE MALLORCA", MADRID),
        ("UR LA PALMA DEL CONDADO", MADRID),
        ("", MADRID),
    ],
)
def test_the_zone_of_a_correos_unit(unit, zone):
    assert zone_for_unit(unit) == zone


def test_an_event_without_code_or_phase_falls_back_to_the_words_and_is_flagged():
    body = (
        '[{"codEnvio": "X1", "error": {"codError": "0"}, "eventos": [{"fecEvento": "01/04/2025",'
        ' "horEvento": "10:00:00", "desTextoResumen": "Entregado"}]}]'
    )
    [event] = ADAPTER.parse(body).results[0].events
    assert (event.status, event.unmapped) == ("delivered", True)


def test_no_traceability_is_a_not_found_error():
    assert parse("not_found.json") == {
        "shipments": [],
        "errors": [
            {
                "tracking_number": "PQ0000000000000000000000",
                "code": "not_found",
                "message": "Sin Trazabilidad en Minerva",
            }
        ],
    }
    bare = ADAPTER.parse('{"error": {"codError": "3", "desError": "x"}}', tracking_number="Y2")
    assert [(e.tracking_number, e.code, e.transient) for e in bare.errors] == [
        ("Y2", "not_found", False)
    ]


@pytest.mark.parametrize(
    "body", ["<html>nope</html>", "[]", '{"foo": 1}', "", '[{"codEnvio": "X"}]', '{"shipment": []}']
)
def test_other_bodies_are_not_this_format(body):
    with pytest.raises(NotThisFormat):
        ADAPTER.parse(body)


def test_track_asks_the_locator_with_basic_auth(carrier_server):
    carrier_server.route("GET", PATH, json_file("correos/in_transit.json"))

    batch = ADAPTER.track(
        ["pq4b6d0412345670108001c"],
        credentials={"username": "cliente1", "password": "clave", "base_url": carrier_server.url},
        http=HttpClient(),
    )

    assert [r.tracking_number for r in batch.results] == ["PQ4B6D0412345670108001C"]
    [request] = carrier_server.requests
    assert request.path == "/eventos_envio_servicio_auth/PQ4B6D0412345670108001C"
    assert request.query == {"codIdioma": ["ES"], "indUltEvento": ["N"]}
    expected = base64.b64encode(b"cliente1:clave").decode()
    assert request.headers["authorization"] == f"Basic {expected}"


def test_track_asks_one_code_per_call_in_the_chosen_language(carrier_server):
    carrier_server.route("GET", PATH, json_file("correos/in_transit.json"))
    ADAPTER.track(
        ["A1", "A2"],
        credentials={"language": "EN", "base_url": carrier_server.url},
        http=HttpClient(),
    )
    assert [(r.path, r.query["codIdioma"]) for r in carrier_server.requests] == [
        ("/eventos_envio_servicio_auth/A1", ["EN"]),
        ("/eventos_envio_servicio_auth/A2", ["EN"]),
    ]


def test_track_turns_an_unknown_code_into_an_error(carrier_server):
    carrier_server.route("GET", PATH, Reply(body=fixture_text("correos/not_found.json")))
    batch = ADAPTER.track(["PQ0"], credentials={"base_url": carrier_server.url}, http=HttpClient())
    assert batch.results == []
    assert [(e.code, e.transient) for e in batch.errors] == [("not_found", False)]


def test_track_faults_are_typed(carrier_server):
    carrier_server.route("GET", PATH, json_file("correos/in_transit.json"))
    credentials = {"base_url": carrier_server.url}

    carrier_server.fail_next(429, headers={"Retry-After": "60"})
    with pytest.raises(TransientError) as caught:
        ADAPTER.track(["1"], credentials=credentials, http=HttpClient())
    assert caught.value.retry_after == 60

    carrier_server.fail_next(500)
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


def test_a_json_body_that_is_not_an_envelope_is_malformed(carrier_server):
    carrier_server.route("GET", PATH, {"code": "404", "message": "Not Found"})
    with pytest.raises(MalformedResponse):
        ADAPTER.track(["1"], credentials={"base_url": carrier_server.url}, http=HttpClient())
