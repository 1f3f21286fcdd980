"""PostNL "Shipping Status" API v2 (Send & Track), for parcels of a PostNL business account.

Flow: ``GET {base}/shipment/v2/status/barcode/{barcode}?detail=true&language=EN`` with the
static key in the ``apikey`` header. One barcode per call, no paging; ``detail=true`` adds the
history (``OldStatus``) to the current status, and ``maxDays`` may narrow the search (90 days by
default). PostNL asks integrators not to poll a barcode every few minutes, so this carrier is
polled every two hours at most (``poll_interval``).

The answer is ``{"CurrentStatus": {"Shipment": {...}}}`` (or ``CompleteStatus``; ``Shipment`` may
be one object or a list, one per parcel of a multi-parcel shipment) with ``Barcode,
MainBarcode, ProductDescription, DeliveryDate, Expectation{ETAFrom, ETATo}, Status{TimeStamp,
StatusCode, StatusDescription, PhaseCode, PhaseDescription}, Event[]{Code, Description,
LocationCode, TimeStamp}, OldStatus[]{TimeStamp, StatusCode, StatusDescription, PhaseCode}``.
A barcode PostNL does not know answers ``{"Warnings": [{"Code": "2", "Message": "No shipment
found"}]}``; a bad key is a 401 ``{"fault": {"faultstring", "detail": {"errorcode"}}}``.

Times are Dutch local time without an offset, written ``dd-MM-yyyy HH:mm:ss``; the ETA window
is written ``MM/dd/yyyy HH:mm:ss``. The timeline is built from ``Event`` (the detailed scans, with
their event codes) when there are any, else from the status history (``OldStatus`` + ``Status``).
Status codes are numbers, event codes a letter and two digits, so one table holds both.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
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
from carriers.codes import map_code
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.tz import localize

AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# Code -> (status, substatus), from PostNL's "T & T status codes" reference: the status codes
# (phase in brackets) first, then the event codes that say more than their status code does.
CODES: dict[str, tuple[str, str]] = {
    # 1 Collectie
    "1": ("info_received", "info_received.label_created"),  # Shipment pre-alerted
    "2": ("in_transit", "in_transit.picked_up"),  # Shipment accepted
    "3": ("in_transit", "in_transit.picked_up"),  # Shipment collected
    "4": ("info_received", "info_received.awaiting_pickup"),  # Shipment not collected
    "13": ("info_received", "info_received.label_created"),  # Pre-alerted, not yet accepted
    "14": ("exception", "exception.cancelled"),  # Pre-alerted, definitely not accepted
    "15": ("exception", "exception.delayed"),  # Missing collection
    "18": ("exception", "exception.lost"),  # Definitely missing
    "19": ("exception", "exception.other"),  # Shipment rejected
    # 2 Sortering
    "5": ("in_transit", "in_transit.arrived_at_facility"),  # Shipment sorted
    "6": ("in_transit", "in_transit.in_transit"),  # Shipment not sorted
    "16": ("exception", "exception.delayed"),  # Missing in sorting
    "21": ("in_transit", "in_transit.arrived_at_facility"),  # Shipment in storage
    # 3 Distributie
    "7": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Shipment out for delivery
    "8": ("failed_attempt", "failed_attempt.other"),  # Shipment not delivered
    "9": ("in_transit", "in_transit.customs_processing"),  # Shipment at customs
    "17": ("exception", "exception.delayed"),  # Missing in distribution
    "20": ("in_transit", "in_transit.customs_processing"),  # Shipment in clearance process
    # 4 Afgeleverd
    "11": ("delivered", "delivered.delivered"),  # Shipment delivered
    "12": ("available_for_pickup", "available_for_pickup.pickup_point"),  # At pick-up location
    "22": ("delivered", "delivered.picked_up"),  # Picked up from post office
    "23": ("in_transit", "in_transit.picked_up"),  # Parcel collected (a pick-up order)
    "27": ("exception", "exception.returning_to_sender"),  # Retour onbestelbaar
    "28": ("exception", "exception.returning_to_sender"),  # Retour foutieve aflevercode
    "31": ("in_transit", "in_transit.in_transit"),  # Ready for transport to destination country
    # Events of status 1-4 (pre-alert, collection)
    "A01": ("info_received", "info_received.label_created"),  # Expected, not yet at PostNL
    "A71": ("info_received", "info_received.label_created"),  # Shipment registered
    "B01": ("in_transit", "in_transit.picked_up"),  # Received by PostNL
    "X40": ("in_transit", "in_transit.picked_up"),  # Received at PostNL outlet
    "B04": ("in_transit", "in_transit.picked_up"),  # Collected by PostNL
    "H31": ("exception", "exception.cancelled"),  # Sender cancelled the shipment order
    "H30": ("exception", "exception.cancelled"),  # Sender cancelled the shipment order
    "M01": ("exception", "exception.cancelled"),  # Not physically presented to PostNL
    # Events of status 5/6/21 (sorting, stock)
    "J01": ("in_transit", "in_transit.arrived_at_facility"),  # Shipment has been sorted
    "J06": ("in_transit", "in_transit.arrived_at_facility"),  # Sorted in sorting centre
    "A27": ("in_transit", "in_transit.rerouted"),  # Will be delivered to the parcel locker
    "A34": ("in_transit", "in_transit.rerouted"),  # Delivery changed to a PostNL outlet
    "A99": ("in_transit", "in_transit.rerouted"),  # Will be delivered to a PostNL outlet
    "J16": ("failed_attempt", "failed_attempt.address_issue"),  # Address inaccessible, retry
    "J33": ("exception", "exception.address_issue"),  # Recovery for incorrect address
    "R06": ("exception", "exception.cancelled"),  # Cancelled, contact the sender
    "X01": ("in_transit", "in_transit.departed_facility"),  # Parcel has crossed the border
    "X02": ("in_transit", "in_transit.arrived_destination_country"),  # Arrived in dest. country
    "X22": ("exception", "exception.returning_to_sender"),  # International shipment returned
    "Y23": ("in_transit", "in_transit.rerouted"),  # Address corrected, new attempt follows
    "D08": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # We missed you
    "H10": ("exception", "exception.returning_to_sender"),  # Return, content not permitted
    "K02": ("in_transit", "in_transit.rerouted"),  # Recipient moved, forwarded
    "K92": ("exception", "exception.lost"),  # Shipment destroyed
    "V06": ("exception", "exception.delayed"),  # Delayed due to very high traffic
    # Events of status 7 (distribution)
    "J05": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Driver is en route
    "X55": ("out_for_delivery", "out_for_delivery.out_for_delivery"),  # Driver is en route
    "J08": ("failed_attempt", "failed_attempt.other"),  # Delivery unsuccessful, try again
    "J29": ("failed_attempt", "failed_attempt.other"),  # Does not fit through letterbox
    "J94": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Addressee absent
    "K14": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # We missed you
    "K70": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Goes to PostNL outlet
    "K71": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Sent to retail point
    "H35": ("exception", "exception.damaged"),  # Damaged, return to sender
    "X04": ("in_transit", "in_transit.customs_released"),  # Customs approved the parcel
    # Events of status 8 (not delivered)
    "H01": ("exception", "exception.refused"),  # Refused at delivery, return to sender
    "H38": ("exception", "exception.refused"),  # Refused at delivery, return to sender
    "Y03": ("exception", "exception.refused"),  # Refused by addressee
    "Y13": ("exception", "exception.refused"),  # Refused, PostNL contacting sender
    "Y44": ("exception", "exception.refused"),  # Refused due to damage
    "Y50": ("exception", "exception.refused"),  # Refused, incomplete
    "H02": ("exception", "exception.address_issue"),  # Incorrect address, return to sender
    "H12": ("exception", "exception.address_issue"),  # Addressee incorrect, return
    "H36": ("failed_attempt", "failed_attempt.address_issue"),  # Incorrect address
    "Y01": ("failed_attempt", "failed_attempt.address_issue"),  # Incorrect address
    "Y09": ("exception", "exception.address_issue"),  # Contact addressee: incorrect address
    "Y12": ("exception", "exception.address_issue"),  # Address incorrect, PostNL contacts sender
    "Y16": ("exception", "exception.address_issue"),  # Address incorrect, return to sender
    "Y17": ("failed_attempt", "failed_attempt.address_issue"),  # Incorrect address
    "Y22": ("exception", "exception.address_issue"),  # Addressee relocated
    "Y30": ("failed_attempt", "failed_attempt.address_issue"),  # Incorrect postcode
    "Y31": ("failed_attempt", "failed_attempt.address_issue"),  # Missing postcode
    "Y32": ("failed_attempt", "failed_attempt.address_issue"),  # Address unknown
    "H03": ("exception", "exception.returning_to_sender"),  # Not collected, return to sender
    "Y20": ("exception", "exception.returning_to_sender"),  # Not collected, return to sender
    "H05": ("exception", "exception.returning_to_sender"),  # We missed you, return to sender
    "H07": ("exception", "exception.returning_to_sender"),  # We missed you, return to sender
    "Y40": ("exception", "exception.returning_to_sender"),  # We missed you, return to sender
    "H20": ("exception", "exception.returning_to_sender"),  # Returned to sender
    "Y21": ("exception", "exception.returning_to_sender"),  # Returned to sender
    "H22": ("exception", "exception.returning_to_sender"),  # Returned on request of sender
    "H24": ("exception", "exception.returning_to_sender"),  # Returned by pick-up location
    "K43": ("exception", "exception.returning_to_sender"),  # Shipment will be returned
    "H04": ("exception", "exception.damaged"),  # Damaged, return to sender
    "Y04": ("exception", "exception.damaged"),  # Shipment damaged
    "Y11": ("exception", "exception.damaged"),  # Damaged, contacting recipient
    "Y14": ("exception", "exception.damaged"),  # Shipment damaged
    "Y18": ("exception", "exception.damaged"),  # Damaged, return to sender
    "Y02": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # We missed you
    "Y10": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # We missed you
    "Y42": ("failed_attempt", "failed_attempt.recipient_unavailable"),  # Addressee unavailable
    "Y43": ("failed_attempt", "failed_attempt.business_closed"),  # Addressee location closed
    "K41": ("exception", "exception.held_for_payment"),  # COD: recipient cannot pay
    "Y71": ("exception", "exception.lost"),  # Shipment missing
    # Events of status 9 / 20 (customs)
    "X30": ("exception", "exception.customs_hold"),  # Delayed by customs investigation
    "X61": ("in_transit", "in_transit.customs_released"),  # Import declaration completed
    "X63": ("exception", "exception.customs_hold"),  # Delayed by customs sample check
    "X64": ("exception", "exception.customs_hold"),  # Delayed by customs sample check
    "X65": ("in_transit", "in_transit.customs_released"),  # Additional declaration completed
    "Y25": ("exception", "exception.customs_hold"),  # With customs for further processing
    "Y29": ("exception", "exception.lost"),  # Destroyed on behalf of customs
    "X67": ("exception", "exception.held_for_payment"),  # Awaiting payment of import costs
    "A20": ("exception", "exception.held_for_payment"),  # Request for payment of costs sent
    "A21": ("in_transit", "in_transit.customs_released"),  # Payment received
    "A76": ("in_transit", "in_transit.arrived_destination_country"),  # Arrived in NL
    # Events of status 11 / 12 / 22 (delivered, pick-up location)
    "I01": ("delivered", "delivered.delivered"),  # Shipment delivered
    "I03": ("delivered", "delivered.delivered"),  # Shipment delivered
    "I05": ("delivered", "delivered.safe_place"),  # In letterbox
    "I11": ("delivered", "delivered.safe_place"),  # In letterbox
    "I09": ("delivered", "delivered.safe_place"),  # In personal parcel locker
    "I10": ("delivered", "delivered.neighbor"),  # Delivered to neighbour
    "Z05": ("delivered", "delivered.neighbor"),  # Delivered to neighbours abroad
    "I12": ("delivered", "delivered.safe_place"),  # Delivered to indicated location
    "Z09": ("delivered", "delivered.safe_place"),  # Delivered to recipient's safe location
    "I22": ("delivered", "delivered.picked_up"),  # Collected at PostNL outlet
    "I02": ("delivered", "delivered.picked_up"),  # Collected at PostNL outlet
    "Z06": ("delivered", "delivered.picked_up"),  # Picked up at a collection point
    "I23": ("delivered", "delivered.signed"),  # Handed over to recipient
    "Z01": ("delivered", "delivered.delivered"),  # Delivered to the recipient
    "J63": ("exception", "exception.returned_to_sender"),  # Return shipment delivered
    "I08": ("available_for_pickup", "available_for_pickup.post_office"),  # At PostNL outlet
    "J02": ("available_for_pickup", "available_for_pickup.post_office"),  # At PostNL outlet
    "J12": ("available_for_pickup", "available_for_pickup.post_office"),  # At PostNL outlet
    "J23": ("available_for_pickup", "available_for_pickup.locker"),  # At the parcel locker
    "X05": ("available_for_pickup", "available_for_pickup.pickup_point"),  # At pick-up location
    # Events without a status (99)
    "Y65": ("exception", "exception.delayed_weather"),  # Delayed by extreme weather
    "H15": ("exception", "exception.returning_to_sender"),  # Too large/heavy, return
    "H17": ("exception", "exception.returning_to_sender"),  # Exceeds customs value, return
    "H18": ("exception", "exception.returning_to_sender"),  # Delivery failed, back to sender
    "Y47": ("exception", "exception.returning_to_sender"),  # Missing export form, return
}
# Codes that tell nothing (status 99 "not applicable" with no event): never a timeline entry.
SKIPPED_STATUS_CODES = frozenset({"99"})

# Warning codes of a "no answer" response -> (our error code, transient).
WARNINGS: dict[str, tuple[str, bool]] = {"2": ("not_found", False)}


def _when(raw: object) -> datetime:
    naive = datetime.strptime(str(raw).strip(), "%d-%m-%Y %H:%M:%S")  # noqa: DTZ007 - Dutch time
    return localize(naive, AMSTERDAM)


def _eta(raw: object) -> date | None:
    for fmt in ("%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d-%m-%Y %H:%M:%S"):
        try:
            return datetime.strptime(str(raw).strip(), fmt).date()  # noqa: DTZ007 - a date only
        except ValueError:
            continue
    return None


def _day(raw: object) -> date | None:
    try:
        return date.fromisoformat(str(raw).strip()[:10]) if raw else None
    except ValueError:
        return None


def _as_list(value: object) -> list:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _event(raw: dict, *, code_key: str, text_key: str) -> CarrierEvent:
    code = str(raw.get(code_key) or raw.get("Code") or "").strip().upper()
    text = str(raw.get(text_key) or raw.get("Description") or "").strip()
    status, substatus, unmapped = map_code(CODES, code, text)
    return CarrierEvent(
        occurred_at=_when(raw["TimeStamp"]),
        status=status,
        substatus=substatus,
        code=code,
        description=text,
        location=str(raw.get("LocationCode") or "").strip(),
        unmapped=unmapped,
    )


def _timeline(raw: dict) -> list[CarrierEvent]:
    scans = _as_list(raw.get("Event"))
    if scans:
        items, code_key, text_key = scans, "Code", "Description"
    else:
        items = [*_as_list(raw.get("OldStatus")), *_as_list(raw.get("Status"))]
        items = [
            i
            for i in items
            if str(i.get("StatusCode") or i.get("Code")).strip() not in SKIPPED_STATUS_CODES
        ]
        code_key, text_key = "StatusCode", "StatusDescription"
    events, seen = [], set()
    for item in items:
        try:
            event = _event(item, code_key=code_key, text_key=text_key)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # one malformed event never loses the rest
        if (event.occurred_at, event.code) not in seen:  # Status repeats the newest OldStatus
            seen.add((event.occurred_at, event.code))
            events.append(event)
    return events


def _shipment(raw: dict) -> TrackingResult:
    expectation = raw.get("Expectation") if isinstance(raw.get("Expectation"), dict) else {}
    return TrackingResult(
        tracking_number=clean_number(str(raw.get("Barcode") or raw.get("MainBarcode") or "")),
        events=_timeline(raw),
        estimated_delivery=_day(raw.get("DeliveryDate")),
        estimated_delivery_earliest=_eta(expectation.get("ETAFrom")),
        estimated_delivery_latest=_eta(expectation.get("ETATo")),
        service=str(raw.get("ProductDescription") or ""),
    )


class PostNLAdapter(CarrierAdapter):
    slug = "postnl"
    name = "PostNL"
    max_batch_size = 1
    rate_per_second = 1.0
    # PostNL asks not to poll every few minutes: news of a parcel is rarely that urgent.
    poll_interval = timedelta(hours=2)
    base_url = "https://api.postnl.nl"
    tracking_url_template = "https://jouw.postnl.nl/track-and-trace/{number}"
    credential_fields = ("api_key",)

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a PostNL shipping status document")
        number = clean_number(tracking_number)
        holder = document.get("CurrentStatus") or document.get("CompleteStatus")
        if isinstance(holder, dict) and "Shipment" in holder:
            batch = TrackingBatch()
            for raw in _as_list(holder.get("Shipment")):
                result = _shipment(raw)
                result.tracking_number = result.tracking_number or number
                batch.results.append(result)
            return batch
        if isinstance(document.get("Warnings"), list):
            batch = TrackingBatch()
            for warning in document["Warnings"]:
                code = str((warning or {}).get("Code") or "")
                ours, transient = WARNINGS.get(code, (f"postnl_{code}", False))
                message = str((warning or {}).get("Message") or code)
                batch.errors.append(TrackingError(number, ours, message, transient))
            return batch
        if isinstance(document.get("fault"), dict):
            fault = document["fault"]
            errorcode = str(((fault.get("detail") or {}).get("errorcode")) or "")
            message = str(fault.get("faultstring") or errorcode)
            code = "unauthorized" if "apikey" in (errorcode + message).lower() else "carrier_error"
            return TrackingBatch(errors=[TrackingError(number, code, message, False)])
        if isinstance(document.get("Error"), dict) or isinstance(document.get("Errors"), list):
            errors = _as_list(document.get("Error")) or document["Errors"]
            return TrackingBatch(
                errors=[
                    TrackingError(
                        number,
                        "bad_request",
                        str(e.get("ErrorDescription") or e.get("ErrorMsg") or e.get("Description")),
                    )
                    for e in errors
                    if isinstance(e, dict)
                ]
            )
        raise NotThisFormat("no CurrentStatus/CompleteStatus, Warnings or fault")

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        for number in tracking_numbers:
            params = {"detail": "true", "language": credentials.get("language") or "EN"}
            if credentials.get("max_days"):
                params["maxDays"] = str(credentials["max_days"])
            response = http.get(
                f"{self.endpoint(credentials)}/shipment/v2/status/barcode/"
                + quote(clean_number(number), safe=""),
                params=params,
                headers={"apikey": credentials.get("api_key", ""), "Accept": "application/json"},
            )
            json_body(response)  # a body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"PostNL answered an unexpected body: {exc}") from exc
            # A multi-parcel answer lists its sibling parcels too: keep the one asked about.
            mine = [r for r in parsed.results if r.tracking_number == clean_number(number)]
            if not mine and parsed.results:
                mine = parsed.results[:1]
                mine[0].tracking_number = clean_number(number)
            batch.results.extend(mine)
            batch.errors.extend(parsed.errors)
        return batch


ADAPTER = PostNLAdapter()
