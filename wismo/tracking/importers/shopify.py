"""Shopify (REST Admin API): orders and fulfillments as DTOs, webhook signatures, order listing.

Flow: webhooks (``orders/create``, ``orders/updated``, ``orders/cancelled``, ...) carry a whole
REST order, ``fulfillments/create|update`` a whole REST fulfillment with its ``order_id``. The
receiver first checks ``X-Shopify-Hmac-Sha256`` over the raw body (``verify_webhook``), then
parses the JSON and calls ``order_from_payload`` or ``fulfillment_from_payload``. The periodic
sync walks ``GET /admin/api/{version}/orders.json`` page by page with ``ShopifyClient``.

Field mapping (REST Order / Fulfillment resources):

- ``external_id`` <- ``id`` (numeric, kept as text; a GraphQL ``gid://shopify/Order/<n>`` is
  reduced to ``<n>`` so both APIs give the same key).
- ``order_number`` <- ``name`` without its leading ``#`` ("#1042" -> "1042"; "EU-1042" stays):
  ``name`` is what the customer sees on the confirmation email, including the merchant's own
  prefix or suffix, and customers type it with or without the ``#``. When ``name`` is missing,
  the numeric ``order_number``.
- ``customer_email`` <- ``email``, else ``contact_email``, else ``customer.email``.
- ``customer_name`` <- ``customer.first_name/last_name``, else the shipping address's names.
- ``locale`` <- the language of ``customer_locale`` ("en-CA" -> "en", "it" -> "it"): our
  notification languages are language codes; one we do not speak is passed on for the caller to
  fall back from.
- ``shipping_country``/``shipping_postcode`` <- ``shipping_address.country_code/zip``.
- ``placed_at``/``updated_at`` <- ``created_at``/``updated_at`` (ISO 8601 with offset);
  ``cancelled`` <- ``cancelled_at`` is set.
- fulfillments: ``tracking_numbers[]`` (else ``tracking_number``), ``tracking_company``,
  ``tracking_urls[]`` (else ``tracking_url``), ``created_at`` as shipped time; ``status``
  ``cancelled``, ``error`` or ``failure`` means no parcel is travelling (``FULFILLMENT_DEAD``).

Missing or null fields become empty values, never an exception: Shopify omits keys the app has
no scope for (customer data without ``read_customers``, protected customer data).

Listing: ``status=any&limit=250&order=updated_at asc&updated_at_min=...`` on the first page; the
next page is the ``page_info`` of the ``Link: <...>; rel="next"`` header, and a request with
``page_info`` may carry only ``limit`` (and ``fields``), so the other filters are dropped then.
The HTTP client sorts failures: 429 (with ``Retry-After``) and 5xx are ``TransientError``,
401/403 ``TerminalError``; any other non-2xx (400 bad cursor, 402 frozen shop, 404 shop gone,
423 locked shop) is terminal too, as retrying the same request cannot help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    Page,
    SignatureMismatch,
)

DEFAULT_API_VERSION = "2025-01"
PAGE_SIZE = 250  # the REST maximum for orders.json
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
# FulfillmentEvent.status values of the REST Admin API.
FULFILLMENT_EVENT_STATUSES = frozenset(
    {
        "label_printed",
        "label_purchased",
        "attempted_delivery",
        "ready_for_pickup",
        "picked_up",
        "confirmed",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "failure",
        "delayed",
        "carrier_picked_up",
    }
)
BUCKET_HEADROOM = 4  # free slots kept in the shop's request bucket for its other apps
# Fulfillment statuses (REST ``status``) under which nothing ships: cancelled by the merchant,
# or a fulfillment request the fulfillment service refused. ``pending``/``open``/``success``
# are live.
FULFILLMENT_DEAD = frozenset({"cancelled", "error", "failure"})


# -- payloads -------------------------------------------------------------------------------


def order_from_payload(payload: dict) -> OrderDTO:
    """The order in a REST order body (list entry, ``{"order": {...}}`` or an ``orders/*``
    webhook); ``NotThisPayload`` when the body is not a Shopify order."""
    order = _unwrap(payload, "order")
    if not isinstance(order, dict):
        raise NotThisPayload("not a JSON object")
    if order.get("id") in (None, ""):
        raise NotThisPayload("no order id")
    if "order_id" in order or "fulfillment_id" in order:
        raise NotThisPayload("a fulfillment or fulfillment event, not an order")
    if not isinstance(order.get("line_items"), list):
        raise NotThisPayload("no line_items list")
    if "name" not in order and "order_number" not in order:
        raise NotThisPayload("neither name nor order_number: not a Shopify order")
    return _order(order)


def fulfillment_from_payload(payload: dict) -> tuple[str, FulfillmentDTO]:
    """``(order external id, fulfillment)`` from a ``fulfillments/create|update`` webhook (or
    ``{"fulfillment": {...}}``); ``NotThisPayload`` for any other body."""
    fulfillment = _unwrap(payload, "fulfillment")
    if not isinstance(fulfillment, dict):
        raise NotThisPayload("not a JSON object")
    if "fulfillment_id" in fulfillment:
        raise NotThisPayload("a fulfillment event, not a fulfillment")
    order_id, own_id = _id(fulfillment.get("order_id")), _id(fulfillment.get("id"))
    if not order_id or not own_id:
        raise NotThisPayload("no id or order_id: not a Shopify fulfillment")
    if "tracking_numbers" not in fulfillment and "tracking_number" not in fulfillment:
        raise NotThisPayload("no tracking fields: not a Shopify fulfillment")
    return order_id, _fulfillment(fulfillment)


PRIVACY_TOPICS = {
    "customers/data_request": "data_request",
    "customers/redact": "customer_redact",
    "shop/redact": "shop_redact",
}


@dataclass(frozen=True, slots=True)
class PrivacyRequestDTO:
    """One of Shopify's mandatory compliance webhooks, read.

    ``customers/data_request``: ``{shop_id, shop_domain, orders_requested[], customer{id, email,
    phone}, data_request{id}}``; ``customers/redact``: the same with ``orders_to_redact[]`` and
    no ``data_request``; ``shop/redact``: ``{shop_id, shop_domain}`` 48 hours after uninstall.
    """

    kind: str  # data_request | customer_redact | shop_redact
    shop_domain: str
    customer_email: str = ""
    order_ids: tuple[str, ...] = ()
    request_id: str = ""


def privacy_request_from_payload(topic: str, payload: dict) -> PrivacyRequestDTO:
    """A compliance webhook body; ``NotThisPayload`` unless it has what erasing needs.

    A customer request must name the shopper (an email or orders): erasing "everyone" because
    a body came without a customer would be the worst possible reading of a broken payload.
    """
    kind = PRIVACY_TOPICS.get(topic)
    if kind is None:
        raise NotThisPayload(f"not a compliance topic: {topic!r}")
    if not isinstance(payload, dict):
        raise NotThisPayload("not a JSON object")
    domain = _text(payload.get("shop_domain")).lower()
    if not domain or payload.get("shop_id") in (None, ""):
        raise NotThisPayload("no shop_id and shop_domain")
    if kind == "shop_redact":
        return PrivacyRequestDTO(kind=kind, shop_domain=domain)
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise NotThisPayload("no customer object")
    orders_key = "orders_requested" if kind == "data_request" else "orders_to_redact"
    raw_orders = payload.get(orders_key, [])
    if not isinstance(raw_orders, list):
        raise NotThisPayload(f"{orders_key} is not a list")
    order_ids = tuple(dict.fromkeys(i for i in (_id(o) for o in raw_orders) if i))
    email = _text(customer.get("email")).lower()
    if not email and not order_ids:
        raise NotThisPayload("names neither the customer's email nor any order")
    return PrivacyRequestDTO(
        kind=kind,
        shop_domain=domain,
        customer_email=email,
        order_ids=order_ids,
        request_id=_id(_dict(payload.get("data_request")).get("id")),
    )


def verify_webhook(raw_body: bytes, hmac_header: str, secret: str) -> None:
    """Raise ``SignatureMismatch`` unless ``hmac_header`` is the base64 HMAC-SHA256 of the raw
    body keyed with the app's client secret. Call before parsing: re-serialized JSON differs."""
    if not secret:
        raise SignatureMismatch("no webhook secret configured")
    if not hmac_header:
        raise SignatureMismatch("no X-Shopify-Hmac-Sha256 header")
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    if not hmac.compare_digest(expected, hmac_header.strip().encode("ascii", "replace")):
        raise SignatureMismatch("X-Shopify-Hmac-Sha256 does not match the body")


# -- listing --------------------------------------------------------------------------------


class ShopifyClient:
    """Orders of one shop through the REST Admin API, with an offline access token."""

    def __init__(
        self,
        shop_url: str,
        access_token: str,
        http: HttpClient,
        api_version: str = DEFAULT_API_VERSION,
        sleep: Callable[[float], None] = time.sleep,
    ):
        base = shop_url.strip().rstrip("/")
        if "://" not in base:
            base = f"https://{base}"  # "my-shop.myshopify.com"
        self.base_url = base
        self.access_token = access_token
        self.http = http
        self.api_version = api_version
        self.sleep = sleep
        self._pause = 0.0  # what the last answer's call-limit header asks us to wait

    def orders_page(self, updated_at_min: datetime | None, cursor: str | None) -> Page:
        """One page of orders, oldest update first. Start with ``cursor=None`` (and the last
        sync's high-water mark); go on with ``page.next_cursor`` until it is None."""
        if cursor:
            # With page_info Shopify refuses every filter but limit/fields: the cursor has them.
            params: dict[str, str | int] = {"limit": PAGE_SIZE, "page_info": cursor}
        else:
            params = {"status": "any", "limit": PAGE_SIZE, "order": "updated_at asc"}
            if updated_at_min is not None:
                params["updated_at_min"] = _iso_utc(updated_at_min)
        if self._pause > 0:
            self.sleep(self._pause)
            self._pause = 0.0
        response = self.http.get(
            f"{self.base_url}/admin/api/{self.api_version}/orders.json",
            params=params,
            headers={"X-Shopify-Access-Token": self.access_token, "Accept": "application/json"},
        )
        if not 200 <= response.status_code < 300:
            raise TerminalError(
                f"Shopify refused the order listing (HTTP {response.status_code})",
                status=response.status_code,
            )
        self._pause = bucket_pause(response.headers.get(CALL_LIMIT_HEADER, ""))
        body = json_body(response)
        entries = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and _id(e.get("id")) for e in entries
        ):
            raise MalformedResponse("no orders list in the answer", status=response.status_code)
        return Page(orders=[_order(e) for e in entries], next_cursor=_next_page_info(response))

    def fulfillment_event_create(
        self,
        order_id: str,
        fulfillment_id: str,
        status: str,
        *,
        happened_at: datetime | None = None,
        message: str = "",
        estimated_delivery_at: datetime | None = None,
    ) -> None:
        """Write-back: add a tracking event to a fulfillment, shown to the shopper by Shopify.

        ``POST /orders/{order_id}/fulfillments/{fulfillment_id}/events.json`` with ``{"event":
        {status, message, happened_at, estimated_delivery_at}}``; ``status`` is one of
        ``FULFILLMENT_EVENT_STATUSES``. A 404 (fulfillment deleted) or 422 is a TerminalError.
        """
        if status not in FULFILLMENT_EVENT_STATUSES:
            raise ValueError(f"not a Shopify fulfillment event status: {status!r}")
        event: dict[str, str] = {"status": status}
        if message:
            event["message"] = message[:255]
        if happened_at is not None:
            event["happened_at"] = _iso_utc(happened_at)
        if estimated_delivery_at is not None:
            event["estimated_delivery_at"] = _iso_utc(estimated_delivery_at)
        if self._pause > 0:
            self.sleep(self._pause)
            self._pause = 0.0
        response = self.http.post(
            f"{self.base_url}/admin/api/{self.api_version}/orders/{order_id}"
            f"/fulfillments/{fulfillment_id}/events.json",
            json={"event": event},
            headers={"X-Shopify-Access-Token": self.access_token, "Accept": "application/json"},
        )
        self._pause = bucket_pause(response.headers.get(CALL_LIMIT_HEADER, ""))
        if not 200 <= response.status_code < 300:
            raise TerminalError(
                f"Shopify refused the fulfillment event (HTTP {response.status_code})",
                status=response.status_code,
            )


def bucket_pause(call_limit: str) -> float:
    """Seconds to wait before the next call, from ``X-Shopify-Shop-Api-Call-Limit: 38/40``.

    The REST Admin API is a leaky bucket (40 requests, leaking 2/s on standard plans; Plus has
    400 and 20/s: the leak rate scales with the size, 1/20 of it per second). Waiting until
    the bucket is back to ``BUCKET_HEADROOM`` free slots keeps a sync from hitting 429 while
    other apps of the shop use the same bucket.
    """
    used_text, _, size_text = call_limit.partition("/")
    try:
        used, size = int(used_text), int(size_text)
    except ValueError:
        return 0.0
    if size <= 0 or used < 0:
        return 0.0
    over = used - (size - BUCKET_HEADROOM)
    return 0.0 if over <= 0 else min(over / (size / 20), 60.0)


def _next_page_info(response) -> str | None:
    """``page_info`` of the ``rel="next"`` link; None on the last (or only) page."""
    url = (response.links or {}).get("next", {}).get("url")
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    return values[0] if values else None


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("updated_at_min must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- mapping --------------------------------------------------------------------------------


def _unwrap(payload: object, key: str) -> object:
    if isinstance(payload, dict) and len(payload) == 1 and isinstance(payload.get(key), dict):
        return payload[key]
    return payload


def _order(order: dict) -> OrderDTO:
    customer = _dict(order.get("customer"))
    shipping = _dict(order.get("shipping_address"))
    name = _text(order.get("name")).lstrip("#").strip() or _text(order.get("order_number"))
    return OrderDTO(
        external_id=_id(order.get("id")),
        order_number=name or _id(order.get("id")),
        customer_email=(
            _text(order.get("email"))
            or _text(order.get("contact_email"))
            or _text(customer.get("email"))
        ),
        customer_name=_full_name(customer) or _full_name(shipping),
        locale=_language(order.get("customer_locale")),
        shipping_country=_text(shipping.get("country_code")).upper(),
        shipping_postcode=_text(shipping.get("zip")),
        currency=_text(order.get("currency")).upper(),
        placed_at=_when(order.get("created_at")),
        updated_at=_when(order.get("updated_at")),
        cancelled=bool(order.get("cancelled_at")),
        line_items=tuple(
            _line_item(item) for item in _list(order.get("line_items")) if isinstance(item, dict)
        ),
        fulfillments=tuple(
            _fulfillment(f)
            for f in _list(order.get("fulfillments"))
            if isinstance(f, dict) and _id(f.get("id"))
        ),
    )


def _line_item(item: dict) -> LineItemDTO:
    try:
        quantity = int(item.get("quantity") or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is JSON's infinity
        quantity = 0
    return LineItemDTO(
        title=_text(item.get("title")) or _text(item.get("name")),
        quantity=quantity,
        sku=_text(item.get("sku")),
        price=_text(item.get("price")),
    )


def _fulfillment(fulfillment: dict) -> FulfillmentDTO:
    numbers = _texts(fulfillment.get("tracking_numbers")) or _texts(
        [fulfillment.get("tracking_number")]
    )
    urls = _texts(fulfillment.get("tracking_urls")) or _texts([fulfillment.get("tracking_url")])
    return FulfillmentDTO(
        external_id=_id(fulfillment.get("id")),
        tracking_numbers=numbers,
        carrier_name=_text(fulfillment.get("tracking_company")),
        tracking_urls=urls,
        shipped_at=_when(fulfillment.get("created_at")),
        cancelled=_text(fulfillment.get("status")).lower() in FULFILLMENT_DEAD,
    )


def _id(value: object) -> str:
    text = _text(value)
    if text.startswith("gid://"):
        text = text.rsplit("/", 1)[-1]
    return text


def _text(value: object) -> str:
    if value is None or isinstance(value, dict | list | bool):
        return ""
    return str(value).strip()


def _texts(values: object) -> tuple[str, ...]:
    """Non-empty strings of a list, in order, without repeats."""
    seen: dict[str, None] = {}
    for value in _list(values):
        text = _text(value)
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _full_name(person: dict) -> str:
    return " ".join(
        p for p in (_text(person.get("first_name")), _text(person.get("last_name"))) if p
    )


def _language(locale: object) -> str:
    """ "en-CA" / "pt_BR" / "IT" -> "en" / "pt" / "it"."""
    return _text(locale).replace("_", "-").split("-", 1)[0].lower()


def _when(value: object) -> datetime | None:
    """An aware datetime from Shopify's ISO 8601 (always with an offset); None if unreadable."""
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # Shopify writes offsets; a bare time would be the API's UTC, never the server's zone.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
