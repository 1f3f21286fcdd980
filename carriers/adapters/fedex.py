"""FedEx Track API v1 (REST, OAuth 2.0 client credentials).

Flow:

- auth: ``POST {base}/oauth/token`` with the form ``grant_type=client_credentials&client_id=
  <API key>&client_secret=<secret key>`` answers ``{access_token, token_type, expires_in}``
  (about an hour). The token is kept in the process-wide cache under carrier + base URL + client
  id; a 401 on a data call with a cached token drops it and retries once with a fresh one;
- endpoint: ``POST {base}/track/v1/trackingnumbers`` with ``{"includeDetailedScans": true,
  "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}}, ...]}``, at most 30 numbers
  per call: longer lists are sent in chunks of 30. No paging. Production base
  ``https://apis.fedex.com``, sandbox ``https://apis-sandbox.fedex.com``;
- answer: ``output.completeTrackResults[]{trackingNumber, trackResults[]}``; a number shipped
  more than once has several track results (the one with the latest scan is kept). A track
  result carries ``scanEvents[]{date, eventType, eventDescription, exceptionCode,
  exceptionDescription, derivedStatusCode, scanLocation}``, ``latestStatusDetail``,
  ``dateAndTimes[]{type: ESTIMATED_DELIVERY | ACTUAL_DELIVERY | ..., dateTime}``,
  ``estimatedDeliveryTimeWindow.window{begins, ends}``, ``deliveryDetails{signedByName,
  receivedByName}`` and ``serviceDetail``. ``eventType`` is FedEx's tracking status code (table
  below); ``derivedStatusCode`` (coarser, e.g. "IN" label created) is used when the event type
  is unknown;
- errors: an unknown number is a per-item ``error{code: "TRACKING.TRACKINGNUMBER.NOTFOUND",
  message}`` inside a 200 answer; a refused request is ``{transactionId, errors[{code,
  message}]}`` with a 4xx status;
- time zones: scan dates normally carry their offset; one without is local to the scan's place
  (country and state), else UTC.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date, datetime

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
from carriers.codes import fold, guess_from_text, map_code
from carriers.http import (
    HttpClient,
    MalformedResponse,
    json_body,
    oauth_token,
    tokens,
)
from carriers.tz import localize, zone_for

# FedEx tracking status codes (eventType / latestStatusDetail.code) -> (status, substatus), from
# FedEx's "Tracking Status Codes" table.
CODES: dict[str, tuple[str, str]] = {
    "OC": ("info_received", "info_received.label_created"),  # Order Created
    "OX": ("info_received", "info_received.label_created"),  # Shipment information sent to USPS
    "IN": ("info_received", "info_received.label_created"),  # (derived) Label created
    "EP": ("info_received", "info_received.awaiting_pickup"),  # Enroute to Pickup
    "AP": ("info_received", "info_received.awaiting_pickup"),  # At Pickup
    "PU": ("in_transit", "in_transit.picked_up"),  # Picked Up
    "PX": ("in_transit", "in_transit.picked_up"),  # Picked up (see Details)
    "OF": ("in_transit", "in_transit.arrived_at_facility"),  # At FedEx origin facility
    "AF": ("in_transit", "in_transit.arrived_at_facility"),  # At local FedEx Facility
    "AR": ("in_transit", "in_transit.arrived_at_facility"),  # Arrived at FedEx location
    "SF": ("in_transit", "in_transit.arrived_at_facility"),  # At Sort Facility
    "FD": ("in_transit", "in_transit.arrived_at_facility"),  # At FedEx Destination
    "DP": ("in_transit", "in_transit.departed_facility"),  # Departed
    "LO": ("in_transit", "in_transit.departed_facility"),  # Left Origin
    "IT": ("in_transit", "in_transit.in_transit"),  # In Transit
    "IX": ("in_transit", "in_transit.in_transit"),  # In transit (see Details)
    "OW": ("in_transit", "in_transit.in_transit"),  # On the way
    "AA": ("in_transit", "in_transit.in_transit"),  # At Airport
    "AC": ("in_transit", "in_transit.in_transit"),  # At Canada Post facility
    "AX": ("in_transit", "in_transit.in_transit"),  # At USPS facility
    "EA": ("in_transit", "in_transit.in_transit"),  # Enroute to Airport / Export Approved
    "EO": ("in_transit", "in_transit.in_transit"),  # Enroute to Origin Airport
    "PF": ("in_transit", "in_transit.in_transit"),  # Plane in Flight
    "PL": ("in_transit", "in_transit.in_transit"),  # Plane Landed
    "PM": ("in_transit", "in_transit.in_transit"),  # In Progress
    "TR": ("in_transit", "in_transit.in_transit"),  # Transfer
    "SP": ("in_transit", "in_transit.in_transit"),  # Split Status
    "AO": ("in_transit", "in_transit.in_transit"),  # Shipment arriving On-time
    "DS": ("in_transit", "in_transit.in_transit"),  # Vehicle Dispatched
    "DR": ("in_transit", "in_transit.in_transit"),  # Vehicle furnished but not used
    "RR": ("in_transit", "in_transit.in_transit"),  # CDO requested (delivery options)
    "RM": ("in_transit", "in_transit.in_transit"),  # CDO Modified
    "RC": ("in_transit", "in_transit.in_transit"),  # CDO Cancelled
    "CH": ("in_transit", "in_transit.rerouted"),  # Location Changed
    "CP": ("in_transit", "in_transit.customs_processing"),  # Clearance in Progress
    "CC": ("in_transit", "in_transit.customs_released"),  # Cleared Customs
    "OD": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Out for Delivery
    "ED": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Enroute to Delivery
    "AD": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # At Delivery
    "HL": ("available_for_pickup", "available_for_pickup.pickup_point"),  # Hold at Location
    "HP": ("available_for_pickup", "available_for_pickup.pickup_point"),  # Ready for pickup
    "DE": ("failed_attempt", "failed_attempt.other"),  # Delivery Exception
    "DL": ("delivered", "delivered.delivered"),  # Delivered
    "SE": ("exception", "exception.other"),  # Shipment Exception
    "CD": ("exception", "exception.customs_hold"),  # Clearance Delay
    "DY": ("exception", "exception.delayed"),  # Delay
    "DD": ("exception", "exception.delayed"),  # Delivery Delay
    "PD": ("exception", "exception.delayed"),  # Pickup Delay
    "RS": ("exception", "exception.returning_to_sender"),  # Return to Shipper
    "CA": ("exception", "exception.cancelled"),  # Shipment Cancelled
}
# The statuses an event's words (description and exception description) may refine it into.
REFINES: dict[str, frozenset[str]] = {
    "DE": frozenset({"failed_attempt", "exception", "available_for_pickup"}),
    "SE": frozenset({"exception", "failed_attempt"}),
    "DY": frozenset({"exception"}),
    "DD": frozenset({"exception"}),
    "DL": frozenset({"delivered"}),
}
# FedEx phrases the shared keyword list does not know, checked before it.
_PHRASES: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (
        re.compile(r"(customer|recipient|receiver) not (available|in)"),
        ("failed_attempt", "failed_attempt.recipient_unavailable"),
    ),
    (re.compile(r"business (was )?closed"), ("failed_attempt", "failed_attempt.business_closed")),
    (
        re.compile(r"address (is |was )?(incomplete|incorrect|invalid)|incorrect address"),
        ("exception", "exception.address_issue"),
    ),
    (
        re.compile(r"redirected .*fedex location|hold at (a )?fedex location"),
        ("available_for_pickup", "available_for_pickup.pickup_point"),
    ),
]
# FedEx error codes -> (our code, transient).
_ERROR_CODES: dict[str, tuple[str, bool]] = {
    "TRACKING.TRACKINGNUMBER.NOTFOUND": ("not_found", False),
    "TRACKING.TRACKINGNUMBER.INVALID": ("invalid_number", False),
    "TRACKING.TRACKINGNUMBER.EMPTY": ("invalid_number", False),
    "NOT.AUTHORIZED.ERROR": ("unauthorized", False),
    "FORBIDDEN.ERROR": ("unauthorized", False),
    "INTERNAL.SERVER.ERROR": ("carrier_unavailable", True),
    "SERVICE.UNAVAILABLE.ERROR": ("carrier_unavailable", True),
    "SYSTEM.UNAVAILABLE.EXCEPTION": ("carrier_unavailable", True),
}
_SIGNED_BY_FEDEX = "delivered.signed"
_FEDEX_CODE = re.compile(r"^[A-Z]+(\.[A-Z]+)+$")


def _place(location: dict | None) -> tuple[str, str, str]:
    location = location or {}
    city = str(location.get("city") or "").strip()
    region = str(location.get("stateOrProvinceCode") or "").strip().upper()
    country = str(location.get("countryCode") or "").strip().upper()
    return ", ".join(p for p in (city, region, country) if p), country, region


def _when(raw: object, country: str = "", region: str = "") -> datetime:
    value = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    # A US scan without a state: Central time, FedEx's home zone (hours off at worst, never days).
    fallback = "America/Chicago" if country == "US" else "UTC"
    return localize(value, zone_for(country, region, fallback=fallback))


def _classify(raw: dict) -> tuple[str, str, str, bool]:
    """(code, status, substatus, unmapped) of a scan event."""
    code = str(raw.get("eventType") or "").strip().upper()
    derived = str(raw.get("derivedStatusCode") or "").strip().upper()
    text = " ".join(
        str(raw.get(k) or "") for k in ("eventDescription", "exceptionDescription")
    ).strip()
    key = code if code in CODES else derived if derived in CODES else ""
    if not key:
        status, substatus, _ = map_code({}, code, text)
        return code or derived, status, substatus, True
    status, substatus = CODES[key]
    allowed = REFINES.get(key, frozenset())
    folded = fold(text)
    for pattern, outcome in _PHRASES:
        if outcome[0] in allowed and pattern.search(folded):
            return code or key, *outcome, False
    guessed = guess_from_text(text)
    if guessed and guessed[0] in allowed:
        status, substatus = guessed
    return code or key, status, substatus, False


def _event(raw: dict) -> CarrierEvent:
    code, status, substatus, unmapped = _classify(raw)
    place, country, region = _place(raw.get("scanLocation"))
    exception = str(raw.get("exceptionDescription") or "").strip()
    return CarrierEvent(
        occurred_at=_when(raw["date"], country, region),
        status=status,
        substatus=substatus,
        code=code,
        description=exception or str(raw.get("eventDescription") or "").strip(),
        location=place,
        unmapped=unmapped,
    )


def _day(value: object) -> date | None:
    """The local calendar day of a FedEx date-time (as written, whatever its offset)."""
    try:
        return date.fromisoformat(str(value).strip()[:10]) if value else None
    except ValueError:
        return None


def _latest_scan(track: dict) -> str:
    dates = [str(e.get("date") or "") for e in track.get("scanEvents") or [] if isinstance(e, dict)]
    return max(dates, default="")


def _result(number: str, track: dict) -> TrackingResult:
    events = []
    for item in track.get("scanEvents") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed scan never loses the rest
    moments = {
        str(d.get("type") or "").upper(): d.get("dateTime")
        for d in track.get("dateAndTimes") or []
        if isinstance(d, dict)
    }
    window = (track.get("estimatedDeliveryTimeWindow") or {}).get("window") or {}
    details = track.get("deliveryDetails") or {}
    signed = str(details.get("signedByName") or "").strip()
    if signed:
        events = _mark_signed(events)
    delivered_at = None
    if moments.get("ACTUAL_DELIVERY"):
        try:
            delivered_at = _when(moments["ACTUAL_DELIVERY"])
        except ValueError:
            delivered_at = None
    result = TrackingResult(
        tracking_number=number,
        events=events,
        estimated_delivery=_day(moments.get("ESTIMATED_DELIVERY")),
        estimated_delivery_earliest=_day(window.get("begins")),
        estimated_delivery_latest=_day(window.get("ends")),
        delivered_at=delivered_at,
        service=str((track.get("serviceDetail") or {}).get("description") or "").strip(),
        signed_by=signed or str(details.get("receivedByName") or "").strip(),
    )
    latest = track.get("latestStatusDetail")
    if not events and isinstance(latest, dict) and latest.get("code"):
        _, result.status, result.substatus, _ = _classify(
            {"eventType": latest.get("code"), "eventDescription": latest.get("description")}
        )
    return result


def _mark_signed(events: list[CarrierEvent]) -> list[CarrierEvent]:
    """The latest plain delivery was signed for (FedEx names the signer)."""
    plain = [e for e in events if e.substatus == "delivered.delivered"]
    if not plain:
        return events
    latest = max(plain, key=lambda e: e.occurred_at)
    return [
        dataclasses.replace(e, substatus=_SIGNED_BY_FEDEX) if e is latest else e for e in events
    ]


def _error(raw: dict, number: str) -> TrackingError:
    code = str(raw.get("code") or "").strip().upper()
    ours, transient = _ERROR_CODES.get(code, ("carrier_error", False))
    message = str(raw.get("message") or code).strip()
    return TrackingError(number, ours, message, transient=transient)


def _complete(raw: dict) -> tuple[TrackingResult | None, TrackingError | None]:
    """One number's result, or its error when FedEx had nothing usable."""
    tracks = [t for t in raw.get("trackResults") or [] if isinstance(t, dict)]
    info_number = next(
        (
            str((t.get("trackingNumberInfo") or {}).get("trackingNumber") or "")
            for t in tracks
            if (t.get("trackingNumberInfo") or {}).get("trackingNumber")
        ),
        "",
    )
    number = clean_number(str(raw.get("trackingNumber") or info_number))
    good = [t for t in tracks if not t.get("error")]
    if good:
        # The same number on several shipments: the one scanned most recently is the live one.
        return _result(number, max(good, key=_latest_scan)), None
    if tracks:
        return None, _error(tracks[0].get("error") or {}, number)
    return None, TrackingError(number, "not_found", "FedEx returned no track result")


class FedexAdapter(CarrierAdapter):
    slug = "fedex"
    name = "FedEx"
    max_batch_size = 30
    rate_per_second = 5.0
    base_url = "https://apis.fedex.com"
    tracking_url_template = "https://www.fedex.com/fedextrack/?trknbr={number}"
    credential_fields = ("client_id", "client_secret")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a FedEx Track API document")
        batch = TrackingBatch()
        output = document.get("output")
        if isinstance(output, dict) and isinstance(output.get("completeTrackResults"), list):
            for raw in output["completeTrackResults"]:
                if not isinstance(raw, dict):
                    continue
                result, error = _complete(raw)
                if result is not None:
                    batch.results.append(result)
                if error is not None:
                    batch.errors.append(error)
            return batch
        errors = document.get("errors")
        if isinstance(errors, list) and errors:
            raw_errors = [e for e in errors if isinstance(e, dict) and e.get("code")]
            fedex_like = "transactionId" in document or all(
                _FEDEX_CODE.match(str(e["code"])) for e in raw_errors
            )
            if raw_errors and fedex_like:
                for raw in raw_errors:
                    batch.errors.append(_error(raw, clean_number(tracking_number)))
                return batch
        raise NotThisFormat("no 'output.completeTrackResults' and not a FedEx error response")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        for start in range(0, len(tracking_numbers), self.max_batch_size):
            chunk = tracking_numbers[start : start + self.max_batch_size]
            batch.extend(self._track_chunk(chunk, credentials, http))
        return batch

    # -- OAuth ---------------------------------------------------------------------------------
    def _token_key(self, credentials: dict) -> str:
        return f"{self.slug}:{self.endpoint(credentials)}:{credentials.get('client_id', '')}"

    def _fetch_token(self, credentials: dict, http: HttpClient) -> tuple[str, float]:
        response = http.post(
            f"{self.endpoint(credentials)}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.get("client_id", ""),
                "client_secret": credentials.get("client_secret", ""),
            },
            headers={"Accept": "application/json"},
        )
        return oauth_token(response, "FedEx")

    def _with_token(self, credentials: dict, http: HttpClient, call):
        return tokens.call_with(
            self._token_key(credentials), lambda: self._fetch_token(credentials, http), call
        )

    # -- tracking ------------------------------------------------------------------------------
    def _track_chunk(
        self, numbers: list[str], credentials: dict, http: HttpClient
    ) -> TrackingBatch:
        body = {
            "includeDetailedScans": True,
            "trackingInfo": [
                {"trackingNumberInfo": {"trackingNumber": clean_number(n)}} for n in numbers
            ],
        }

        def call(token: str):
            return http.post(
                f"{self.endpoint(credentials)}/track/v1/trackingnumbers",
                json=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json",
                    "X-locale": "en_US",
                },
            )

        response = self._with_token(credentials, http, call)
        batch = TrackingBatch()
        if response.status_code >= 400:
            try:
                errors = self.parse(response.content).errors
            except NotThisFormat:
                errors = []
            first = errors[0] if errors else None
            for number in numbers:
                batch.errors.append(
                    TrackingError(
                        number,
                        first.code if first else "carrier_error",
                        first.message if first else f"HTTP {response.status_code}",
                        first.transient if first else False,
                    )
                )
            return batch
        json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
        try:
            parsed = self.parse(response.content)
        except NotThisFormat as exc:
            raise MalformedResponse(f"FedEx answered an unexpected body: {exc}") from exc
        batch.extend(answers_for(parsed, numbers, "FedEx returned nothing for this number"))
        return batch


ADAPTER = FedexAdapter()
