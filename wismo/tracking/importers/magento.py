"""Magento 2 / Adobe Commerce: orders and their shipments from the REST API, as ``OrderDTO``s. Pure.

Flow: the periodic sync walks ``MagentoClient.orders_page`` until ``next_cursor`` is None. Each
page is one orders search, then one shipments search for the orders of that page (tracking
numbers live on shipments, not on orders), then, once per client, the store views' locales.
``order_from_payload`` turns one order (with its shipments) into an ``OrderDTO``; it is also
what an Adobe I/O Events receiver would call with a refetched order.

What we rely on (Magento's service contracts ``OrderInterface``, ``ShipmentInterface``,
``ShipmentTrackInterface``, ``StoreConfigInterface`` and the REST search documentation):

- Order (``GET /rest/V1/orders`` items): ``entity_id`` (our external id), ``increment_id`` (the
  number on the customer's emails, "000000058"), ``store_id``, ``state`` and ``status`` (a
  merchant's custom status always belongs to one of the fixed states), ``customer_email``,
  ``customer_firstname``/``customer_lastname`` (absent on many guest orders: the REST output
  leaves out null fields; the billing address names the person then), ``created_at``/
  ``updated_at`` ("2025-03-04 08:02:11": UTC in the database, written without an offset),
  ``order_currency_code``, ``items[]{item_id, parent_item_id, product_type, name, sku,
  qty_ordered, price}``, ``billing_address{firstname, lastname, email, country_id, postcode}``
  and ``extension_attributes.shipping_assignments[].shipping.address`` (the delivery address).
- Configurable and bundle products are stored as a parent item plus child items that point to it
  with ``parent_item_id``; the parent carries the name, the chosen variant's SKU and the price,
  the child repeats them with a zero price, so only items without a parent are lines.
- States: new, pending_payment, payment_review, processing, holded, complete, closed, canceled.
  ``canceled`` will not ship. ``closed`` is what Magento sets once everything invoiced has been
  refunded by credit memo: nothing is owed and nothing more will ship, and whatever did ship
  (often a return, or a parcel written off and refunded) is no longer the shopper's concern, so
  we stop tracking it too, as WooCommerce's "refunded" does.
- Shipment (``GET /rest/V1/shipments`` items): ``entity_id``, ``order_id``, ``created_at`` and
  ``tracks[]{entity_id, parent_id (the shipment), order_id, track_number, carrier_code, title}``.
  Magento stores no tracking URL. Core carrier codes are ``ups``, ``usps``, ``fedex``, ``dhl``
  (Magento's DHL carrier is DHL Express: the only DHL service it integrates), and ``custom``
  for "Custom Value", where the merchant's free ``title`` names the carrier. Extensions add
  their own codes ("dhlpaket", "tig_postnl"); their title is usually the carrier's name.
- Store view locales: ``GET /rest/V1/store/storeConfigs`` lists ``{id, code, locale ("fr_FR"),
  ...}`` per store view; an order's ``store_id`` picks one. We keep the language only ("fr"),
  as the Shopify importer does: notification templates are chosen by language, and Magento
  locales always carry a region (en_US, en_GB, zh_Hans_CN) that would split one language into
  many. The route needs the "Stores > Settings > All Stores" ACL resource, which an integration
  made for sales data may lack: then orders simply come without a locale.
- Search: ``searchCriteria[filter_groups][g][filters][f][field|value|condition_type]``, filters
  in one group are ORed, groups are ANDed; ``condition_type`` ``in`` takes a comma-separated
  list; ``sortOrders[i][field|direction]``; ``pageSize``, ``currentPage`` from 1. The answer is
  ``{items, search_criteria, total_count}``. A ``currentPage`` past the last page does not
  answer empty: Magento clamps it and sends the last page again, so paging must stop by
  ``total_count``, never by an empty page. 2.4.7's optional "Web API input limits" refuse a
  ``pageSize`` above the configured maximum (300 by default): we never ask for more.
- Errors are ``{"message": "... %name ... %1", "parameters": {name: value} | [values]}``.

Paging orders by keyset, not by page number: the listing is sorted by ``updated_at``, so an
order updated while a sync walks the pages jumps to the end and every order behind it moves one
place forward; with ``currentPage`` the order that slides across a page boundary is never read,
and the next sync (starting at the newest ``updated_at`` seen) does not see it either. Instead
every page is page 1 of "after the last order read": sorted by (``updated_at``, ``entity_id``),
filtered with ``updated_at >= t`` AND (``updated_at > t`` OR ``entity_id > id``), both
expressible as search groups; the cursor is ``"<t>|<id>"`` and the page is the last one when
``total_count`` (what is left) fits in it. Shipments are paged by number, sorted by
``entity_id``: a new shipment can only be added at the end, so nothing slides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    Page,
    require_https,
)
from wismo.tracking.importers.base import (
    decimal_text as _decimal_text,
)
from wismo.tracking.importers.base import (
    text as _text,
)

ORDERS_PATH = "/rest/V1/orders"
SHIPMENTS_PATH = "/rest/V1/shipments"
STORE_CONFIGS_PATH = "/rest/V1/store/storeConfigs"
ORDERS_PAGE_SIZE = 100
# The default maximum of 2.4.7's Web API input limits: a larger pageSize is refused there.
SHIPMENTS_PAGE_SIZE = 300
CANCELLED_STATES = frozenset({"canceled", "closed"})
# Core carrier codes and the text that names them best for ``carriers.names``: the bare codes
# resolve already, but Magento's "dhl" is DHL Express, which "dhl" alone would not say.
CORE_CARRIERS = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "DHL Express"}
CUSTOM_CARRIER = "custom"
MAGENTO_TIME = "%Y-%m-%d %H:%M:%S"

_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\|(\d+)")
_PLACEHOLDER = re.compile(r"%(\w+)")


# -- small readers -------------------------------------------------------------------------------


def _id(value: object) -> str:
    """A numeric id as text ("58" from 58 or "58"); anything else as ""."""
    text = _text(value)
    return text if text.isdigit() else ""


def _dict(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _when(value: object) -> datetime | None:
    """A Magento time ("2025-03-04 08:02:11", UTC without an offset) as an aware datetime."""
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _full_name(first: object, last: object) -> str:
    return " ".join(part for part in (_text(first), _text(last)) if part)


def language(locale: object) -> str:
    """ "fr_FR" / "zh_Hans_CN" / "en-GB" -> "fr" / "zh" / "en"; "" when there is none."""
    return _text(locale).replace("_", "-").split("-", 1)[0].lower()


# -- shipments -----------------------------------------------------------------------------------


def _carrier_name(track: Mapping) -> str:
    """The best text for ``carriers.names`` from a track's ``carrier_code`` and ``title``."""
    code = _text(track.get("carrier_code"))
    title = _text(track.get("title"))
    if code.lower() in CORE_CARRIERS:
        return CORE_CARRIERS[code.lower()]
    if not code or code.lower() == CUSTOM_CARRIER:
        return title
    # An extension's carrier: its title is what the merchant named it ("DHL Paket" for the
    # code "dhlpaket"), the code is our fallback.
    return title or code


def _fulfillment(shipment: Mapping) -> FulfillmentDTO:
    numbers: dict[str, None] = {}
    names: dict[str, None] = {}
    for track in _list(shipment.get("tracks")):
        if not isinstance(track, Mapping):
            continue
        number = _text(track.get("track_number"))
        if not number:
            continue
        numbers.setdefault(number, None)
        name = _carrier_name(track)
        if name:
            names.setdefault(name, None)
    # One shipment may hold tracks of two carriers (rare): no single name fits them all, so
    # none is given and each number is detected on its own.
    return FulfillmentDTO(
        external_id=_id(shipment.get("entity_id")),
        tracking_numbers=tuple(numbers),
        carrier_name=next(iter(names)) if len(names) == 1 else "",
        shipped_at=_when(shipment.get("created_at")),
    )


def fulfillments_from_shipments(shipments: Iterable[dict]) -> dict[str, list[FulfillmentDTO]]:
    """Shipment objects (``GET /rest/V1/shipments`` items) as fulfillments, by order id.

    One fulfillment per shipment (its ``entity_id``), with every track's number. A shipment
    without ``tracks`` at all is left out (we cannot tell what it holds); one with an empty
    ``tracks`` list is a fulfillment without numbers (its tracks were removed). Repeats of the
    same shipment count once.
    """
    by_order: dict[str, list[FulfillmentDTO]] = {}
    seen: set[str] = set()
    for shipment in shipments:
        if not isinstance(shipment, Mapping):
            continue
        shipment_id, order_id = _id(shipment.get("entity_id")), _id(shipment.get("order_id"))
        if not shipment_id or not order_id or not isinstance(shipment.get("tracks"), list):
            continue
        if shipment_id in seen:
            continue
        seen.add(shipment_id)
        by_order.setdefault(order_id, []).append(_fulfillment(shipment))
    return by_order


# -- orders --------------------------------------------------------------------------------------


def _is_order(order: object) -> bool:
    if not isinstance(order, Mapping) or isinstance(order.get("entity_id"), bool):
        return False
    # A shipment, invoice or credit memo also has entity_id and increment_id, but points to its
    # order with order_id; an order has neither order_id nor a parent.
    return (
        bool(_id(order.get("entity_id")))
        and "increment_id" in order
        and "order_id" not in order
        and isinstance(order.get("items"), list)
    )


def _line_item(item: Mapping) -> LineItemDTO:
    try:
        quantity = int(float(_text(item.get("qty_ordered")) or 1))
    except (ValueError, OverflowError):
        quantity = 1
    return LineItemDTO(
        title=_text(item.get("name")),
        quantity=quantity,
        sku=_text(item.get("sku")),
        price=_decimal_text(item.get("price")),
    )


def _shipping_address(order: Mapping) -> Mapping:
    """The first shipping assignment's address that says where; else the billing address."""
    assignments = _list(_dict(order.get("extension_attributes")).get("shipping_assignments"))
    for assignment in assignments:
        address = _dict(_dict(_dict(assignment).get("shipping")).get("address"))
        if _text(address.get("country_id")) or _text(address.get("postcode")):
            return address
    # Virtual and downloadable orders have no delivery address.
    return _dict(order.get("billing_address"))


def order_from_payload(order: dict, shipments: Iterable[dict] = (), locale: str = "") -> OrderDTO:
    """An order from a Magento REST order object, with the fulfillments of ``shipments``.

    ``shipments`` are shipment objects (``GET /rest/V1/shipments`` items); those of other
    orders are ignored. ``locale`` is the order's store view locale ("fr_FR"), kept as its
    language. Raises ``NotThisPayload`` for anything that is not a Magento order; missing fields
    become empty values, never errors.
    """
    if not _is_order(order):
        raise NotThisPayload("not a Magento REST order (no entity_id, increment_id and items)")
    order_id = _id(order.get("entity_id"))
    billing = _dict(order.get("billing_address"))
    address = _shipping_address(order)
    name = _full_name(order.get("customer_firstname"), order.get("customer_lastname"))
    state = _text(order.get("state")).lower() or _text(order.get("status")).lower()
    return OrderDTO(
        external_id=order_id,
        order_number=_text(order.get("increment_id")) or order_id,
        customer_email=_text(order.get("customer_email")) or _text(billing.get("email")),
        customer_name=name or _full_name(billing.get("firstname"), billing.get("lastname")),
        locale=language(locale),
        shipping_country=_text(address.get("country_id")).upper(),
        shipping_postcode=_text(address.get("postcode")),
        currency=_text(order.get("order_currency_code")).upper(),
        placed_at=_when(order.get("created_at")),
        updated_at=_when(order.get("updated_at")),
        cancelled=state in CANCELLED_STATES,
        line_items=tuple(
            _line_item(item)
            for item in _list(order.get("items"))
            if isinstance(item, Mapping) and not _text(item.get("parent_item_id"))
        ),
        fulfillments=tuple(fulfillments_from_shipments(shipments).get(order_id, ())),
    )


# -- REST client ---------------------------------------------------------------------------------


def _magento_message(response) -> str:
    """Magento's error message with its ``%name``/``%1`` placeholders filled in."""
    try:
        body = _dict(response.json())
    except ValueError:
        body = {}
    message = _text(body.get("message"))
    if not message:
        return f"HTTP {response.status_code}"
    parameters = body.get("parameters")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if isinstance(parameters, Mapping) and key in parameters:
            return _text(parameters[key])
        if isinstance(parameters, list) and key.isdigit() and 1 <= int(key) <= len(parameters):
            return _text(parameters[int(key) - 1])
        return match.group(0)

    return f"{_PLACEHOLDER.sub(fill, message)} (HTTP {response.status_code})"


def _search(
    groups: list[list[tuple[str, str, str]]],
    sort: list[tuple[str, str]],
    page_size: int,
    page: int,
) -> dict[str, str]:
    """searchCriteria query parameters: groups of (field, value, condition) ANDed, ORed inside."""
    params: dict[str, str] = {}
    for g, filters in enumerate(groups):
        for f, (field, value, condition) in enumerate(filters):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            params[f"{prefix}[field]"] = field
            params[f"{prefix}[value]"] = value
            params[f"{prefix}[condition_type]"] = condition
    for i, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{i}][field]"] = field
        params[f"searchCriteria[sortOrders][{i}][direction]"] = direction
    params["searchCriteria[pageSize]"] = str(page_size)
    params["searchCriteria[currentPage]"] = str(page)
    return params


def _search_result(body: object, what: str) -> tuple[list, int]:
    """(items, total_count) of a search answer; ``MalformedResponse`` when it is not one."""
    if not isinstance(body, Mapping) or not isinstance(body.get("items", []), list):
        raise MalformedResponse(f"Magento {what} search answer has no items list", status=200)
    total = body.get("total_count")
    if isinstance(total, bool) or not _id(total):
        raise MalformedResponse(f"Magento {what} search answer has no total_count", status=200)
    return body.get("items") or [], int(_id(total))


class MagentoClient:
    """Reads a Magento 2 / Adobe Commerce store's orders and shipments over REST.

    ``access_token`` is sent as ``Authorization: Bearer``: either an integration's access token
    (System > Extensions > Integrations; it needs read access to sales orders and shipments, and
    to Stores > Settings > All Stores for the customers' languages) or an admin token (4 hours).
    Since 2.4.4 an integration token is only accepted as a standalone Bearer token when
    Stores > Configuration > Services > OAuth > Consumer Settings > "Allow OAuth Access Tokens to
    be used as standalone Bearer tokens" is on (INTEGRATIONS.md A3); otherwise every request
    answers 401. ``base_url`` is the store's address ("https://shop.example.com", with
    ``/index.php`` when it has no URL rewrites); ``/rest/V1/...`` is added to it.
    """

    def __init__(
        self,
        base_url: str,
        access_token: str,
        http: HttpClient,
        *,
        page_size: int = ORDERS_PAGE_SIZE,
        shipments_page_size: int = SHIPMENTS_PAGE_SIZE,
    ):
        base = require_https(base_url, "Magento store")
        if base.endswith("/rest"):  # the REST endpoint pasted instead of the store's address
            base = base[: -len("/rest")]
        if page_size < 1 or shipments_page_size < 1:
            raise ValueError("page sizes must be positive")
        self.base_url = base
        self.http = http
        self.page_size = page_size
        self.shipments_page_size = shipments_page_size
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        self._locales: dict[str, str] | None = None  # store view id -> locale, read once

    def orders_page(self, updated_after: datetime | None, cursor: str | None) -> Page:
        """Orders updated at or after ``updated_after``, oldest change first, with shipments.

        ``cursor`` is the previous ``Page.next_cursor`` (None for the first page). Raises
        ``TransientError`` (429, 5xx, timeouts, ``MalformedResponse``) and ``TerminalError``
        (refused token, or any answer retrying cannot fix) from the HTTP layer.
        """
        groups: list[list[tuple[str, str, str]]] = []
        if cursor:
            match = _CURSOR.fullmatch(cursor)
            if match is None:
                raise ValueError(f"bad Magento cursor: {cursor!r}")
            last_time, last_id = match.groups()
            groups = [
                [("updated_at", last_time, "gteq")],
                [("updated_at", last_time, "gt"), ("entity_id", last_id, "gt")],
            ]
        elif updated_after is not None:
            if updated_after.tzinfo is None:
                raise ValueError("updated_after must be timezone-aware")
            since = updated_after.astimezone(UTC).strftime(MAGENTO_TIME)
            groups = [[("updated_at", since, "gteq")]]
        params = _search(
            groups, [("updated_at", "ASC"), ("entity_id", "ASC")], self.page_size, page=1
        )
        items, total = _search_result(self._get(ORDERS_PATH, params, "orders listing"), "orders")
        entries = [item for item in items if _is_order(item)]
        if not entries:
            # An empty store or window. (A page of nothing but non-orders, which Magento does
            # not send, gives no order to resume after: stopping beats asking it again forever.)
            return Page(orders=[], next_cursor=None)
        shipments = self._shipments(list(dict.fromkeys(_id(e.get("entity_id")) for e in entries)))
        by_order: dict[str, list[dict]] = {}
        for shipment in shipments:
            if isinstance(shipment, Mapping):
                by_order.setdefault(_id(shipment.get("order_id")), []).append(shipment)
        locales = self._store_locales()
        orders = [
            order_from_payload(
                entry,
                by_order.get(_id(entry.get("entity_id")), ()),
                locales.get(_id(entry.get("store_id")), ""),
            )
            for entry in entries
        ]
        # total_count is what matched the filter: this page and everything after it.
        if total <= len(items):
            return Page(orders=orders, next_cursor=None)
        last = entries[-1]
        last_time = _text(last.get("updated_at"))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", last_time):
            raise MalformedResponse(
                "Magento order without a readable updated_at: cannot resume after it", status=200
            )
        return Page(orders=orders, next_cursor=f"{last_time}|{_id(last.get('entity_id'))}")

    # -- requests --------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str] | None, what: str) -> object:
        try:
            response = self.http.get(self.base_url + path, params=params, headers=self._headers)
        except TerminalError as exc:
            if exc.status == 401:
                # Magento answers 401 both for a bad token and for a missing ACL resource.
                raise TerminalError(
                    f"Magento refused the {what} (HTTP 401): the access token is wrong or"
                    " revoked, lacks this permission, or (2.4.4 and later) OAuth access tokens"
                    " may not be used as standalone Bearer tokens",
                    status=401,
                ) from exc
            raise
        if not 200 <= response.status_code < 300:
            raise TerminalError(
                f"Magento refused the {what}: {_magento_message(response)}",
                status=response.status_code,
            )
        return json_body(response)

    def _shipments(self, order_ids: list[str]) -> list:
        """Every shipment of these orders: one search, more pages only when total_count says."""
        groups = [[("order_id", ",".join(order_ids), "in")]]
        sort = [("entity_id", "ASC")]
        size = self.shipments_page_size
        items, total = _search_result(
            self._get(SHIPMENTS_PATH, _search(groups, sort, size, 1), "shipments listing"),
            "shipments",
        )
        found = list(items)
        # Page count fixed from the first answer: past the last page Magento repeats it.
        for page in range(2, math.ceil(total / size) + 1):
            more, _ = _search_result(
                self._get(SHIPMENTS_PATH, _search(groups, sort, size, page), "shipments listing"),
                "shipments",
            )
            found.extend(more)
        return found

    def _store_locales(self) -> dict[str, str]:
        """Store view id -> locale, asked once per client; {} when the token may not read it."""
        if self._locales is None:
            try:
                body = self._get(STORE_CONFIGS_PATH, None, "store configuration")
            except TerminalError:
                # No "All Stores" ACL resource, or an old route: orders without a language
                # beat no orders. Transient errors still propagate and the page is retried.
                body = []
            if not isinstance(body, list):
                raise MalformedResponse("Magento storeConfigs answer is not a list", status=200)
            self._locales = {
                _id(config.get("id")): _text(config.get("locale"))
                for config in body
                if isinstance(config, Mapping) and _id(config.get("id"))
            }
        return self._locales
