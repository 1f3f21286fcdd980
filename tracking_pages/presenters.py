"""Turn shipments and orders into the plain values a tracking page prints.

Everything a shopper reads is decided here, in their language and the tenant's time zone, so
that templates only print: the status in plain words and where it sits on the progress line,
the expected date and how sure we are, what to do when action is needed, honest freshness, the
timeline and (for a proven shopper only, decided by the caller) the order's items.

Dates are formatted with Django's locale formats (memoized per value and language).
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import translation
from django.utils.formats import date_format, time_format

from carriers import registry
from carriers.statuses import Status, action_required
from tracking_pages.branding import safe_url
from tracking_pages.selectors import OrderRow, ParcelRow
from tracking_pages.templating import Row
from tracking_pages.words import relative
from wismo.tracking import labels

STEPS = ("ordered", "shipped", "in_transit", "out_for_delivery", "delivered")
_STEP_OF = {
    Status.PENDING: 0,
    Status.INFO_RECEIVED: 1,
    Status.IN_TRANSIT: 2,
    Status.OUT_FOR_DELIVERY: 3,
    Status.AVAILABLE_FOR_PICKUP: 3,
    Status.FAILED_ATTEMPT: 3,
    Status.DELIVERED: 4,
}
_TROUBLE = {Status.EXCEPTION, Status.EXPIRED, Status.FAILED_ATTEMPT}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# Formatting a date through Django's locale machinery costs tens of microseconds; pages show the
# same few days and minutes again and again, so each (value, language) is formatted once.
@lru_cache(maxsize=4096)
def short_date(value: date, lang: str) -> str:
    with translation.override(lang):
        return date_format(value, "DATE_FORMAT")


@lru_cache(maxsize=4096)
def long_date(value: date, lang: str) -> str:
    separator = " " if lang == "fr" else ", "
    with translation.override(lang):
        return f"{date_format(value, 'l')}{separator}{date_format(value, 'DATE_FORMAT')}"


@lru_cache(maxsize=8192)
def clock(value: time, lang: str) -> str:
    with translation.override(lang):
        return time_format(value, "TIME_FORMAT")


def local_date(value: datetime, tz: ZoneInfo, lang: str) -> str:
    return long_date(value.astimezone(tz).date(), lang)


def carrier_info(slug: str, number: str) -> dict:
    """The carrier's name, its own tracking page for ``number`` (http(s) only), and whether it
    is simulated (the demo's sandbox, labelled as such) or polled by us."""
    try:
        adapter = registry.get_adapter(slug)
    except registry.UnknownCarrier:
        return Row(name=slug, url="", simulated=False, pollable=False)
    try:
        url = safe_url(adapter.tracking_url(number) or "") if number else ""
    except (NotImplementedError, KeyError, IndexError, ValueError):
        url = ""
    return Row(
        name=adapter.name or slug,
        url=url,
        simulated=bool(adapter.simulated),
        pollable=bool(getattr(adapter, "pollable", True)),
    )


def progress(shipment: ParcelRow, events: list, w: dict, lang: str) -> list[dict]:
    reached = _STEP_OF.get(shipment.status, 0)
    for event in events:
        reached = max(reached, _STEP_OF.get(event.status, 0))
    delivered = shipment.status == Status.DELIVERED
    trouble = shipment.status in _TROUBLE
    steps = []
    for index, name in enumerate(STEPS):
        if delivered or index < reached:
            state = "done"
        elif index == reached:
            state = "problem" if trouble else "current"
        else:
            state = "todo"
        label = w[f"step_{name}"]
        if index == 3 and shipment.status == Status.AVAILABLE_FOR_PICKUP:
            label = labels.status_label(Status.AVAILABLE_FOR_PICKUP, lang)
        steps.append(Row(name=name, label=label, state=state))
    return steps


def expected(shipment: ParcelRow, tz: ZoneInfo, lang: str, w: dict, today: date) -> dict:
    if shipment.status == Status.DELIVERED:
        when = shipment.delivered_at or shipment.last_event_at
        text = w["delivered_on"].format(date=local_date(when, tz, lang)) if when else w["delivered"]
        return Row(text=text, note="", late=False)
    earliest, latest = shipment.estimated_delivery_earliest, shipment.estimated_delivery_latest
    likeliest = shipment.estimated_delivery or latest or earliest
    if earliest and latest and earliest != latest:
        text = w["expected_between"].format(
            start=long_date(earliest, lang), end=long_date(latest, lang)
        )
    elif likeliest:
        text = w["expected_on"].format(date=long_date(likeliest, lang))
    else:
        if shipment.status in (Status.EXCEPTION, Status.EXPIRED):
            return Row(text="", note="", late=False)
        return Row(text="", note=w["edd_none"], late=False)
    if shipment.estimated_delivery_source == "carrier":
        note = w["edd_carrier"]
    else:
        confidence = shipment.estimated_delivery_confidence
        if confidence is None:
            note = w["edd_predicted"]
        else:
            pct = round(max(0.0, min(1.0, confidence)) * 100)
            key = (
                "edd_high"
                if confidence >= 0.8
                else "edd_medium"
                if confidence >= 0.6
                else "edd_low"
            )
            note = w[key].format(pct=pct)
    late = (latest or likeliest) < today
    return Row(text=text, note=note, late=late)


def freshness(shipment: ParcelRow, lang: str, w: dict, now: datetime) -> dict:
    parts = []
    if shipment.last_event_at:
        parts.append(w["last_scan"].format(ago=relative(now - shipment.last_event_at, lang)))
    else:
        parts.append(w["no_scan"])
    if shipment.last_checked_at:
        parts.append(w["checked"].format(ago=relative(now - shipment.last_checked_at, lang)))
    polled = carrier_info(shipment.carrier, "")["pollable"]
    if (
        polled
        and shipment.is_active
        and shipment.next_poll_at
        and shipment.status != Status.DELIVERED
    ):
        wait = shipment.next_poll_at - now
        parts.append(w["next_check"].format(when=relative(wait, lang, future=True)))
    return Row(text=" · ".join(parts), error=w["check_failed"] if shipment.last_error_code else "")


# A timeline repeats the same few statuses in one language: each label is looked up once.
_status_label = lru_cache(maxsize=1024)(labels.status_label)


def timeline(events: list, tz: ZoneInfo, lang: str) -> list[dict]:
    rows = []
    for event in events:
        local = event.occurred_at.astimezone(tz)
        day = short_date(local.date(), lang)
        hour = clock(time(local.hour, local.minute), lang)
        rows.append(
            Row(
                {
                    "date": day,
                    "time": hour,
                    # What the page prints, "<date>, <time>": one value to escape, not two.
                    "when": f"{day}, {hour}",
                    "iso": local.isoformat(timespec="seconds"),
                    "status": event.status,
                    "status_label": _status_label(event.status, lang),
                    "text": event.description or labels.substatus_text(event.substatus, lang),
                    "location": event.location,
                }
            )
        )
    return rows


def _pickup(shipment: ParcelRow, events: list) -> str:
    if shipment.status != Status.AVAILABLE_FOR_PICKUP:
        return ""
    for event in events:
        if event.status == Status.AVAILABLE_FOR_PICKUP and event.location:
            return event.location
    return ""


def shipment_view(
    shipment: ParcelRow, events: list, *, lang: str, tz: ZoneInfo, w: dict, now: datetime
) -> dict:
    """Everything one parcel's card shows; ``events`` is its timeline, newest first."""
    status = shipment.status
    needs_action = shipment.action_required or action_required(shipment.substatus)
    if status == Status.DELIVERED:
        tone = "done"
    elif needs_action:
        tone = "action"
    elif status in _TROUBLE:
        tone = "problem"
    else:
        tone = "ok"
    return Row(
        {
            "token": shipment.public_token,
            "status": status,
            "tone": tone,
            "status_label": labels.status_label(status, lang),
            "reason": labels.substatus_text(shipment.substatus, lang),
            "next_step": labels.next_step(shipment.substatus, lang),
            "action_required": needs_action,
            "trouble": status in _TROUBLE or needs_action,
            "progress": progress(shipment, events, w, lang),
            "expected": expected(shipment, tz, lang, w, now.astimezone(tz).date()),
            "freshness": freshness(shipment, lang, w, now),
            "pickup": _pickup(shipment, events),
            "carrier": carrier_info(shipment.carrier, shipment.tracking_number),
            "tracking_number": shipment.tracking_number,
            "previous_number": shipment.previous_number,
            "replacement": (
                Row(token=shipment.replacement_token, number=shipment.replacement_number)
                if shipment.replacement_token
                else None
            ),
            "events": timeline(events, tz, lang),
        }
    )


def order_view(order: OrderRow, *, lang: str, tz: ZoneInfo) -> dict:
    """The order's personal part: only ever built for a shopper who proved the order."""
    items = []
    for item in order.line_items if isinstance(order.line_items, list) else []:
        if not isinstance(item, dict):
            continue
        title = " ".join(str(item.get("title") or item.get("name") or "").split())[:200]
        if not title:
            continue
        quantity = item.get("quantity", 1)
        items.append(
            Row(
                title=title,
                quantity=quantity if isinstance(quantity, int) and quantity > 0 else 1,
                variant=" ".join(str(item.get("variant") or "").split())[:100],
            )
        )
    return Row(
        {
            "number": order.order_number,
            "name": order.customer_name,
            "email": order.customer_email,
            "postcode": order.shipping_postcode,
            "country": order.shipping_country,
            "placed": local_date(order.placed_at, tz, lang) if order.placed_at else "",
            "items": items,
        }
    )
