"""Magento 2 importer: recorded REST orders and shipments replayed, and the listing client
against the local fake HTTP server playing a Magento store (its searchCriteria, total_count and
the way it answers a page past the last one with the last page again)."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from carriers.names import slug_for_name
from tests.fakes.carrier_server import Reply
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, NotThisPayload, OrderDTO
from wismo.tracking.importers.magento import (
    MagentoClient,
    fulfillments_from_shipments,
    order_from_payload,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops" / "magento"
ORDERS = "/rest/V1/orders"
SHIPMENTS = "/rest/V1/shipments"
STORE_CONFIGS = "/rest/V1/store/storeConfigs"
ORDERS_PATH = f"^{ORDERS}$"
SHIPMENTS_PATH = f"^{SHIPMENTS}$"
STORE_CONFIGS_PATH = f"^{STORE_CONFIGS}$"
TOKEN = "k3x9q0w7r2t5y8u1i4o6p3a9s2d5f8g1"
CET = timezone(timedelta(hours=1))


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def payload(name: str):
    return json.loads(raw(name))


def shipments() -> list[dict]:
    return payload("shipments.json")["items"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


CAMILLE = OrderDTO(
    external_id="58",
    order_number="000000058",
    customer_email="camille.durand@example.fr",
    customer_name="Camille Durand",
    locale="fr",
    shipping_country="FR",
    shipping_postcode="75011",  # the shipping assignment (Paris), not the billing address (Lyon)
    currency="EUR",
    placed_at=utc(2025, 3, 3, 19, 44, 5),
    updated_at=utc(2025, 3, 4, 8, 2, 11),
    cancelled=False,
    line_items=(
        # The configurable parent; its simple child (parent_item_id 201) is not a second line.
        LineItemDTO(title="Veste en lin", quantity=1, sku="VL-42-BLEU", price="89.00"),
        LineItemDTO(title="Foulard en soie", quantity=2, sku="FS-SOIE-01", price="24.90"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="31",
            tracking_numbers=("1Z5R89390357567127", "1Z999AA10123456784"),
            carrier_name="ups",
            shipped_at=utc(2025, 3, 4, 8, 2, 11),
        ),
        FulfillmentDTO(
            external_id="34",
            tracking_numbers=("6A12345678901",),
            carrier_name="Colissimo",  # carrier_code "custom": the merchant's title
            shipped_at=utc(2025, 3, 5, 10, 15),
        ),
    ),
)

JORDAN = OrderDTO(
    external_id="61",
    order_number="000000061",
    customer_email="jordan.lee@example.com",
    customer_name="Jordan Lee",  # a guest: no customer_firstname/lastname, the billing names
    locale="en",
    shipping_country="US",
    shipping_postcode="97205",
    currency="USD",
    placed_at=utc(2025, 3, 5, 16, 20, 44),
    updated_at=utc(2025, 3, 6, 15, 30, 2),
    cancelled=False,
    line_items=(
        LineItemDTO(title="Ceramic pour-over set", quantity=1, sku="CPO-SET-WHT", price="42.00"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="33",
            tracking_numbers=("9400111899223197428490",),
            carrier_name="usps",
            shipped_at=utc(2025, 3, 6, 15, 29, 57),
        ),
    ),
)

PRIYA = OrderDTO(
    external_id="64",
    order_number="000000064",
    customer_email="priya.shah@example.com",
    customer_name="Priya Shah",
    locale="en",
    shipping_country="US",
    shipping_postcode="78701",
    currency="USD",
    placed_at=utc(2025, 3, 6, 9, 12, 30),
    updated_at=utc(2025, 3, 6, 10, 0, 0),
    cancelled=True,
    line_items=(LineItemDTO(title="Beeswax candle", quantity=4, sku="BWC-TALL", price="16.00"),),
    fulfillments=(),
)


# -- orders ---------------------------------------------------------------------------------


def test_an_order_with_a_configurable_item_and_two_shipments_is_normalized_whole():
    order = order_from_payload(payload("order_configurable.json"), shipments(), "fr_FR")

    assert order == CAMILLE


def test_a_guest_order_is_named_from_its_billing_address():
    order = order_from_payload(payload("order_guest.json"), shipments(), "en_US")

    assert order == JORDAN


def test_a_canceled_order_is_cancelled_and_has_no_parcels():
    order = order_from_payload(payload("order_canceled.json"), shipments(), "en_US")

    assert order == PRIYA


@pytest.mark.parametrize("state", ["canceled", "closed", "CANCELED"])
def test_an_order_canceled_or_fully_refunded_is_cancelled(state):
    body = payload("order_configurable.json")
    body["state"] = state

    assert order_from_payload(body).cancelled is True


@pytest.mark.parametrize(
    "state", ["new", "pending_payment", "payment_review", "processing", "holded", "complete"]
)
def test_an_order_still_going_is_not_cancelled(state):
    body = payload("order_configurable.json")
    body["state"], body["status"] = state, "canceled_by_mistake_custom_label"

    assert order_from_payload(body).cancelled is False


def test_without_a_state_the_status_tells():
    body = payload("order_canceled.json")
    del body["state"]

    assert order_from_payload(body).cancelled is True


def test_an_order_without_a_shipping_assignment_ships_to_its_billing_address():
    body = payload("order_configurable.json")
    del body["extension_attributes"]["shipping_assignments"]  # a virtual order

    order = order_from_payload(body)

    assert (order.shipping_country, order.shipping_postcode) == ("FR", "69002")


def test_an_empty_shipping_address_falls_back_to_billing():
    body = payload("order_configurable.json")
    address = body["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]
    address["country_id"], address["postcode"] = None, ""

    order = order_from_payload(body)

    assert (order.shipping_country, order.shipping_postcode) == ("FR", "69002")


def test_a_guest_order_without_customer_email_uses_the_billing_email():
    body = payload("order_guest.json")
    del body["customer_email"]

    assert order_from_payload(body).customer_email == "jordan.lee@example.com"


@pytest.mark.parametrize(
    ("locale", "language"),
    [("fr_FR", "fr"), ("en_GB", "en"), ("zh_Hans_CN", "zh"), ("de-AT", "de"), ("", "")],
)
def test_the_store_locale_becomes_its_language(locale, language):
    assert order_from_payload(payload("order_guest.json"), locale=locale).locale == language


def test_without_shipments_an_order_has_no_fulfillments():
    assert order_from_payload(payload("order_configurable.json")).fulfillments == ()


def test_a_bare_order_with_nothing_but_its_keys_does_not_crash():
    order = order_from_payload(
        {"entity_id": 5, "increment_id": None, "items": [], "billing_address": None}
    )

    assert order == OrderDTO(external_id="5", order_number="5")


def test_odd_item_values_become_defaults_and_broken_items_are_skipped():
    body = payload("order_guest.json")
    body["items"] = [
        {"name": "Odd", "qty_ordered": "two", "price": "n/a", "sku": None},
        {"name": "Half", "qty_ordered": "1.0000", "price": "12.5"},
        None,
        {"name": "Child", "parent_item_id": 9, "qty_ordered": 1},
    ]

    assert order_from_payload(body).line_items == (
        LineItemDTO(title="Odd", quantity=1, sku="", price=""),
        LineItemDTO(title="Half", quantity=1, sku="", price="12.50"),
    )


FOREIGN = {
    "magento shipment": shipments()[0],
    "magento invoice": {
        "entity_id": 40,
        "increment_id": "000000040",
        "order_id": 58,
        "items": [{"name": "Veste en lin", "qty": 1}],
    },
    "search result": {"items": [{"entity_id": 58}], "total_count": 1},
    "woocommerce order": {"id": 727, "number": "727", "billing": {}, "line_items": []},
    "shopify order": {"id": 5123456789012, "name": "#1042", "line_items": []},
    "no items": {"entity_id": 58, "increment_id": "000000058"},
    "boolean id": {"entity_id": True, "increment_id": "1", "items": []},
    "text id": {"entity_id": "abc", "increment_id": "1", "items": []},
    "not a dict": [{"entity_id": 58, "increment_id": "000000058", "items": []}],
    "nothing": None,
}


@pytest.mark.parametrize("body", FOREIGN.values(), ids=FOREIGN.keys())
def test_anything_but_a_magento_order_is_not_this_payload(body):
    with pytest.raises(NotThisPayload):
        order_from_payload(body)


# -- shipments ------------------------------------------------------------------------------


def test_shipments_become_fulfillments_keyed_by_order_id():
    by_order = fulfillments_from_shipments(shipments())

    assert by_order == {"58": list(CAMILLE.fulfillments), "61": list(JORDAN.fulfillments)}


@pytest.mark.parametrize(
    ("carrier_code", "title", "name", "slug"),
    [
        ("ups", "United Parcel Service", "ups", "ups"),
        ("usps", "United States Postal Service", "usps", "usps"),
        ("fedex", "Federal Express", "fedex", "fedex"),
        # Magento's DHL carrier is DHL Express, whatever the merchant titled it.
        ("dhl", "DHL", "DHL Express", "dhl_express"),
        ("UPS", "", "ups", "ups"),
        ("custom", "Colissimo", "Colissimo", "la_poste"),
        ("custom", "GLS Germany", "GLS Germany", "gls"),
        ("", "BRT - Bartolini", "BRT - Bartolini", "brt"),
        ("custom", "", "", None),
        # extension carriers: the title names the carrier, the code is the fallback
        ("dhlpaket", "DHL Paket", "DHL Paket", "dhl"),
        ("tig_postnl", "PostNL", "PostNL", "postnl"),
        ("dpd", "", "dpd", "dpd"),
    ],
)
def test_the_carrier_name_is_the_text_that_names_the_carrier_best(carrier_code, title, name, slug):
    shipment = {
        "entity_id": 1,
        "order_id": 2,
        "tracks": [{"track_number": "X1", "carrier_code": carrier_code, "title": title}],
    }

    (fulfillment,) = fulfillments_from_shipments([shipment])["2"]

    assert fulfillment.carrier_name == name
    assert slug_for_name(name) == slug


def test_tracks_of_two_carriers_in_one_shipment_name_no_carrier():
    shipment = {
        "entity_id": 7,
        "order_id": 2,
        "tracks": [
            {"track_number": "1Z999AA10123456784", "carrier_code": "ups", "title": "UPS"},
            {"track_number": "6A12345678901", "carrier_code": "custom", "title": "Colissimo"},
            {"track_number": "1Z5R89390357567127", "carrier_code": "custom", "title": ""},
        ],
    }

    (fulfillment,) = fulfillments_from_shipments([shipment])["2"]

    assert fulfillment == FulfillmentDTO(
        external_id="7",
        tracking_numbers=("1Z999AA10123456784", "6A12345678901", "1Z5R89390357567127"),
        carrier_name="",
    )


def test_odd_shipments_and_tracks_are_skipped_or_read_as_far_as_they_go():
    first = shipments()[0]
    odd = [
        first,
        copy.deepcopy(first),  # the same shipment twice (two pages overlapping): once
        {"entity_id": 50, "order_id": 58},  # no tracks at all: unknown, left out
        {"entity_id": 51, "order_id": 58, "tracks": []},  # tracks removed: no numbers
        {"entity_id": 52, "tracks": []},  # no order
        {
            "entity_id": 53,
            "order_id": 58,
            "created_at": "yesterday",
            "tracks": [
                None,
                {"track_number": " ", "carrier_code": "ups"},
                {"track_number": " 1Z999AA10123456784 ", "carrier_code": "ups"},
                {"track_number": "1Z999AA10123456784", "carrier_code": "ups"},
            ],
        },
        "not a shipment",
    ]

    assert fulfillments_from_shipments(odd) == {
        "58": [
            CAMILLE.fulfillments[0],
            FulfillmentDTO(external_id="51", tracking_numbers=()),
            FulfillmentDTO(
                external_id="53", tracking_numbers=("1Z999AA10123456784",), carrier_name="ups"
            ),
        ]
    }


# -- REST client: a fake Magento store ---------------------------------------------------------


def _search_criteria(query: dict[str, list[str]]) -> dict:
    """searchCriteria[...] query parameters back into groups, sort orders and paging."""
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sort: dict[int, dict[str, str]] = {}
    for key, (value,) in query.items():
        parts = key.replace("]", "").split("[")
        if parts[:2] == ["searchCriteria", "filter_groups"]:
            groups.setdefault(int(parts[2]), {}).setdefault(int(parts[4]), {})[parts[5]] = value
        elif parts[:2] == ["searchCriteria", "sortOrders"]:
            sort.setdefault(int(parts[2]), {})[parts[3]] = value
    return {
        "groups": [[filters[f] for f in sorted(filters)] for _, filters in sorted(groups.items())],
        "sort": [sort[i] for i in sorted(sort)],
        "page_size": int(query["searchCriteria[pageSize]"][0]),
        "current_page": int(query["searchCriteria[currentPage]"][0]),
    }


def _matches(item: dict, spec: dict[str, str]) -> bool:
    numeric = spec["field"] in ("entity_id", "order_id")
    value, wanted = item.get(spec["field"]), spec["value"]
    if numeric:
        value = int(value)
    condition = spec.get("condition_type", "eq")
    if condition == "in":
        options = [int(v) if numeric else v for v in wanted.split(",")]
        return value in options
    wanted = int(wanted) if numeric else wanted
    return {
        "eq": value == wanted,
        "gt": value > wanted,
        "gteq": value >= wanted,
        "lt": value < wanted,
        "lteq": value <= wanted,
    }[condition]


class FakeMagento:
    """Searches like Magento: groups ANDed, filters ORed, sorted, paged, the page clamped."""

    def __init__(self, orders: list[dict], shipment_items: list[dict], store_configs: list):
        self.orders, self.shipments, self.store_configs = orders, shipment_items, store_configs

    def search(self, items: list[dict], query: dict[str, list[str]]) -> Reply:
        criteria = _search_criteria(query)
        found = [
            item
            for item in items
            if all(any(_matches(item, spec) for spec in group) for group in criteria["groups"])
        ]
        for order in reversed(criteria["sort"]):
            key = order["field"]
            found.sort(
                key=lambda item, key=key: int(item[key]) if key.endswith("id") else item[key],
                reverse=order["direction"] == "DESC",
            )
        size = criteria["page_size"]
        # Magento clamps currentPage to the last page: asking past it repeats the last page.
        page = min(criteria["current_page"], max(1, math.ceil(len(found) / size)))
        return Reply(
            body=json.dumps(
                {
                    "items": found[(page - 1) * size : page * size],
                    "search_criteria": {"page_size": size, "current_page": page},
                    "total_count": len(found),
                }
            )
        )

    def install(self, server) -> None:
        server.route("GET", ORDERS_PATH, lambda request: self.search(self.orders, request.query))
        server.route(
            "GET", SHIPMENTS_PATH, lambda request: self.search(self.shipments, request.query)
        )
        server.route("GET", STORE_CONFIGS_PATH, lambda request: self.store_configs)


def recorded_store() -> FakeMagento:
    return FakeMagento(
        [
            payload("order_configurable.json"),
            payload("order_guest.json"),
            payload("order_canceled.json"),
        ],
        shipments(),
        payload("store_configs.json"),
    )


def many_orders(updated_at: list[str]) -> list[dict]:
    """Copies of the guest order with ids 101, 102, ... changed at these times."""
    orders = []
    for n, when in enumerate(updated_at, start=101):
        order = payload("order_guest.json")
        order["entity_id"], order["increment_id"], order["updated_at"] = n, f"000000{n}", when
        orders.append(order)
    return orders


def client(server, **kwargs) -> MagentoClient:
    return MagentoClient(server.url + "/", TOKEN, HttpClient(), **kwargs)


def walk(api: MagentoClient, since: datetime | None) -> tuple[list[str], list[str | None]]:
    ids, cursors, cursor = [], [], None
    while True:
        page = api.orders_page(since, cursor)
        ids += [order.external_id for order in page.orders]
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            return ids, cursors
        cursor = page.next_cursor


def walk_from(api: MagentoClient, cursor: str | None) -> tuple[list[str], list[str | None]]:
    ids, cursors = [], []
    while cursor:
        page = api.orders_page(None, cursor)
        ids += [order.external_id for order in page.orders]
        cursors.append(page.next_cursor)
        cursor = page.next_cursor
    return ids, cursors


def requests_to(server, path: str) -> list:
    return [r for r in server.requests if r.path == path]


# -- REST client: requests ------------------------------------------------------------------


def test_the_first_page_sends_the_bearer_token_and_the_documented_search(carrier_server):
    recorded_store().install(carrier_server)

    client(carrier_server).orders_page(datetime(2025, 3, 4, 9, 0, 30, 123, tzinfo=CET), None)

    orders_request = carrier_server.requests[0]
    assert orders_request.path == "/rest/V1/orders"
    assert orders_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert orders_request.query == {
        "searchCriteria[filter_groups][0][filters][0][field]": ["updated_at"],
        "searchCriteria[filter_groups][0][filters][0][value]": ["2025-03-04 08:00:30"],  # UTC
        "searchCriteria[filter_groups][0][filters][0][condition_type]": ["gteq"],
        "searchCriteria[sortOrders][0][field]": ["updated_at"],
        "searchCriteria[sortOrders][0][direction]": ["ASC"],
        "searchCriteria[sortOrders][1][field]": ["entity_id"],
        "searchCriteria[sortOrders][1][direction]": ["ASC"],
        "searchCriteria[pageSize]": ["100"],
        "searchCriteria[currentPage]": ["1"],
    }


def test_the_shipments_of_a_page_are_asked_for_once_by_order_ids(carrier_server):
    recorded_store().install(carrier_server)

    client(carrier_server).orders_page(None, None)

    (shipments_request,) = requests_to(carrier_server, SHIPMENTS)
    assert shipments_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert shipments_request.query == {
        "searchCriteria[filter_groups][0][filters][0][field]": ["order_id"],
        "searchCriteria[filter_groups][0][filters][0][value]": ["58,64,61"],
        "searchCriteria[filter_groups][0][filters][0][condition_type]": ["in"],
        "searchCriteria[sortOrders][0][field]": ["entity_id"],
        "searchCriteria[sortOrders][0][direction]": ["ASC"],
        "searchCriteria[pageSize]": ["300"],
        "searchCriteria[currentPage]": ["1"],
    }


def test_a_first_sync_sends_no_updated_at_filter(carrier_server):
    recorded_store().install(carrier_server)

    client(carrier_server).orders_page(None, None)

    assert not any("filter_groups" in key for key in carrier_server.requests[0].query)


def test_a_next_page_asks_for_what_comes_after_the_last_order_read(carrier_server):
    recorded_store().install(carrier_server)

    client(carrier_server).orders_page(utc(2025, 1, 1), "2025-03-04 08:02:11|58")

    query = carrier_server.requests[0].query
    group = "searchCriteria[filter_groups][{}][filters][{}][{}]"
    # updated_at >= t AND (updated_at > t OR entity_id > id): always page 1 of the rest.
    assert {key: value[0] for key, value in query.items() if "filter_groups" in key} == {
        group.format(0, 0, "field"): "updated_at",
        group.format(0, 0, "value"): "2025-03-04 08:02:11",
        group.format(0, 0, "condition_type"): "gteq",
        group.format(1, 0, "field"): "updated_at",
        group.format(1, 0, "value"): "2025-03-04 08:02:11",
        group.format(1, 0, "condition_type"): "gt",
        group.format(1, 1, "field"): "entity_id",
        group.format(1, 1, "value"): "58",
        group.format(1, 1, "condition_type"): "gt",
    }
    assert query["searchCriteria[currentPage]"] == ["1"]


# -- REST client: pages ---------------------------------------------------------------------


def test_a_listing_page_holds_whole_orders_with_shipments_and_languages(carrier_server):
    recorded_store().install(carrier_server)

    page = client(carrier_server).orders_page(utc(2025, 3, 1), None)

    assert page.orders == [CAMILLE, PRIYA, JORDAN]  # oldest change first
    assert page.next_cursor is None


def test_the_client_walks_three_pages_until_total_count_is_read(carrier_server):
    # Two orders share a second: the entity id orders them, and neither is lost at the edge.
    times = ["2025-03-01 10:00:00", "2025-03-01 11:00:00", "2025-03-01 11:00:00"]
    times += ["2025-03-02 09:00:00", "2025-03-03 09:00:00"]
    FakeMagento(many_orders(times), [], payload("store_configs.json")).install(carrier_server)

    ids, cursors = walk(client(carrier_server, page_size=2), utc(2025, 3, 1))

    assert ids == ["101", "102", "103", "104", "105"]
    assert cursors == ["2025-03-01 11:00:00|102", "2025-03-02 09:00:00|104", None]
    assert len(requests_to(carrier_server, ORDERS)) == 3


def test_a_full_last_page_ends_the_walk_without_asking_past_it(carrier_server):
    # Past the last page Magento answers the last page again, never an empty one: only
    # total_count can say a full page was the last.
    times = ["2025-03-01 10:00:00", "2025-03-01 11:00:00"]
    times += ["2025-03-01 12:00:00", "2025-03-01 13:00:00"]
    FakeMagento(many_orders(times), [], payload("store_configs.json")).install(carrier_server)

    ids, cursors = walk(client(carrier_server, page_size=2), None)

    assert ids == ["101", "102", "103", "104"]
    assert cursors == ["2025-03-01 11:00:00|102", None]
    assert len(requests_to(carrier_server, ORDERS)) == 2


def test_an_order_updated_during_the_walk_is_not_skipped(carrier_server):
    # With page numbers, 101 jumping to the end would slide 103 onto page 1, already read.
    times = ["2025-03-01 10:00:00", "2025-03-01 11:00:00", "2025-03-01 12:00:00"]
    times += ["2025-03-01 13:00:00", "2025-03-01 14:00:00"]
    store = FakeMagento(many_orders(times), [], payload("store_configs.json"))
    store.install(carrier_server)
    api = client(carrier_server, page_size=2)

    first = api.orders_page(None, None)
    store.orders[0]["updated_at"] = "2025-03-02 08:00:00"  # 101 changes meanwhile
    ids, _ = walk_from(api, first.next_cursor)

    assert [o.external_id for o in first.orders] + ids == ["101", "102", "103", "104", "105", "101"]


def test_store_locales_are_read_once_across_pages(carrier_server):
    times = ["2025-03-01 10:00:00", "2025-03-01 11:00:00", "2025-03-01 12:00:00"]
    orders = many_orders(times)
    orders[1]["store_id"] = 2
    FakeMagento(orders, [], payload("store_configs.json")).install(carrier_server)
    api = client(carrier_server, page_size=1)

    locales = []
    cursor = None
    for _ in range(3):
        page = api.orders_page(None, cursor)
        locales += [order.locale for order in page.orders]
        cursor = page.next_cursor

    assert cursor is None
    assert locales == ["en", "fr", "en"]
    assert len(requests_to(carrier_server, STORE_CONFIGS)) == 1


def test_a_token_without_the_stores_permission_still_syncs_without_languages(carrier_server):
    recorded_store().install(carrier_server)
    carrier_server.route(
        "GET",
        STORE_CONFIGS_PATH,
        Reply(
            status=401,
            body=json.dumps(
                {
                    "message": "The consumer isn't authorized to access %resources.",
                    "parameters": {"resources": "Magento_Backend::store"},
                }
            ),
        ),
    )
    api = client(carrier_server)

    page = api.orders_page(None, None)
    api.orders_page(None, None)

    assert [order.locale for order in page.orders] == ["", "", ""]
    assert page.orders[0].fulfillments == CAMILLE.fulfillments
    assert len(requests_to(carrier_server, STORE_CONFIGS)) == 1  # refusal remembered


def test_shipments_beyond_one_page_are_followed_by_total_count(carrier_server):
    recorded_store().install(carrier_server)

    page = client(carrier_server, shipments_page_size=2).orders_page(None, None)

    shipment_pages = [
        r.query["searchCriteria[currentPage]"] for r in requests_to(carrier_server, SHIPMENTS)
    ]
    assert shipment_pages == [["1"], ["2"]]
    assert page.orders == [CAMILLE, PRIYA, JORDAN]


def test_shipments_exactly_filling_their_pages_are_not_asked_past_the_end(carrier_server):
    store = recorded_store()
    store.shipments = shipments()[:2]
    store.install(carrier_server)

    client(carrier_server, shipments_page_size=1).orders_page(None, None)

    shipment_pages = [
        r.query["searchCriteria[currentPage]"] for r in requests_to(carrier_server, SHIPMENTS)
    ]
    assert shipment_pages == [["1"], ["2"]]


def test_an_empty_store_is_one_page_with_no_next_and_no_more_requests(carrier_server):
    FakeMagento([], shipments(), payload("store_configs.json")).install(carrier_server)

    page = client(carrier_server).orders_page(utc(2025, 3, 1), None)

    assert page.orders == []
    assert page.next_cursor is None
    assert [r.path for r in carrier_server.requests] == ["/rest/V1/orders"]


def test_a_listed_item_that_is_not_an_order_is_skipped(carrier_server):
    store = recorded_store()
    store.orders = [{"entity_id": 1, "updated_at": "2025-03-01 00:00:00"}, *store.orders]
    store.install(carrier_server)

    page = client(carrier_server).orders_page(None, None)

    assert [order.external_id for order in page.orders] == ["58", "64", "61"]


# -- REST client: failures ------------------------------------------------------------------


def test_rate_limiting_is_transient_and_keeps_retry_after(carrier_server):
    recorded_store().install(carrier_server)
    carrier_server.fail_next(429, headers={"Retry-After": "30"})

    with pytest.raises(TransientError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 429
    assert caught.value.retry_after == 30.0


def test_a_server_error_is_transient(carrier_server):
    carrier_server.fail_next(503)

    with pytest.raises(TransientError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 503


def test_a_server_error_on_the_shipments_fails_the_page(carrier_server):
    recorded_store().install(carrier_server)
    carrier_server.route("GET", SHIPMENTS_PATH, Reply(status=502, body="<html>Bad Gateway</html>"))

    with pytest.raises(TransientError):
        client(carrier_server).orders_page(None, None)


def test_a_refused_token_is_terminal_and_says_what_to_check(carrier_server):
    carrier_server.fail_next(401, body=raw("error_not_authorized.json").decode())

    with pytest.raises(TerminalError, match="standalone Bearer") as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 401


def test_a_refused_search_is_terminal_with_magentos_message_filled_in(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, Reply(status=400, body=raw("error_bad_request.json")))

    with pytest.raises(TerminalError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 400
    assert str(caught.value) == (
        'Magento refused the orders listing: Invalid value of "500" provided for the pageSize'
        " field. (HTTP 400)"
    )


def test_positional_parameters_of_a_magento_message_are_filled_in(carrier_server):
    body = {"message": 'No such entity with %1 = %2, field "%3"', "parameters": ["id", "9"]}
    carrier_server.route("GET", ORDERS_PATH, Reply(status=404, body=json.dumps(body)))

    with pytest.raises(TerminalError, match=r'No such entity with id = 9, field "%3" \(HTTP 404\)'):
        client(carrier_server).orders_page(None, None)


def test_a_proxy_error_page_is_a_malformed_response(carrier_server):
    carrier_server.malformed_next()

    with pytest.raises(MalformedResponse):
        client(carrier_server).orders_page(None, None)


@pytest.mark.parametrize(
    "body",
    [{"message": "ok"}, {"items": {}, "total_count": 1}, {"items": []}, [1, 2]],
    ids=["no items", "items not a list", "no total_count", "a list"],
)
def test_json_that_is_not_a_search_answer_is_malformed(carrier_server, body):
    carrier_server.route("GET", ORDERS_PATH, body)

    with pytest.raises(MalformedResponse):
        client(carrier_server).orders_page(None, None)


def test_a_naive_updated_after_is_a_bug(carrier_server):
    with pytest.raises(ValueError, match="timezone"):
        client(carrier_server).orders_page(datetime(2025, 3, 1), None)

    assert carrier_server.requests == []


@pytest.mark.parametrize("cursor", ["2", "2025-03-04T08:02:11|58", "2025-03-04 08:02:11|", "|58"])
def test_a_cursor_this_client_did_not_make_is_refused(carrier_server, cursor):
    with pytest.raises(ValueError, match="cursor"):
        client(carrier_server).orders_page(None, cursor)


def test_the_token_is_never_sent_over_plain_http_to_a_remote_store():
    with pytest.raises(ValueError, match="https"):
        MagentoClient("http://shop.example.com", TOKEN, HttpClient())


def test_a_pasted_rest_endpoint_is_reduced_to_the_store_address():
    api = MagentoClient(" https://shop.example.com/index.php/rest/ ", TOKEN, HttpClient())

    assert api.base_url == "https://shop.example.com/index.php"
