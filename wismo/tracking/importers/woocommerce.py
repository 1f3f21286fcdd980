"""WooCommerce: orders from the REST API v3 and its order webhooks, as ``OrderDTO``s. Pure.

Flow: a webhook endpoint checks ``is_ping`` (WooCommerce's unsigned creation ping, answer 200 and
store nothing), then ``verify_webhook`` on the raw body, then ``order_from_payload`` on the parsed
JSON; the periodic sync walks ``WooCommerceClient.orders_page`` until ``next_cursor`` is None.

What we rely on (WooCommerce core source and REST docs, plus the Shipment Tracking extension):

- Order body (``GET /wp-json/wc/v3/orders`` items; ``order.created``/``order.updated`` webhook
  bodies are the same object): ``id``, ``number``, ``status``, ``currency``, ``order_key``,
  ``date_created_gmt``/``date_modified_gmt`` (UTC without an offset), ``billing{first_name,
  last_name, email, country, postcode}``, ``shipping{...}`` (all empty for virtual orders, so we
  fall back to the billing address, as a whole), ``line_items[]{name, quantity, sku, price (unit,
  a JSON number), total (line, text), image{src}}``, ``meta_data[]{id, key, value}``.
- Statuses: pending, processing, on-hold, completed, cancelled, refunded, failed, trash (plus
  custom ones). cancelled/refunded/failed/trash mark the order cancelled.
- Tracking: core has none. The Shipment Tracking extension keeps a list in the order meta
  ``_wc_shipment_tracking_items``: ``{tracking_id, tracking_provider, custom_tracking_provider,
  tracking_number, custom_tracking_link, date_shipped (Unix seconds, often as text)}``; each item
  is one fulfillment. ``tracking_provider`` is the provider's sanitized name ("royal-mail"),
  ``custom_tracking_provider`` the merchant's free text when the carrier is not in its list
  (``carriers.names`` maps both). The link of a listed provider is built from the extension's URL
  templates and is not in the meta, so only custom links are passed on. A PHP array whose keys are
  no longer 0..n-1 is encoded as a JSON object, so an object of items is read too.
- Locale: core stores none. WPML's WooCommerce Multilingual keeps the order's language in the
  meta ``wpml_language`` ("fr"); we also read ``_wpml_language`` and ``locale`` when a shop's
  plugin writes those, and write ``fr_FR`` as ``fr-FR``.
- Webhooks: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(raw body, secret)), the secret
  HTML-entity-decoded first (``wp_specialchars_decode(..., ENT_QUOTES)``). On creation WooCommerce
  POSTs ``webhook_id=<id>`` form-encoded with no X-WC-Webhook-* headers and activates the webhook
  only if that answer is 200.
- Listing: HTTP Basic with the ``ck_``/``cs_`` key pair (HTTPS only: the pair is a password);
  ``per_page`` at most 100; ``page`` from 1; ``orderby=modified&order=asc`` and
  ``modified_after`` (with ``dates_are_gmt=true``, UTC without an offset); the number of pages in
  ``X-WP-TotalPages``. No rate limit in core, but hosts and security plugins answer 429/5xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    Page,
    SignatureMismatch,
    require_https,
)
from wismo.tracking.importers.base import (
    decimal_text as _decimal_text,
)
from wismo.tracking.importers.base import (
    text as _text,
)

CANCELLED_STATUSES = frozenset({"cancelled", "refunded", "failed", "trash"})
# The block checkout saves the cart as a checkout-draft order as soon as the shopper reaches the
# checkout, sends order.updated webhooks for it (woocommerce/woocommerce#66995) and deletes it
# after a day when abandoned; "draft"/"auto-draft" are an admin's unsaved orders.
DRAFT_STATUSES = frozenset({"checkout-draft", "draft", "auto-draft"})
TRACKING_META_KEY = "_wc_shipment_tracking_items"
# Order meta that may hold the customer's language, first found wins (see module docstring).
LOCALE_META_KEYS = ("wpml_language", "_wpml_language", "locale")
SIGNATURE_HEADER = "X-WC-Webhook-Signature"
ORDERS_PATH = "/wp-json/wc/v3/orders"
PER_PAGE = 100
CENTS = Decimal("0.01")

_PING_BODY = re.compile(rb"webhook_id=\d+")
# What wp_specialchars_decode(..., ENT_QUOTES) turns back into characters.
_ENTITIES = {
    "&amp;": "&",
    "&lt;": "<",
    "&gt;": ">",
    "&quot;": '"',
    "&#039;": "'",
    "&#39;": "'",
    "&#x27;": "'",
}
_ENTITY = re.compile("|".join(re.escape(e) for e in _ENTITIES), re.IGNORECASE)


# -- payloads ------------------------------------------------------------------------------------


def _dict(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _gmt(value: object) -> datetime | None:
    """A WooCommerce ``*_gmt`` date ("2025-03-04T09:20:11", UTC, no offset) as an aware datetime."""
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _unix(value: object) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return datetime.fromtimestamp(int(float(text)), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _meta(payload: Mapping, key: str) -> object:
    """The value of the first ``meta_data`` entry with ``key``, or None."""
    meta = payload.get("meta_data")
    if not isinstance(meta, list):
        return None
    for entry in meta:
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return entry.get("value")
    return None


def _locale(payload: Mapping) -> str:
    for key in LOCALE_META_KEYS:
        value = _text(_meta(payload, key))
        if value:
            return value.replace("_", "-")[:16]
    return ""


def _line_item(item: Mapping) -> LineItemDTO:
    try:
        quantity = int(float(_text(item.get("quantity")) or 1))
    except (ValueError, OverflowError):  # "Infinity" parses as a float, not as an int
        quantity = 1
    price = _decimal_text(item.get("price"))
    if not price and quantity > 0:
        total = _decimal_text(item.get("total"))
        price = _decimal_text((Decimal(total) / quantity).quantize(CENTS)) if total else ""
    return LineItemDTO(
        title=_text(item.get("name")),
        quantity=quantity,
        sku=_text(item.get("sku")),
        price=price,
        image_url=_text(_dict(item.get("image")).get("src")),
    )


def _tracking_items(value: object) -> Iterable[Mapping]:
    if isinstance(value, Mapping):  # a PHP array with holes in its keys
        value = list(value.values())
    if not isinstance(value, list):
        return ()
    return (item for item in value if isinstance(item, Mapping))


def _fulfillment(item: Mapping) -> FulfillmentDTO | None:
    number = _text(item.get("tracking_number"))
    if not number:
        return None
    link = _text(item.get("custom_tracking_link"))
    return FulfillmentDTO(
        external_id=_text(item.get("tracking_id")) or number,
        tracking_numbers=(number,),
        carrier_name=_text(item.get("custom_tracking_provider"))
        or _text(item.get("tracking_provider")),
        tracking_urls=(link,) if link else (),
        shipped_at=_unix(item.get("date_shipped")),
    )


def _is_order(payload: object) -> bool:
    if not isinstance(payload, Mapping):
        return False
    order_id = payload.get("id")
    if isinstance(order_id, bool) or not _text(order_id).isdigit():
        return False
    # A customer also has billing/shipping, a refund has line_items; only an order has both
    # (or its order_key). order.deleted bodies are just {"id": ...}: not an order to import.
    return "order_key" in payload or (
        isinstance(payload.get("billing"), Mapping) and isinstance(payload.get("line_items"), list)
    )


def order_from_payload(payload: dict) -> OrderDTO:
    """An order from a REST v3 order object or an order.created/order.updated webhook body.

    Raises ``NotThisPayload`` for anything that is not a WooCommerce order; missing fields
    become empty values, never errors.
    """
    if not _is_order(payload):
        raise NotThisPayload("not a WooCommerce REST order (no id with billing and line_items)")
    billing = _dict(payload.get("billing"))
    shipping = _dict(payload.get("shipping"))
    address = (
        shipping if (_text(shipping.get("country")) or _text(shipping.get("postcode"))) else billing
    )
    name_from = (
        billing
        if (_text(billing.get("first_name")) or _text(billing.get("last_name")))
        else shipping
    )
    name = " ".join(
        part
        for part in (_text(name_from.get("first_name")), _text(name_from.get("last_name")))
        if part
    )
    items = payload.get("line_items")
    fulfillments = []
    seen: set[str] = set()
    for item in _tracking_items(_meta(payload, TRACKING_META_KEY)):
        fulfillment = _fulfillment(item)
        if fulfillment is not None and fulfillment.external_id not in seen:
            seen.add(fulfillment.external_id)
            fulfillments.append(fulfillment)
    order_id = _text(payload.get("id"))
    return OrderDTO(
        external_id=order_id,
        order_number=_text(payload.get("number")) or order_id,
        customer_email=_text(billing.get("email")),
        customer_name=name,
        locale=_locale(payload),
        shipping_country=_text(address.get("country")).upper(),
        shipping_postcode=_text(address.get("postcode")),
        currency=_text(payload.get("currency")).upper(),
        placed_at=_gmt(payload.get("date_created_gmt")),
        updated_at=_gmt(payload.get("date_modified_gmt")),
        cancelled=_text(payload.get("status")).lower() in CANCELLED_STATUSES,
        draft=_text(payload.get("status")).lower() in DRAFT_STATUSES,
        line_items=tuple(
            _line_item(item)
            for item in (items if isinstance(items, list) else ())
            if isinstance(item, Mapping)
        ),
        fulfillments=tuple(fulfillments),
    )


# -- webhooks ------------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value or ""
    return ""


def verify_webhook(raw_body: bytes, signature_header: str, secret: str) -> None:
    """Check ``X-WC-Webhook-Signature`` against the raw body; raise ``SignatureMismatch``.

    Verify before parsing: the signature covers the exact bytes WooCommerce sent.
    """
    if not secret or not signature_header:
        raise SignatureMismatch("missing WooCommerce webhook signature or secret")
    key = _ENTITY.sub(lambda m: _ENTITIES[m.group(0).lower()], secret)
    expected = base64.b64encode(hmac.new(key.encode(), raw_body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature_header.strip().encode("ascii", "replace")):
        raise SignatureMismatch("WooCommerce webhook signature does not match")


def is_ping(raw_body: bytes, headers: Mapping[str, str]) -> bool:
    """WooCommerce's creation ping: ``webhook_id=<id>`` form body, unsigned.

    The endpoint answers 200 (else WooCommerce will not activate the webhook) and stores nothing.
    A body that carries a signature header is a delivery and goes through ``verify_webhook``.
    """
    if _header(headers, SIGNATURE_HEADER):
        return False
    return _PING_BODY.fullmatch(raw_body.strip()) is not None


# -- REST client ---------------------------------------------------------------------------------


class WooCommerceClient:
    """Reads a shop's orders with its REST API key pair (``ck_...``/``cs_...``)."""

    def __init__(self, site_url: str, consumer_key: str, consumer_secret: str, http: HttpClient):
        # Basic auth sends the secret as is; WooCommerce only accepts it over HTTPS anyway.
        self.base_url = require_https(site_url, "WooCommerce site")
        self.auth = (consumer_key, consumer_secret)
        self.http = http

    def orders_page(self, modified_after: datetime | None, cursor: str | None) -> Page:
        """One page of orders modified after ``modified_after``, oldest change first.

        ``cursor`` is the page number from the previous ``Page.next_cursor`` (None for the
        first). Raises ``TransientError`` (429, 5xx, timeouts) and ``TerminalError`` (refused
        key, or any other answer retrying cannot fix) from the HTTP layer.
        """
        page = int(cursor) if cursor else 1
        if page < 1:
            raise ValueError(f"bad WooCommerce page cursor: {cursor!r}")
        params = {
            "per_page": str(PER_PAGE),
            "page": str(page),
            "orderby": "modified",
            "order": "asc",
            "dates_are_gmt": "true",
        }
        if modified_after is not None:
            if modified_after.tzinfo is None:
                raise ValueError("modified_after must be timezone-aware")
            params["modified_after"] = (
                modified_after.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()
            )
        response = self.http.get(self.base_url + ORDERS_PATH, params=params, auth=self.auth)
        if not 200 <= response.status_code < 300:
            try:  # WordPress errors are {"code": "...", "message": "...", "data": {...}}
                error = _dict(response.json())
            except ValueError:
                error = {}
            detail = _text(error.get("code")) or f"HTTP {response.status_code}"
            raise TerminalError(
                f"WooCommerce refused the orders listing: {detail}", status=response.status_code
            )
        body = json_body(response)
        if not isinstance(body, list):
            raise MalformedResponse("WooCommerce orders listing is not a JSON list", status=200)
        orders = []
        for item in body:
            try:
                orders.append(order_from_payload(item))
            except NotThisPayload:
                continue
        try:
            total_pages = int(response.headers.get("X-WP-TotalPages", ""))
        except ValueError:
            total_pages = page + 1 if len(body) >= PER_PAGE else page
        return Page(orders=orders, next_cursor=str(page + 1) if page < total_pages else None)

    def order_complete(self, order_id: str) -> None:
        """Write-back: set the order's status to ``completed`` (``PUT /orders/{id}``).

        WooCommerce emails the customer its "order completed" message on this transition, which
        is why it is only done once every parcel of the order is delivered.
        """
        if not str(order_id).isdigit():
            raise ValueError(f"bad WooCommerce order id: {order_id!r}")
        response = self.http.request(
            "PUT",
            f"{self.base_url}{ORDERS_PATH}/{order_id}",
            json={"status": "completed"},
            auth=self.auth,
        )
        if not 200 <= response.status_code < 300:
            raise TerminalError(
                f"WooCommerce refused to complete order {order_id} (HTTP {response.status_code})",
                status=response.status_code,
            )
