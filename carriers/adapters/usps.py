"""USPS Tracking API v3 (apis.usps.com), with OAuth2 client credentials.

Flow:

- Auth: ``POST {base}/oauth2/v3/token`` (form ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``, ``scope=tracking``) answers ``{"access_token", "token_type": "Bearer",
  "expires_in": <seconds, about 8 h>, ...}``. The token is kept in the process-wide
  ``carriers.http.tokens`` cache under ``usps|<base>|<client id>``; a 401 from a tracking call made
  with a cached token forgets it and retries once with a fresh one (a second 401 is terminal).
- Endpoint: ``GET {base}/tracking/v3/tracking/{number}?expand=DETAIL`` with ``Authorization:
  Bearer``. One number per call, so ``max_batch_size`` is 1. The default quota is 60 calls per
  hour per application, hence ``rate_per_second``.
- Answer: a ``TrackingDetails`` document; ``trackingEvents`` come newest first. Each event has a
  local ``eventTimestamp`` without offset and, usually, ``GMTTimestamp`` (UTC) and ``GMTOffset``:
  the GMT instant is preferred, shown at the event's own offset; without it the local time takes
  ``GMTOffset``, else the zone of ``eventState``, else US Eastern.
- ``eventCode`` is a Pub 199 Appendix G-4 scan event code: ``CODES`` below maps it, and the words
  (``eventType``) may refine a generic substatus within the same main status. A delivery event
  naming who signed (``name``) is ``delivered.signed``.
- Errors: the v3 error document ``{"apiVersion", "error": {"code", "message", "errors": [{"status",
  "code", "title", "detail", "source"}]}}``; an unknown number answers 404 ("Tracking is not
  available for this item...") and becomes a ``not_found`` error. OAuth failures answer
  ``{"error": "invalid_client", "error_description"}``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import quote

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
from carriers.http import (
    HttpClient,
    MalformedResponse,
    TerminalError,
    json_body,
    tokens,
)
from carriers.statuses import DEFAULT_SUBSTATUS
from carriers.tz import localize, zone_for

# eventCode -> (status, substatus), from USPS Publication 199, Appendix G-4 (domestic scan events).
CODES: dict[str, tuple[str, str]] = {
    # Before USPS has the item.
    "GX": ("info_received", "info_received.label_created"),  # Shipping Label Created
    "MA": ("info_received", "info_received.label_created"),  # Manifest Acknowledgement
    "TM": (
        "info_received",
        "info_received.awaiting_pickup",
    ),  # Shipment Received, Acceptance Pending
    # Acceptance.
    "03": ("in_transit", "in_transit.picked_up"),  # Accept or Pickup / USPS in possession of item
    "OA": ("in_transit", "in_transit.picked_up"),  # Origin Acceptance
    "PA": ("in_transit", "in_transit.picked_up"),  # Passive Acceptance
    "UA": ("in_transit", "in_transit.picked_up"),  # Accepted at USPS Facility
    "AD": ("in_transit", "in_transit.picked_up"),  # Acceptance at Destination
    "80": ("in_transit", "in_transit.picked_up"),  # Picked Up by Shipping Partner
    # Moving through the network.
    "81": ("in_transit", "in_transit.arrived_at_facility"),  # Arrived Shipping Partner Facility
    "82": ("in_transit", "in_transit.departed_facility"),  # Departed Shipping Partner Facility
    "42": ("in_transit", "in_transit.in_transit"),  # USPS Handoff to Shipping Partner
    "10": (
        "in_transit",
        "in_transit.arrived_at_facility",
    ),  # Processed / Arrived at Regional Facility
    "A1": ("in_transit", "in_transit.arrived_at_facility"),  # Arrived at USPS Regional Facility
    "T1": ("in_transit", "in_transit.departed_facility"),  # Departed USPS Regional Facility
    "TL": ("in_transit", "in_transit.in_transit"),  # In Transit to Next Facility
    "SF": ("in_transit", "in_transit.departed_facility"),  # Departed Post Office
    "EF": ("in_transit", "in_transit.departed_facility"),  # Departed Sort Facility
    "19": ("in_transit", "in_transit.arrived_at_facility"),  # DC eVS Arrive
    "41": ("in_transit", "in_transit.arrived_at_facility"),  # Received at Opening Unit
    "07": (
        "in_transit",
        "in_transit.arrived_at_facility",
    ),  # Arrival at Unit (Arrived at Post Office)
    "PC": ("in_transit", "in_transit.arrived_at_facility"),  # Sorting / Processing Complete
    "06": ("in_transit", "in_transit.rerouted"),  # Forwarded
    "08": ("in_transit", "in_transit.rerouted"),  # Missent
    "15": ("in_transit", "in_transit.rerouted"),  # Mis-shipped
    # Delivery.
    "OF": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Out for Delivery
    "01": ("delivered", "delivered.delivered"),  # Delivered (front door, mailbox, parcel locker...)
    "17": ("delivered", "delivered.picked_up"),  # Picked Up By Agent
    "43": ("delivered", "delivered.picked_up"),  # Picked Up (at the Post Office)
    "14": ("available_for_pickup", "available_for_pickup.pickup_point"),  # Arrival at Pickup Point
    "16": ("available_for_pickup", "available_for_pickup.post_office"),  # Available for Pickup
    # Delivery attempts (Notice Left and its subset).
    "02": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Notice Left
    "52": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Notice Left
    "53": ("failed_attempt", "failed_attempt.other"),  # Receptacle Blocked
    "54": ("failed_attempt", "failed_attempt.other"),  # Receptacle Full / Item Oversized
    "55": ("failed_attempt", "failed_attempt.other"),  # No Secure Location Available
    "56": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # No Authorized Recipient
    "30": ("failed_attempt", "failed_attempt.other"),  # No Access to Delivery Location
    "51": ("failed_attempt", "failed_attempt.business_closed"),  # Business Closed
    # Exceptions and returns.
    "04": ("exception", "exception.refused"),  # Refused
    "05": ("exception", "exception.address_issue"),  # Undeliverable as Addressed
    "09": ("exception", "exception.returning_to_sender"),  # Return to Sender
    "21": ("exception", "exception.returning_to_sender"),  # RTS: No Such Number
    "22": ("exception", "exception.returning_to_sender"),  # RTS: Insufficient Address
    "23": ("exception", "exception.returning_to_sender"),  # RTS: Moved, Left No Address
    "24": ("exception", "exception.returning_to_sender"),  # RTS: Forward Expired
    "25": ("exception", "exception.returning_to_sender"),  # RTS: Addressee Unknown
    "26": ("exception", "exception.returning_to_sender"),  # RTS: Vacant
    "27": ("exception", "exception.returning_to_sender"),  # RTS: Unclaimed
    "28": ("exception", "exception.returning_to_sender"),  # RTS: Deceased
    "29": ("exception", "exception.returning_to_sender"),  # RTS: Other
    "31": ("exception", "exception.returning_to_sender"),  # RTS: Not Picked Up
    "44": ("exception", "exception.returning_to_sender"),  # Customer Recall (by the sender)
    "11": ("exception", "exception.lost"),  # Dead Letter (neither deliverable nor returnable)
    "71": ("exception", "exception.delayed"),  # Rescheduled to Next Delivery Day
    "DX": ("exception", "exception.delayed"),  # Delivery Status Not Updated
}

# statusCategory (the USPS.com "external status category") -> (status, substatus), used only
# when a response carries no events at all.
STATUS_CATEGORIES: dict[str, tuple[str, str]] = {
    "pre-shipment": ("info_received", "info_received.label_created"),
    "accepted": ("in_transit", "in_transit.picked_up"),
    "in transit": ("in_transit", "in_transit.in_transit"),
    "out for delivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "delivered": ("delivered", "delivered.delivered"),
    "available for pickup": ("available_for_pickup", "available_for_pickup.post_office"),
    "delivery attempt": ("failed_attempt", "failed_attempt.other"),
    "alert": ("exception", "exception.other"),
}

FALLBACK_ZONE = "America/New_York"
_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")
_TAGS = re.compile(r"<[^>]*>")


def _offset(value: object) -> timezone | None:
    """``-05:00``, ``-7:00`` or ``+0530`` as a fixed offset; None when absent or unreadable."""
    match = _OFFSET.match(str(value or "").strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))


def _event_time(raw: dict) -> datetime:
    offset = _offset(raw.get("GMTOffset"))
    zone = offset or zone_for("US", str(raw.get("eventState") or ""), fallback=FALLBACK_ZONE)
    gmt = str(raw.get("GMTTimestamp") or "").strip()
    if gmt:
        moment = _iso(gmt)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(zone)
    local = _iso(str(raw["eventTimestamp"]))
    if local.tzinfo is not None:
        return local
    return local.replace(tzinfo=offset) if offset else localize(local, zone)


def _place(raw: dict) -> str:
    city = str(raw.get("eventCity") or "").strip()
    region = " ".join(
        p for p in (str(raw.get(k) or "").strip() for k in ("eventState", "eventZIP")) if p
    )
    country = str(raw.get("eventCountry") or "").strip()
    parts = [p for p in (city, region) if p]
    if country and country.upper() not in ("US", "USA", "UNITED STATES"):
        parts.append(country)
    return ", ".join(parts)


def _event(raw: dict) -> CarrierEvent:
    code = str(raw.get("eventCode") or "").strip().upper()
    text = str(raw.get("eventType") or "").strip()
    status, substatus, unmapped = map_code(CODES, code, text)
    if not unmapped and substatus == DEFAULT_SUBSTATUS[status]:
        guessed = guess_from_text(text)
        if guessed and guessed[0] == status:
            substatus = guessed[1]
    if status == "delivered" and str(raw.get("name") or "").strip():
        substatus = "delivered.signed"
    return CarrierEvent(
        occurred_at=_event_time(raw),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=_place(raw),
        unmapped=unmapped,
    )


def _day(value: object) -> date | None:
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _plain(value: object) -> str:
    """USPS sends mail classes with markup (``Priority Mail<SUP>&#174;</SUP>``): plain text."""
    return " ".join(html.unescape(_TAGS.sub("", str(value or ""))).split())


def _result(raw: dict) -> TrackingResult:
    events: list[CarrierEvent] = []
    for item in raw.get("trackingEvents") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
    signed_by = next(
        (
            str(item.get("name")).strip()
            for item in raw.get("trackingEvents") or []
            if isinstance(item, dict) and str(item.get("name") or "").strip()
        ),
        "",
    )
    result = TrackingResult(
        tracking_number=clean_number(str(raw.get("trackingNumber") or "")),
        events=events,
        estimated_delivery=_day(raw.get("expectedDeliveryTimeStamp"))
        or _day(raw.get("predictedDeliveryDate"))
        or _day(raw.get("predictedDeliveryTimeStamp"))
        or _day(raw.get("guaranteedDeliveryTimeStamp")),
        service=_plain(raw.get("mailClass")),
        signed_by=signed_by,
    )
    if not events:
        category = str(raw.get("statusCategory") or "").strip().lower()
        words = " ".join(str(raw.get(k) or "") for k in ("status", "statusSummary"))
        found = STATUS_CATEGORIES.get(category) or guess_from_text(words)
        if found:
            result.status, result.substatus = found
    return result


def _error(document: dict, tracking_number: str) -> TrackingError:
    error = document.get("error")
    if isinstance(error, str):  # the OAuth server's shape
        message = str(document.get("error_description") or error)
        code = "unauthorized" if error in ("invalid_client", "invalid_token") else error
        return TrackingError(tracking_number, code, message)
    error = error if isinstance(error, dict) else {}
    details = [d for d in error.get("errors") or [] if isinstance(d, dict)]
    raw_code = str(error.get("code") or (details[0].get("status") if details else "") or "")
    status = int(raw_code) if raw_code.isdigit() else 0
    code = {
        400: "invalid_number",
        401: "unauthorized",
        403: "unauthorized",
        404: "not_found",
        429: "rate_limited",
    }.get(status, "carrier_unavailable" if status >= 500 else f"usps_{raw_code or 'error'}")
    detail = next((str(d.get("detail") or d.get("title") or "") for d in details), "")
    message = str(error.get("message") or "").strip()
    if detail and detail not in message:
        message = f"{message} {detail}".strip()
    return TrackingError(
        tracking_number, code, message or code, transient=status == 429 or status >= 500
    )


class UspsAdapter(CarrierAdapter):
    slug = "usps"
    name = "USPS"
    max_batch_size = 1
    rate_per_second = 60 / 3600  # default quota: 60 calls per hour per application
    base_url = "https://apis.usps.com"
    tracking_url_template = "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}"
    credential_fields = ("client_id", "client_secret")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a USPS tracking document")
        batch = TrackingBatch()
        if "error" in document and isinstance(document["error"], dict | str):
            batch.errors.append(_error(document, tracking_number))
            return batch
        if document.get("trackingNumber") and (
            "trackingEvents" in document or "statusCategory" in document or "status" in document
        ):
            batch.results.append(_result(document))
            return batch
        raise NotThisFormat("no 'trackingNumber' and not a USPS error document")

    # -- client ---------------------------------------------------------------------------
    def _token(self, http: HttpClient, base: str, credentials: dict) -> tuple[str, float]:
        response = http.post(
            f"{base}/oauth2/v3/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.get("client_id", ""),
                "client_secret": credentials.get("client_secret", ""),
                "scope": "tracking",
            },
            headers={"Accept": "application/json"},
        )
        document = json_body(response)
        token = document.get("access_token") if isinstance(document, dict) else None
        if response.status_code >= 400 or not token:
            reason = ""
            if isinstance(document, dict):
                reason = str(document.get("error_description") or document.get("error") or "")
            raise TerminalError(
                f"USPS refused the client credentials (HTTP {response.status_code}) {reason}".strip(),
                status=response.status_code,
            )
        try:
            expires_in = float(document.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        return str(token), expires_in

    def _get(self, http: HttpClient, base: str, credentials: dict, number: str):
        key = f"usps|{base}|{credentials.get('client_id', '')}"

        def fetch() -> tuple[str, float]:
            return self._token(http, base, credentials)

        def call(token: str):
            return http.get(
                f"{base}/tracking/v3/tracking/{quote(clean_number(number), safe='')}",
                params={"expand": "DETAIL"},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )

        return tokens.call_with(key, fetch, call)

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        base = self.endpoint(credentials)
        batch = TrackingBatch()
        for number in tracking_numbers:
            response = self._get(http, base, credentials, number)
            if response.status_code >= 400:
                try:
                    parsed = self.parse(response.content, tracking_number=number)
                except NotThisFormat:
                    parsed = TrackingBatch()
                errors = parsed.errors or [
                    TrackingError(
                        number,
                        "not_found" if response.status_code == 404 else "invalid_number",
                        f"USPS answered HTTP {response.status_code}",
                    )
                ]
                batch.errors.extend(errors)
                continue
            json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"USPS answered an unexpected body: {exc}") from exc
            for result in parsed.results:
                result.tracking_number = number  # one number per call: the answer is for it
            batch.extend(parsed)
        return batch


ADAPTER = UspsAdapter()
