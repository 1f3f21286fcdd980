"""17TRACK tracking API v2.2: one aggregator for thousands of carriers, polled and pushed.

Flow: every operation is ``POST https://api.17track.net/track/v2.2/<op>`` with the account's key in
the ``17token`` header and a JSON array of at most 40 items; the account may make about 3 calls a
second (more answers 429). A number must be registered (``register``, one quota each; 17TRACK
detects the carrier when none is given) before ``gettrackinfo`` returns anything for it. ``track``
therefore asks ``gettrackinfo`` first; the numbers it rejects as not registered (-18019902) are
registered (an "already registered" answer, -18019901, is fine: another worker was faster) and
asked again. A freshly registered number usually has no data yet (-18019909): a transient error,
retried by the poller.

Answers are ``{code: 0, data: {accepted: [...], rejected: [{number, error{code, message}}]}}``; a
request-level failure is a non-zero ``code`` with ``data.errors[{code, message}]``. An accepted item
is ``{number, carrier, tag, track_info{latest_status{status, sub_status}, latest_event,
time_metrics{estimated_delivery_date{source, from, to}}, milestone[], tracking{providers[]{
provider{key, name, country}, events[]{time_iso, time_utc, description, location, stage,
sub_status, address{country, state, city, postal_code}}}}}}``. Event times come with an offset
(``time_iso``) and in UTC (``time_utc``); an offset-less time is local to the event's country.

Statuses: the main status (NotFound, InfoReceived, InTransit, Expired, AvailableForPickup,
OutForDelivery, DeliveryFailure, Delivered, Exception) and the sub-status ``<Main>_<Reason>`` are
17TRACK's published enums; ``CODES`` maps every sub-status, and an "Other" reason is refined by the
event's words within its main status. ``TrackingResult.carrier_hint`` names the real carrier.

Push: 17TRACK POSTs ``{event: "TRACKING_UPDATED" | "TRACKING_STOPPED", data: {number, carrier,
tag, track_info}}`` to the account's webhook URL with a ``sign`` header, the hex SHA-256 of the raw
body, a "/" and the account's security key; ``parse_push`` checks it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, date, datetime

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
from carriers.http import (
    HttpClient,
    MalformedResponse,
    TerminalError,
    TransientError,
    json_body,
)
from carriers.tz import localize, zone_for

MAX_ITEMS = 40
PUSH_EVENTS = frozenset({"TRACKING_UPDATED", "TRACKING_STOPPED"})

# latest_status.status -> (status, substatus), for a shipment or event without a sub-status.
STATUSES: dict[str, tuple[str, str]] = {
    "NotFound": ("pending", "pending.awaiting_carrier"),
    "InfoReceived": ("info_received", "info_received.label_created"),
    "InTransit": ("in_transit", "in_transit.in_transit"),
    "Expired": ("expired", "expired.no_updates"),
    "AvailableForPickup": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "OutForDelivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "DeliveryFailure": ("failed_attempt", "failed_attempt.other"),
    "Delivered": ("delivered", "delivered.delivered"),
    "Exception": ("exception", "exception.other"),
}

# sub_status -> (status, substatus): 17TRACK's sub-status enum, every value.
CODES: dict[str, tuple[str, str]] = {
    "NotFound_Other": ("pending", "pending.awaiting_carrier"),
    "NotFound_InvalidCode": ("pending", "pending.awaiting_carrier"),
    "InfoReceived": ("info_received", "info_received.label_created"),
    "InTransit_PickedUp": ("in_transit", "in_transit.picked_up"),
    "InTransit_Other": ("in_transit", "in_transit.in_transit"),
    "InTransit_Departure": ("in_transit", "in_transit.departed_facility"),
    "InTransit_Arrival": ("in_transit", "in_transit.arrived_at_facility"),
    "InTransit_CustomsProcessing": ("in_transit", "in_transit.customs_processing"),
    "InTransit_CustomsReleased": ("in_transit", "in_transit.customs_released"),
    # Customs wants documents or answers from the recipient: the shopper has to act.
    "InTransit_CustomsRequiringInformation": ("exception", "exception.customs_hold"),
    "Expired_Other": ("expired", "expired.no_updates"),
    "AvailableForPickup_Other": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "OutForDelivery_Other": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "DeliveryFailure_Other": ("failed_attempt", "failed_attempt.other"),
    "DeliveryFailure_NoBody": ("failed_attempt", "failed_attempt.recipient_unavailable"),
    # Security: a safety, customs or fee problem found at the door.
    "DeliveryFailure_Security": ("failed_attempt", "failed_attempt.other"),
    "DeliveryFailure_Rejected": ("exception", "exception.refused"),
    "DeliveryFailure_InvalidAddress": ("failed_attempt", "failed_attempt.address_issue"),
    "Delivered_Other": ("delivered", "delivered.delivered"),
    "Exception_Other": ("exception", "exception.other"),
    "Exception_Returning": ("exception", "exception.returning_to_sender"),
    "Exception_Returned": ("exception", "exception.returned_to_sender"),
    # NoBody: the recipient's details were found wrong before delivery.
    "Exception_NoBody": ("exception", "exception.address_issue"),
    # Security: a safety, customs clearance or fee problem found before delivery.
    "Exception_Security": ("exception", "exception.customs_hold"),
    "Exception_Damage": ("exception", "exception.damaged"),
    "Exception_Rejected": ("exception", "exception.refused"),
    "Exception_Delayed": ("exception", "exception.delayed"),
    "Exception_Lost": ("exception", "exception.lost"),
    "Exception_Destroyed": ("exception", "exception.other"),
    "Exception_Cancel": ("exception", "exception.cancelled"),
}
# Sub-statuses whose reason is vague: the event's words may refine them within the main status.
REFINABLE = frozenset(
    {
        "InTransit_Other",
        "AvailableForPickup_Other",
        "DeliveryFailure_Other",
        "DeliveryFailure_Security",
        "Delivered_Other",
        "Exception_Other",
        "Exception_Security",
    }
)

# event.stage (the milestone an event marks) -> (status, substatus), when it has no sub_status.
STAGES: dict[str, tuple[str, str]] = {
    "InfoReceived": ("info_received", "info_received.label_created"),
    "PickedUp": ("in_transit", "in_transit.picked_up"),
    "Departure": ("in_transit", "in_transit.departed_facility"),
    "Arrival": ("in_transit", "in_transit.arrived_at_facility"),
    "AvailableForPickup": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "OutForDelivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "Delivered": ("delivered", "delivered.delivered"),
    "Returning": ("exception", "exception.returning_to_sender"),
    "Returned": ("exception", "exception.returned_to_sender"),
}

# rejected[].error.code -> (error code, transient).
NUMBER_ERRORS: dict[int, tuple[str, bool]] = {
    -18019901: ("already_registered", False),
    -18019902: ("not_registered", True),  # track() registers these and asks again
    -18019903: ("carrier_not_detected", False),
    -18019907: ("rate_limited", True),  # the daily query frequency for this number is used up
    -18019908: ("quota_exhausted", False),  # the merchant must buy more 17TRACK quota
    -18019909: ("no_information_yet", True),  # registered, the carrier has not answered yet
    -18019910: ("invalid_carrier", False),
}
# data.errors[].code of a request-level failure -> (error code, transient).
REQUEST_ERRORS: dict[int, tuple[str, bool]] = {
    -18010001: ("ip_not_allowed", False),
    -18010002: ("unauthorized", False),
    -18010003: ("carrier_error", True),
    -18010004: ("unauthorized", False),
    -18010005: ("unauthorized", False),
}

_POST_OFFICE = re.compile(r"post ?office|postal counter|postamt|bureau de poste|ufficio postale")


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


def _refine(status: str, substatus: str, text: str) -> tuple[str, str]:
    if status == "available_for_pickup" and _POST_OFFICE.search(fold(text)):
        return status, "available_for_pickup.post_office"
    guessed = guess_from_text(text)
    if guessed and guessed[0] == status:
        return guessed
    return status, substatus


def _classify(sub_status: str, stage: str, text: str) -> tuple[str, str, str, bool]:
    """(status, substatus, raw code, unmapped) of one event."""
    if sub_status in CODES:
        status, substatus = CODES[sub_status]
        if sub_status in REFINABLE:
            status, substatus = _refine(status, substatus, text)
        return status, substatus, sub_status, False
    if stage in STAGES:
        return *_refine(*STAGES[stage], text), stage, False
    main = sub_status.split("_", 1)[0]
    if main in STATUSES:  # a reason 17TRACK added after this table was written
        return *_refine(*STATUSES[main], text), sub_status, True
    guessed = guess_from_text(text) or ("in_transit", "in_transit.in_transit")
    return *guessed, sub_status or stage, True


def _place(raw: dict) -> tuple[str, str]:
    address = raw.get("address") if isinstance(raw.get("address"), dict) else {}
    country = _text(address.get("country")).upper()
    location = _text(raw.get("location"))
    if not location:
        parts = (_text(address.get(k)) for k in ("city", "state", "country"))
        location = ", ".join(p for p in parts if p)
    return location, country


def _moment(raw: dict, country: str) -> datetime:
    iso = _text(raw.get("time_iso"))
    if iso:
        value = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            return value
    utc = _text(raw.get("time_utc"))
    if utc:
        value = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if iso:
        return localize(datetime.fromisoformat(iso), zone_for(country, fallback="UTC"))
    raise ValueError("event without a time")


def _event(raw: dict) -> CarrierEvent:
    description = _text(raw.get("description"))
    location, country = _place(raw)
    status, substatus, code, unmapped = _classify(
        _text(raw.get("sub_status")), _text(raw.get("stage")), description
    )
    return CarrierEvent(
        occurred_at=_moment(raw, country),
        status=status,
        substatus=substatus,
        code=code,
        description=description,
        location=location,
        unmapped=unmapped,
    )


def _date(value: object) -> date | None:
    text = _text(value)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _entry(raw: dict, batch: TrackingBatch) -> None:
    """One accepted item (or a push's ``data``) into a result, or an error for a bad number."""
    number = clean_number(_text(raw.get("number")))
    info = raw.get("track_info") if isinstance(raw.get("track_info"), dict) else {}
    latest = info.get("latest_status") if isinstance(info.get("latest_status"), dict) else {}
    if _text(latest.get("sub_status")) == "NotFound_InvalidCode":
        batch.errors.append(
            TrackingError(number, "invalid_number", "17TRACK says the number is not valid")
        )
        return
    tracking = info.get("tracking") if isinstance(info.get("tracking"), dict) else {}
    providers = [p for p in tracking.get("providers") or [] if isinstance(p, dict)]
    events, seen = [], set()
    for provider in providers:
        for item in provider.get("events") or []:
            if not isinstance(item, dict):
                continue
            try:
                event = _event(item)
            except (TypeError, ValueError):
                continue  # one malformed event never loses the rest
            key = (event.occurred_at, event.description)
            if key not in seen:  # origin and destination carriers may report the same scan
                seen.add(key)
                events.append(event)
    hint = ""
    if providers and isinstance(providers[0].get("provider"), dict):
        hint = _text(providers[0]["provider"].get("name"))
    metrics = info.get("time_metrics") if isinstance(info.get("time_metrics"), dict) else {}
    window = metrics.get("estimated_delivery_date")
    window = window if isinstance(window, dict) else {}
    earliest, latest_day = _date(window.get("from")), _date(window.get("to"))
    result = TrackingResult(
        tracking_number=number,
        events=events,
        estimated_delivery=earliest if earliest and earliest == latest_day else None,
        estimated_delivery_earliest=earliest,
        estimated_delivery_latest=latest_day,
        carrier_hint=hint,
    )
    if not events:
        sub_status = _text(latest.get("sub_status"))
        main = _text(latest.get("status"))
        result.status, result.substatus = CODES.get(sub_status) or STATUSES.get(
            main, ("pending", "pending.awaiting_carrier")
        )
    batch.results.append(result)


def _document(document: object) -> TrackingBatch:
    if not isinstance(document, dict) or "code" not in document:
        raise NotThisFormat("not a 17TRACK answer (no 'code')")
    data = document.get("data")
    if not isinstance(data, dict):
        raise NotThisFormat("not a 17TRACK answer (no 'data' object)")
    batch = TrackingBatch()
    if _int(document.get("code")) != 0 or data.get("errors"):
        for item in data.get("errors") or [{"code": document.get("code")}]:
            item = item if isinstance(item, dict) else {}
            code = _int(item.get("code"))
            kind, transient = REQUEST_ERRORS.get(code, (f"17track_{code}", False))
            message = _text(item.get("message")) or f"17TRACK refused the request ({code})"
            batch.errors.append(TrackingError("", kind, message, transient))
        return batch
    if not any(k in data for k in ("accepted", "rejected")):
        raise NotThisFormat("not a 17TRACK answer (no 'accepted' nor 'rejected')")
    for item in data.get("accepted") or []:
        if isinstance(item, dict) and item.get("number"):
            _entry(item, batch)
    for item in data.get("rejected") or []:
        if not isinstance(item, dict):
            continue
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        code = _int(error.get("code"))
        kind, transient = NUMBER_ERRORS.get(code, (f"17track_{code}", False))
        message = _text(error.get("message")) or f"17TRACK error {code}"
        batch.errors.append(
            TrackingError(clean_number(_text(item.get("number"))), kind, message, transient)
        )
    return batch


def _header(headers: dict, name: str) -> str:
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return ""


def verify_push(body: bytes, headers: dict, security_key: str) -> None:
    """Check a 17TRACK delivery's ``sign`` header: hex SHA-256 of the raw body + "/" + key.

    Raises ``PermissionError`` when the key is not set up or the signature is missing or wrong.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    if not security_key:
        raise PermissionError("no 17TRACK security key configured: cannot verify the push")
    expected = hashlib.sha256(raw + b"/" + security_key.encode()).hexdigest()
    given = _header(headers, "sign").strip().lower()
    if not given or not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise PermissionError("17TRACK push signature does not match")


def read_push(body: bytes) -> TrackingBatch:
    """The updates in a (verified) 17TRACK push.

    ``NotThisFormat`` for a body that is not a 17TRACK push. ``TRACKING_STOPPED`` (17TRACK gave
    up the number: delivered long ago, or no news for its tracking window) becomes a
    ``tracking_stopped`` error, next to the last known result when the push carries one.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotThisFormat("not JSON") from exc
    if not isinstance(document, dict) or document.get("event") not in PUSH_EVENTS:
        raise NotThisFormat("not a 17TRACK push (no TRACKING_UPDATED/TRACKING_STOPPED event)")
    data = document.get("data")
    if not isinstance(data, dict) or not _text(data.get("number")):
        raise NotThisFormat("17TRACK push without data.number")
    batch = TrackingBatch()
    if document["event"] == "TRACKING_STOPPED":
        if isinstance(data.get("track_info"), dict):
            _entry(data, batch)
        batch.errors.append(
            TrackingError(
                clean_number(_text(data.get("number"))),
                "tracking_stopped",
                "17TRACK stopped tracking this number",
            )
        )
        return batch
    _entry(data, batch)
    return batch


def parse_push(body: bytes, headers: dict, security_key: str) -> TrackingBatch:
    """Verify a 17TRACK delivery, then read it: nothing is parsed from an unsigned body."""
    verify_push(body, headers, security_key)
    return read_push(body)


class SeventeenTrackAdapter(CarrierAdapter):
    slug = "seventeen_track"
    name = "17TRACK"
    max_batch_size = MAX_ITEMS
    rate_per_second = 3.0
    base_url = "https://api.17track.net/track/v2.2"
    tracking_url_template = "https://t.17track.net/en#nums={number}"
    credential_fields = ("api_key", "security_key")
    accepts_push = True

    def verify_push(self, body: bytes, headers: dict[str, str], credentials: dict) -> None:
        verify_push(body, headers, str(credentials.get("security_key") or ""))

    def parse_push(self, body: bytes) -> TrackingBatch:
        return read_push(body)

    def parse(self, body: bytes | str) -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        return _document(document)

    def _call(
        self, http: HttpClient, credentials: dict, op: str, numbers: list[str]
    ) -> TrackingBatch:
        response = http.post(
            f"{self.endpoint(credentials)}/{op}",
            json=[{"number": n} for n in numbers],
            headers={"17token": str(credentials.get("api_key", "")), "Accept": "application/json"},
        )
        try:
            batch = _document(json_body(response))
        except NotThisFormat as exc:
            raise MalformedResponse(
                f"17TRACK answered an unexpected body to {op}: {exc}", status=response.status_code
            ) from exc
        refused = [e for e in batch.errors if not e.tracking_number]
        if refused:
            error = TransientError if refused[0].transient else TerminalError
            raise error(
                f"17TRACK refused {op}: {refused[0].message} ({refused[0].code})",
                status=response.status_code,
            )
        return batch

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        numbers = list(dict.fromkeys(clean_number(n) for n in tracking_numbers))
        batch = TrackingBatch()
        for start in range(0, len(numbers), MAX_ITEMS):
            chunk = numbers[start : start + MAX_ITEMS]
            answer = self._call(http, credentials, "gettrackinfo", chunk)
            unregistered = [e.tracking_number for e in answer.errors if e.code == "not_registered"]
            answer.errors = [e for e in answer.errors if e.code != "not_registered"]
            batch.extend(answer)
            if not unregistered:
                continue
            registration = self._call(http, credentials, "register", unregistered)
            refused = {
                e.tracking_number for e in registration.errors if e.code != "already_registered"
            }
            batch.errors.extend(e for e in registration.errors if e.tracking_number in refused)
            ready = [n for n in unregistered if n not in refused]
            if ready:
                batch.extend(self._call(http, credentials, "gettrackinfo", ready))
        return batch


ADAPTER = SeventeenTrackAdapter()
