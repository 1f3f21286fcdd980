"""Canada Post tracking (VIS "Get Tracking Details", REST, XML).

Flow:

- Endpoint: ``GET {base}/vis/track/pin/{pin}/detail`` (production ``soa-gw.canadapost.ca``,
  development ``ct.soa-gw.canadapost.ca``), HTTP Basic auth with the API username and password,
  ``Accept: application/vnd.cpc.track-v2+xml`` (``*/*`` is refused) and ``Accept-language:
  en-CA`` (or ``fr-CA`` from the account's ``language``). One PIN per call: ``max_batch_size`` 1.
- Answer: ``<tracking-detail xmlns="http://www.canadapost.ca/ws/track-v2">`` with ``pin``,
  ``service-name``, ``expected-delivery-date``, ``changed-expected-date`` (wins when set),
  ``actual-delivery-date`` and ``significant-events/occurrence`` (newest first): ``event-identifier``,
  ``event-date``, ``event-time``, ``event-time-zone``, ``event-description``, ``event-site``,
  ``event-province``, ``signatory-name``. Elements are read by local name, so a changed namespace
  does not break parsing.
- Times: ``event-time-zone`` is an abbreviation (``EST``, ``EDT``, ``PST``, ...) mapped to its
  fixed offset in ``TIME_ZONES``; otherwise the province's zone, a country named in the site
  ("ILTLVA,Israel"), else Toronto.
- ``event-identifier`` codes (sent with leading zeros, "0174") are looked up without them in
  ``CODES``; the words refine a generic substatus within the same main status.
- Errors: a ``<messages>`` document (namespace ``.../ws/messages``) of ``<message><code>
  <description>``: ``004`` "No Pin History" is ``not_found``; ``E002`` (AAA authentication
  failure) is ``unauthorized``. HTTP 401/403 raise ``TerminalError`` before parsing.
- XML with a DTD is refused outright: Canada Post never sends one, and refusing it keeps entity
  expansion attacks out of ``xml.etree``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone, tzinfo
from urllib.parse import quote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

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
from carriers.http import HttpClient, MalformedResponse
from carriers.statuses import DEFAULT_SUBSTATUS
from carriers.tz import country_from_place, zone_for

ACCEPT = "application/vnd.cpc.track-v2+xml"

# event-identifier (without leading zeros) -> (status, substatus). Grouping as in the Canada Post
# connector of karrio (its TrackingStatus table), with the descriptions seen in responses noted.
CODES: dict[str, tuple[str, str]] = {
    # Accepted / picked up.
    **dict.fromkeys(
        ["101", "102", "103", "104", "105", "106", "107"], ("in_transit", "in_transit.picked_up")
    ),
    **dict.fromkeys(
        ["1400", "1401", "1402", "1403", "1404", "1405"], ("in_transit", "in_transit.picked_up")
    ),
    "100": ("in_transit", "in_transit.arrived_at_facility"),  # Item processed at postal facility
    # International legs.
    "4310": (
        "in_transit",
        "in_transit.arrived_destination_country",
    ),  # Arrived in a foreign country
    "4500": (
        "in_transit",
        "in_transit.in_transit",
    ),  # International item in transit to delivery office
    "4600": (
        "in_transit",
        "in_transit.arrived_at_facility",
    ),  # At delivery office, destination country
    # Out for delivery.
    "174": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Item out for delivery
    "500": ("out_for_delivery", "out_for_delivery.out_for_delivery"),
    # Delivered.
    **dict.fromkeys(
        ["1408", "1409", "1421", "1422", "1423", "1424", "1425", "1426", "1427", "1428"],
        ("delivered", "delivered.delivered"),
    ),
    **dict.fromkeys(
        ["1429", "1430", "1431", "1432", "1433", "1434", "1441", "1442", "1497", "1498", "1499"],
        ("delivered", "delivered.delivered"),
    ),
    "1496": ("delivered", "delivered.delivered"),  # Item successfully delivered
    "20": ("delivered", "delivered.signed"),  # Signature image recorded for Online viewing
    # Waiting at a Post Office (card for pickup, held for pickup).
    **dict.fromkeys(
        ["118", "156", "1407", "1410", "1435", "1436", "1437", "1438", "1479", "1488", "1701"],
        ("available_for_pickup", "available_for_pickup.post_office"),
    ),
    "2410": ("available_for_pickup", "available_for_pickup.post_office"),
    # Delivery attempts.
    **dict.fromkeys(
        ["167", "168", "169", "183", "184", "190", "1417", "1418", "1419", "1420"],
        ("failed_attempt", "failed_attempt.recipient_unavailable"),
    ),
    **dict.fromkeys(["179", "181", "182"], ("failed_attempt", "failed_attempt.business_closed")),
    **dict.fromkeys(["1482", "1483"], ("failed_attempt", "failed_attempt.address_issue")),
    **dict.fromkeys(
        ["154", "1100", "1450", "1481", "1491", "1492", "1493", "2600", "2802", "3001", "4650"],
        ("failed_attempt", "failed_attempt.other"),
    ),
    **dict.fromkeys(["150", "1415", "1416"], ("exception", "exception.refused")),
    # Customs.
    **dict.fromkeys(
        ["117", "120", "121", "810", "1443", "1484", "1487"],
        ("exception", "exception.customs_hold"),
    ),
    **dict.fromkeys(["125", "127", "1494"], ("exception", "exception.held_for_payment")),
    # Delays and holds.
    **dict.fromkeys(
        ["159", "160", "161", "162", "163"], ("exception", "exception.delayed_weather")
    ),
    # 173: Customer addressing error found; attempting to correct. Possible delay
    **dict.fromkeys(["172", "173"], ("exception", "exception.address_issue")),
    "2412": ("exception", "exception.delayed"),
    **dict.fromkeys(["1411", "1414", "2411", "2414", "4700"], ("exception", "exception.other")),
}

# event-time-zone abbreviations -> hours from UTC. Canada Post states the zone of each scan.
TIME_ZONES: dict[str, float] = {
    "NST": -3.5,
    "NDT": -2.5,
    "AST": -4,
    "ADT": -3,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "GMT": 0,
    "UTC": 0,
}
FALLBACK_ZONE = "America/Toronto"

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name] if element is not None else []


def _text(element: ET.Element | None, name: str) -> str:
    found = _child(element, name)
    return " ".join((found.text or "").split()) if found is not None else ""


def _root(body: bytes | str) -> ET.Element:
    raw = body.encode() if isinstance(body, str) else body
    if _DTD.search(raw):
        raise NotThisFormat("XML with a DTD is refused")
    try:
        return safe_fromstring(raw)
    except (ET.ParseError, DefusedXmlException) as exc:
        raise NotThisFormat(f"not XML ({exc})") from exc


def _zone(raw_zone: str, province: str, site: str) -> tzinfo:
    hours = TIME_ZONES.get(raw_zone.strip().upper())
    if hours is not None:
        return timezone(timedelta(hours=hours))
    if province:
        return zone_for("CA", province, fallback=FALLBACK_ZONE)
    return zone_for(country_from_place(site), fallback=FALLBACK_ZONE)


def _time(occurrence: ET.Element) -> datetime:
    day = _text(occurrence, "event-date")
    clock = _text(occurrence, "event-time") or "00:00:00"
    naive = datetime.fromisoformat(f"{day}T{clock}")
    zone = _zone(
        _text(occurrence, "event-time-zone"),
        _text(occurrence, "event-province"),
        _text(occurrence, "event-site"),
    )
    return naive.replace(tzinfo=zone)


def _event(occurrence: ET.Element) -> CarrierEvent:
    code = _text(occurrence, "event-identifier")
    text = _text(occurrence, "event-description")
    status, substatus, unmapped = map_code(CODES, code.lstrip("0") or code, text)
    if not unmapped and substatus == DEFAULT_SUBSTATUS[status]:
        guessed = guess_from_text(text)
        if guessed and guessed[0] == status:
            substatus = guessed[1]
    place = ", ".join(
        p for p in (_text(occurrence, "event-site"), _text(occurrence, "event-province")) if p
    )
    return CarrierEvent(
        occurred_at=_time(occurrence),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=place,
        unmapped=unmapped,
    )


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _result(detail: ET.Element) -> TrackingResult:
    occurrences = _children(_child(detail, "significant-events"), "occurrence")
    events: list[CarrierEvent] = []
    for occurrence in occurrences:
        try:
            events.append(_event(occurrence))
        except (KeyError, TypeError, ValueError):
            continue  # one malformed event never loses the rest
    signed_by = next(
        (name for o in occurrences if (name := _text(o, "signatory-name"))),
        "",
    )
    return TrackingResult(
        tracking_number=clean_number(_text(detail, "pin")),
        events=events,
        estimated_delivery=_day(_text(detail, "changed-expected-date"))
        or _day(_text(detail, "expected-delivery-date")),
        service=_text(detail, "service-name"),
        signed_by=signed_by,
    )


def _errors(messages: ET.Element, tracking_number: str) -> list[TrackingError]:
    errors = []
    for message in _children(messages, "message"):
        code = _text(message, "code")
        description = _text(message, "description")
        if code.lstrip("0") == "4":
            errors.append(TrackingError(tracking_number, "not_found", description or code))
        elif code.upper() in ("E002", "E001"):
            errors.append(TrackingError(tracking_number, "unauthorized", description or code))
        else:
            errors.append(
                TrackingError(tracking_number, "carrier_error", f"{description} ({code})".strip())
            )
    return errors or [TrackingError(tracking_number, "carrier_error", "empty messages document")]


class CanadaPostAdapter(CarrierAdapter):
    slug = "canada_post"
    name = "Canada Post"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://soa-gw.canadapost.ca"
    tracking_url_template = (
        "https://www.canadapost-postescanada.ca/track-reperage/en#/details/{number}"
    )
    credential_fields = ("username", "password")

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        root = _root(body)
        batch = TrackingBatch()
        kind = _local(root.tag)
        if kind == "tracking-detail":
            batch.results.append(_result(root))
            return batch
        if kind == "messages":
            batch.errors.extend(_errors(root, tracking_number))
            return batch
        raise NotThisFormat(f"root element <{kind}> is neither tracking-detail nor messages")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        base = self.endpoint(credentials)
        batch = TrackingBatch()
        for number in tracking_numbers:
            response = http.get(
                f"{base}/vis/track/pin/{quote(clean_number(number), safe='')}/detail",
                auth=(credentials.get("username", ""), credentials.get("password", "")),
                headers={
                    "Accept": ACCEPT,
                    "Accept-language": credentials.get("language") or "en-CA",
                },
            )
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                if response.status_code == 404:
                    batch.errors.append(
                        TrackingError(number, "not_found", "Canada Post has no such PIN")
                    )
                    continue
                if response.status_code >= 400:
                    batch.errors.append(
                        TrackingError(
                            number,
                            "carrier_error",
                            f"Canada Post answered HTTP {response.status_code}",
                        )
                    )
                    continue
                raise MalformedResponse(
                    f"Canada Post answered an unexpected body (HTTP {response.status_code}): {exc}",
                    status=response.status_code,
                ) from exc
            for result in parsed.results:
                result.tracking_number = number  # one PIN per call: the answer is for it
            batch.extend(parsed)
        return batch


ADAPTER = CanadaPostAdapter()
