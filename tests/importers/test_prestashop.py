"""PrestaShop importer: recorded Webservice JSON bodies joined into orders, and the client walking
the orders listing against a local fake of the Webservice (filters, sort and limit emulated)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from tests.fakes.carrier_server import Reply
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, NotThisPayload, OrderDTO
from wismo.tracking.importers.prestashop import (
    CANCELLED_STATE_IDS,
    PrestaShopClient,
    order_from_payload,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops" / "prestashop"
API_KEY = "UCCLLQ9N2ARSHWCXLT74KUKSSK34BFKX"
PARIS = ZoneInfo("Europe/Paris")
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
FAR = "2099-12-31 23:59:59"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rows(resource: str) -> list[dict]:
    return json.loads(raw(f"{resource}.json"))[resource]


def by_id(resource: str) -> dict[str, dict]:
    return {str(row["id"]): row for row in rows(resource)}


def iso(resource: str, row_id: str) -> str:
    return by_id(resource)[row_id]["iso_code"]


def joined(order: dict, **overrides) -> OrderDTO:
    """What the client does for one order, by hand from the recorded bodies."""
    wrapped, order = order, order.get("order", order)
    address = by_id("addresses").get(order["id_address_delivery"], {})
    kwargs = {
        "order_carriers": [r for r in rows("order_carriers") if r["id_order"] == str(order["id"])],
        "customer": by_id("customers").get(order["id_customer"]),
        "address": address,
        "country_iso": iso("countries", address["id_country"]) if address else "",
        "language_iso": iso("languages", order["id_lang"]),
        "currency_iso": iso("currencies", order["id_currency"]),
        "carriers": by_id("carriers"),
        "shop_timezone": PARIS,
    }
    return order_from_payload(wrapped, **(kwargs | overrides))


def order(order_id: int) -> dict:
    return next(o for o in rows("orders") if o["id"] == order_id)


ORDER_58 = OrderDTO(
    external_id="58",
    order_number="XKBKNABJK",
    customer_email="lea.martin@example.fr",
    customer_name="Léa Martin",
    locale="fr",
    shipping_country="FR",
    shipping_postcode="75011",
    currency="EUR",
    placed_at=datetime(2025, 3, 3, 17, 40, 22, tzinfo=UTC),  # 18:40:22 in Paris (CET)
    updated_at=datetime(2025, 3, 4, 8, 12, 3, tzinfo=UTC),
    cancelled=False,
    line_items=(
        LineItemDTO(
            title="Coffret thé vert - 12 sachets", quantity=2, sku="THE-VERT-12", price="14.90"
        ),
        LineItemDTO(title="Théière en fonte 0,8 L", quantity=1, sku="", price="39.00"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="88",
            tracking_numbers=("6A12345678901",),
            carrier_name="Colissimo",
            tracking_urls=("https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901",),
        ),
        FulfillmentDTO(
            external_id="89",
            tracking_numbers=("XY123456789FR",),
            carrier_name="Chronopost",
            tracking_urls=(
                "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT=XY123456789FR",
            ),
        ),
    ),
)
ORDER_59 = OrderDTO(
    external_id="59",
    order_number="QWPLMZTRE",
    customer_email="max.weber@example.de",
    customer_name="Max Weber",
    locale="de",
    shipping_country="DE",
    shipping_postcode="10115",
    currency="EUR",
    placed_at=datetime(2025, 3, 4, 7, 55, 10, tzinfo=UTC),
    updated_at=datetime(2025, 3, 4, 8, 12, 3, tzinfo=UTC),
    cancelled=False,
    line_items=(
        LineItemDTO(title="Kaffeebecher - Farbe : Blau", quantity=3, sku="MUG-BLU", price="11.781"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="90",  # the order's own carrier row, still without a number
            tracking_numbers=("00340434161094042557",),
            carrier_name="DHL Paket",
            tracking_urls=(
                "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
                "?piececode=00340434161094042557",
            ),
        ),
    ),
)
ORDER_60 = OrderDTO(
    external_id="60",
    order_number="BNHYUJMKO",
    customer_email="nina.keller@example.ch",
    customer_name="Nina Keller",
    locale="en",
    shipping_country="CH",
    shipping_postcode="8001",
    currency="CHF",
    placed_at=datetime(2025, 3, 5, 10, 3, 45, tzinfo=UTC),
    updated_at=datetime(2025, 3, 5, 15, 30, tzinfo=UTC),
    cancelled=True,
    line_items=(LineItemDTO(title="Gift card CHF 50", quantity=1, sku="GIFT-50", price="50.00"),),
    fulfillments=(),
)


# -- orders ---------------------------------------------------------------------------------


def test_an_order_with_two_carrier_rows_is_normalized_whole():
    assert joined(order(58)) == ORDER_58


def test_the_legacy_shipping_number_is_used_when_no_carrier_row_has_a_number():
    assert joined(order(59)) == ORDER_59


def test_a_cancelled_order_without_numbers_has_no_fulfillments():
    assert joined(order(60)) == ORDER_60


def test_the_legacy_shipping_number_is_ignored_when_carrier_rows_have_numbers():
    body = order(58)
    body["shipping_number"] = "SOMETHINGELSE1"

    assert joined(body).fulfillments == ORDER_58.fulfillments


def test_a_legacy_number_without_any_carrier_row_uses_the_orders_carrier():
    order_59 = joined(order(59), order_carriers=[])

    assert order_59.fulfillments == (
        FulfillmentDTO(
            external_id="order-59",
            tracking_numbers=("00340434161094042557",),
            carrier_name="DHL Paket",
            tracking_urls=ORDER_59.fulfillments[0].tracking_urls,
        ),
    )


def test_rows_of_other_orders_are_ignored():
    assert joined(order(60), order_carriers=rows("order_carriers")).fulfillments == ()


@pytest.mark.parametrize("state", sorted(CANCELLED_STATE_IDS))
def test_canceled_refunded_and_payment_error_orders_are_cancelled(state):
    body = order(58)
    body["current_state"] = state

    assert joined(body).cancelled is True


@pytest.mark.parametrize("state", ["1", "2", "3", "4", "5", "9", "10", "12", "", "0"])
def test_an_order_still_going_is_not_cancelled(state):
    body = order(60)
    body["current_state"] = state

    assert joined(body).cancelled is False


def test_a_shop_with_its_own_states_passes_their_ids():
    body = order(58)
    body["current_state"] = "23"

    assert joined(body, cancelled_state_ids={"23"}).cancelled is True
    assert joined(order(60), cancelled_state_ids={"23"}).cancelled is False


def test_dates_are_read_in_the_shops_timezone():
    body = order(58)
    body["date_upd"] = "2025-07-01 12:00:00"  # summer time in Paris: UTC+2

    assert joined(body).updated_at == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert joined(body, shop_timezone=UTC).updated_at == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert joined(body, shop_timezone=ZoneInfo("America/New_York")).updated_at == datetime(
        2025, 7, 1, 16, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "value", ["0000-00-00 00:00:00", "", None, "04/03/2025", "2025-02-30 10:00:00"]
)
def test_an_unset_or_odd_date_is_none(value):
    body = order(58)
    body["date_add"] = value

    assert joined(body).placed_at is None


def test_a_translated_field_takes_the_orders_language_or_the_first():
    carriers = by_id("carriers")
    carriers["12"] = {
        "id": 12,
        "name": [
            {"id": "1", "value": "Colissimo Home"},
            {"id": "2", "value": "Colissimo Domicile"},
        ],
        "url": [{"id": "1", "value": "https://www.laposte.fr/outils/track-a-parcel?code=@"}],
    }

    fulfillment = joined(order(58), carriers=carriers).fulfillments[0]

    assert fulfillment.carrier_name == "Colissimo Domicile"  # order 58 is in language 2
    assert fulfillment.tracking_urls == (
        "https://www.laposte.fr/outils/track-a-parcel?code=6A12345678901",
    )


@pytest.mark.parametrize(
    "url",
    [
        "",
        "javascript:alert(document.cookie)//@",
        "ftp://tracking.example.com/@",
        "https://www.laposte.fr/outils/suivre-vos-envois",  # no @: not a template
        None,
    ],
)
def test_a_carrier_url_that_is_not_an_http_template_gives_no_tracking_url(url):
    carriers = by_id("carriers")
    carriers["12"]["url"] = url

    fulfillment = joined(order(58), carriers=carriers).fulfillments[0]

    assert fulfillment.tracking_urls == ()
    assert fulfillment.carrier_name == "Colissimo"


def test_the_number_is_escaped_into_the_url_and_every_at_sign_replaced():
    carriers = by_id("carriers")
    carriers["12"]["url"] = "http://track.example.com/@?again=@"
    carrier_rows = [dict(rows("order_carriers")[0], tracking_number="AB 12/3")]

    fulfillment = joined(order(58), carriers=carriers, order_carriers=carrier_rows).fulfillments[0]

    assert fulfillment.tracking_urls == ("http://track.example.com/AB%2012%2F3?again=AB%2012%2F3",)


def test_a_carrier_named_0_is_the_shop_itself_and_has_no_carrier_name():
    carriers = by_id("carriers")
    carriers["12"]["name"] = "0"

    assert joined(order(58), carriers=carriers).fulfillments[0].carrier_name == ""


def test_several_numbers_in_one_row_are_one_fulfillment_with_each_number():
    carrier_rows = [
        dict(rows("order_carriers")[0], tracking_number="6A12345678901, 6A12345678902,")
    ]

    fulfillment = joined(order(58), order_carriers=carrier_rows).fulfillments[0]

    assert fulfillment == FulfillmentDTO(
        external_id="88",
        tracking_numbers=("6A12345678901", "6A12345678902"),
        carrier_name="Colissimo",
        tracking_urls=(
            "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901",
            "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678902",
        ),
    )


def test_an_unknown_carrier_keeps_the_number_without_name_or_url():
    assert joined(order(58), carriers={}).fulfillments[0] == FulfillmentDTO(
        external_id="88", tracking_numbers=("6A12345678901",)
    )


def test_an_order_fetched_by_id_is_read_the_same():
    assert joined({"order": order(58)}) == ORDER_58


def test_a_bare_order_with_nothing_but_its_keys_does_not_crash():
    assert order_from_payload({"id": 5, "id_cart": "3"}) == OrderDTO(
        external_id="5", order_number="5"
    )


def test_odd_rows_and_fields_become_empty_values():
    body = order(58)
    body["associations"] = {
        "order_rows": [
            {"product_name": "Odd", "product_quantity": "two", "unit_price_tax_incl": "n/a"},
            "not a row",
        ]
    }
    body["reference"] = None

    parsed = order_from_payload(
        body,
        order_carriers=[None, {"id": "x", "tracking_number": "1Z999AA10123456784"}],
        customer={"email": ["not", "text"]},
        address=None,
    )

    assert parsed.order_number == "58"
    assert parsed.customer_email == ""
    assert parsed.line_items == (LineItemDTO(title="Odd", quantity=1, sku="", price=""),)
    # The row has no id: it cannot be a fulfillment; the order's legacy number is used instead.
    assert parsed.fulfillments == (
        FulfillmentDTO(external_id="order-58", tracking_numbers=("6A12345678901",)),
    )


FOREIGN = {
    "product": {"id": 19, "reference": "THE-VERT-12", "price": "12.416667", "id_manufacturer": "2"},
    "customer": {"id": 7, "email": "lea.martin@example.fr", "firstname": "Léa", "id_lang": "2"},
    "address": {"id": 12, "id_customer": "7", "id_country": "8", "postcode": "75011"},
    "order carrier": rows("order_carriers")[0],
    "order detail": {"id": 201, "id_order": "58", "id_cart": "131", "product_name": "Coffret"},
    "woocommerce order": {"id": 727, "order_key": "wc_order_x", "billing": {}, "line_items": []},
    "listing": {"orders": rows("orders")},
    "bare list": [],
    "boolean id": {"id": True, "id_cart": "3"},
    "zero id": {"id": 0, "id_cart": "3"},
    "nothing": None,
}


@pytest.mark.parametrize("body", FOREIGN.values(), ids=FOREIGN.keys())
def test_anything_but_a_prestashop_order_is_not_this_payload(body):
    with pytest.raises(NotThisPayload):
        order_from_payload(body)


# -- Webservice client ----------------------------------------------------------------------


def _values(text: str) -> tuple[str, str, str]:
    """("or", "a|b", "") or ("interval", low, high) of a filter value; "[a]" is an OR of one."""
    inner = text.strip()[1:-1]
    if "|" in inner:
        return ("or", inner, "")
    if "," in inner:
        low, high = inner.split(",", 1)
        return ("interval", low, high)
    return ("or", inner, "")


def _key(value: object) -> object:
    text = str(value)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


class FakePrestaShop:
    """One shop's Webservice over the recorded bodies: ``filter[...]`` OR lists and intervals,
    ``sort=[a_ASC,b_DESC]``, ``limit=offset,count``, and ``[]`` when nothing matches."""

    def __init__(self, server):
        self.tables = {resource: rows(resource) for resource in RESOURCES}
        for resource in RESOURCES:
            server.route("GET", rf"^/api/{resource}$", self._answer(resource))

    def _answer(self, resource: str):
        def answer(request):
            found = list(self.tables[resource])
            for name, (value,) in request.query.items():
                if not name.startswith("filter["):
                    continue
                field = name[len("filter[") : -1]
                kind, first, second = _values(value)
                if kind == "or":
                    allowed = set(first.split("|"))
                    found = [r for r in found if str(r.get(field)) in allowed]
                else:
                    low, high = _key(first), _key(second)
                    found = [r for r in found if low <= _key(r.get(field)) <= high]
            if "sort" in request.query:
                for part in reversed(request.query["sort"][0][1:-1].split(",")):
                    field, direction = part.rsplit("_", 1)
                    found.sort(key=lambda r, f=field: _key(r.get(f)), reverse=direction == "DESC")
            if "limit" in request.query:
                offset, _, count = request.query["limit"][0].rpartition(",")
                start = int(offset or 0)
                found = found[start : start + int(count)]
            return Reply(body=json.dumps({resource: found} if found else []))

        return answer


@pytest.fixture
def shop(carrier_server):
    return FakePrestaShop(carrier_server)


def client(server, **kwargs) -> PrestaShopClient:
    return PrestaShopClient(
        server.url + "/", API_KEY, HttpClient(), timezone="Europe/Paris", **kwargs
    )


def asked(server, resource: str) -> list[dict[str, list[str]]]:
    return [r.query for r in server.requests if r.path == f"/api/{resource}"]


def walk(
    api: PrestaShopClient, since: datetime | None, cursor: str | None = None
) -> tuple[list[str], list[str | None]]:
    """Every page from ``cursor`` on, like the sync does: (order ids, next cursors)."""
    ids, cursors = [], []
    while True:
        page = api.orders_page(since, cursor)
        ids += [o.external_id for o in page.orders]
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            return ids, cursors
        cursor = page.next_cursor


def test_the_client_sends_the_key_as_basic_user_with_an_empty_password(carrier_server, shop):
    client(carrier_server).orders_page(None, None)

    expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    assert {r.headers["authorization"] for r in carrier_server.requests} == {expected}


def test_the_orders_listing_asks_the_documented_query_in_shop_time(carrier_server, shop):
    client(carrier_server).orders_page(datetime(2025, 3, 4, 8, 0, 30, 999, tzinfo=UTC), None)

    assert asked(carrier_server, "orders") == [
        {
            "display": ["full"],
            "date": ["1"],
            "filter[date_upd]": [f"[2025-03-04 09:00:30,{FAR}]"],  # 08:00:30 UTC in Paris
            "sort": ["[date_upd_ASC,id_ASC]"],
            "limit": ["0,100"],
            "output_format": ["JSON"],
        }
    ]


def test_a_first_sync_sends_no_date_filter(carrier_server, shop):
    client(carrier_server).orders_page(None, None)

    assert asked(carrier_server, "orders") == [
        {
            "display": ["full"],
            "sort": ["[date_upd_ASC,id_ASC]"],
            "limit": ["0,100"],
            "output_format": ["JSON"],
        }
    ]


def test_a_page_holds_whole_orders_joined_with_their_rows(carrier_server, shop):
    page = client(carrier_server).orders_page(None, None)

    assert page.orders == [ORDER_58, ORDER_59, ORDER_60]
    assert page.next_cursor is None


def test_the_rows_of_a_page_are_asked_in_one_batch_per_resource(carrier_server, shop):
    client(carrier_server).orders_page(None, None)

    assert {r.path: r.query for r in carrier_server.requests[1:]} == {
        "/api/order_carriers": {
            "display": ["full"],
            "filter[id_order]": ["[58|59|60]"],
            "output_format": ["JSON"],
        },
        "/api/customers": {
            "display": ["[id,email,firstname,lastname]"],
            "filter[id]": ["[7|9|11]"],
            "output_format": ["JSON"],
        },
        "/api/addresses": {
            "display": ["[id,id_country,postcode]"],
            "filter[id]": ["[12|14|17]"],
            "output_format": ["JSON"],
        },
        "/api/countries": {
            "display": ["[id,iso_code]"],
            "filter[id]": ["[1|8|19]"],
            "output_format": ["JSON"],
        },
        "/api/languages": {
            "display": ["[id,iso_code]"],
            "filter[id]": ["[1|2|3]"],
            "output_format": ["JSON"],
        },
        "/api/currencies": {
            "display": ["[id,iso_code]"],
            "filter[id]": ["[1|2]"],
            "output_format": ["JSON"],
        },
        "/api/carriers": {
            "display": ["[id,name,url]"],
            "filter[id]": ["[12|15|16]"],
            "output_format": ["JSON"],
        },
    }


def many_orders(count: int) -> list[dict]:
    """``count`` orders of three customers, one second apart, each with its carrier row."""
    templates = rows("orders")
    made = []
    for n in range(count):
        body = copy.deepcopy(templates[n % 3])
        body["id"] = 1000 + n
        body["date_upd"] = f"2025-04-01 10:{n // 60:02d}:{n % 60:02d}"
        made.append(body)
    return made


def test_the_number_of_requests_per_page_does_not_grow_with_its_orders(carrier_server, shop):
    shop.tables["orders"] = many_orders(3)
    client(carrier_server).orders_page(None, None)
    for_three = len(carrier_server.requests)
    carrier_server.requests.clear()

    shop.tables["orders"] = many_orders(90)
    page = client(carrier_server).orders_page(None, None)

    assert len(page.orders) == 90
    assert for_three == len(carrier_server.requests) == 8


def test_reference_tables_are_asked_once_per_client(carrier_server, shop):
    api = client(carrier_server)

    api.orders_page(None, None)
    first = [r.path for r in carrier_server.requests]
    carrier_server.requests.clear()
    again = api.orders_page(None, None)
    second = [r.path for r in carrier_server.requests]

    assert again.orders == [ORDER_58, ORDER_59, ORDER_60]
    assert first == [f"/api/{resource}" for resource in RESOURCES]
    assert second == ["/api/orders", "/api/order_carriers", "/api/customers", "/api/addresses"]


def test_only_reference_ids_not_seen_yet_are_asked(carrier_server, shop):
    api = client(carrier_server)
    shop.tables["orders"] = [order(60)]
    api.orders_page(None, None)
    assert asked(carrier_server, "carriers") == []  # order 60 has no number: no carrier to name
    carrier_server.requests.clear()

    shop.tables["orders"] = [order(58), order(60)]
    page = api.orders_page(None, None)

    assert page.orders == [ORDER_58, ORDER_60]
    assert asked(carrier_server, "countries") == [
        {"display": ["[id,iso_code]"], "filter[id]": ["[8]"], "output_format": ["JSON"]}
    ]
    assert asked(carrier_server, "languages")[0]["filter[id]"] == ["[2]"]
    assert asked(carrier_server, "currencies")[0]["filter[id]"] == ["[1]"]
    assert asked(carrier_server, "carriers")[0]["filter[id]"] == ["[12|15]"]
    assert asked(carrier_server, "customers")[0]["filter[id]"] == ["[7|11]"]  # not cached


def test_an_id_the_shop_does_not_know_is_not_asked_again(carrier_server, shop):
    body = order(58)
    body["id_lang"] = "9"  # a deleted language
    shop.tables["orders"] = [body]
    api = client(carrier_server)

    assert api.orders_page(None, None).orders[0].locale == ""
    carrier_server.requests.clear()
    api.orders_page(None, None)

    assert asked(carrier_server, "languages") == []


def test_the_client_walks_every_page_moving_the_date_filter(carrier_server, shop):
    shop.tables["orders"] = many_orders(5)  # 10:00:00 to 10:00:04, one second apart
    api = client(carrier_server, page_size=3)

    ids, cursors = walk(api, datetime(2025, 4, 1, 7, 0, tzinfo=UTC))

    assert ids == ["1000", "1001", "1002", "1003", "1004"]
    # A full page leaves its last second to the next page, which starts at it.
    assert cursors == ["2025-04-01 10:00:02", "2025-04-01 10:00:04", None]
    listing = asked(carrier_server, "orders")
    assert [q["filter[date_upd]"] for q in listing] == [
        [f"[2025-04-01 09:00:00,{FAR}]"],  # 07:00 UTC in Paris (CET until the 30th of March)
        [f"[2025-04-01 10:00:02,{FAR}]"],
        [f"[2025-04-01 10:00:04,{FAR}]"],
    ]
    assert {q["limit"][0] for q in listing} == {"0,3"}  # never an offset
    assert {q["sort"][0] for q in listing} == {"[date_upd_ASC,id_ASC]"}


def test_orders_sharing_a_second_across_the_page_end_are_read_by_id(carrier_server, shop):
    api = client(carrier_server, page_size=2)

    ids, cursors = walk(api, datetime(2025, 3, 1, tzinfo=UTC))

    assert ids == ["58", "59", "60"]
    # Orders 58 and 59 were both updated at 09:12:03: they fill page 1, page 2 reads the rest of
    # that second by id (none left), page 3 goes on from the next second and is the last.
    assert cursors == ["2025-03-04 09:12:03|59", "2025-03-04 09:12:04", None]
    listing = asked(carrier_server, "orders")
    assert listing[1] == {
        "display": ["full"],
        "date": ["1"],
        "filter[date_upd]": ["[2025-03-04 09:12:03,2025-03-04 09:12:03]"],
        "filter[id]": ["[60,4294967295]"],
        "sort": ["[id_ASC]"],
        "limit": ["0,2"],
        "output_format": ["JSON"],
    }
    assert listing[2]["filter[date_upd]"] == [f"[2025-03-04 09:12:04,{FAR}]"]


def test_a_second_with_more_orders_than_a_page_is_walked_by_id(carrier_server, shop):
    same_second = many_orders(5)
    for body in same_second:
        body["date_upd"] = "2025-04-01 10:00:00"
    shop.tables["orders"] = same_second

    ids, cursors = walk(client(carrier_server, page_size=2), None)

    assert ids == ["1000", "1001", "1002", "1003", "1004"]
    assert cursors == [
        "2025-04-01 10:00:00|1001",
        "2025-04-01 10:00:00|1003",
        "2025-04-01 10:00:01",
        None,
    ]


def test_an_order_updated_during_the_walk_is_not_skipped(carrier_server, shop):
    shop.tables["orders"] = many_orders(6)
    api = client(carrier_server, page_size=3)
    first = api.orders_page(None, None)
    # The merchant ships order 1000 while we sync: it moves to the end of the listing. Walking
    # by offsets (page 1 = 1000-1002, then limit=3,3) would now start at 1004 and skip 1003.
    shop.tables["orders"][0]["date_upd"] = "2025-04-02 08:00:00"

    ids, _ = walk(api, None, cursor=first.next_cursor)

    assert [o.external_id for o in first.orders] == ["1000", "1001"]
    assert ids == ["1002", "1003", "1004", "1005", "1000"]


def test_the_empty_listing_is_a_last_page_with_one_request(carrier_server, shop):
    shop.tables["orders"] = []

    page = client(carrier_server).orders_page(datetime(2025, 5, 1, tzinfo=UTC), None)

    assert page.orders == []
    assert page.next_cursor is None
    assert [r.path for r in carrier_server.requests] == ["/api/orders"]


def test_a_listing_entry_that_is_not_an_order_is_skipped(carrier_server):
    carrier_server.route("GET", r"^/api/orders$", {"orders": [{"id": 3}, None]})

    page = client(carrier_server).orders_page(None, None)

    assert page.orders == []
    assert len(carrier_server.requests) == 1


def test_rate_limiting_is_transient_and_keeps_retry_after(carrier_server, shop):
    carrier_server.fail_next(429, headers={"Retry-After": "30"})

    with pytest.raises(TransientError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 429
    assert caught.value.retry_after == 30.0


def test_a_server_error_is_transient(carrier_server, shop):
    carrier_server.fail_next(503, body=raw("error_unknown_resource.xml").decode())

    with pytest.raises(TransientError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 503


def test_a_refused_key_is_terminal(carrier_server, shop):
    carrier_server.fail_next(
        401, body='{"errors":[{"code":17,"message":"Authentication key is empty"}]}'
    )

    with pytest.raises(TerminalError, match="refused the webservice key for orders") as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 401


def test_a_key_without_rights_on_a_resource_names_it(carrier_server, shop):
    carrier_server.route("GET", r"^/api/customers$", Reply(status=401, body=""))

    with pytest.raises(TerminalError, match="for customers") as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 401


def test_a_json_error_answer_is_terminal_with_prestashops_message(carrier_server):
    carrier_server.route(
        "GET", r"^/api/orders$", Reply(status=400, body=raw("error_bad_filter.json"))
    )

    with pytest.raises(TerminalError, match="Unable to filter by this field") as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 400


def test_an_xml_error_answer_to_a_json_request_is_read_too(carrier_server, shop):
    carrier_server.route(
        "GET",
        r"^/api/order_carriers$",
        Reply(status=404, body=raw("error_unknown_resource.xml"), content_type="text/xml"),
    )

    with pytest.raises(TerminalError, match='Resource of type "order_carriers" does not exist'):
        client(carrier_server).orders_page(None, None)


@pytest.mark.parametrize(
    "body", ["<html><body>Not Found</body></html>", "<?xml broken", "", "{not json"]
)
def test_an_error_body_that_is_neither_json_nor_xml_still_gives_the_status(carrier_server, body):
    carrier_server.route(
        "GET", r"^/api/orders$", Reply(status=404, body=body, content_type="text/html")
    )

    with pytest.raises(TerminalError, match="HTTP 404"):
        client(carrier_server).orders_page(None, None)


def test_a_2xx_body_that_is_not_json_is_malformed(carrier_server, shop):
    carrier_server.malformed_next()

    with pytest.raises(MalformedResponse):
        client(carrier_server).orders_page(None, None)


@pytest.mark.parametrize(
    "body", [{"products": []}, [{"id": 58}], "orders", {"orders": "x"}], ids=repr
)
def test_json_that_is_not_an_orders_listing_is_malformed(carrier_server, body):
    carrier_server.route("GET", r"^/api/orders$", Reply(body=json.dumps(body)))

    with pytest.raises(MalformedResponse):
        client(carrier_server).orders_page(None, None)


def test_the_key_is_never_sent_over_plain_http_to_a_remote_shop():
    with pytest.raises(ValueError, match="https"):
        PrestaShopClient("http://boutique.example.fr", API_KEY, HttpClient())


def test_a_shop_url_or_its_webservice_url_both_work():
    assert PrestaShopClient("https://boutique.example.fr/", API_KEY, HttpClient()).api_url == (
        "https://boutique.example.fr/api"
    )
    assert PrestaShopClient("https://example.fr/shop/api/", API_KEY, HttpClient()).api_url == (
        "https://example.fr/shop/api"
    )


def test_the_default_timezone_is_utc(carrier_server, shop):
    api = PrestaShopClient(carrier_server.url, API_KEY, HttpClient())

    page = api.orders_page(datetime(2025, 3, 4, 8, 0, tzinfo=UTC), None)

    assert asked(carrier_server, "orders")[0]["filter[date_upd]"] == [
        f"[2025-03-04 08:00:00,{FAR}]"
    ]
    assert page.orders[0].updated_at == datetime(2025, 3, 4, 9, 12, 3, tzinfo=UTC)


def test_an_unknown_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        PrestaShopClient(
            "https://boutique.example.fr", API_KEY, HttpClient(), timezone="Mars/Olympus"
        )


def test_a_naive_updated_after_is_a_bug(carrier_server):
    with pytest.raises(ValueError, match="timezone"):
        client(carrier_server).orders_page(datetime(2025, 5, 1), None)


@pytest.mark.parametrize("cursor", ["100", "2025-03-04|5", "2025-03-04 09:12:03|x", "x"])
def test_a_cursor_this_client_did_not_make_is_refused(carrier_server, cursor):
    with pytest.raises(ValueError, match="cursor"):
        client(carrier_server).orders_page(None, cursor)
