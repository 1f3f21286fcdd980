"""Royal Mail Tracking API v2 (api.royalmail.net/mailpieces/v2, IBM API Connect gateway).

Flow:

- Auth: static headers ``X-IBM-Client-Id`` and ``X-IBM-Client-Secret`` plus ``X-Accept-RMG-Terms:
  yes`` (the API refuses calls that do not accept the terms); no token.
- Endpoints: ``GET /mailpieces/v2/{mailPieceId}/events`` gives one item's summary, estimated
  delivery window, signature metadata and its whole event history; ``GET
  /mailpieces/v2/summary?mailPieceId=a,b`` (at most 30) gives only the latest event of each.
  ``track`` uses the events operation, one call per number (``max_batch_size`` 1), because the
  timeline is what wismo records; a summary answer is still understood by ``parse`` (each piece
  becomes one event built from its ``lastEvent*`` fields, or a per-piece error) so captured
  summary bodies replay too.
- Answer: ``{"mailPieces": {...}}`` (events) or ``{"mailPieces": [...]}`` (summary). The tracking
  number is ``summary.oneDBarcode`` (``mailPieceId`` may be Royal Mail's internal unique id).
  ``eventDateTime`` normally carries an offset ("2016-10-20T10:04:00+01:00" or "...Z"); a time
  without one is UK local time.
- ``eventCode`` values (``EV...``) are mapped by ``CODES``; an unknown code falls back to the
  event name's words and is flagged.
- Errors: ``{"httpCode", "httpMessage", "moreInformation", "errors": [{"errorCode",
  "errorDescription", "errorCause", "errorResolution"}]}``. ``E1142`` (barcode not recognised)
  is ``not_found``; ``E1283`` (product not trackable) is terminal; ``E1307``/``E1308``/``E1284``
  (tracking or update temporarily unavailable) and the technical ``E0001``/``E0009``/``E0010``
  are transient. Summary answers carry ``error`` per piece instead.
"""

from __future__ import annotations

import json
from datetime import date, datetime
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
from carriers.codes import guess_from_text, map_code
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.statuses import DEFAULT_SUBSTATUS
from carriers.tz import localize

UK = ZoneInfo("Europe/London")

# eventCode -> (status, substatus). Royal Mail publishes the codes with their names only in the
# API portal; the names below are the ones its responses carry.
CODES: dict[str, tuple[str, str]] = {
    # Before Royal Mail has the item.
    "EVAIE": ("info_received", "info_received.label_created"),  # Sender preparing item
    "EVAIP": ("info_received", "info_received.label_created"),  # Sender despatching item
    # Accepted and moving.
    "EVPPA": ("in_transit", "in_transit.picked_up"),  # Accepted at Post Office / Parcelshop
    "EVDAV": ("in_transit", "in_transit.arrived_at_facility"),  # Item Received
    "EVDAC": ("in_transit", "in_transit.arrived_at_facility"),  # Item Received
    "EVIMC": ("in_transit", "in_transit.arrived_at_facility"),  # Item Received
    "EVBAV": ("in_transit", "in_transit.arrived_at_facility"),  # Item Received
    "EVIAV": ("in_transit", "in_transit.arrived_at_facility"),  # Item Received
    "EVOAC": ("in_transit", "in_transit.arrived_at_facility"),  # Item received at
    "EVORI": ("in_transit", "in_transit.arrived_at_facility"),  # Arrived at
    "EVODO": ("in_transit", "in_transit.departed_facility"),  # Item despatched to DO / MC
    "EVOCO": ("in_transit", "in_transit.arrived_at_facility"),  # Received, processing for delivery
    "EVNRT": ("in_transit", "in_transit.in_transit"),  # Item Retention
    "EVNMI": ("in_transit", "in_transit.rerouted"),  # Forwarded - Mis-sort
    "EVNSR": ("in_transit", "in_transit.in_transit"),  # Item prepared for redelivery
    "RSRXS": ("in_transit", "in_transit.in_transit"),  # Delivery request received
    "RORXS": ("in_transit", "in_transit.in_transit"),  # Delivery request received
    # Delivery.
    "EVGPD": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Due to be delivered today
    "EVKSP": ("delivered", "delivered.signed"),  # Delivered and signed for
    "EVKOP": ("delivered", "delivered.delivered"),  # Delivered by
    "EVKSF": ("delivered", "delivered.safe_place"),  # Delivered to safeplace by
    "EVKDN": ("delivered", "delivered.neighbor"),  # Delivered to neighbour
    "EVPLC": ("delivered", "delivered.picked_up"),  # Collected (from the collection point)
    # Waiting to be collected.
    "EVKLC": ("available_for_pickup", "available_for_pickup.pickup_point"),  # At collection point
    "EVKLS": (
        "available_for_pickup",
        "available_for_pickup.pickup_point",
    ),  # At your collection point
    "EVPLA": (
        "available_for_pickup",
        "available_for_pickup.pickup_point",
    ),  # Available for collection
    "EVNDA": (
        "available_for_pickup",
        "available_for_pickup.post_office",
    ),  # For redelivery or collection
    # Delivery attempts.
    "EVKNA": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Attempted - no answer
    "EVKNR": ("failed_attempt", "failed_attempt.other"),  # Delivery attempted
    # Exceptions.
    "EVKRF": ("exception", "exception.refused"),  # Refused by the recipient
}

# errorCode -> (code, transient), from the API's documented business and technical errors.
ERRORS: dict[str, tuple[str, bool]] = {
    "E1142": ("not_found", False),  # Barcode reference isn't recognised
    "E1283": ("not_trackable", False),  # Tracking not supported for this product
    "E1284": ("tracking_unavailable", True),  # Delivery update not available
    "E1307": ("tracking_unavailable", True),  # Tracking unavailable
    "E1308": ("tracking_unavailable", True),  # Update not available
    "E1144": ("not_found", False),  # Proof of delivery unavailable
    "E1145": ("not_trackable", False),  # Proof of delivery unavailable for the product
    "E0004": ("invalid_number", False),  # Schema validation failed
    "E0013": ("invalid_number", False),  # Maximum parameters exceeded
    "E0010": ("rate_limited", True),  # Too many requests
    "E0009": ("carrier_unavailable", True),  # Internal server error
    "E0001": ("carrier_unavailable", True),  # Service unavailable
}


def _time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    return localize(moment, UK)


def _day(value: object) -> date | None:
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _event(code: object, name: object, when: object, place: object) -> CarrierEvent:
    code = str(code or "").strip().upper()
    text = str(name or "").strip()
    status, substatus, unmapped = map_code(CODES, code, text)
    if not unmapped and substatus == DEFAULT_SUBSTATUS[status]:
        guessed = guess_from_text(text)
        if guessed and guessed[0] == status:
            substatus = guessed[1]
    return CarrierEvent(
        occurred_at=_time(str(when)),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=str(place or "").strip(),
        unmapped=unmapped,
    )


def _number(piece: dict) -> str:
    summary = piece.get("summary") if isinstance(piece.get("summary"), dict) else {}
    return clean_number(str(summary.get("oneDBarcode") or piece.get("mailPieceId") or ""))


def _result(piece: dict, raw_events: list | None) -> TrackingResult:
    summary = piece.get("summary") if isinstance(piece.get("summary"), dict) else {}
    events: list[CarrierEvent] = []
    if raw_events is None and summary.get("lastEventCode"):
        raw_events = [
            {
                "eventCode": summary.get("lastEventCode"),
                "eventName": summary.get("lastEventName"),
                "eventDateTime": summary.get("lastEventDateTime"),
                "locationName": summary.get("lastEventLocationName"),
            }
        ]
    for raw in raw_events or []:
        try:
            events.append(
                _event(
                    raw.get("eventCode"),
                    raw.get("eventName"),
                    raw["eventDateTime"],
                    raw.get("locationName"),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
    window = (
        piece.get("estimatedDelivery") if isinstance(piece.get("estimatedDelivery"), dict) else {}
    )
    signature = piece.get("signature") if isinstance(piece.get("signature"), dict) else {}
    return TrackingResult(
        tracking_number=_number(piece),
        events=events,
        estimated_delivery=_day(window.get("date")),
        estimated_delivery_earliest=_day(window.get("startOfEstimatedWindow")),
        estimated_delivery_latest=_day(window.get("endOfEstimatedWindow")),
        service=str(summary.get("productName") or ""),
        signed_by=str(signature.get("recipientName") or "").strip(),
    )


def _error(raw: dict, tracking_number: str, http_code: object = None) -> TrackingError:
    raw_code = str(raw.get("errorCode") or "").strip().upper()
    description = str(raw.get("errorDescription") or "").strip()
    cause = str(raw.get("errorCause") or "").strip()
    message = " - ".join(p for p in (description, cause) if p) or raw_code
    if raw_code in ERRORS:
        code, transient = ERRORS[raw_code]
    else:
        status = int(http_code) if str(http_code or "").isdigit() else 0
        code = {401: "unauthorized", 403: "unauthorized", 404: "not_found"}.get(
            status, f"royal_mail_{raw_code or status or 'error'}"
        )
        transient = status == 429 or status >= 500
    return TrackingError(tracking_number, code, message, transient=transient)


def _error_document(document: dict, tracking_number: str) -> list[TrackingError]:
    http_code = document.get("httpCode")
    errors = [
        _error(raw, tracking_number, http_code)
        for raw in document.get("errors") or []
        if isinstance(raw, dict)
    ]
    if errors:
        return errors
    message = str(document.get("moreInformation") or document.get("httpMessage") or "").strip()
    return [_error({"errorDescription": message}, tracking_number, http_code)]


class RoyalMailAdapter(CarrierAdapter):
    slug = "royal_mail"
    name = "Royal Mail"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://api.royalmail.net"
    tracking_url_template = "https://www.royalmail.com/track-your-item#/tracking-results/{number}"
    credential_fields = ("client_id", "client_secret")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a Royal Mail tracking document")
        batch = TrackingBatch()
        pieces = document.get("mailPieces")
        if isinstance(pieces, dict):  # the events operation: one item, its whole history
            events = pieces.get("events")
            # No history yet: the summary's latest event (if any) stands in for it.
            batch.results.append(
                _result(pieces, events if isinstance(events, list) and events else None)
            )
            return batch
        if isinstance(pieces, list):  # the summary operation: latest event of up to 30 items
            for piece in pieces:
                if not isinstance(piece, dict):
                    continue
                if isinstance(piece.get("error"), dict):
                    batch.errors.append(_error(piece["error"], _number(piece)))
                elif isinstance(piece.get("summary"), dict):
                    batch.results.append(_result(piece, None))
            return batch
        if "httpCode" in document or isinstance(document.get("errors"), list):
            batch.errors.extend(_error_document(document, tracking_number))
            return batch
        raise NotThisFormat("no 'mailPieces' and not a Royal Mail error document")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        base = self.endpoint(credentials)
        headers = {
            "X-IBM-Client-Id": credentials.get("client_id", ""),
            "X-IBM-Client-Secret": credentials.get("client_secret", ""),
            "X-Accept-RMG-Terms": "yes",
            "Accept": "application/json",
        }
        batch = TrackingBatch()
        for number in tracking_numbers:
            response = http.get(
                f"{base}/mailpieces/v2/{quote(clean_number(number), safe='')}/events",
                headers=headers,
            )
            if response.status_code >= 400:
                try:
                    parsed = self.parse(response.content, tracking_number=number)
                except NotThisFormat:
                    parsed = TrackingBatch()
                batch.errors.extend(
                    parsed.errors
                    or [
                        TrackingError(
                            number,
                            "not_found" if response.status_code == 404 else "invalid_number",
                            f"Royal Mail answered HTTP {response.status_code}",
                        )
                    ]
                )
                continue
            json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"Royal Mail answered an unexpected body: {exc}") from exc
            for result in parsed.results:
                result.tracking_number = number  # one number per call: the answer is for it
            for error in parsed.errors:
                batch.errors.append(
                    TrackingError(number, error.code, error.message, transient=error.transient)
                )
            batch.results.extend(parsed.results)
        return batch


ADAPTER = RoyalMailAdapter()
