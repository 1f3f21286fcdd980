"""Correos (Spain): the "Localizador" traceability service for Correos contract customers.

Which API: of the two public ones, this adapter uses the authenticated canonical locator,
``GET https://localizador.correos.es/canonico/eventos_envio_servicio_auth/{code}?codIdioma=ES&
indUltEvento=N``, with HTTP Basic auth (the customer's Correos user and password). It is the one
Correos gives its business customers, and the one most public clients use (OCA's Odoo Correos
module, the ``correos-seguimiento`` package, Home Assistant integrations). The website's search
engine (``api1.correos.es/digital-services/searchengines/api/v1/?searchType=envio``) is an
undocumented front-end API and is not used. ``codIdioma`` (ES, EN...) can be set with
``credentials["language"]``; ``indUltEvento=N`` asks for the whole history (S: the last event).

One code per call, no paging, no push. The HTTP status is 200 even for an unknown code: the
answer is a JSON array with one envelope per shipment (some error bodies come as a bare object)::

    [{"codEnvio": "PQ4F6P0701234560108001X", "error": {"codError": "0", "desError": "OK"},
      "eventos": [{"codEvento": "A010000V", "fecEvento": "03/03/2025", "horEvento": "10:12:44",
                   "fase": "2", "desTextoResumen": "Admitido", "desTextoAmpliado": "...",
                   "unidad": "OFICINA ..."}]}]

``codError`` "0" is success; "3" ("sin trazabilidad") means Correos has no scan for the code
(unknown or not yet handed over): a ``not_found`` error. Events run oldest to newest. ``codEvento``
is mapped by ``CODES``; the event codes public clients have confirmed are few, so the event's
``fase`` (1 pre-admission, 2 on its way, 3 in delivery, 4 delivered) gives the main status of the
others and the Spanish words refine it within that phase.

Times (``fecEvento`` dd/MM/yyyy + ``horEvento`` HH:mm:ss) have no offset and are local to the
scanning unit: Europe/Madrid for the mainland, the Balearics, Ceuta and Melilla, but the Canary
Islands run one hour behind (Atlantic/Canary). An event whose ``unidad`` names a Canary island or
town is read in Canary time; the rest in Madrid time.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
    clean_number,
)
from carriers.codes import fold, guess_from_text
from carriers.http import HttpClient, MalformedResponse, json_body

MADRID = ZoneInfo("Europe/Madrid")
CANARY = ZoneInfo("Atlantic/Canary")

# codEvento -> (status, substatus): the codes public Correos clients have seen on real parcels.
CODES: dict[str, tuple[str, str]] = {
    "A090000V": ("info_received", "info_received.label_created"),  # Pre-registrado
    "A010000V": ("in_transit", "in_transit.picked_up"),  # Admitido
    "P040000V": ("in_transit", "in_transit.arrived_at_facility"),  # Clasificado
    "G01L010V": ("in_transit", "in_transit.arrived_at_facility"),  # En unidad de reparto
    "H020000V": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # En reparto
    "I010000V": ("delivered", "delivered.delivered"),  # Entregado
}

# fase -> (status, substatus), and the statuses the event's words may refine each phase into.
PHASES: dict[str, tuple[str, str]] = {
    "1": ("info_received", "info_received.label_created"),  # Pre-admisión
    "2": ("in_transit", "in_transit.in_transit"),  # En camino
    "3": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # En entrega
    "4": ("delivered", "delivered.delivered"),  # Entregado
}
REFINES: dict[str, frozenset[str]] = {
    "1": frozenset({"info_received"}),
    "2": frozenset(
        {"in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt", "exception"}
    ),
    "3": frozenset({"out_for_delivery", "available_for_pickup", "failed_attempt", "exception"}),
    "4": frozenset({"delivered", "exception"}),
}

# Correos' own Spanish phrases, checked before the shared keywords (first match wins).
_SPANISH: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(r"(entregado|devuelto) al remitente"),
        "exception",
        "exception.returned_to_sender",
    ),
    (re.compile(r"devoluci|retorno al remitente"), "exception", "exception.returning_to_sender"),
    (
        re.compile(r"pendiente de pago|aranceles|gastos de gestion aduanera"),
        "exception",
        "exception.held_for_payment",
    ),
    (re.compile(r"rehusado|rechazado"), "exception", "exception.refused"),
    (
        re.compile(r"direccion (incorrecta|incompleta)|desconocido"),
        "failed_attempt",
        "failed_attempt.address_issue",
    ),
    (re.compile(r"ausente"), "failed_attempt", "failed_attempt.recipient_unavailable"),
    (
        re.compile(r"citypaq|homepaq|\blocker\b"),
        "available_for_pickup",
        "available_for_pickup.locker",
    ),
    (
        re.compile(r"lista de correos|(disponible|depositado|recoger).*oficina|en oficina"),
        "available_for_pickup",
        "available_for_pickup.post_office",
    ),
    (
        re.compile(r"clasificado|centro (de tratamiento|logistico)|unidad de reparto"),
        "in_transit",
        "in_transit.arrived_at_facility",
    ),
    (re.compile(r"pre-?registrado|prerregistrado"), "info_received", "info_received.label_created"),
]

# Canary Islands place names as they appear in a unit's name ("CTA LAS PALMAS", "UR ARRECIFE").
_CANARY = re.compile(
    r"\b(canarias|gran canaria|las palmas|tenerife|la laguna|lanzarote|arrecife|fuerteventura"
    r"|puerto del rosario|la gomera|el hierro|santa cruz de la palma|los llanos de aridane"
    r"|telde|arona|adeje|tirajana|puerto de la cruz)\b"
)


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def zone_for_unit(unit: str) -> ZoneInfo:
    """The time zone of a Correos unit: Canary time for the islands, else Madrid time."""
    return CANARY if _CANARY.search(fold(unit)) else MADRID


def _words(text: str) -> tuple[str, str] | None:
    folded = fold(text)
    for pattern, status, substatus in _SPANISH:
        if pattern.search(folded):
            return status, substatus
    return guess_from_text(text)


def _event(raw: dict) -> CarrierEvent:
    code = _text(raw.get("codEvento")).upper()
    phase = _text(raw.get("fase"))
    summary = _text(raw.get("desTextoResumen"))
    text = " ".join(t for t in (summary, _text(raw.get("desTextoAmpliado"))) if t)
    unit = _text(raw.get("unidad"))
    if code in CODES:
        status, substatus = CODES[code]
        unmapped = False
    elif phase in PHASES:
        status, substatus = PHASES[phase]
        guessed = _words(text)
        if guessed and guessed[0] in REFINES[phase]:
            status, substatus = guessed
        unmapped = False
    else:
        status, substatus = _words(text) or ("in_transit", "in_transit.in_transit")
        unmapped = True
    clock = _text(raw.get("horEvento")) or "00:00:00"
    stamp = f"{_text(raw['fecEvento'])} {clock}"
    # Correos times are local to the scanning unit.
    occurred = datetime.strptime(stamp, "%d/%m/%Y %H:%M:%S").replace(tzinfo=zone_for_unit(unit))
    return CarrierEvent(
        occurred_at=occurred,
        status=status,
        substatus=substatus,
        code=code,
        description=summary or _text(raw.get("desTextoAmpliado")),
        location=unit,
        unmapped=unmapped,
    )


def _envelope(raw: dict, tracking_number: str, batch: TrackingBatch) -> None:
    number = clean_number(_text(raw.get("codEnvio")) or tracking_number)
    error = raw.get("error") if isinstance(raw.get("error"), dict) else {}
    code = _text(error.get("codError")) or "0"
    if code != "0":
        kind = "not_found" if code == "3" else f"correos_{code}"
        message = _text(error.get("desError")) or f"Correos error {code}"
        batch.errors.append(TrackingError(number, kind, message))
        return
    events = []
    for item in raw.get("eventos") or []:
        if not isinstance(item, dict):
            continue
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError):
            continue  # one malformed event never loses the rest
    batch.results.append(TrackingResult(tracking_number=number, events=events))


class CorreosAdapter(CarrierAdapter):
    slug = "correos"
    name = "Correos"
    max_batch_size = 1
    rate_per_second = 1.0
    base_url = "https://localizador.correos.es/canonico"
    tracking_url_template = "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number={number}"
    credential_fields = ("username", "password")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        envelopes = document if isinstance(document, list) else [document]
        envelopes = [e for e in envelopes if isinstance(e, dict)]
        if not envelopes or not all(
            isinstance(e.get("error"), dict) and "codError" in e["error"] for e in envelopes
        ):
            raise NotThisFormat("no Correos envelope with an 'error.codError'")
        batch = TrackingBatch()
        for envelope in envelopes:
            _envelope(envelope, tracking_number, batch)
        return batch

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        auth = (str(credentials.get("username", "")), str(credentials.get("password", "")))
        batch = TrackingBatch()
        for number in tracking_numbers:
            code = quote(clean_number(number), safe="")
            response = http.get(
                f"{self.endpoint(credentials)}/eventos_envio_servicio_auth/{code}",
                params={"codIdioma": credentials.get("language") or "ES", "indUltEvento": "N"},
                headers={"Accept": "application/json"},
                auth=auth,
            )
            json_body(response)  # a body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"Correos answered an unexpected body: {exc}") from exc
            batch.extend(parsed)
        return batch


ADAPTER = CorreosAdapter()
