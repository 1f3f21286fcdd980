"""GLS Group "Track And Trace V1" API (api.gls-group.net, GLS's group-wide developer portal).

Flow:

1. OAuth2 client credentials: ``POST {base}/oauth2/v2/token`` with HTTP Basic
   ``client_id:client_secret`` and the form ``grant_type=client_credentials``; the answer is
   ``{access_token, token_type: "Bearer", expires_in}`` (tokens live up to four hours). Tokens are
   cached per client id in the process-wide ``tokens`` cache; a 401 on a data call with a cached
   token forgets it and retries once with a fresh one.
2. ``GET {base}/track-and-trace-v1/tracking/simple/trackids/{n1,n2,...}?showEvents=true`` with
   ``Authorization: Bearer``, ``Accept-Language: EN``; at most 10 parcel numbers per call (11 are
   refused with a 400), no paging. The default quota is 500 calls per day per client.

The answer is ``{parcels: [ParcelDTO]}``; a parcel is ``{requested, unitno, status,
statusDateTime, events[]{code, city, postalCode, country, description, eventDateTime}}`` or, for
a number GLS does not know, ``{requested, errorCode: "E_404_01", errorMessage}`` in the same
list (HTTP 200). A bad call answers an RFC 7807 problem ``{type, title, status, detail,
instance}``; the API gateway (Apigee) answers 401/429 with ``{fault: {faultstring, detail:
{errorcode}}}``. Event times carry their offset ("2024-10-07T10:46:14+0200").

Event codes are ``<GROUP>.<REASON>`` (``INTIAL.PREADVICE``, ``DELIVD.PARCELSHOP``...): known
codes map exactly; an unknown reason inside a known group takes the group's meaning, refined by
the description's words.
"""

from __future__ import annotations

import json
from datetime import datetime

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
    clean_number,
)
from carriers.codes import SAFE_DEFAULT, guess_from_text
from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body, tokens
from carriers.tz import localize, zone_for

# Full event codes -> (status, substatus). The codes shown in GLS's spec examples are the first
# block; the rest are seen in public client code and live answers (secondary sources).
CODES: dict[str, tuple[str, str]] = {
    # spec: "The parcel data was entered into the GLS IT system; not yet handed over"
    "INTIAL.PREADVICE": ("info_received", "info_received.label_created"),
    # spec: "The parcel was provided by the sender for collection by GLS"
    "INTIAL.E48_DATA": ("info_received", "info_received.awaiting_pickup"),
    # spec: "The parcel was handed over to GLS"
    "INTIAL.NORMAL": ("in_transit", "in_transit.picked_up"),
    # spec: "The parcel has been delivered at the ParcelShop"
    "DELIVD.PARCELSHOP": ("available_for_pickup", "available_for_pickup.pickup_point"),
    # spec: "The parcel data have been deleted from the GLS IT system"
    "CANCEL.NORMAL": ("exception", "exception.cancelled"),
    # spec: "Change completed for - Delivery at new address" / "- ParcelLocker"
    "CHANGD.MONEWADDR": ("in_transit", "in_transit.rerouted"),
    "CHANGD.PARCELBOX": ("in_transit", "in_transit.rerouted"),
    # secondary: "The parcel has reached / has left the parcel center"
    "INBOUD.NORMAL": ("in_transit", "in_transit.arrived_at_facility"),
    "OUTBOD.NORMAL": ("in_transit", "in_transit.departed_facility"),
    # secondary: "The parcel is expected to be delivered during the day"
    "OUTDEL.NORMAL": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    # secondary: "The parcel has been delivered"
    "DELIVD.NORMAL": ("delivered", "delivered.delivered"),
    # secondary: handed out by the ParcelShop to the consignee (via the ParcelShop app)
    "DELIVD.DEL_BY_PSAPP": ("delivered", "delivered.picked_up"),
    # secondary: "could not be delivered as the consignee was absent"
    "NOTDEL.ABSENT": ("failed_attempt", "failed_attempt.recipient_unavailable"),
}
# Event code groups (the part before the dot) -> (status, substatus), for reasons not listed.
GROUPS: dict[str, tuple[str, str]] = {
    "INTIAL": ("in_transit", "in_transit.picked_up"),
    "INBOUD": ("in_transit", "in_transit.arrived_at_facility"),
    "OUTBOD": ("in_transit", "in_transit.departed_facility"),
    "OUTDEL": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "DELIVD": ("delivered", "delivered.delivered"),
    "NOTDEL": ("failed_attempt", "failed_attempt.other"),
    "CANCEL": ("exception", "exception.cancelled"),
    "CHANGD": ("in_transit", "in_transit.rerouted"),
}
# The statuses a group's description may refine it into.
REFINES: dict[str, frozenset[str]] = {
    "INTIAL": frozenset({"info_received", "in_transit"}),
    "DELIVD": frozenset({"delivered", "available_for_pickup"}),
    "NOTDEL": frozenset({"failed_attempt", "exception"}),
}

# ParcelDTO.status (the documented enum) -> (status, substatus); used when no events came.
PARCEL_STATUS: dict[str, tuple[str, str]] = {
    "PLANNEDPICKUP": ("info_received", "info_received.awaiting_pickup"),
    "INPICKUP": ("info_received", "info_received.awaiting_pickup"),
    "NOTPICKEDUP": ("info_received", "info_received.awaiting_pickup"),
    "PREADVICE": ("info_received", "info_received.label_created"),
    "INTRANSIT": ("in_transit", "in_transit.in_transit"),
    "INWAREHOUSE": ("in_transit", "in_transit.arrived_at_facility"),
    "INDELIVERY": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "DELIVEREDPS": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "DELIVERED": ("delivered", "delivered.delivered"),
    "NOTDELIVERED": ("failed_attempt", "failed_attempt.other"),
    "CANCELED": ("exception", "exception.cancelled"),
    "FINAL": ("delivered", "delivered.delivered"),  # "Parcel history closed"
}

# ParcelErrorCodeDTO -> (our error code, transient).
ERROR_CODES: dict[str, tuple[str, bool]] = {
    "E_400_01": ("invalid_number", False),  # Bad Request
    "E_400_02": ("too_many_numbers", False),  # Limit Size Exceeded
    "E_400_03": ("invalid_postcode", False),  # Wrong Postal Code
    "E_404_01": ("not_found", False),  # Resource Not Found
    "E_404_02": ("not_found", False),  # No Delivery Info
    "E_500_01": ("carrier_error", True),  # Internal Server Error
}


def _map_event(code: str, text: str) -> tuple[str, str, bool]:
    if code in CODES:
        status, substatus = CODES[code]
        return status, substatus, False
    group = code.split(".", 1)[0]
    if group in GROUPS:
        status, substatus = GROUPS[group]
        guessed = guess_from_text(text)
        if guessed and guessed[0] in REFINES.get(group, frozenset({status})):
            status, substatus = guessed
        return status, substatus, False
    status, substatus = guess_from_text(text) or SAFE_DEFAULT
    return status, substatus, True


def _when(raw: object, country: str | None = None) -> datetime:
    value = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    return localize(value, zone_for(country, fallback="Europe/Berlin"))


def _event(raw: dict) -> CarrierEvent:
    code = str(raw.get("code") or "").strip().upper()
    text = str(raw.get("description") or "").strip()
    country = str(raw.get("country") or "").strip().upper()
    status, substatus, unmapped = _map_event(code, text)
    place = " ".join(p for p in (str(raw.get("postalCode") or ""), str(raw.get("city") or "")) if p)
    return CarrierEvent(
        occurred_at=_when(raw["eventDateTime"], country),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=", ".join(p for p in (place.strip(), country) if p),
        unmapped=unmapped,
    )


def _parcel(raw: dict) -> TrackingResult:
    events = []
    for item in raw.get("events") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
    number = clean_number(str(raw.get("requested") or raw.get("unitno") or ""))
    result = TrackingResult(tracking_number=number, events=events)
    status = str(raw.get("status") or "").upper()
    if status in PARCEL_STATUS:
        result.status, result.substatus = PARCEL_STATUS[status]
    return result


def _parcel_error(raw: dict) -> TrackingError:
    error_code = str(raw.get("errorCode") or "")
    code, transient = ERROR_CODES.get(error_code, (error_code.lower() or "carrier_error", False))
    message = str(raw.get("errorMessage") or error_code)
    return TrackingError(clean_number(str(raw.get("requested") or "")), code, message, transient)


def _call_error(document: dict, numbers: list[str]) -> list[TrackingError]:
    """A problem document or a gateway fault: it concerns every number of the call."""
    if isinstance(document.get("fault"), dict):
        fault = document["fault"]
        errorcode = str(((fault.get("detail") or {}).get("errorcode")) or "")
        message = str(fault.get("faultstring") or errorcode)
        if "ratelimit" in errorcode.lower() or "quota" in message.lower():
            code, transient = "rate_limited", True
        else:
            code, transient = "unauthorized", False
    else:
        status = int(document.get("status") or 0)
        message = str(document.get("detail") or document.get("title") or f"HTTP {status}")
        code = {400: "bad_request", 401: "unauthorized", 404: "not_found", 429: "rate_limited"}
        code, transient = code.get(status, f"http_{status}"), status == 429 or status >= 500
    return [TrackingError(clean_number(n), code, message, transient) for n in numbers or [""]]


class GlsAdapter(CarrierAdapter):
    slug = "gls"
    name = "GLS"
    max_batch_size = 10
    rate_per_second = 1.0  # the default quota is 500 calls a day: stay gentle
    base_url = "https://api.gls-group.net"
    tracking_url_template = "https://gls-group.com/GROUP/en/parcel-tracking?match={number}"
    credential_fields = ("client_id", "client_secret")

    def parse(
        self, body: bytes | str, *, tracking_numbers: list[str] | None = None
    ) -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a GLS tracking document")
        if isinstance(document.get("parcels"), list):
            batch = TrackingBatch()
            for raw in document["parcels"]:
                if not isinstance(raw, dict):
                    continue
                if raw.get("errorCode"):
                    batch.errors.append(_parcel_error(raw))
                elif raw.get("requested") or raw.get("unitno"):
                    batch.results.append(_parcel(raw))
            return batch
        if isinstance(document.get("fault"), dict) or (
            "status" in document and ("title" in document or "detail" in document)
        ):
            return TrackingBatch(errors=_call_error(document, tracking_numbers or []))
        raise NotThisFormat("no 'parcels' list and not a GLS error document")

    # -- client ---------------------------------------------------------------------------------
    def _token(self, http: HttpClient, credentials: dict) -> tuple[str, bool]:
        """(access token, whether it was fetched just now rather than taken from the cache)."""
        client_id = credentials.get("client_id", "")
        fetched: list[bool] = []

        def fetch() -> tuple[str, float]:
            fetched.append(True)
            response = http.post(
                f"{self.endpoint(credentials)}/oauth2/v2/token",
                auth=(client_id, credentials.get("client_secret", "")),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
            )
            if response.status_code == 400:
                raise TerminalError("GLS refused the client credentials (HTTP 400)", status=400)
            document = json_body(response)
            if not isinstance(document, dict) or not document.get("access_token"):
                raise MalformedResponse("GLS token answer without access_token")
            return str(document["access_token"]), float(document.get("expires_in") or 3600)

        token = tokens.get(f"{self.slug}:{client_id}", fetch)
        return token, bool(fetched)

    def _ask(self, http: HttpClient, credentials: dict, chunk: list[str]):
        key = f"{self.slug}:{credentials.get('client_id', '')}"
        while True:
            token, fresh = self._token(http, credentials)
            try:
                return http.get(
                    f"{self.endpoint(credentials)}/track-and-trace-v1/tracking/simple/trackids/"
                    + ",".join(chunk),
                    params={"showEvents": "true"},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Accept": "application/json",
                        "Accept-Language": credentials.get("language") or "EN",
                    },
                )
            except TerminalError:
                tokens.forget(key)
                if fresh:
                    raise  # a brand-new token refused: the credentials are wrong
                # A cached token expired or was revoked early: once more with a fresh one.

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        numbers = [clean_number(n) for n in tracking_numbers]
        for start in range(0, len(numbers), self.max_batch_size):
            chunk = numbers[start : start + self.max_batch_size]
            response = self._ask(http, credentials, chunk)
            json_body(response)  # a body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_numbers=chunk)
            except NotThisFormat as exc:
                raise MalformedResponse(f"GLS answered an unexpected body: {exc}") from exc
            batch.extend(parsed)
        return batch


ADAPTER = GlsAdapter()
