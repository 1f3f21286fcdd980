"""DHL Shipment Tracking - Unified API (all DHL business units behind one endpoint).

``GET {base}/track/shipments?trackingNumber=N`` with header ``DHL-API-Key``; one number per call;
an unknown number answers 404 with a problem document. Each event has a coarse ``statusCode``
(pre-transit, transit, delivered, failure, unknown) and free text; the code table gives the main
status and the words refine it within that status (out for delivery is a "transit" event).
Event times may come without an offset: they are local to the event's place.
"""

from __future__ import annotations

import hmac
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
from carriers.codes import guess_from_text
from carriers.http import HttpClient, MalformedResponse, json_body
from carriers.tz import country_from_place, localize, zone_for

# statusCode -> (status, substatus), from the API's documented enum.
CODES: dict[str, tuple[str, str]] = {
    "pre-transit": ("info_received", "info_received.label_created"),
    "transit": ("in_transit", "in_transit.in_transit"),
    "delivered": ("delivered", "delivered.delivered"),
    "failure": ("exception", "exception.other"),
    "unknown": ("pending", "pending.awaiting_carrier"),
}
# The statuses the event's words may refine each coarse code into.
REFINES: dict[str, frozenset[str]] = {
    "pre-transit": frozenset({"info_received", "in_transit"}),
    "transit": frozenset(
        {"in_transit", "out_for_delivery", "available_for_pickup", "failed_attempt", "exception"}
    ),
    "delivered": frozenset({"delivered"}),
    "failure": frozenset({"exception", "failed_attempt"}),
    "unknown": frozenset(),
}


def _place(location: dict | None) -> tuple[str, str | None]:
    address = (location or {}).get("address") or {}
    locality = str(address.get("addressLocality") or "").strip()
    country = str(address.get("countryCode") or "").strip().upper() or country_from_place(locality)
    text = ", ".join(p for p in (locality, str(address.get("postalCode") or "").strip()) if p)
    return text, country


def _time(raw: str, country: str | None) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return localize(value, zone_for(country, fallback="Europe/Berlin"))


def _event(raw: dict) -> CarrierEvent:
    code = str(raw.get("statusCode") or "").strip().lower()
    text = " ".join(str(raw.get(k) or "") for k in ("status", "description", "remark")).strip()
    place, country = _place(raw.get("location"))
    if code in CODES:
        status, substatus = CODES[code]
        guessed = guess_from_text(text)
        if guessed and guessed[0] in REFINES[code]:
            status, substatus = guessed
        unmapped = False
    else:
        status, substatus = guess_from_text(text) or ("in_transit", "in_transit.in_transit")
        unmapped = True
    return CarrierEvent(
        occurred_at=_time(str(raw["timestamp"]), country),
        status=status,
        substatus=substatus,
        code=code,
        description=str(raw.get("description") or raw.get("status") or "").strip(),
        location=place,
        unmapped=unmapped,
    )


def _date(value: object):
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _shipment(raw: dict) -> TrackingResult:
    events = []
    for item in raw.get("events") or []:
        try:
            events.append(_event(item))
        except (KeyError, TypeError, ValueError):
            continue  # one malformed event never loses the rest
    frame = raw.get("estimatedDeliveryTimeFrame") or {}
    pod = ((raw.get("details") or {}).get("proofOfDelivery")) or {}
    result = TrackingResult(
        tracking_number=clean_number(str(raw.get("id") or "")),
        events=events,
        estimated_delivery=_date(raw.get("estimatedTimeOfDelivery")),
        estimated_delivery_earliest=_date(frame.get("estimatedFrom")),
        estimated_delivery_latest=_date(frame.get("estimatedThrough")),
        service=str(((raw.get("details") or {}).get("product") or {}).get("productName") or ""),
        signed_by=str((pod.get("signed") or {}).get("name") or "")
        if isinstance(pod.get("signed"), dict)
        else "",
    )
    if not events and raw.get("status"):
        try:
            latest = _event(raw["status"])
            result.status, result.substatus = latest.status, latest.substatus
        except (KeyError, TypeError, ValueError):
            pass
    return result


class DhlAdapter(CarrierAdapter):
    slug = "dhl"
    name = "DHL"
    max_batch_size = 1
    rate_per_second = 1.0
    base_url = "https://api-eu.dhl.com"
    tracking_url_template = "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}"
    credential_fields = ("api_key",)

    def parse(self, body: bytes | str, *, tracking_number: str = "") -> TrackingBatch:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotThisFormat("not JSON") from exc
        if not isinstance(document, dict):
            raise NotThisFormat("not a DHL tracking document")
        batch = TrackingBatch()
        if isinstance(document.get("shipments"), list):
            for raw in document["shipments"]:
                if isinstance(raw, dict) and raw.get("id"):
                    batch.results.append(_shipment(raw))
            return batch
        if "status" in document and ("title" in document or "detail" in document):
            # A problem document (RFC 7807): 404 no shipment found, 401 bad key, 429 quota.
            status = int(document.get("status") or 0)
            code = {
                404: "not_found",
                401: "unauthorized",
                403: "unauthorized",
                429: "rate_limited",
            }.get(status, f"http_{status}")
            message = str(document.get("detail") or document.get("title") or "")
            batch.errors.append(
                TrackingError(
                    tracking_number, code, message, transient=status == 429 or status >= 500
                )
            )
            return batch
        raise NotThisFormat("no 'shipments' list and not a DHL problem document")

    # DHL Push (direct customers): DHL sends the header and token chosen at subscription time.
    accepts_push = True

    def verify_push(self, body: bytes, headers: dict[str, str], credentials: dict) -> None:
        name = str(credentials.get("push_header") or "").lower()
        token = str(credentials.get("push_token") or "")
        if not name or not token:
            raise PermissionError(
                "DHL push is not set up for this account (push_header, push_token)"
            )
        if not hmac.compare_digest(headers.get(name, "").encode(), token.encode()):
            raise PermissionError("DHL push token does not match")

    def parse_push(self, body: bytes) -> TrackingBatch:
        """A push carries the same ``shipments`` document as the tracking endpoint."""
        return self.parse(body)

    def track(self, tracking_numbers, *, credentials=None, http=None, now=None) -> TrackingBatch:
        http = http or HttpClient()
        credentials = credentials or {}
        batch = TrackingBatch()
        for number in tracking_numbers:
            params = {"trackingNumber": number}
            if credentials.get("service"):
                params["service"] = credentials["service"]
            response = http.get(
                f"{self.endpoint(credentials)}/track/shipments",
                params=params,
                headers={
                    "DHL-API-Key": credentials.get("api_key", ""),
                    "Accept": "application/json",
                },
            )
            if response.status_code == 404:
                batch.errors.append(
                    TrackingError(number, "not_found", "DHL has no shipment with this number")
                )
                continue
            json_body(response)  # a 2xx body that is not JSON is a transient carrier fault
            try:
                parsed = self.parse(response.content, tracking_number=number)
            except NotThisFormat as exc:
                raise MalformedResponse(f"DHL answered an unexpected body: {exc}") from exc
            # DHL may return several shipments for one number (other business units): keep ours.
            mine = [r for r in parsed.results if r.tracking_number == clean_number(number)]
            batch.results.extend(mine or parsed.results[:1])
            batch.errors.extend(parsed.errors)
        return batch


ADAPTER = DhlAdapter()
