"""DPD Netherlands and DPD Belgium: the SOAP "ParcelLifeCycleService V2.0" of DPD's shipper web
services (``wsshipper.dpd.nl`` / ``wsshipper.dpd.be``), for parcels tracked with a DPD NL or BE
customer account (DELIS id + password).

DPD has no group-wide tracking API: Germany, the UK, France and others run their own (this module
does not cover them). The NL/BE web services are the ones with a published schema
(``ParcelLifecycleServiceV20.xsd``, ``LoginServiceV21.xsd``, ``Authentication20.xsd``).

Flow (SOAP 1.1, hand-built envelopes posted with ``Content-Type: text/xml`` and ``SOAPAction``):

1. ``POST {base}/soap/services/LoginService/V2_1`` ``getAuth{delisId, password,
   messageLanguage}`` -> ``getAuthResponse/return{delisId, customerUid, authToken, depot,
   authTokenExpires}``. The token (valid about a day) is cached per DELIS id in the process-wide
   ``tokens`` cache; a data call refused with an authentication fault while using a cached token
   forgets it and retries once.
2. ``POST {base}/soap/services/ParcelLifeCycleService/V2_0`` ``getTrackingData{parcelLabelNumber}``
   with the SOAP header ``authentication{delisId, authToken, messageLanguage}``. One parcel per
   call: the 14-digit parcel label number (a 15th check character, or the 28-character barcode,
   is cut down to those 14 digits).

The answer is ``getTrackingDataResponse/trackingresult{shipmentInfo, statusInfo[]}``. Each
``statusInfo`` is one step of DPD's fixed life cycle: ``status`` (a code such as ``PickedUp``,
``Courier``, ``Delivered``), ``label``, ``description/content[]/content``, ``location/content``
("Mechelen (BE)"), ``date/content`` and ``statusHasBeenReached``; steps not reached yet are
listed too, and are skipped. An unknown parcel answers an empty ``trackingresult``. Faults come
as SOAP ``Fault`` elements (HTTP 500) with ``detail/authenticationFault{errorCode,
errorMessage}`` or ``detail/faults{faultCode, message}``.

Dates carry no offset and are written as the message language prints them ("8/17/2021 7:11:26
PM" for en_EN): they are local to the event's country, given in brackets in the location.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

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
from carriers.http import (
    HttpClient,
    MalformedResponse,
    TerminalError,
    TransientError,
    tokens,
)
from carriers.tz import localize, zone_for

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
LOGIN_NS = "http://dpd.com/common/service/types/LoginService/2.1"
AUTH_NS = "http://dpd.com/common/service/types/Authentication/2.0"
LIFECYCLE_NS = "http://dpd.com/common/service/types/ParcelLifeCycleService/2.0"

# statusInfo/status -> (status, substatus). These are the life-cycle codes seen in a recorded DPD
# BE answer; the label and description words refine them within REFINES.
CODES: dict[str, tuple[str, str]] = {
    "PickedUp": ("in_transit", "in_transit.picked_up"),  # "DPD has received your parcel."
    "BetweenDepots": ("in_transit", "in_transit.in_transit"),  # "... at the parcel dispatch centre"
    "Depot": ("in_transit", "in_transit.arrived_at_facility"),  # "At parcel delivery centre."
    "Courier": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # "... on its way to ..."
    "DeliveryFailure": ("failed_attempt", "failed_attempt.other"),  # "... not been able to deliver"
    # "After an unsuccessful delivery attempt the parcel is back at the recipient depot."
    "ReturningFromDelivery": ("failed_attempt", "failed_attempt.other"),
    "ParcelShop": ("available_for_pickup", "available_for_pickup.pickup_point"),
    "Delivered": ("delivered", "delivered.delivered"),
}
REFINES: dict[str, frozenset[str]] = {
    "DeliveryFailure": frozenset({"failed_attempt", "exception"}),
    "ReturningFromDelivery": frozenset({"failed_attempt", "exception"}),
    "ParcelShop": frozenset({"available_for_pickup"}),
    "Delivered": frozenset({"delivered"}),
}

# Fault error codes -> (our error code, transient).
FAULTS: dict[str, tuple[str, bool]] = {
    "DELICOM_ERR_AUTHENTICATION": ("unauthorized", False),
}

_DATE_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",  # en_EN: 8/17/2021 7:11:26 PM
    "%d.%m.%Y %H:%M:%S",  # de_DE
    "%d-%m-%Y %H:%M:%S",  # nl_NL
    "%d/%m/%Y %H:%M:%S",  # fr_FR
    "%Y-%m-%dT%H:%M:%S",
)
_COUNTRY_IN_BRACKETS = re.compile(r"\(([A-Za-z]{2})\)\s*$")


def label_number(tracking_number: str) -> str:
    """The 14-digit parcel label number DPD's services expect, from what a merchant holds."""
    number = clean_number(tracking_number)
    if len(number) == 15 and number[:14].isdigit():
        return number[:14]  # 14 digits + check character
    if len(number) == 28 and number[7:21].isdigit():
        return number[7:21]  # 7 postcode + 14 parcel + 3 service + 3 country + check
    return number


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element | None, name: str) -> ET.Element | None:
    if node is None:
        return None
    return next((c for c in node if _local(c.tag) == name), None)


def _children(node: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name] if node is not None else []


def _text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""


def _line(node: ET.Element | None) -> str:
    """A ContentLine's text (``<x><content>text</content><bold/>...</x>``)."""
    return _text(_child(node, "content"))


def _item(node: ET.Element | None) -> str:
    """A ContentItem's lines (``<x><content><content>text</content>...</content>...</x>``)."""
    return " ".join(t for t in (_line(c) for c in _children(node, "content")) if t)


def _find(root: ET.Element, name: str) -> ET.Element | None:
    return next((e for e in root.iter() if _local(e.tag) == name), None)


def _when(raw: str, country: str | None, fallback: str) -> datetime:
    for fmt in _DATE_FORMATS:
        try:
            naive = datetime.strptime(raw, fmt)  # noqa: DTZ007 - local time, zone attached below
        except ValueError:
            continue
        return localize(naive, zone_for(country, fallback=fallback))
    raise ValueError(f"unknown DPD date {raw!r}")


def _event(node: ET.Element, fallback_zone: str) -> CarrierEvent | None:
    if _text(_child(node, "statusHasBeenReached")).lower() == "false":
        return None  # a life-cycle step still to come
    raw_date = _line(_child(node, "date"))
    if not raw_date:
        return None
    code = _text(_child(node, "status"))
    label = _line(_child(node, "label"))
    description = _item(_child(node, "description"))
    location = _line(_child(node, "location"))
    match = _COUNTRY_IN_BRACKETS.search(location)
    country = match.group(1).upper() if match else None
    # The step's label is coarse (DPD labels a depot scan "Parcel out for delivery"): the
    # description says what happened, so only it may refine or stand in for the code.
    status, substatus, unmapped = map_code(CODES, code, description or label)
    if code in REFINES:
        guessed = guess_from_text(description)
        if guessed and guessed[0] in REFINES[code]:
            status, substatus = guessed
    return CarrierEvent(
        occurred_at=_when(raw_date, country, fallback_zone),
        status=status,
        substatus=substatus,
        code=code,
        description=description or label,
        location=location,
        unmapped=unmapped,
    )


def _fault_errors(fault: ET.Element, tracking_number: str) -> list[TrackingError]:
    detail = _child(fault, "detail")
    errors = []
    for item in list(detail) if detail is not None else []:
        code = _text(_child(item, "errorCode")) or _text(_child(item, "faultCode"))
        message = _text(_child(item, "errorMessage")) or _text(_child(item, "message"))
        if code or message:
            ours, transient = FAULTS.get(code, (code.lower() or "carrier_error", False))
            errors.append(TrackingError(tracking_number, ours, message or code, transient))
    if not errors:
        message = _text(_child(fault, "faultstring")) or "SOAP fault"
        errors.append(TrackingError(tracking_number, "carrier_error", message, True))
    return errors


def _soap(header: str, body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:auth="{AUTH_NS}" '
        f'xmlns:login="{LOGIN_NS}" xmlns:plc="{LIFECYCLE_NS}">'
        f"<soapenv:Header>{header}</soapenv:Header><soapenv:Body>{body}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


class DpdAdapter(CarrierAdapter):
    slug = "dpd"
    name = "DPD (Netherlands, Belgium)"
    max_batch_size = 1
    rate_per_second = 2.0
    base_url = "https://wsshipper.dpd.be"
    tracking_url_template = (
        "https://www.dpdgroup.com/be/mydpd/my-parcels/track?parcelNumber={number}"
    )
    credential_fields = ("delis_id", "password", "country")

    def endpoint(self, credentials: dict | None) -> str:
        credentials = credentials or {}
        if credentials.get("base_url"):
            return str(credentials["base_url"]).rstrip("/")
        if str(credentials.get("country") or "").upper() == "NL":
            return "https://wsshipper.dpd.nl"
        return self.base_url

    def parse(
        self, body: bytes | str, *, tracking_number: str = "", zone: str = ""
    ) -> TrackingBatch:
        try:
            root = safe_fromstring(body.encode() if isinstance(body, str) else body)
        except (ET.ParseError, DefusedXmlException) as exc:
            raise NotThisFormat("not XML") from exc
        number = clean_number(tracking_number)
        fault = _find(root, "Fault")
        if fault is not None:
            return TrackingBatch(errors=_fault_errors(fault, number))
        response = _find(root, "getTrackingDataResponse")
        result_node = _child(response, "trackingresult")
        if response is None or result_node is None:
            raise NotThisFormat("no getTrackingDataResponse/trackingresult")
        steps = _children(result_node, "statusInfo")
        if not steps:
            return TrackingBatch(
                errors=[TrackingError(number, "not_found", "DPD has no parcel with this number")]
            )
        fallback = zone or "Europe/Brussels"
        events = []
        for step in steps:
            try:
                event = _event(step, fallback)
            except ValueError:
                continue  # one malformed step never loses the rest
            if event is not None:
                events.append(event)
        service = _item(_child(_child(result_node, "shipmentInfo"), "serviceDescription"))
        result = TrackingResult(tracking_number=number, events=events, service=service)
        if not events:
            result.status, result.substatus = "info_received", "info_received.label_created"
        return TrackingBatch(results=[result])

    # -- client ---------------------------------------------------------------------------------
    def _post(self, http: HttpClient, url: str, action: str, envelope: bytes):
        """POST a SOAP envelope; a SOAP fault (HTTP 500 by SOAP 1.1) is returned to be read."""
        seen = []
        try:
            return http.post(
                url,
                data=envelope,
                headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": action},
                hooks={"response": lambda response, *args, **kwargs: seen.append(response)},
            )
        except TransientError as exc:
            if exc.status == 500 and seen and b"Fault>" in seen[-1].content:
                return seen[-1]
            raise

    def _token(self, http: HttpClient, credentials: dict, now: datetime | None) -> tuple[str, bool]:
        delis_id = credentials.get("delis_id", "")
        language = credentials.get("language") or "en_EN"
        fetched: list[bool] = []

        def fetch() -> tuple[str, float]:
            fetched.append(True)
            body = (
                f"<login:getAuth><delisId>{escape(delis_id)}</delisId>"
                f"<password>{escape(credentials.get('password', ''))}</password>"
                f"<messageLanguage>{escape(language)}</messageLanguage></login:getAuth>"
            )
            response = self._post(
                http,
                f"{self.endpoint(credentials)}/soap/services/LoginService/V2_1",
                f"{LOGIN_NS}/getAuth",
                _soap("", body),
            )
            try:
                root = safe_fromstring(response.content)
            except (ET.ParseError, DefusedXmlException) as exc:
                raise MalformedResponse("DPD login answered a body that is not XML") from exc
            fault = _find(root, "Fault")
            if fault is not None:
                error = _fault_errors(fault, "")[0]
                if error.transient:
                    raise TransientError(f"DPD login failed: {error.message}")
                raise TerminalError(f"DPD refused the login: {error.message}")
            token = _text(_find(root, "authToken"))
            if not token:
                raise MalformedResponse("DPD login answer without authToken")
            return token, self._lifetime(_text(_find(root, "authTokenExpires")), now)

        return tokens.get(f"{self.slug}:{delis_id}", fetch), bool(fetched)

    @staticmethod
    def _lifetime(expires: str, now: datetime | None) -> float:
        """Seconds the token lives: from ``authTokenExpires`` (local time), else 12 hours."""
        try:
            when = datetime.fromisoformat(expires)
        except ValueError:
            return 12 * 3600.0
        when = localize(when, zone_for("BE"))
        current = now or datetime.now(tz=when.tzinfo)
        return max(0.0, (when - current) / timedelta(seconds=1))

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        zone = "Europe/Amsterdam" if str(credentials.get("country")).upper() == "NL" else ""
        batch = TrackingBatch()
        for number in tracking_numbers:
            batch.extend(self._track_one(http, credentials, number, now, zone))
        return batch

    def _track_one(self, http, credentials, number, now, zone) -> TrackingBatch:
        delis_id = credentials.get("delis_id", "")
        language = credentials.get("language") or "en_EN"
        while True:
            token, fresh = self._token(http, credentials, now)
            header = (
                f"<auth:authentication><delisId>{escape(delis_id)}</delisId>"
                f"<authToken>{escape(token)}</authToken>"
                f"<messageLanguage>{escape(language)}</messageLanguage></auth:authentication>"
            )
            body = (
                f"<plc:getTrackingData><parcelLabelNumber>{escape(label_number(number))}"
                "</parcelLabelNumber></plc:getTrackingData>"
            )
            response = self._post(
                http,
                f"{self.endpoint(credentials)}/soap/services/ParcelLifeCycleService/V2_0",
                f"{LIFECYCLE_NS}/getTrackingData",
                _soap(header, body),
            )
            try:
                parsed = self.parse(response.content, tracking_number=number, zone=zone)
            except NotThisFormat as exc:
                raise MalformedResponse(f"DPD answered an unexpected body: {exc}") from exc
            if any(e.code == "unauthorized" for e in parsed.errors):
                tokens.forget(f"{self.slug}:{delis_id}")
                if fresh:
                    raise TerminalError("DPD refused a new token: check the DELIS id and password")
                continue  # a cached token expired early: once more with a fresh one
            return parsed


ADAPTER = DpdAdapter()
