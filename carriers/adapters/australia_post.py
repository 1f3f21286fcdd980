"""Australia Post Shipping and Tracking API: track items.

Flow:

- Endpoint: ``GET {base}/shipping/v1/track?tracking_ids=a,b,...`` with headers ``Account-Number``
  (the eParcel/StarTrack charge account) and HTTP Basic auth (API key as user, its password).
  At most 10 ids per call (error 51101 above that), so ``track`` sends chunks of
  ``max_batch_size`` = 10, the ids comma-separated and unescaped.
- Answer: ``{"tracking_results": [{"tracking_id", "status", "errors": [{"code", "name"}],
  "trackable_items": [...]}]}``; an item is either an article ``{"article_id", "product_type",
  "status", "events": [{"location", "description", "date"}]}`` or a consignment wrapping
  ``items`` of those. Events are newest first. A consignment's articles are merged into one
  timeline under the tracking id asked for.
- There are no event codes: ``DESCRIPTIONS`` maps the known descriptions (matched on their
  beginning, so "In transit to next facility in CHULLORA NSW" matches "in transit to next
  facility") and ``STATUSES`` the item/result status strings (used only when there are no
  events). Anything else falls back to the words and is flagged ``unmapped``. As there is no raw
  code, an event's ``code`` is the table key that matched, or the lower-cased description when
  none did, so that unknown descriptions are counted (and can be added) like unknown codes.
- Times carry an offset ("2021-01-21T11:04:27+11:00"); one without an offset is local to the
  Australian state the location names ("KEW VIC"), else Sydney time.
- Errors: per result ``errors`` (``ESB-10001`` invalid tracking id -> ``not_found``, ``ESB-10002``
  not trackable, ``ESB-20010``/``ESB-20050`` system errors are transient); a request-level
  ``{"errors": [{"code", "name", "message"}]}`` (``51100``-``51104``, or ``API_002`` "Too many
  requests" on 429) applies to every id of the call.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
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
from carriers.codes import fold, guess_from_text
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.tz import AU_STATE_TZ, localize, zone_for

# Event descriptions (lower case, matched as a prefix; the longest match wins) -> (status,
# substatus). Written from the descriptions Australia Post's responses carry.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "shipping information received by australia post": (
        "info_received",
        "info_received.label_created",
    ),
    "shipping information approved by australia post": (
        "info_received",
        "info_received.label_created",
    ),
    "received by australia post": ("in_transit", "in_transit.picked_up"),
    "received item from sender": ("in_transit", "in_transit.picked_up"),
    "item accepted at post office": ("in_transit", "in_transit.picked_up"),
    "item processed at facility": ("in_transit", "in_transit.arrived_at_facility"),
    "processed through australia post facility": ("in_transit", "in_transit.arrived_at_facility"),
    "arrived at facility in destination country": (
        "in_transit",
        "in_transit.arrived_destination_country",
    ),
    "arrived at facility": ("in_transit", "in_transit.arrived_at_facility"),
    "departed facility": ("in_transit", "in_transit.departed_facility"),
    "in transit to next facility": ("in_transit", "in_transit.in_transit"),
    "processed by air carrier": ("in_transit", "in_transit.in_transit"),
    "processed at export facility": ("in_transit", "in_transit.arrived_at_facility"),
    "despatch parcels from export facility": ("in_transit", "in_transit.departed_facility"),
    "cleared and awaiting international departure": ("in_transit", "in_transit.customs_released"),
    "arrived awaiting clearance": ("in_transit", "in_transit.customs_processing"),
    "item is in customs": ("in_transit", "in_transit.customs_processing"),
    "item cleared by customs": ("in_transit", "in_transit.customs_released"),
    "arrived in ": (
        "in_transit",
        "in_transit.arrived_destination_country",
    ),  # "Arrived in New Zealand"
    "onboard for delivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "on board for delivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "with australia post for delivery today": (
        "out_for_delivery",
        "out_for_delivery.out_for_delivery",
    ),
    "delivered - left in a safe place": ("delivered", "delivered.safe_place"),
    "delivered": ("delivered", "delivered.delivered"),
    "attempted delivery": ("failed_attempt", "failed_attempt.recipient_unavailable"),
    "awaiting collection": ("available_for_pickup", "available_for_pickup.post_office"),
}
_BY_LENGTH = sorted(DESCRIPTIONS.items(), key=lambda item: -len(item[0]))

# Status strings of a tracking result or trackable item -> (status, substatus); "Unknown" and
# strings not listed say nothing.
STATUSES: dict[str, tuple[str, str]] = {
    "created": ("info_received", "info_received.label_created"),
    "initiated": ("info_received", "info_received.label_created"),
    "sealed": ("info_received", "info_received.awaiting_pickup"),
    "in transit": ("in_transit", "in_transit.in_transit"),
    "on board for delivery": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    "delivered": ("delivered", "delivered.delivered"),
    "delivered in full": ("delivered", "delivered.delivered"),
    "awaiting collection": ("available_for_pickup", "available_for_pickup.post_office"),
    "ready for pickup": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "possible delay": ("exception", "exception.delayed"),
    "held by courier": ("exception", "exception.other"),
    "article damaged": ("exception", "exception.damaged"),
    "cancelled": ("exception", "exception.cancelled"),
    "cannot be delivered": ("failed_attempt", "failed_attempt.other"),
    "unsuccessful delivery": ("failed_attempt", "failed_attempt.other"),
    "to be re-delivered": ("failed_attempt", "failed_attempt.recipient_unavailable"),
}

# Error codes -> (code, transient).
ERRORS: dict[str, tuple[str, bool]] = {
    "ESB-10001": ("not_found", False),  # Invalid tracking ID
    "ESB-10002": ("not_trackable", False),  # Product not trackable
    "ESB-20010": ("carrier_unavailable", True),  # System error
    "ESB-20050": ("carrier_unavailable", True),  # System error
    "51100": ("invalid_number", False),  # TRACKING_IDS_MISSING
    "51101": ("invalid_number", False),  # TOO_MANY_AP_TRACKING_IDS
    "51102": ("invalid_number", False),  # TOO_MANY_ST_TRACKING_IDS
    "51103": ("invalid_number", False),  # TRACKING_IDS_MIX_OF_AP_AND_ST
    "51104": ("not_found", False),  # INVALID_TRACKING_ID
    "API_002": ("rate_limited", True),  # Too many requests
}

FALLBACK_ZONE = "Australia/Sydney"
_STATE = re.compile(r"\b(" + "|".join(AU_STATE_TZ) + r")\b")


def describe(text: str) -> tuple[str, tuple[str, str] | None]:
    """(key, mapping) of an event description: the matching table row's key and its (status,
    substatus), or the folded description itself and None when no row matches."""
    folded = " ".join(fold(text).split())
    for prefix, mapped in _BY_LENGTH:
        if folded.startswith(prefix):
            return prefix.strip(), mapped
    return folded, None


def _time(value: str, location: str) -> datetime:
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    states = _STATE.findall(location.upper())
    return localize(moment, zone_for("AU", states[-1] if states else "", fallback=FALLBACK_ZONE))


def _event(raw: dict) -> CarrierEvent:
    text = " ".join(str(raw.get("description") or "").split())
    location = " ".join(str(raw.get("location") or "").split())
    key, mapped = describe(text)
    status, substatus = mapped or guess_from_text(text) or ("in_transit", "in_transit.in_transit")
    return CarrierEvent(
        occurred_at=_time(str(raw["date"]), location),
        status=status,
        substatus=substatus,
        code=key,
        description=text,
        location=location,
        unmapped=mapped is None,
    )


def _articles(result: dict) -> list[dict]:
    """Every article of a result, whether listed directly or inside a consignment's items."""
    articles = []
    for item in result.get("trackable_items") or []:
        if not isinstance(item, dict):
            continue
        inner = item.get("items")
        if isinstance(inner, list):
            articles.extend(i for i in inner if isinstance(i, dict))
        else:
            articles.append(item)
    return articles


def _result(raw: dict) -> TrackingResult:
    articles = _articles(raw)
    events: list[CarrierEvent] = []
    seen: set[tuple] = set()
    for article in articles:
        for item in article.get("events") or []:
            try:
                event = _event(item)
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # one malformed event never loses the rest
            key = (event.occurred_at, event.description, event.location)
            if key not in seen:
                seen.add(key)
                events.append(event)
    result = TrackingResult(
        tracking_number=clean_number(str(raw.get("tracking_id") or "")),
        events=events,
        service=next((str(a["product_type"]) for a in articles if a.get("product_type")), ""),
    )
    if not events:
        for text in [raw.get("status"), *(a.get("status") for a in articles)]:
            mapped = STATUSES.get(" ".join(str(text or "").lower().split()))
            if mapped:
                result.status, result.substatus = mapped
                break
    return result


def _error(raw: dict, tracking_number: str) -> TrackingError:
    raw_code = str(raw.get("code") or raw.get("error_code") or "").strip()
    name = str(raw.get("name") or raw.get("error_name") or "").strip()
    message = str(raw.get("message") or "").strip() or name or raw_code
    code, transient = ERRORS.get(raw_code, (f"auspost_{raw_code or 'error'}", False))
    return TrackingError(tracking_number, code, message, transient=transient)


class AustraliaPostAdapter(CarrierAdapter):
    slug = "australia_post"
    name = "Australia Post"
    max_batch_size = 10
    rate_per_second = 1.0  # limits are per account and unpublished; 429 carries the answer
    base_url = "https://digitalapi.auspost.com.au"
    tracking_url_template = "https://auspost.com.au/mypost/track/details/{number}"
    credential_fields = ("account_number", "api_key", "password")

    def parse(
        self, body: bytes | str, *, tracking_numbers: list[str] | None = None
    ) -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not an Australia Post tracking document")
        batch = TrackingBatch()
        if isinstance(document.get("tracking_results"), list):
            for raw in document["tracking_results"]:
                if not isinstance(raw, dict):
                    continue
                number = clean_number(str(raw.get("tracking_id") or ""))
                errors = [e for e in raw.get("errors") or [] if isinstance(e, dict)]
                if errors:
                    batch.errors.extend(_error(e, number) for e in errors)
                elif number:
                    batch.results.append(_result(raw))
            return batch
        if isinstance(document.get("errors"), list):
            # A refusal of the whole request: it concerns every number that was asked.
            for raw in document["errors"]:
                if isinstance(raw, dict):
                    batch.errors.extend(_error(raw, n) for n in tracking_numbers or [""])
            return batch
        raise NotThisFormat("no 'tracking_results' and not an Australia Post error document")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        base = self.endpoint(credentials)
        batch = TrackingBatch()
        for start in range(0, len(tracking_numbers), self.max_batch_size):
            chunk = list(tracking_numbers[start : start + self.max_batch_size])
            asked = {clean_number(n): n for n in chunk}
            ids = ",".join(quote(n, safe="") for n in asked)
            response = http.get(
                f"{base}/shipping/v1/track?tracking_ids={ids}",
                auth=(credentials.get("api_key", ""), credentials.get("password", "")),
                headers={
                    "Account-Number": credentials.get("account_number", ""),
                    "Accept": "application/json",
                },
            )
            if response.status_code < 400:
                json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_numbers=chunk)
            except NotThisFormat as exc:
                if response.status_code >= 400:
                    batch.errors.extend(
                        TrackingError(
                            n,
                            "invalid_number",
                            f"Australia Post answered HTTP {response.status_code}",
                        )
                        for n in chunk
                    )
                    continue
                raise MalformedResponse(
                    f"Australia Post answered an unexpected body: {exc}"
                ) from exc
            for result in parsed.results:
                # Answer under the number exactly as it was asked, so the caller finds it.
                result.tracking_number = asked.get(result.tracking_number, result.tracking_number)
            batch.results.extend(parsed.results)
            batch.errors.extend(
                TrackingError(
                    asked.get(e.tracking_number, e.tracking_number), e.code, e.message, e.transient
                )
                for e in parsed.errors
            )
        return batch


ADAPTER = AustraliaPostAdapter()
