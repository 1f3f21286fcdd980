"""UPS Track API (REST, OAuth 2.0 client credentials).

Flow:

- auth: ``POST {base}/security/v1/oauth/token`` with HTTP Basic ``client_id:client_secret`` and
  the form ``grant_type=client_credentials`` (optional ``x-merchant-id`` header: the UPS account
  number) answers ``{access_token, expires_in}`` (seconds, sent as a string). The token is kept
  in the process-wide cache under carrier + base URL + client id; a 401 on a data call with a
  cached token drops it and retries once with a fresh one;
- endpoint: ``GET {base}/api/track/v1/details/{inquiryNumber}`` with ``locale=en_US`` and the
  ``returnSignature``/``returnMilestones``/``returnPOD`` flags off, headers ``transId`` (unique
  per request, at most 32 characters) and ``transactionSrc``. One number per call: no batching
  and no paging. Production base ``https://onlinetools.ups.com``, test ``https://wwwcie.ups.com``;
- answer: ``trackResponse.shipment[]{inquiryNumber, warnings[], package[]{trackingNumber,
  currentStatus, activity[] (newest first), deliveryDate[]{type SDD|RDD|DEL, date},
  deliveryTime{type, startTime, endTime}, deliveryInformation{receivedBy, location}, service}}``.
  An activity has ``status{type, code, description, statusCode}``: ``type`` is the documented
  coarse class (table ``TYPES``), ``code`` a two-character activity code (table ``CODES``, only
  the codes we could check; the others are classified by ``type`` and refined by the words);
- errors: ``{"response": {"errors": [{code, message}]}}`` with 400/404 (and 403 for a blocked
  merchant, a terminal HTTP error); in practice an unknown number also comes back as 200 with
  ``shipment[].warnings[{code: "TW0001", message: "Tracking Information Not Found"}]`` and no
  package. Both become ``not_found``;
- time zones: ``date`` (YYYYMMDD) and ``time`` (HHMMSS) are local; ``gmtOffset`` gives their
  offset when present, else ``gmtDate``/``gmtTime`` give UTC, else the activity's country and
  state decide.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
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

# Activity status type -> (status, substatus), from the Track API's documented values.
TYPES: dict[str, tuple[str, str]] = {
    "M": ("info_received", "info_received.label_created"),  # Manifest (label created)
    "MV": ("exception", "exception.cancelled"),  # Manifest void
    "P": ("in_transit", "in_transit.picked_up"),  # Pickup
    "I": ("in_transit", "in_transit.in_transit"),  # In progress
    "U": ("in_transit", "in_transit.in_transit"),  # Updated delivery date/time
    "X": ("exception", "exception.other"),  # Exception
    "D": ("delivered", "delivered.delivered"),  # Delivered
}
# The statuses an activity's words may refine its type into.
REFINES: dict[str, frozenset[str]] = {
    "M": frozenset({"info_received"}),
    "I": frozenset({"in_transit", "out_for_delivery", "available_for_pickup"}),
    "U": frozenset({"in_transit", "exception"}),
    "X": frozenset({"exception", "failed_attempt", "available_for_pickup", "in_transit"}),
    # UPS records a return to the sender as a delivery (to the sender).
    "D": frozenset({"delivered", "exception"}),
}
# Two-character activity codes -> (status, substatus): they win over the type, so only codes that
# say more than their type are listed (the delivery codes FS and KB, type D, are left to the type
# and its words, which tell a UPS Access Point from a door).
CODES: dict[str, tuple[str, str]] = {
    "OT": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Out For Delivery Today
    "SR": ("in_transit", "in_transit.customs_released"),  # Released by the customs agency
    "7V": ("exception", "exception.delayed_weather"),  # Delay: emergency or severe weather
    "7W": ("exception", "exception.delayed_weather"),  # Delay: severe weather
    "LX": ("in_transit", "in_transit.in_transit"),  # Transferred to local post office
}
# UPS phrases the shared keyword list does not know, checked before it: (pattern, statuses it
# applies to, result).
_PHRASES: list[tuple[re.Pattern[str], frozenset[str], tuple[str, str]]] = [
    (
        re.compile(r"access point.*(picked up|collected)|(picked up|collected).*access point"),
        frozenset({"delivered"}),
        ("delivered", "delivered.picked_up"),
    ),
    (
        re.compile(r"access point"),
        frozenset({"delivered", "in_transit", "exception"}),
        ("available_for_pickup", "available_for_pickup.pickup_point"),
    ),
    (
        re.compile(r"address (is |was )?(incomplete|incorrect|invalid|insufficient)"),
        frozenset({"exception"}),
        ("exception", "exception.address_issue"),
    ),
    (
        re.compile(r"(receiver|recipient|customer|consignee) (was )?not (available|in)"),
        frozenset({"exception"}),
        ("failed_attempt", "failed_attempt.recipient_unavailable"),
    ),
    (
        re.compile(r"business (was )?closed"),
        frozenset({"exception"}),
        ("failed_attempt", "failed_attempt.business_closed"),
    ),
]
# Error and warning codes -> our error codes.
_ERROR_CODES = {
    "TW0001": "not_found",  # Tracking Information Not Found (a 200 warning)
    "151044": "not_found",  # No tracking information available
    "TV1002": "invalid_number",  # Invalid inquiry number
}
_TRANSACTION_SRC = "wismo"


def _zone(country: str, region: str):
    fallback = "America/New_York" if country in ("US", "CA") else "UTC"
    return zone_for(country, region, fallback=fallback)


def _offset(value: object) -> timezone | None:
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})", str(value or "").strip())
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def _clock(day: object, time: object) -> datetime:
    """A naive local datetime from UPS's ``YYYYMMDD`` and ``HHMMSS`` (or ``HH:MM:SS``)."""
    digits = str(day or "").strip().replace("-", "")
    clock = str(time or "0").strip().replace(":", "").zfill(6)
    if len(digits) != 8 or not digits.isdigit() or not clock[:6].isdigit():
        raise ValueError(f"not a UPS date and time: {day!r} {time!r}")
    return datetime.fromisoformat(
        f"{digits[:4]}-{digits[4:6]}-{digits[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:6]}"
    )


def _when(raw: dict, country: str, region: str) -> datetime:
    if raw.get("date"):
        local = _clock(raw["date"], raw.get("time"))
        fixed = _offset(raw.get("gmtOffset"))
        if fixed is not None:
            return local.replace(tzinfo=fixed)
        if not raw.get("gmtDate"):
            return localize(local, _zone(country, region))
    return _clock(raw["gmtDate"], raw.get("gmtTime")).replace(tzinfo=UTC)


def _place(location: dict | None) -> tuple[str, str, str]:
    address = (location or {}).get("address") or {}
    city = str(address.get("city") or "").strip()
    region = str(address.get("stateProvince") or "").strip().upper()
    postcode = str(address.get("postalCode") or "").strip()
    country = str(address.get("countryCode") or address.get("country") or "").strip().upper()
    text = ", ".join(p for p in (city, region, postcode, country) if p)
    return text, country, region


def _refine(kind: str, status: str, substatus: str, text: str) -> tuple[str, str]:
    folded = fold(text)
    for pattern, applies_to, outcome in _PHRASES:
        if status in applies_to and pattern.search(folded):
            return outcome
    guessed = guess_from_text(text)
    if guessed and guessed[0] in REFINES.get(kind, ()):
        return guessed
    return status, substatus


def _classify(status_block: dict) -> tuple[str, str, str, bool]:
    """(code, status, substatus, unmapped) of an activity's or the package's status."""
    kind = str(status_block.get("type") or "").strip().upper()
    code = str(status_block.get("code") or "").strip().upper()
    text = " ".join(
        str(status_block.get(k) or "") for k in ("description", "simplifiedTextDescription")
    ).strip()
    if code in CODES:
        status, substatus = CODES[code]
        return code, status, substatus, False
    if kind in TYPES:
        status, substatus = _refine(kind, *TYPES[kind], text)
        return code or kind, status, substatus, False
    status, substatus, _ = map_code({}, code or kind, text)
    return code or kind, status, substatus, True


def _event(raw: dict) -> CarrierEvent:
    status_block = raw.get("status") or {}
    code, status, substatus, unmapped = _classify(status_block)
    place, country, region = _place(raw.get("location"))
    return CarrierEvent(
        occurred_at=_when(raw, country, region),
        status=status,
        substatus=substatus,
        code=code,
        description=str(status_block.get("description") or "").strip(),
        location=place,
        unmapped=unmapped,
    )


def _date(value: object) -> date | None:
    try:
        return _clock(value, "0").date()
    except ValueError:
        return None


def _package(raw: dict, inquiry: str) -> TrackingResult:
    events = []
    for item in raw.get("activity") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed activity never loses the rest
    dates = {
        str(d.get("type") or "").upper(): _date(d.get("date"))
        for d in raw.get("deliveryDate") or []
        if isinstance(d, dict)
    }
    estimated = dates.get("RDD") or dates.get("SDD")
    window = str((raw.get("deliveryTime") or {}).get("type") or "").upper()
    within_day = estimated if window in ("EDW", "CDW", "IDW", "CMT", "EOD") else None
    delivery = raw.get("deliveryInformation") or {}
    signed_by = str(delivery.get("receivedBy") or "").strip()
    if signed_by:
        events = _mark_signed(events)
    result = TrackingResult(
        tracking_number=clean_number(str(raw.get("trackingNumber") or inquiry)),
        events=events,
        estimated_delivery=estimated,
        estimated_delivery_earliest=within_day,
        estimated_delivery_latest=within_day,
        service=str((raw.get("service") or {}).get("description") or "").strip(),
        signed_by=signed_by,
    )
    if not events and isinstance(raw.get("currentStatus"), dict):
        _, result.status, result.substatus, _ = _classify(raw["currentStatus"])
    return result


def _mark_signed(events: list[CarrierEvent]) -> list[CarrierEvent]:
    """The latest plain delivery was signed for (UPS names who received it)."""
    plain = [e for e in events if e.substatus == "delivered.delivered"]
    if not plain:
        return events
    latest = max(plain, key=lambda e: e.occurred_at)
    return [
        dataclasses.replace(e, substatus="delivered.signed") if e is latest else e for e in events
    ]


def _error(raw: dict, tracking_number: str) -> TrackingError:
    code = str(raw.get("code") or "").strip()
    message = str(raw.get("message") or "").strip()
    ours = _ERROR_CODES.get(code)
    if ours is None:
        words = message.lower()
        if "not found" in words or "no tracking information" in words:
            ours = "not_found"
        elif "invalid" in words:
            ours = "invalid_number"
        else:
            ours = "carrier_error"
    return TrackingError(tracking_number, ours, message or code)


def _push_activity(raw: dict) -> dict:
    """A Track Alert event in the shape of a Track API activity, so one reader serves both."""
    where = raw.get("activityLocation") or {}
    return {
        "date": raw.get("localActivityDate"),
        "time": raw.get("localActivityTime"),
        "gmtDate": raw.get("gmtActivityDate"),
        "gmtTime": raw.get("gmtActivityTime"),
        "gmtOffset": raw.get("gmtOffset"),
        "location": {
            "address": {
                "city": where.get("city"),
                "stateProvince": where.get("stateProvince"),
                "postalCode": where.get("postalCode"),
                "countryCode": where.get("country") or where.get("countryCode"),
            }
        },
        "status": raw.get("activityStatus") or {},
    }


class UpsAdapter(CarrierAdapter):
    slug = "ups"
    name = "UPS"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://onlinetools.ups.com"
    tracking_url_template = "https://www.ups.com/track?tracknum={number}"
    credential_fields = ("client_id", "client_secret")

    # Track Alert (push): UPS posts each event of subscribed numbers to the merchant's URL,
    # presenting the credential set in the subscription (``push_token``); there is no HMAC.
    accepts_push = True

    def verify_push(self, body: bytes, headers: dict[str, str], credentials: dict) -> None:
        expected = str(credentials.get("push_token") or "")
        if not expected:
            raise PermissionError("UPS Track Alert is not set up for this account (push_token)")
        bearer = headers.get("authorization", "")
        presented = [
            headers.get("x-api-key", ""),
            bearer[7:] if bearer.lower().startswith("bearer ") else "",
        ]
        if not any(p and hmac.compare_digest(p.encode(), expected.encode()) for p in presented):
            raise PermissionError("UPS Track Alert credential does not match")

    def parse_push(self, body: bytes) -> TrackingBatch:
        """One Track Alert event (or a list of them): one result per tracking number."""
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        items = document if isinstance(document, list) else [document]
        if not items or not all(
            isinstance(i, dict) and i.get("trackingNumber") and i.get("activityStatus")
            for i in items
        ):
            raise NotThisFormat("not a UPS Track Alert event (trackingNumber, activityStatus)")
        results: dict[str, TrackingResult] = {}
        for item in items:
            number = clean_number(str(item["trackingNumber"]))
            result = results.setdefault(number, TrackingResult(tracking_number=number))
            try:
                result.events.append(_event(_push_activity(item)))
            except (KeyError, TypeError, ValueError):
                continue  # one malformed event never loses the others
            scheduled = _date(item.get("scheduledDeliveryDate"))
            if scheduled:
                result.estimated_delivery = scheduled
        return TrackingBatch(results=list(results.values()))

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a UPS Track API document")
        batch = TrackingBatch()
        track = document.get("trackResponse")
        if isinstance(track, dict) and isinstance(track.get("shipment"), list):
            for shipment in track["shipment"]:
                if not isinstance(shipment, dict):
                    continue
                inquiry = clean_number(str(shipment.get("inquiryNumber") or tracking_number))
                packages = [p for p in shipment.get("package") or [] if isinstance(p, dict)]
                for package in packages:
                    batch.results.append(_package(package, inquiry))
                if not packages:
                    warnings = [w for w in shipment.get("warnings") or [] if isinstance(w, dict)]
                    for warning in warnings[:1] or [{"code": "TW0001"}]:
                        batch.errors.append(_error(warning, inquiry))
            return batch
        response = document.get("response")
        if isinstance(response, dict) and isinstance(response.get("errors"), list):
            for raw in response["errors"]:
                if isinstance(raw, dict):
                    batch.errors.append(_error(raw, clean_number(tracking_number)))
            return batch
        raise NotThisFormat("no 'trackResponse.shipment' list and not a UPS error response")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        for number in tracking_numbers:
            batch.extend(self._track_one(number, credentials, http))
        return batch

    # -- OAuth ---------------------------------------------------------------------------------
    def _token_key(self, credentials: dict) -> str:
        return f"{self.slug}:{self.endpoint(credentials)}:{credentials.get('client_id', '')}"

    def _fetch_token(self, credentials: dict, http: HttpClient) -> tuple[str, float]:
        headers = {"Accept": "application/json"}
        if credentials.get("merchant_id"):
            headers["x-merchant-id"] = str(credentials["merchant_id"])
        response = http.post(
            f"{self.endpoint(credentials)}/security/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.get("client_id", ""), credentials.get("client_secret", "")),
            headers=headers,
        )
        return oauth_token(response, "UPS")

    def _with_token(self, credentials: dict, http: HttpClient, call):
        return tokens.call_with(
            self._token_key(credentials), lambda: self._fetch_token(credentials, http), call
        )

    # -- tracking ------------------------------------------------------------------------------
    def _track_one(self, number: str, credentials: dict, http: HttpClient) -> TrackingBatch:
        def call(token: str):
            return http.get(
                f"{self.endpoint(credentials)}/api/track/v1/details/{clean_number(number)}",
                params={
                    "locale": "en_US",
                    "returnSignature": "false",
                    "returnMilestones": "false",
                    "returnPOD": "false",
                },
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json",
                    "transId": uuid.uuid4().hex,
                    "transactionSrc": _TRANSACTION_SRC,
                },
            )

        response = self._with_token(credentials, http, call)
        batch = TrackingBatch()
        if response.status_code >= 400:
            try:
                errors = self.parse(response.content, tracking_number=number).errors
            except NotThisFormat:
                errors = []
            error = errors[0] if errors else None
            if response.status_code == 404:
                message = error.message if error else "UPS has no tracking information"
                batch.errors.append(TrackingError(number, "not_found", message))
            else:
                code = error.code if error else "carrier_error"
                message = error.message if error else f"HTTP {response.status_code}"
                batch.errors.append(TrackingError(number, code, message))
            return batch
        json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
        try:
            parsed = self.parse(response.content, tracking_number=number)
        except NotThisFormat as exc:
            raise MalformedResponse(f"UPS answered an unexpected body: {exc}") from exc
        mine = [r for r in parsed.results if r.tracking_number == clean_number(number)]
        batch.results.extend(mine or parsed.results[:1])
        if not batch.results:
            batch.errors.extend(
                dataclasses.replace(e, tracking_number=number) for e in parsed.errors[:1]
            )
            if not parsed.errors:
                batch.errors.append(
                    TrackingError(number, "not_found", "UPS has no tracking information")
                )
        return batch


ADAPTER = UpsAdapter()
