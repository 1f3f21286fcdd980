"""DHL Express through the MyDHL API (the account API of DHL Express customers).

Flow:

- auth: HTTP Basic with the MyDHL API key and secret on every call (no token);
- endpoint: ``GET {base}/tracking?shipmentTrackingNumber=a&shipmentTrackingNumber=b`` (the
  parameter repeated once per number) with ``trackingView=all-checkpoints`` and
  ``levelOfDetail=shipment``; ``{base}/shipments/{number}/tracking`` is the one-number variant
  of the same response. Production base ``https://express.api.dhl.com/mydhlapi``, test
  ``.../mydhlapi/test``; an account may name another base in ``credentials["base_url"]``;
- batching: the 3.x reference allows 200 numbers per call; we send at most 100, which keeps the
  query string well under the 8 KB that proxies commonly accept. No paging;
- answer: ``shipments[]{shipmentTrackingNumber, status ("Success"), productCode,
  shipperDetails/receiverDetails{postalAddress{countryCode}, serviceArea[]}, events[]{date,
  time, typeCode, description, serviceArea[]{code, description}, signedBy},
  estimatedDeliveryDate}``. ``typeCode`` is DHL Express's checkpoint code (table below);
- errors: a problem document ``{instance, title, detail, message, status: "404"}`` (status as a
  string): 404 when no number is known at all, 400 for a malformed request. A number of a batch
  that DHL leaves out of ``shipments`` is reported ``not_found``;
- time zones: ``date`` + ``time`` are local to the event's service area, whose description ends
  with the country ("Brisbane-AU", "LEIPZIG - GERMANY", "HEBRON, KY - USA"); events without one
  use the shipper's country, then UTC.

Unconfirmed: how a multi-number answer reports an unknown number next to known ones (we assume
it is simply absent, and also accept a shipment whose ``status`` is not "Success" and that has
no events as an error), the ``x-version`` header of the 3.x interface (not sent) and the name of
the per-event GMT offset field (``GMTOffset``/``gmtOffset`` are used when present).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
    answers_for,
    clean_number,
)
from carriers.codes import guess_from_text, map_code
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.tz import COUNTRY_NAMES, localize, zone_for

# DHL Express checkpoint (event) codes -> (status, substatus), from DHL Express's checkpoint
# reference list (code, definition).
CODES: dict[str, tuple[str, str]] = {
    "PU": ("in_transit", "in_transit.picked_up"),  # Shipment pick up
    "SA": ("in_transit", "in_transit.picked_up"),  # Shipment acceptance
    "PL": ("in_transit", "in_transit.arrived_at_facility"),  # Processed at location
    "AF": ("in_transit", "in_transit.arrived_at_facility"),  # Arrived facility
    "AR": ("in_transit", "in_transit.arrived_at_facility"),  # Arrival in delivery facility
    "DF": ("in_transit", "in_transit.departed_facility"),  # Depart facility
    "TR": ("in_transit", "in_transit.in_transit"),  # Record of transfer
    "FD": ("in_transit", "in_transit.in_transit"),  # Forward destination
    "TP": ("in_transit", "in_transit.in_transit"),  # Forwarded to 3rd party
    "SC": ("in_transit", "in_transit.in_transit"),  # Service changed
    "AD": ("in_transit", "in_transit.in_transit"),  # Agreed delivery
    "RR": ("in_transit", "in_transit.in_transit"),  # Response received
    "RW": ("in_transit", "in_transit.in_transit"),  # Weigh & dimension
    "LV": ("in_transit", "in_transit.in_transit"),  # Load vehicle
    "UV": ("in_transit", "in_transit.in_transit"),  # Unload vehicle
    "SM": ("in_transit", "in_transit.in_transit"),  # Scheduled movement
    "PD": ("in_transit", "in_transit.in_transit"),  # Partial delivery: pieces still to come
    "MS": ("in_transit", "in_transit.rerouted"),  # Mis-sort
    "MC": ("in_transit", "in_transit.rerouted"),  # Miscode
    "IC": ("in_transit", "in_transit.customs_processing"),  # In clearance processing
    "BN": ("in_transit", "in_transit.customs_processing"),  # Customer broker notified
    "ES": ("in_transit", "in_transit.customs_processing"),  # Entry submitted
    "CR": ("in_transit", "in_transit.customs_released"),  # Clearance release
    "BR": ("in_transit", "in_transit.customs_released"),  # Broker release
    "WC": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # With delivering courier
    "CC": ("available_for_pickup", "available_for_pickup.pickup_point"),  # Awaiting collection
    "NH": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Not home
    "CA": ("failed_attempt", "failed_attempt.business_closed"),  # Closed on arrival
    "ND": ("failed_attempt", "failed_attempt.other"),  # Not delivered
    "OK": ("delivered", "delivered.delivered"),  # Delivery
    "DD": ("delivered", "delivered.delivered"),  # Delivered damaged: it did arrive
    "CD": ("exception", "exception.customs_hold"),  # Controllable clearance delay
    "UD": ("exception", "exception.customs_hold"),  # Uncontrollable clearance delay
    "HP": ("exception", "exception.held_for_payment"),  # Held for payment
    "BA": ("exception", "exception.address_issue"),  # Bad address
    "CM": ("exception", "exception.address_issue"),  # Customer moved
    "RD": ("exception", "exception.refused"),  # Refused delivery
    "DM": ("exception", "exception.damaged"),  # Damaged
    "DS": ("exception", "exception.lost"),  # Destroyed / disposal: it will not arrive
    "TD": ("exception", "exception.delayed"),  # Transport delay
    "MD": ("exception", "exception.delayed"),  # Missed delivery cycle
    "OH": ("exception", "exception.other"),  # On hold
    "SS": ("exception", "exception.other"),  # Shipment stopped
    "RT": ("exception", "exception.returned_to_sender"),  # Returned to consignor
}
# Codes whose words may refine the status within these statuses (a "delivery" checkpoint can say
# it was left with a neighbour; an "on hold" one can say why).
REFINES: dict[str, frozenset[str]] = {
    "OK": frozenset({"delivered"}),
    "OH": frozenset({"exception"}),
    "SS": frozenset({"exception"}),
    "ND": frozenset({"failed_attempt"}),
}
# Countries with several time zones and no region in DHL's service-area text: the zone where most
# of their parcels are handled (an hour or two off elsewhere, never a day).
_WIDE_COUNTRIES = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "RU": "Europe/Moscow",
    "ID": "Asia/Jakarta",
}
_PLACE_PARTS = re.compile(r"\s*-\s*")
_PROBLEM_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "unauthorized",
    404: "not_found",
    429: "rate_limited",
}


def _country(text: str) -> str | None:
    """The ISO country a service-area description ends with ("Brisbane-AU", "... - GERMANY")."""
    tail = _PLACE_PARTS.split(text.strip())[-1].strip().upper() if text.strip() else ""
    if tail in COUNTRY_NAMES:
        return COUNTRY_NAMES[tail]
    if len(tail) == 2 and tail.isalpha():
        return tail
    return None


def _region(text: str) -> str | None:
    """A state or province named before the country ("HEBRON, KY - USA" -> "KY")."""
    parts = _PLACE_PARTS.split(text.strip())
    for part in reversed(parts[:-1]):
        if "," in part:
            candidate = part.rsplit(",", 1)[1].strip().upper()
            if 2 <= len(candidate) <= 3 and candidate.isalpha():
                return candidate
    return None


def _zone(country: str | None, region: str | None) -> ZoneInfo:
    fallback = _WIDE_COUNTRIES.get(country or "", "UTC")
    return zone_for(country, region, fallback=fallback)


def _service_area(raw: dict) -> tuple[str, str | None, str | None]:
    """(location text, country, region) of an event's first service area."""
    areas = raw.get("serviceArea") or []
    area = areas[0] if isinstance(areas, list) and areas and isinstance(areas[0], dict) else {}
    text = str(area.get("description") or area.get("code") or "").strip()
    return text, _country(text), _region(text)


def _offset(value: object) -> timezone | None:
    match = re.fullmatch(r"(?:GMT|UTC)?\s*([+-])(\d{1,2}):?(\d{2})", str(value or "").strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def _time(raw: dict, country: str | None, region: str | None) -> datetime:
    clock = str(raw.get("time") or "00:00:00").strip()
    naive = datetime.fromisoformat(f"{str(raw['date']).strip()}T{clock}")
    fixed = _offset(raw.get("GMTOffset") or raw.get("gmtOffset"))
    if fixed is not None:
        return naive.replace(tzinfo=fixed)
    return localize(naive, _zone(country, region))


def _event(raw: dict, home: str | None) -> CarrierEvent:
    code = str(raw.get("typeCode") or "").strip().upper()
    text = str(raw.get("description") or "").strip()
    place, country, region = _service_area(raw)
    if code in CODES:
        status, substatus = CODES[code]
        guessed = guess_from_text(text)
        if guessed and guessed[0] in REFINES.get(code, ()):
            status, substatus = guessed
        if code == "OK" and substatus == "delivered.delivered" and raw.get("signedBy"):
            substatus = "delivered.signed"
        unmapped = False
    else:
        status, substatus, unmapped = map_code(CODES, code, text)
    return CarrierEvent(
        occurred_at=_time(raw, country or home, region if country else None),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=place,
        unmapped=unmapped,
    )


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None


def _home(raw: dict) -> str | None:
    """The shipper's country: the zone of events that name no service area."""
    shipper = raw.get("shipperDetails") or {}
    address = shipper.get("postalAddress") or {}
    country = str(address.get("countryCode") or "").strip().upper()
    if country:
        return country
    _, area_country, _ = _service_area(shipper)
    return area_country


def _shipment(raw: dict) -> TrackingResult:
    home = _home(raw)
    events = []
    signed_by = ""
    for item in raw.get("events") or []:
        try:
            events.append(_event(item, home))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
        if isinstance(item, dict) and item.get("signedBy"):
            signed_by = str(item["signedBy"]).strip()
    return TrackingResult(
        tracking_number=clean_number(str(raw.get("shipmentTrackingNumber") or "")),
        events=events,
        estimated_delivery=_date(raw.get("estimatedDeliveryDate")),
        service=str(raw.get("productCode") or ""),
        signed_by=signed_by,
    )


def _problem(document: dict, tracking_number: str) -> TrackingError:
    raw_status = str(document.get("status") or document.get("code") or "0").strip()
    status = int(raw_status) if raw_status.isdigit() else 0
    code = _PROBLEM_CODES.get(status, "carrier_error")
    message = str(document.get("detail") or document.get("title") or "").strip()
    return TrackingError(tracking_number, code, message, transient=status == 429 or status >= 500)


class DhlExpressAdapter(CarrierAdapter):
    slug = "dhl_express"
    name = "DHL Express"
    max_batch_size = 100
    rate_per_second = 1.0
    base_url = "https://express.api.dhl.com/mydhlapi"
    tracking_url_template = (
        "https://www.dhl.com/global-en/home/tracking/tracking-express.html"
        "?submit=1&tracking-id={number}"
    )
    credential_fields = ("api_key", "api_secret")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a MyDHL tracking document")
        batch = TrackingBatch()
        if isinstance(document.get("shipments"), list):
            shipments = [raw for raw in document["shipments"] if isinstance(raw, dict)]
            if shipments and not any("shipmentTrackingNumber" in raw for raw in shipments):
                raise NotThisFormat("shipments carry no 'shipmentTrackingNumber'")
            for raw in shipments:
                if not raw.get("shipmentTrackingNumber"):
                    continue
                result = _shipment(raw)
                outcome = str(raw.get("status") or "").strip()
                if not result.events and outcome and outcome.lower() != "success":
                    code = "not_found" if "not found" in outcome.lower() else "carrier_error"
                    batch.errors.append(TrackingError(result.tracking_number, code, outcome))
                    continue
                batch.results.append(result)
            return batch
        if ("status" in document or "code" in document) and (
            "title" in document or "detail" in document
        ):
            batch.errors.append(_problem(document, tracking_number))
            return batch
        raise NotThisFormat("no 'shipments' list and not a MyDHL problem document")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        for start in range(0, len(tracking_numbers), self.max_batch_size):
            batch.extend(
                self._track_chunk(
                    tracking_numbers[start : start + self.max_batch_size], credentials, http
                )
            )
        return batch

    def _track_chunk(
        self, numbers: list[str], credentials: dict, http: HttpClient
    ) -> TrackingBatch:
        params = [("shipmentTrackingNumber", number) for number in numbers]
        params += [("trackingView", "all-checkpoints"), ("levelOfDetail", "shipment")]
        response = http.get(
            f"{self.endpoint(credentials)}/tracking",
            params=params,
            auth=(credentials.get("api_key", ""), credentials.get("api_secret", "")),
            headers={
                "Accept": "application/json",
                "Accept-Language": "eng",
                "Message-Reference": str(uuid.uuid4()),
            },
        )
        batch = TrackingBatch()
        if response.status_code >= 400:
            try:
                problem = self.parse(response.content).errors
            except NotThisFormat:
                problem = []
            template = problem[0] if problem else _problem({"status": response.status_code}, "")
            message = template.message or f"HTTP {response.status_code}"
            for number in numbers:
                batch.errors.append(
                    TrackingError(number, template.code, message, template.transient)
                )
            return batch
        json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
        try:
            parsed = self.parse(response.content)
        except NotThisFormat as exc:
            raise MalformedResponse(f"MyDHL answered an unexpected body: {exc}") from exc
        batch.extend(answers_for(parsed, numbers, "DHL Express has no shipment with this number"))
        return batch


ADAPTER = DhlExpressAdapter()
