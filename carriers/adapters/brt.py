"""BRT (Bartolini) REST tracking by parcel ID.

Flow: ``GET {base}/tracking/parcelID/{parcelID}`` on ``https://api.brt.it/rest/v1`` with the
account's static credentials in two headers, ``userID`` and ``password`` (no OAuth, no token).
One parcel per call, no paging, no push.

The answer is one JSON document ``{"ttParcelIdResponse": {...}}``:

- ``executionMessage{code, severity, codeDesc, message}`` and ``esito``: 0 is success, a positive
  code is a success with a warning, a negative one is an error. BRT numbers its errors the same way
  for every REST method: -1 generic error, -3 no data for the parcel, -5 invalid parameter, -7
  login failed, -57 login parameter missing. A refused login is raised as ``TerminalError`` by
  ``track`` (retrying cannot help); the others become per-number ``TrackingError``s;
- ``bolla`` (the waybill): ``dati_spedizione{spedizione_id, servizio, filiale_arrivo,
  stato_sped_parte1, descrizione_stato_sped_parte1, ...}`` and ``dati_consegna{
  data_consegna_merce, ora_consegna_merce, firmatario_consegna, data_teorica_consegna, ...}``;
- ``lista_eventi[]{evento{data "dd.MM.yyyy", ora "HH.mm", id, descrizione, filiale}}``, newest
  first and padded with empty entries up to a fixed size: the empty ones are skipped.

BRT events carry no documented status code: ``id`` is kept as the raw code, and the Italian
description (a short fixed phrase such as "PARTITA" or "IN CONSEGNA") is what ``CODES`` maps.
Times have no offset; BRT scans happen in its Italian branches (``filiale``), so they are read as
Europe/Rome.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
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
from carriers.codes import fold, map_code
from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body

ROME = ZoneInfo("Europe/Rome")

# Event description (upper case, single spaces) -> (status, substatus). BRT's own tracking
# vocabulary: pickup, departure, arrival at the branch, delivery run, delivery, the BRT-fermopoint
# (pickup point) steps, failed deliveries, storage ("giacenza") and returns.
CODES: dict[str, tuple[str, str]] = {
    "DATI SPEDIZIONE TRASMESSI A BRT": ("info_received", "info_received.label_created"),
    "SPEDIZIONE DA RITIRARE": ("info_received", "info_received.awaiting_pickup"),
    "RITIRATA": ("in_transit", "in_transit.picked_up"),
    "AFFIDATA A BRT": ("in_transit", "in_transit.picked_up"),
    "PARTITA": ("in_transit", "in_transit.departed_facility"),
    "IN TRANSITO": ("in_transit", "in_transit.in_transit"),
    "ARRIVATA IN FILIALE": ("in_transit", "in_transit.arrived_at_facility"),
    "ARRIVATA ALL'HUB": ("in_transit", "in_transit.arrived_at_facility"),
    "SMISTATA": ("in_transit", "in_transit.arrived_at_facility"),
    "CONSEGNA PROGRAMMATA": ("in_transit", "in_transit.in_transit"),
    "CONSEGNA RIPROGRAMMATA": ("in_transit", "in_transit.in_transit"),
    "DIROTTATA": ("in_transit", "in_transit.rerouted"),
    "IN DOGANA": ("in_transit", "in_transit.customs_processing"),
    "SDOGANATA": ("in_transit", "in_transit.customs_released"),
    "IN CONSEGNA": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "IN CONSEGNA AL BRT-FERMOPOINT": ("in_transit", "in_transit.in_transit"),
    "DISPONIBILE AL BRT-FERMOPOINT": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "DISPONIBILE IN FILIALE": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "FERMO DEPOSITO": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "CONSEGNATA": ("delivered", "delivered.delivered"),
    "CONSEGNATA AL VICINO": ("delivered", "delivered.neighbor"),
    "RITIRATA DAL DESTINATARIO": ("delivered", "delivered.picked_up"),
    "RITIRATA DAL DESTINATARIO PRESSO BRT-FERMOPOINT": ("delivered", "delivered.picked_up"),
    "LASCIATO AVVISO": ("failed_attempt", "failed_attempt.recipient_unavailable"),
    "DESTINATARIO ASSENTE": ("failed_attempt", "failed_attempt.recipient_unavailable"),
    "MANCATA CONSEGNA": ("failed_attempt", "failed_attempt.other"),
    "MANCATA CONSEGNA PER DESTINATARIO ASSENTE": (
        "failed_attempt",
        "failed_attempt.recipient_unavailable",
    ),
    "MANCATA CONSEGNA PER INDIRIZZO ERRATO": ("failed_attempt", "failed_attempt.address_issue"),
    "MANCATA CONSEGNA PER INDIRIZZO INSUFFICIENTE": (
        "failed_attempt",
        "failed_attempt.address_issue",
    ),
    "MANCATA CONSEGNA PER CHIUSURA": ("failed_attempt", "failed_attempt.business_closed"),
    # Storage after failed deliveries: BRT waits for the sender's or recipient's instructions.
    "GIACENZA": ("failed_attempt", "failed_attempt.other"),
    "IN GIACENZA": ("failed_attempt", "failed_attempt.other"),
    "APERTURA PRATICA DI GIACENZA": ("failed_attempt", "failed_attempt.other"),
    "RIFIUTATA DAL DESTINATARIO": ("exception", "exception.refused"),
    "FERMA PER PAGAMENTO CONTRASSEGNO": ("exception", "exception.held_for_payment"),
    "DANNEGGIATA": ("exception", "exception.damaged"),
    "SMARRITA": ("exception", "exception.lost"),
    "ANNULLATA": ("exception", "exception.cancelled"),
    "IN RESO AL MITTENTE": ("exception", "exception.returning_to_sender"),
    "RESO AL MITTENTE": ("exception", "exception.returning_to_sender"),
    "RESA AL MITTENTE": ("exception", "exception.returned_to_sender"),
    "CONSEGNATA AL MITTENTE": ("exception", "exception.returned_to_sender"),
}

# executionMessage.code / esito -> (error code, transient). -1 is BRT's generic error: retry it.
ERRORS: dict[int, tuple[str, bool]] = {
    -1: ("carrier_error", True),
    -3: ("not_found", False),
    -5: ("invalid_number", False),
    -7: ("unauthorized", False),
    -57: ("unauthorized", False),
}
_NOT_FOUND_WORDS = re.compile(r"non trovat|inesistent|not found|nessun", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_DATE_FORMATS = ("%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d")
_TIME_FORMATS = ("%H.%M", "%H:%M", "%H.%M.%S", "%H:%M:%S")


def _text(value: object) -> str:
    return _SPACES.sub(" ", str(value or "")).strip()


def _int(value: object) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _date(raw: object) -> date | None:
    value = _text(raw)
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=ROME).date()
        except ValueError:
            continue
    return None


def _moment(raw_date: object, raw_time: object) -> datetime:
    day = _date(raw_date)
    if day is None:
        raise ValueError(f"no date in {raw_date!r}")
    clock = _text(raw_time)
    for pattern in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(clock, pattern).replace(tzinfo=ROME).time()
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"no time in {raw_time!r}")
    return datetime.combine(day, parsed.replace(tzinfo=None), tzinfo=ROME)


def _code_for(description: str) -> str:
    """The table key a description maps to: itself, else the longest key it starts with."""
    key = fold(description).upper()
    if key in CODES:
        return key
    prefixes = [k for k in CODES if key.startswith(k + " ")]
    return max(prefixes, key=len) if prefixes else key


def _event(raw: dict) -> CarrierEvent | None:
    """One ``evento``; None for BRT's empty padding entries."""
    description = _text(raw.get("descrizione"))
    if not description and not _text(raw.get("data")):
        return None
    status, substatus, unmapped = map_code(CODES, _code_for(description), description)
    return CarrierEvent(
        occurred_at=_moment(raw.get("data"), raw.get("ora")),
        status=status,
        substatus=substatus,
        code=_text(raw.get("id")),
        description=description,
        location=_text(raw.get("filiale")).title(),
        unmapped=unmapped,
    )


def _result(document: dict, tracking_number: str) -> TrackingResult:
    waybill = document.get("bolla") if isinstance(document.get("bolla"), dict) else {}
    shipment = waybill.get("dati_spedizione") or {}
    delivery = waybill.get("dati_consegna") or {}
    events = []
    for item in document.get("lista_eventi") or []:
        raw = item.get("evento") if isinstance(item, dict) else None
        if not isinstance(raw, dict):
            continue
        try:
            event = _event(raw)
        except (TypeError, ValueError):
            continue  # one malformed event never loses the rest
        if event is not None:
            events.append(event)
    number = tracking_number or _text(shipment.get("spedizione_id"))
    result = TrackingResult(
        tracking_number=clean_number(number),
        events=events,
        estimated_delivery=_date(delivery.get("data_teorica_consegna")),
        service=_text(shipment.get("servizio")),
        signed_by=_text(delivery.get("firmatario_consegna")),
    )
    if not events:
        summary = _text(shipment.get("stato_sped_parte1"))
        if summary:
            result.status, result.substatus, _ = map_code(CODES, _code_for(summary), summary)
        delivered = _date(delivery.get("data_consegna_merce"))
        if delivered and result.status == "delivered":
            try:
                result.delivered_at = _moment(
                    delivery.get("data_consegna_merce"), delivery.get("ora_consegna_merce")
                )
            except ValueError:
                result.delivered_at = datetime.combine(delivered, time(0, 0), tzinfo=ROME)
    return result


class BrtAdapter(CarrierAdapter):
    slug = "brt"
    name = "BRT (Bartolini)"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://api.brt.it/rest/v1"
    tracking_url_template = (
        "https://www.mybrt.it/it/mybrt/my-parcels/incoming?parcelNumber={number}"
    )
    credential_fields = ("user_id", "password")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict) or not isinstance(
            document.get("ttParcelIdResponse"), dict
        ):
            raise NotThisFormat("no 'ttParcelIdResponse' object")
        response = document["ttParcelIdResponse"]
        message = response.get("executionMessage")
        message = message if isinstance(message, dict) else {}
        code = _int(message.get("code"))
        outcome = _int(response.get("esito"))
        batch = TrackingBatch()
        if code < 0 or outcome < 0:
            failure = code if code < 0 else outcome
            text = " - ".join(
                t for t in (_text(message.get("codeDesc")), _text(message.get("message"))) if t
            )
            error, transient = ERRORS.get(failure, (f"brt_{abs(failure)}", False))
            if _NOT_FOUND_WORDS.search(text) and error != "unauthorized":
                error, transient = "not_found", False
            batch.errors.append(
                TrackingError(
                    clean_number(tracking_number), error, text or f"BRT error {failure}", transient
                )
            )
            return batch
        batch.results.append(_result(response, tracking_number))
        return batch

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        headers = {
            "userID": str(credentials.get("user_id", "")),
            "password": str(credentials.get("password", "")),
            "Accept": "application/json",
        }
        batch = TrackingBatch()
        for number in tracking_numbers:
            url = f"{self.endpoint(credentials)}/tracking/parcelID/{quote(clean_number(number), safe='')}"
            response = http.get(url, headers=headers)
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                if response.status_code == 404:
                    batch.errors.append(
                        TrackingError(number, "not_found", "BRT has no parcel with this ID")
                    )
                    continue
                json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
                raise MalformedResponse(
                    f"BRT answered an unexpected body: {exc}", status=response.status_code
                ) from exc
            if any(e.code == "unauthorized" for e in parsed.errors):
                raise TerminalError(
                    f"BRT refused the credentials: {parsed.errors[0].message}",
                    status=response.status_code,
                )
            batch.extend(parsed)
        return batch


ADAPTER = BrtAdapter()
