"""La Poste "Suivi v2" tracking API: one endpoint for La Poste letters, Colissimo and Chronopost.

Flow: ``GET {base}/idships/{id1,id2,...}?lang=en_GB`` with the application key in the
``X-Okapi-Key`` header and ``Accept: application/json``. Up to 10 numbers go in one call, comma
separated in the path (the OpenAPI spec: "ID of object (1 to 10, comma separated)"); there is no
paging. No OAuth: the key is static.

Answers:

- one number: HTTP 200 with one envelope ``{lang, scope, returnCode: 200, shipment{...}}``;
- several numbers: HTTP 207 with a JSON array of such envelopes, one per number, each carrying its
  own ``returnCode`` (200 found; 104/105 unknown or not yet visible; 400 invalid number...);
- a refused single number: HTTP 400 or 404 with one envelope ``{returnCode, returnMessage,
  idShip}``; a bad key: 401 (raised by ``HttpClient``); the gateway's quota error carries
  ``{code: "TOO_MANY_REQUESTS", message}``.

``shipment`` holds ``idShip, product, holder (1 courrier, 3 Chronopost, 4 Colissimo), isFinal,
entryDate, deliveryDate, estimDate, timeline[]`` (five coarse steps) and ``event[]{code, label,
date}`` newest first. Every date carries its offset ("2023-03-09T09:38:00+01:00"); an offset-less
date is read as French time. Events have no place, so ``location`` stays empty.
"""

from __future__ import annotations

import json
from datetime import date, datetime
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
from carriers.codes import guess_from_text, map_code
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.tz import localize

PARIS = ZoneInfo("Europe/Paris")

# event.code -> (status, substatus). The codes and their meaning are La Poste's "codes
# événements" table (DR1 declared ... DI2 delivered back to the sender).
CODES: dict[str, tuple[str, str]] = {
    "DR1": ("info_received", "info_received.label_created"),  # Déclaratif réceptionné
    "PC1": ("in_transit", "in_transit.picked_up"),  # Pris en charge
    "PC2": ("in_transit", "in_transit.picked_up"),  # Pris en charge dans le pays d'expédition
    "ET1": ("in_transit", "in_transit.in_transit"),  # En cours de traitement
    "ET2": ("in_transit", "in_transit.in_transit"),  # ... dans le pays d'expédition
    "ET3": ("in_transit", "in_transit.arrived_destination_country"),  # ... pays de destination
    "ET4": ("in_transit", "in_transit.in_transit"),  # ... dans un pays de transit
    "EP1": ("in_transit", "in_transit.in_transit"),  # En attente de présentation
    "DO1": ("in_transit", "in_transit.customs_processing"),  # Entrée en douane
    "DO2": ("in_transit", "in_transit.customs_released"),  # Sortie de douane
    "DO3": ("exception", "exception.customs_hold"),  # Retenu en douane
    "PB1": ("exception", "exception.other"),  # Problème en cours
    "PB2": ("in_transit", "in_transit.in_transit"),  # Problème résolu
    "MD2": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Mis en distribution
    "ND1": ("failed_attempt", "failed_attempt.other"),  # Non distribuable
    "AG1": ("available_for_pickup", "available_for_pickup.post_office"),  # Attente au guichet
    "RE1": ("exception", "exception.returning_to_sender"),  # Retourné à l'expéditeur
    "DI1": ("delivered", "delivered.delivered"),  # Distribué
    "DI2": ("exception", "exception.returned_to_sender"),  # Distribué à l'expéditeur
}
# Codes whose label may say more (which problem, which kind of pickup point, a neighbour): the
# label's words refine the code only within these statuses.
REFINES: dict[str, frozenset[str]] = {
    "PB1": frozenset({"exception"}),
    "ND1": frozenset({"failed_attempt", "exception"}),
    "AG1": frozenset({"available_for_pickup"}),
    "DI1": frozenset({"delivered"}),
}

# Per-number returnCode -> (our error code, transient). 104 and 400 are the spec's examples;
# the meaning of 101, 105 and 109 is from the enum only (unconfirmed wording).
RETURN_CODES: dict[int, tuple[str, bool]] = {
    101: ("invalid_number", False),
    104: ("not_found", False),  # "Votre suivi n'est pas encore disponible..."
    105: ("not_found", False),
    109: ("not_found", False),
    400: ("invalid_number", False),
    401: ("unauthorized", False),
    404: ("not_found", False),
    429: ("rate_limited", True),
    504: ("carrier_unavailable", True),
}


def _when(raw: object) -> datetime:
    value = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    return localize(value, PARIS)


def _day(raw: object) -> date | None:
    if not raw:
        return None
    try:
        return _when(raw).date()
    except (TypeError, ValueError):
        return None


def _event(raw: dict) -> CarrierEvent:
    code = str(raw.get("code") or "").strip().upper()
    label = str(raw.get("label") or "").strip()
    status, substatus, unmapped = map_code(CODES, code, label)
    if code in REFINES:
        guessed = guess_from_text(label)
        if guessed and guessed[0] in REFINES[code]:
            status, substatus = guessed
    return CarrierEvent(
        occurred_at=_when(raw["date"]),
        status=status,
        substatus=substatus,
        code=code,
        description=label,
        unmapped=unmapped,
    )


def _shipment(raw: dict) -> TrackingResult:
    events = []
    for item in raw.get("event") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
    result = TrackingResult(
        tracking_number=clean_number(str(raw.get("idShip") or "")),
        events=events,
        estimated_delivery=_day(raw.get("estimDate")),
        service=str(raw.get("product") or ""),
    )
    if not events and raw.get("isFinal") is True:
        # No scans to derive from, but La Poste says the object is delivered.
        result.status, result.substatus = "delivered", "delivered.delivered"
        try:
            result.delivered_at = _when(raw["deliveryDate"]) if raw.get("deliveryDate") else None
        except (TypeError, ValueError):
            result.delivered_at = None
    return result


def _error(envelope: dict, fallback_number: str = "") -> TrackingError:
    try:
        return_code = int(envelope.get("returnCode") or 0)
    except (TypeError, ValueError):
        return_code = 0
    code, transient = RETURN_CODES.get(return_code, (f"la_poste_{return_code}", return_code >= 500))
    number = clean_number(str(envelope.get("idShip") or fallback_number))
    message = str(envelope.get("returnMessage") or envelope.get("message") or "").strip()
    return TrackingError(number, code, message or f"La Poste returnCode {return_code}", transient)


def _is_envelope(item: object) -> bool:
    return isinstance(item, dict) and "returnCode" in item


class LaPosteAdapter(CarrierAdapter):
    slug = "la_poste"
    name = "La Poste / Colissimo / Chronopost"
    max_batch_size = 10
    rate_per_second = 10.0  # the Suivi plan's published quota
    base_url = "https://api.laposte.fr/suivi/v2"
    tracking_url_template = "https://www.laposte.fr/outils/suivre-vos-envois?code={number}"
    credential_fields = ("api_key",)

    def parse(
        self, body: bytes | str, *, tracking_numbers: list[str] | None = None
    ) -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if isinstance(document, dict) and document.get("code") and "message" in document:
            # The Okapi gateway's own error (quota, key): it concerns every number asked.
            raw_code = str(document["code"])
            transient = raw_code == "TOO_MANY_REQUESTS"
            code = "rate_limited" if transient else raw_code.lower()
            message = str(document.get("message") or raw_code)
            return TrackingBatch(
                errors=[
                    TrackingError(clean_number(n), code, message, transient)
                    for n in (tracking_numbers or [""])
                ]
            )
        envelopes = document if isinstance(document, list) else [document]
        if not envelopes or not all(_is_envelope(item) for item in envelopes):
            raise NotThisFormat("not a La Poste Suivi envelope (no 'returnCode')")
        batch = TrackingBatch()
        for index, envelope in enumerate(envelopes):
            asked = (tracking_numbers or [])[index] if index < len(tracking_numbers or []) else ""
            shipment = envelope.get("shipment")
            if str(envelope.get("returnCode")).startswith("20") and isinstance(shipment, dict):
                result = _shipment(shipment)
                result.tracking_number = result.tracking_number or clean_number(asked)
                batch.results.append(result)
            else:
                batch.errors.append(_error(envelope, asked))
        return batch

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        numbers = [clean_number(n) for n in tracking_numbers]
        for start in range(0, len(numbers), self.max_batch_size):
            chunk = numbers[start : start + self.max_batch_size]
            response = http.get(
                f"{self.endpoint(credentials)}/idships/{','.join(chunk)}",
                params={"lang": credentials.get("lang") or "en_GB"},
                headers={
                    "X-Okapi-Key": credentials.get("api_key", ""),
                    "Accept": "application/json",
                },
            )
            json_body(response)  # a body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_numbers=chunk)
            except NotThisFormat as exc:
                raise MalformedResponse(f"La Poste answered an unexpected body: {exc}") from exc
            batch.extend(parsed)
        return batch


ADAPTER = LaPosteAdapter()
