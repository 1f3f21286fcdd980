"""PrestaShop (Webservice API, 1.7 / 8): orders and their carriers' tracking numbers as DTOs.

Flow: PrestaShop core has no webhooks, so orders only come from the periodic sync, which walks
``PrestaShopClient.orders_page`` until ``next_cursor`` is None. Each page is one orders listing
(``display=full``) followed by a fixed set of batch requests (order carriers, customers,
addresses, then countries, languages, currencies and carriers for ids not seen yet), after which
``order_from_payload`` joins one order with its rows into an ``OrderDTO``. The mapping is pure,
so tests replay recorded Webservice bodies.

What we rely on (PrestaShop devdocs: webservice cheat sheet, "additional list parameters",
resources orders / order_carriers / carriers; PrestaShop's shipping FAQ):

- Auth: the webservice key is the HTTP Basic user name with an empty password. The key is a
  bearer secret, so we refuse plain http except to a loopback address (local tests).
  ``output_format=JSON`` switches the answer from XML to JSON; some errors still come as XML.
- Listing: ``display=full`` (or ``[field,...]``), ``filter[field]=[a|b]`` (OR list),
  ``[low,high]`` (inclusive interval), ``sort=[field_ASC,field2_DESC]`` (several keys allowed),
  ``limit=offset,count``. Date fields can only be filtered with ``date=1``. There is no total
  and no next link; a listing with no match answers a bare ``[]`` instead of ``{"orders": []}``.
- JSON quirks: an object's own ``id`` is a number, every other field a string (ids, quantities,
  prices with six decimals); dates are ``"YYYY-MM-DD HH:MM:SS"`` without an offset, in the
  shop's timezone (PrestaShop writes local time; an hour repeated when summer time ends is
  read as its first occurrence), ``"0000-00-00 00:00:00"`` meaning none; a
  translatable field is a list ``[{"id": "<id_lang>", "value": "..."}]`` unless ``language``
  was asked.
- Order: ``id``, ``reference`` (the 9-letter code the customer sees in emails and in their
  account, so it is our order number), ``id_customer``, ``id_address_delivery``, ``id_lang``,
  ``id_currency``, ``id_carrier``, ``current_state``, ``date_add``, ``date_upd``, the legacy
  single ``shipping_number``, and ``associations.order_rows[]{product_name, product_quantity,
  product_reference, unit_price_tax_incl}``.
- States: ``current_state`` is an ``order_states`` id. The default install has 6 = Canceled,
  7 = Refunded, 8 = Payment error: those orders will not ship (``CANCELLED_STATE_IDS``; shops
  with their own states pass their ids).
- Tracking: one ``order_carriers`` row per carrier of the order ``{id, id_order, id_carrier,
  tracking_number, date_add}``; the row is created with the order and gets its number later
  (the row has no update date), so ``date_add`` is not a shipping time and we leave
  ``shipped_at`` empty. The carrier's ``name`` ("0" means "show the shop's name", used for
  in-store pickup) and tracking ``url``, where PrestaShop puts the number in place of every
  ``@``. Numbers may be comma-separated in one field (the core validator allows commas).
  Older modules only fill the order's ``shipping_number``, used when no row has a number.
- Customers ``{email, firstname, lastname}``, addresses ``{id_country, postcode}``, countries,
  languages and currencies ``{iso_code}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring

from carriers.http import HttpClient, MalformedResponse, TerminalError, json_body
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    Page,
    require_https,
)

# Default order_states ids of a PrestaShop install: Canceled, Refunded, Payment error.
CANCELLED_STATE_IDS = frozenset({"6", "7", "8"})
PAGE_SIZE = 100
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
FAR_FUTURE = "2099-12-31 23:59:59"
MAX_ID = "4294967295"  # PrestaShop ids are INT(10) UNSIGNED
# Every resource this client reads: the webservice key needs GET on each of them.
RESOURCES = (
    "orders",
    "order_carriers",
    "customers",
    "addresses",
    "countries",
    "languages",
    "currencies",
    "carriers",
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_CURSOR = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\|(?P<after_id>\d{1,10}))?")
_CENTS = Decimal("0.01")


# -- payloads ------------------------------------------------------------------------------------


def _text(value: object, lang_id: str = "") -> str:
    """A scalar as stripped text; a translated field's value in ``lang_id`` (else the first)."""
    if isinstance(value, list):
        translations = [t for t in value if isinstance(t, Mapping)]
        chosen = next((t for t in translations if _text(t.get("id")) == lang_id), None)
        if chosen is None and translations:
            chosen = translations[0]
        return _text(chosen.get("value")) if chosen is not None else ""
    if value is None or isinstance(value, bool | dict):
        return ""
    return str(value).strip()


def _id(value: object) -> str:
    """A PrestaShop id as text ("7" or 7 -> "7"); "" for 0, missing and anything not an id."""
    text = _text(value)
    return text if text.isdigit() and text.isascii() and int(text) > 0 else ""


def _dict(value: object) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _rows(value: object) -> list[Mapping]:
    """Association rows: a list, or one object when there is a single row."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [row for row in value if isinstance(row, Mapping)]
    return []


def _local_time(value: object, zone: tzinfo) -> datetime | None:
    """A PrestaShop date (shop-local, no offset) as an aware UTC datetime; None when unset."""
    text = _text(value)
    if not _DATE.fullmatch(text):
        return None
    try:
        naive = datetime.strptime(text, DATE_FORMAT)  # noqa: DTZ007 - local time of the shop
    except ValueError:  # "0000-00-00 00:00:00" and other impossible dates
        return None
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _price(value: object) -> str:
    """A price as text: six stored decimals cut to cents ("14.900000" -> "14.90"), finer kept."""
    try:
        number = Decimal(_text(value))
    except InvalidOperation:
        return ""
    if not number.is_finite():
        return ""
    number = number.normalize()
    if number.as_tuple().exponent >= -2:
        number = number.quantize(_CENTS)
    return format(number, "f")


def _quantity(value: object) -> int:
    try:
        return int(Decimal(_text(value)))
    except (InvalidOperation, ValueError, OverflowError):
        return 1


def _line_item(row: Mapping, lang_id: str) -> LineItemDTO:
    return LineItemDTO(
        title=_text(row.get("product_name"), lang_id),
        quantity=_quantity(row.get("product_quantity")),
        sku=_text(row.get("product_reference")),
        price=_price(row.get("unit_price_tax_incl")),
    )


def _numbers(value: object) -> tuple[str, ...]:
    """The tracking numbers in one field; merchants separate several with commas."""
    seen: dict[str, None] = {}
    for part in _text(value).split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return tuple(seen)


def _carrier_name(carrier: Mapping, lang_id: str) -> str:
    name = _text(carrier.get("name"), lang_id)
    return "" if name == "0" else name  # "0": the shop's own name (in-store pickup)


def _tracking_url(carrier: Mapping, number: str, lang_id: str) -> str:
    template = _text(carrier.get("url"), lang_id)
    if "@" not in template or urlsplit(template).scheme.lower() not in ("http", "https"):
        return ""
    return template.replace("@", quote(number, safe=""))


def _fulfillment(
    external_id: str, numbers: tuple[str, ...], carrier: Mapping, lang_id: str
) -> FulfillmentDTO:
    urls = tuple(url for url in (_tracking_url(carrier, n, lang_id) for n in numbers) if url)
    return FulfillmentDTO(
        external_id=external_id,
        tracking_numbers=numbers,
        carrier_name=_carrier_name(carrier, lang_id),
        tracking_urls=urls,
    )


def _fulfillments(
    order: Mapping,
    order_id: str,
    order_carriers: Iterable[Mapping],
    carriers: Mapping[str, Mapping],
    lang_id: str,
) -> tuple[FulfillmentDTO, ...]:
    rows = [
        row
        for row in order_carriers
        if isinstance(row, Mapping) and _id(row.get("id_order")) in (order_id, "")
    ]
    fulfillments: dict[str, FulfillmentDTO] = {}
    for row in rows:
        row_id, numbers = _id(row.get("id")), _numbers(row.get("tracking_number"))
        if row_id and numbers and row_id not in fulfillments:
            carrier = _dict(carriers.get(_id(row.get("id_carrier"))))
            fulfillments[row_id] = _fulfillment(row_id, numbers, carrier, lang_id)
    if fulfillments:
        return tuple(fulfillments.values())
    legacy = _numbers(order.get("shipping_number"))
    if not legacy:
        return ()
    # Attach the legacy number to the order's own carrier row when there is one, so that the
    # same parcel keeps its fulfillment id once a module fills the row's tracking_number.
    carrier_id = _id(order.get("id_carrier"))
    row = next(
        (r for r in rows if _id(r.get("id")) and _id(r.get("id_carrier")) == carrier_id),
        next((r for r in rows if _id(r.get("id"))), None),
    )
    if row is not None:
        external_id, carrier_id = _id(row.get("id")), _id(row.get("id_carrier")) or carrier_id
    else:
        external_id = f"order-{order_id}"
    return (_fulfillment(external_id, legacy, _dict(carriers.get(carrier_id)), lang_id),)


def _unwrap(payload: object) -> object:
    """``{"order": {...}}`` (one order by id) -> the order itself."""
    if (
        isinstance(payload, Mapping)
        and len(payload) == 1
        and isinstance(payload.get("order"), Mapping)
    ):
        return payload["order"]
    return payload


def _is_order(order: object) -> bool:
    if not isinstance(order, Mapping):
        return False
    if not _id(order.get("id")) or "id_order" in order:  # order_carriers, order_details, ...
        return False
    # Only an order has a cart id; a product has a reference too, but no customer.
    return "id_cart" in order or ("reference" in order and "id_customer" in order)


def order_from_payload(
    order: Mapping,
    *,
    order_carriers: Iterable[Mapping] = (),
    customer: Mapping | None = None,
    address: Mapping | None = None,
    country_iso: str = "",
    language_iso: str = "",
    currency_iso: str = "",
    carriers: Mapping[str, Mapping] | None = None,
    cancelled_state_ids: Iterable[str] = CANCELLED_STATE_IDS,
    shop_timezone: tzinfo = UTC,
) -> OrderDTO:
    """One Webservice order (``display=full``, JSON) with the rows it refers to, joined.

    ``order_carriers`` are the order's ``order_carriers`` rows (rows of other orders are
    ignored), ``customer`` and ``address`` its customer and delivery address, ``carriers`` the
    carriers by id; the ISO codes come from its address's country, its language and currency.
    ``shop_timezone`` is the shop's timezone (PrestaShop dates are local times). Raises
    ``NotThisPayload`` for anything that is not a PrestaShop order; missing fields become empty
    values.
    """
    order = _unwrap(order)
    if not _is_order(order):
        raise NotThisPayload("not a PrestaShop Webservice order (no id with id_cart or reference)")
    order_id = _id(order.get("id"))
    lang_id = _id(order.get("id_lang"))
    customer, address = _dict(customer), _dict(address)
    name = " ".join(
        part for part in (_text(customer.get("firstname")), _text(customer.get("lastname"))) if part
    )
    states = {_text(state) for state in cancelled_state_ids}
    return OrderDTO(
        external_id=order_id,
        order_number=_text(order.get("reference")) or order_id,
        customer_email=_text(customer.get("email")),
        customer_name=name,
        locale=_text(language_iso).lower(),
        shipping_country=_text(country_iso).upper(),
        shipping_postcode=_text(address.get("postcode")),
        currency=_text(currency_iso).upper(),
        placed_at=_local_time(order.get("date_add"), shop_timezone),
        updated_at=_local_time(order.get("date_upd"), shop_timezone),
        cancelled=_id(order.get("current_state")) in states,
        line_items=tuple(
            _line_item(row, lang_id)
            for row in _rows(_dict(order.get("associations")).get("order_rows"))
        ),
        fulfillments=_fulfillments(order, order_id, order_carriers, carriers or {}, lang_id),
    )


# -- Webservice client ---------------------------------------------------------------------------


def _zone(timezone: str | tzinfo) -> tzinfo:
    if isinstance(timezone, tzinfo):
        return timezone
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone for the PrestaShop shop: {timezone!r}") from exc


def _listing(body: object, resource: str) -> list[Mapping] | None:
    """The objects of a listing body; None when the body is not a listing of ``resource``."""
    if body == []:  # PrestaShop's answer when nothing matches
        return []
    if not isinstance(body, Mapping) or resource not in body:
        return None
    items = body[resource]
    if items in (None, "", []):
        return []
    return _rows(items) if isinstance(items, Mapping | list) else None


def _error_message(response) -> str:
    """PrestaShop's own error text, from a JSON or an XML error body (it may send either)."""
    messages: list[str] = []
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, Mapping):
        for error in _rows(document.get("errors")):
            messages.append(_text(error.get("message")))
    elif response.content.lstrip().startswith(b"<"):
        try:
            root = safe_fromstring(response.content)
        except (ParseError, DefusedXmlException, ValueError):
            root = None
        if root is not None:
            messages = [(node.text or "").strip() for node in root.iter("message")]
    text = "; ".join(m for m in messages if m)
    return text[:300] or f"HTTP {response.status_code}"


def _next_second(date: str) -> str:
    moment = datetime.strptime(date, DATE_FORMAT)  # noqa: DTZ007 - shop-local text, no zone
    return (moment + timedelta(seconds=1)).strftime(DATE_FORMAT)


def _carriers_to_name(
    orders: list[Mapping], order_ids: list[str], carrier_rows: Mapping[str, list[Mapping]]
) -> set[str]:
    """The carriers whose name and URL a fulfillment of these orders will show."""
    wanted: set[str] = set()
    for order, order_id in zip(orders, order_ids, strict=True):
        rows = carrier_rows.get(order_id, [])
        numbered = [r for r in rows if _numbers(r.get("tracking_number"))]
        if numbered:
            wanted |= {_id(r.get("id_carrier")) for r in numbered}
        elif _numbers(order.get("shipping_number")):
            wanted |= {_id(r.get("id_carrier")) for r in rows} | {_id(order.get("id_carrier"))}
    return wanted - {""}


def _order_key(order: Mapping) -> tuple[str, str]:
    """(date_upd, id) of a listed order, which the next page's cursor is made of."""
    date, order_id = _text(order.get("date_upd")), _id(order.get("id"))
    if not _DATE.fullmatch(date) or not order_id:
        raise MalformedResponse("PrestaShop order without date_upd or id: cannot page on")
    return date, order_id


class PrestaShopClient:
    """Reads a shop's orders through its Webservice with one webservice key.

    ``timezone`` is the shop's timezone name (PrestaShop > International > Localization;
    default "UTC"): PrestaShop dates are local times without an offset, so they are read in
    this zone and ``updated_after`` is written in it. If it is not the shop's real zone, times
    are shifted but the sync stays consistent, since both directions use the same zone.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        http: HttpClient,
        *,
        timezone: str | tzinfo = "UTC",
        cancelled_state_ids: Iterable[str] = CANCELLED_STATE_IDS,
        page_size: int = PAGE_SIZE,
    ):
        base = require_https(base_url, "PrestaShop shop")
        # Merchants paste either the shop URL or its Webservice URL.
        self.api_url = base if base.endswith("/api") else base + "/api"
        self.auth = (api_key, "")
        self.http = http
        self.zone = _zone(timezone)
        self.cancelled_state_ids = frozenset(_text(s) for s in cancelled_state_ids)
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self.page_size = page_size
        # Small reference tables, read once per client (one sync): id -> iso code / carrier.
        self._countries: dict[str, str] = {}
        self._languages: dict[str, str] = {}
        self._currencies: dict[str, str] = {}
        self._carriers: dict[str, Mapping] = {}

    # -- requests --------------------------------------------------------------------------------

    def _list(self, resource: str, params: Mapping[str, str]) -> list[Mapping]:
        try:
            response = self.http.get(
                f"{self.api_url}/{resource}",
                params={**params, "output_format": "JSON"},
                auth=self.auth,
            )
        except TerminalError as exc:
            # The key's rights are per resource: say which one was refused.
            raise TerminalError(
                f"PrestaShop refused the webservice key for {resource} (HTTP {exc.status}); "
                f"it needs GET on {', '.join(RESOURCES)}",
                status=exc.status,
            ) from exc
        if not 200 <= response.status_code < 300:
            raise TerminalError(
                f"PrestaShop refused the {resource} listing: {_error_message(response)}",
                status=response.status_code,
            )
        items = _listing(json_body(response), resource)
        if items is None:
            raise MalformedResponse(
                f"PrestaShop {resource} answer is not a {resource} listing",
                status=response.status_code,
            )
        return items

    def _by_id(self, resource: str, field: str, ids: Iterable[str], display: str) -> list[Mapping]:
        wanted = sorted({i for i in ids if i}, key=int)
        if not wanted:
            return []
        return self._list(
            resource, {"display": display, f"filter[{field}]": "[" + "|".join(wanted) + "]"}
        )

    def _iso_codes(self, resource: str, ids: Iterable[str], cache: dict[str, str]) -> None:
        missing = {i for i in ids if i and i not in cache}
        for row in self._by_id(resource, "id", missing, "[id,iso_code]"):
            cache[_id(row.get("id"))] = _text(row.get("iso_code"))
        for key in missing:  # unknown or deleted ids are not asked again
            cache.setdefault(key, "")

    def _fetch_carriers(self, ids: Iterable[str]) -> None:
        missing = {i for i in ids if i and i not in self._carriers}
        for row in self._by_id("carriers", "id", missing, "[id,name,url]"):
            self._carriers[_id(row.get("id"))] = row
        for key in missing:
            self._carriers.setdefault(key, {})

    # -- paging ----------------------------------------------------------------------------------

    def _since(self, updated_after: datetime | None) -> str:
        if updated_after is None:
            return ""
        if updated_after.tzinfo is None:
            raise ValueError("updated_after must be timezone-aware")
        # Microseconds are dropped: the filter is inclusive, so rounding down only re-reads.
        return updated_after.astimezone(self.zone).strftime(DATE_FORMAT)

    def _listing_page(
        self, updated_after: datetime | None, cursor: str | None
    ) -> tuple[list[Mapping], str | None]:
        """The raw orders of one page and the cursor of the next (see ``orders_page``)."""
        if cursor:
            match = _CURSOR.fullmatch(cursor)
            if match is None:
                raise ValueError(f"bad PrestaShop page cursor: {cursor!r}")
            date, after_id = match["date"], match["after_id"]
        else:
            date, after_id = self._since(updated_after), None
        limit = f"0,{self.page_size}"
        if after_id is not None:
            # One date_upd shared by more orders than a page holds: walk that second by id.
            raw = self._list(
                "orders",
                {
                    "display": "full",
                    "date": "1",
                    "filter[date_upd]": f"[{date},{date}]",
                    "filter[id]": f"[{int(after_id) + 1},{MAX_ID}]",
                    "sort": "[id_ASC]",
                    "limit": limit,
                },
            )
            if len(raw) < self.page_size:
                return raw, _next_second(date)
            return raw, f"{date}|{_order_key(raw[-1])[1]}"
        params = {"display": "full", "sort": "[date_upd_ASC,id_ASC]", "limit": limit}
        if date:
            params |= {"date": "1", "filter[date_upd]": f"[{date},{FAR_FUTURE}]"}
        raw = self._list("orders", params)
        if len(raw) < self.page_size:
            return raw, None
        last_date, last_id = _order_key(raw[-1])
        if _order_key(raw[0])[0] == last_date:
            return raw, f"{last_date}|{last_id}"
        # More orders may share the last date_upd beyond this page: leave that second's orders
        # to the next page, which starts at it (the date filter is inclusive).
        return [o for o in raw if _text(o.get("date_upd")) != last_date], last_date

    def orders_page(self, updated_after: datetime | None, cursor: str | None) -> Page:
        """One page of orders changed since ``updated_after``, oldest change first.

        Keyset paging, not offsets: an order updated while we walk moves to the end of the
        listing, which shifts every later order back and makes an offset skip one. So the
        listing is always read from its start (``limit=0,N``, sorted by date_upd then id) with
        the date filter moved forward: the cursor ``"<date_upd>"`` means "from this second on".
        A full page leaves the orders of its last second to the next page (they may continue
        past it); when one second fills a whole page, the cursor ``"<date_upd>|<id>"`` walks
        that second by id, then goes on from the next second. A page may thus be short, even
        empty, while ``next_cursor`` is set; it is None after the last page.

        Requests per page are bounded, whatever the number of orders on it: the listing, then
        one batch each for order carriers, customers and addresses, then at most one each for
        the countries, languages, currencies and carriers this client has not seen yet (8 at
        most, 1 for an empty page). Raises ``TransientError`` (429, 5xx, timeouts, a body that
        is not JSON) and ``TerminalError`` (refused key, any other error answer).
        """
        raw, next_cursor = self._listing_page(updated_after, cursor)
        orders = [order for order in raw if _is_order(order)]
        if not orders:
            return Page(orders=[], next_cursor=next_cursor)

        order_ids = [_id(o.get("id")) for o in orders]
        carrier_rows: dict[str, list[Mapping]] = {}
        for row in self._by_id("order_carriers", "id_order", order_ids, "full"):
            carrier_rows.setdefault(_id(row.get("id_order")), []).append(row)
        customers = {
            _id(row.get("id")): row
            for row in self._by_id(
                "customers",
                "id",
                (_id(o.get("id_customer")) for o in orders),
                "[id,email,firstname,lastname]",
            )
        }
        addresses = {
            _id(row.get("id")): row
            for row in self._by_id(
                "addresses",
                "id",
                (_id(o.get("id_address_delivery")) for o in orders),
                "[id,id_country,postcode]",
            )
        }
        self._iso_codes(
            "countries", (_id(a.get("id_country")) for a in addresses.values()), self._countries
        )
        self._iso_codes("languages", (_id(o.get("id_lang")) for o in orders), self._languages)
        self._iso_codes("currencies", (_id(o.get("id_currency")) for o in orders), self._currencies)
        self._fetch_carriers(_carriers_to_name(orders, order_ids, carrier_rows))

        dtos = []
        for order, order_id in zip(orders, order_ids, strict=True):
            address = addresses.get(_id(order.get("id_address_delivery")), {})
            dtos.append(
                order_from_payload(
                    order,
                    order_carriers=carrier_rows.get(order_id, ()),
                    customer=customers.get(_id(order.get("id_customer"))),
                    address=address,
                    country_iso=self._countries.get(_id(address.get("id_country")), ""),
                    language_iso=self._languages.get(_id(order.get("id_lang")), ""),
                    currency_iso=self._currencies.get(_id(order.get("id_currency")), ""),
                    carriers=self._carriers,
                    cancelled_state_ids=self.cancelled_state_ids,
                    shop_timezone=self.zone,
                )
            )
        return Page(orders=dtos, next_cursor=next_cursor)
