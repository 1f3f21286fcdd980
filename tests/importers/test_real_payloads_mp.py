# ruff: noqa: RUF001 - the en dashes in product names are the non-ASCII text under test
"""Magento 2 and PrestaShop importers against payloads shaped like what the platforms really send.

The ``real_*`` fixtures follow the platforms' own output code and documentation, not our earlier
fixtures:

- Magento REST (``Magento\\Framework\\Reflection\\DataObjectProcessor``): fields whose getter
  returns null are left out, so a guest order has no ``customer_firstname``/``customer_id``/
  ``customer_group_id`` at all; ids and quantities are JSON numbers, ``increment_id`` is text;
  times are "YYYY-MM-DD HH:MM:SS" in UTC; the JSON encoder escapes non-ASCII (``\\u00e9``) and
  slashes (``\\/``). A configurable product is a parent item plus a child with
  ``parent_item_id`` and a nested ``parent_item``. Shipment tracks carry ``carrier_code``
  ("custom" is the admin's "Custom Value", whose ``title`` may be left empty) and ``title``.
- PrestaShop Webservice JSON (``WebserviceOutputJSON``): every field but the object's own ``id``
  is a string; a listing with nothing in it is a bare ``[]``; a translatable field is a list of
  ``{"id", "value"}`` when the shop has more than one language; non-ASCII is sent unescaped;
  PrestaShop 8 drops the fields PHP finds empty ("" and "0") from a single object fetched by id;
  an ``order_carriers`` row has ``tracking_number`` "" until the parcel is shipped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from carriers.http import HttpClient
from tests.importers.test_magento import FakeMagento
from tests.importers.test_prestashop import RESOURCES, FakePrestaShop
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, OrderDTO
from wismo.tracking.importers.magento import MagentoClient, fulfillments_from_shipments
from wismo.tracking.importers.magento import order_from_payload as magento_order
from wismo.tracking.importers.prestashop import PrestaShopClient
from wismo.tracking.importers.prestashop import order_from_payload as prestashop_order

SHOPS = Path(__file__).resolve().parent.parent / "fixtures" / "shops"
MAGENTO_TOKEN = "r7t2y9u4i1o8p5a3s6d0f2g7h4j9k1l3"
PRESTASHOP_KEY = "Q8W2E6R4T1Y9U3I7O5P0A2S8D6F4G1H3"


def magento(name: str):
    return json.loads((SHOPS / "magento" / f"real_{name}.json").read_bytes())


def prestashop(name: str):
    return json.loads((SHOPS / "prestashop" / f"real_{name}.json").read_bytes())


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- Magento 2 ----------------------------------------------------------------------------------

ZOE = OrderDTO(
    external_id="1207",
    order_number="300001207",
    customer_email="zoe.angstrom@example.de",
    customer_name="Zoë Ångström",  # a guest: no customer_firstname/lastname keys at all
    locale="de",
    shipping_country="DE",
    shipping_postcode="20095",  # the shipping assignment (Hamburg), not the billing (München)
    currency="EUR",
    placed_at=utc(2026, 11, 28, 21, 47, 3),
    updated_at=utc(2026, 11, 30, 9, 14, 52),
    cancelled=False,
    line_items=(
        # The configurable parent only: its child points to it with parent_item_id.
        LineItemDTO(title="Wollpullover „Fjäll“", quantity=1, sku="WP-FJALL-M-GRAU", price="49.90"),
        LineItemDTO(title="Mütze aus Merino", quantity=1, sku="MZ-MERINO", price="30.00"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="601",
            # An extension's code with its title, and a "custom" track with an empty title.
            tracking_numbers=("00340434161094015902", "00340434161094015919"),
            carrier_name="DHL Paket",
            shipped_at=utc(2026, 11, 29, 15, 3, 27),
        ),
        FulfillmentDTO(
            external_id="602",
            tracking_numbers=("LX123456789DE",),
            carrier_name="Deutsche Post Warenpost",
            shipped_at=utc(2026, 11, 30, 9, 14, 52),
        ),
    ),
)

MALGORZATA = OrderDTO(
    external_id="1208",
    order_number="300001208",
    customer_email="m.kowalczyk@example.pl",
    customer_name="Małgorzata Kowalczyk",
    locale="pl",
    shipping_country="PL",
    shipping_postcode="31-042",
    currency="PLN",
    placed_at=utc(2026, 11, 29, 7, 2, 41),
    updated_at=utc(2026, 11, 30, 9, 14, 52),
    cancelled=False,  # "holded" is on hold, not cancelled
    line_items=(
        LineItemDTO(title="Świeca sojowa – lawenda", quantity=3, sku="SW-LAW-200", price="41.3333"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="603",
            tracking_numbers=("520113014230722029585646", "1Z999AA10123456784"),
            carrier_name="",  # InPost and UPS in one shipment: no single name fits
            shipped_at=utc(2026, 11, 29, 16, 40, 5),
        ),
        FulfillmentDTO(
            external_id="604",  # its tracks were removed: a shipment without numbers
            tracking_numbers=(),
            shipped_at=utc(2026, 11, 30, 8, 0, 0),
        ),
    ),
)

JEROME = OrderDTO(
    external_id="1209",
    order_number="300001209",
    customer_email="j.dupont@example.be",
    customer_name="Jérôme Dupont",
    locale="fr",
    shipping_country="BE",
    shipping_postcode="4000",
    currency="EUR",
    placed_at=utc(2026, 11, 30, 10, 55, 19),
    updated_at=utc(2026, 11, 30, 11, 20, 0),
    cancelled=True,
    line_items=(
        LineItemDTO(title="Boîte à thé « Jardin »", quantity=1, sku="BT-JARDIN", price="19.90"),
    ),
    fulfillments=(),
)

MAGENTO_ORDERS = {"1207": ZOE, "1208": MALGORZATA, "1209": JEROME}
STORE_LOCALES = {3: "de_DE", 4: "pl_PL", 5: "fr_BE"}


def magento_orders() -> list[dict]:
    return magento("orders_search")["items"]


def magento_shipments() -> list[dict]:
    return magento("shipments_search")["items"]


@pytest.mark.parametrize("order", magento_orders(), ids=lambda o: str(o["entity_id"]))
def test_magento_real_orders_are_read_whole(order):
    dto = magento_order(order, magento_shipments(), STORE_LOCALES[order["store_id"]])

    assert dto == MAGENTO_ORDERS[str(order["entity_id"])]


def test_magento_guest_order_has_none_of_the_customer_keys_null_fields_are_left_out():
    guest = magento_orders()[0]

    assert guest["customer_is_guest"] == 1
    assert not {"customer_firstname", "customer_lastname", "customer_id"} & guest.keys()
    assert magento_order(guest).customer_name == "Zoë Ångström"


def test_magento_shipments_of_a_search_answer_are_grouped_by_order():
    by_order = fulfillments_from_shipments(magento_shipments())

    assert {order: [f.external_id for f in found] for order, found in by_order.items()} == {
        "1207": ["601", "602"],
        "1208": ["603", "604"],
    }


@pytest.mark.parametrize(
    ("state", "status", "cancelled"),
    [
        ("canceled", "canceled", True),
        ("closed", "closed", True),
        ("complete", "complete", False),
        ("holded", "holded", False),
        ("processing", "preparing_shipment", False),  # a merchant's own status of a state
        ("new", "pending", False),
        ("pending_payment", "pending_payment", False),
        ("payment_review", "fraud", False),
    ],
)
def test_magento_states_and_statuses_as_sent(state, status, cancelled):
    order = magento_orders()[1]
    order["state"], order["status"] = state, status

    assert magento_order(order).cancelled is cancelled


def test_magento_client_reads_a_real_search_answer_with_shipments_and_store_views(carrier_server):
    FakeMagento(magento_orders(), magento_shipments(), magento("store_configs")).install(
        carrier_server
    )
    api = MagentoClient(carrier_server.url, MAGENTO_TOKEN, HttpClient())

    page = api.orders_page(utc(2026, 11, 28), None)

    assert page.orders == [ZOE, MALGORZATA, JEROME]
    assert page.next_cursor is None


def test_magento_client_pages_through_orders_sharing_one_updated_at(carrier_server):
    # 1207 and 1208 were both changed at 2026-11-30 09:14:52: the keyset cursor keeps them apart.
    FakeMagento(magento_orders(), magento_shipments(), magento("store_configs")).install(
        carrier_server
    )
    api = MagentoClient(carrier_server.url, MAGENTO_TOKEN, HttpClient(), page_size=1)

    orders, cursors, cursor = [], [], None
    while True:
        page = api.orders_page(None, cursor)
        orders += page.orders
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert orders == [ZOE, MALGORZATA, JEROME]
    assert cursors == ["2026-11-30 09:14:52|1207", "2026-11-30 09:14:52|1208", None]


# -- PrestaShop ---------------------------------------------------------------------------------

PARIS_SHOP_TZ = "Europe/Paris"

ORDER_1041 = OrderDTO(
    external_id="1041",
    order_number="KQZWXHTPB",
    customer_email="chloe.lefevre@example.fr",
    customer_name="Chloé Lefèvre",  # a guest checkout is a customer row with is_guest "1"
    locale="fr",
    shipping_country="FR",
    shipping_postcode="13001",
    currency="EUR",
    placed_at=utc(2026, 11, 27, 17, 22, 5),  # 18:22:05 in Paris
    updated_at=utc(2026, 11, 29, 9, 41, 17),
    cancelled=False,
    line_items=(
        LineItemDTO(
            title="Théière en fonte « Jardin » - Couleur : Noir",
            quantity=1,
            sku="TH-JARDIN-NOIR",
            price="45.00",
        ),
        LineItemDTO(title="Thé vert Sencha – 100 g", quantity=3, sku="", price="8.90"),
    ),
    fulfillments=(
        FulfillmentDTO(
            external_id="501",
            tracking_numbers=("6A23456789012",),
            carrier_name="Colissimo",
            tracking_urls=("https://www.laposte.fr/outils/suivre-vos-envois?code=6A23456789012",),
        ),
    ),
)
ORDER_1042 = OrderDTO(
    external_id="1042",
    order_number="PLMOKNIJB",
    customer_email="lukasz.wisniewski@example.pl",
    customer_name="Łukasz Wiśniewski",
    locale="pl",
    shipping_country="PL",
    shipping_postcode="00-950",
    currency="PLN",
    placed_at=utc(2026, 11, 28, 7, 15, 44),
    updated_at=utc(2026, 11, 29, 9, 41, 17),
    cancelled=False,
    line_items=(
        LineItemDTO(title="Świeca sojowa – lawenda", quantity=2, sku="SW-LAW-200", price="49.99"),
    ),
    fulfillments=(),  # its order_carriers row has tracking_number "": not shipped yet
)
ORDER_1043 = OrderDTO(
    external_id="1043",
    order_number="ZXCVBNMAS",
    customer_email="siobhan.obrien@example.co.uk",
    customer_name="Siobhán O'Brien",
    locale="en",
    shipping_country="GB",
    shipping_postcode="SW1A 2HQ",
    currency="GBP",
    placed_at=utc(2026, 11, 28, 11, 0, 0),
    updated_at=utc(2026, 11, 30, 8, 0, 0),
    cancelled=True,  # current_state "6": Canceled
    line_items=(
        LineItemDTO(title="Cast-iron teapot", quantity=1, sku="TH-CLASSIC", price="39.00"),
    ),
    fulfillments=(),
)
ORDER_1044 = OrderDTO(
    external_id="1044",
    order_number="QAZWSXEDC",
    customer_email="emile.durand@example.fr",
    customer_name="Émile Durand",
    locale="fr",
    shipping_country="FR",
    shipping_postcode="69002",
    currency="EUR",
    placed_at=utc(2026, 11, 26, 8, 30, 0),
    updated_at=utc(2026, 11, 30, 13, 5, 59),
    cancelled=False,
    line_items=(LineItemDTO(title="Thé vert Sencha – 100 g", quantity=10, sku="", price="8.90"),),
    fulfillments=(
        FulfillmentDTO(
            external_id="504",  # two numbers typed into one field, comma separated
            tracking_numbers=("XY987654321FR", "XY987654322FR"),
            carrier_name="Chronopost",
            tracking_urls=(
                "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT=XY987654321FR",
                "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT=XY987654322FR",
            ),
        ),
        FulfillmentDTO(
            external_id="505",  # its carrier (id 12) was since deleted: the listing omits it
            tracking_numbers=("CB123456789FR",),
        ),
    ),
)


@pytest.fixture
def real_shop(carrier_server):
    shop = FakePrestaShop(carrier_server)
    shop.tables = {resource: prestashop(resource)[resource] for resource in RESOURCES}
    return shop


def prestashop_client(server, **kwargs) -> PrestaShopClient:
    return PrestaShopClient(
        server.url, PRESTASHOP_KEY, HttpClient(), timezone=PARIS_SHOP_TZ, **kwargs
    )


def test_prestashop_client_reads_real_listings_with_strings_and_language_lists(
    carrier_server, real_shop
):
    page = prestashop_client(carrier_server).orders_page(None, None)

    assert page.orders == [ORDER_1041, ORDER_1042, ORDER_1043, ORDER_1044]
    assert page.next_cursor is None


def test_prestashop_client_walks_real_orders_sharing_a_second(carrier_server, real_shop):
    api = prestashop_client(carrier_server, page_size=2)

    orders, cursor = [], None
    while True:
        page = api.orders_page(None, cursor)
        orders += page.orders
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert orders == [ORDER_1041, ORDER_1042, ORDER_1043, ORDER_1044]


def test_prestashop_bare_empty_array_is_an_empty_last_page(carrier_server):
    carrier_server.route("GET", r"^/api/orders$", prestashop("empty_listing"))

    page = prestashop_client(carrier_server).orders_page(utc(2026, 12, 1), None)

    assert (page.orders, page.next_cursor) == ([], None)
    assert [r.path for r in carrier_server.requests] == ["/api/orders"]


def test_prestashop_deleted_customers_and_addresses_answer_empty_arrays(carrier_server, real_shop):
    # filter[id]=[311|...] matching nothing answers [] instead of {"customers": []}.
    real_shop.tables["customers"] = []
    real_shop.tables["addresses"] = []

    page = prestashop_client(carrier_server).orders_page(None, None)

    first = page.orders[0]
    assert (first.customer_email, first.customer_name, first.shipping_country) == ("", "", "")
    assert first.fulfillments == ORDER_1041.fulfillments


def test_prestashop_order_fetched_by_id_without_its_empty_fields_is_read():
    body = prestashop("order_single")
    assert not {"shipping_number", "note", "gift", "invoice_number"} & body["order"].keys()

    dto = prestashop_order(
        body,
        order_carriers=prestashop("order_carriers")["order_carriers"],
        customer=prestashop("customers")["customers"][1],
        address=prestashop("addresses")["addresses"][1],
        country_iso="PL",
        language_iso="pl",
        currency_iso="PLN",
        carriers={str(c["id"]): c for c in prestashop("carriers")["carriers"]},
        shop_timezone=ZoneInfo(PARIS_SHOP_TZ),
    )

    assert dto == ORDER_1042


def test_prestashop_translated_fields_pick_the_orders_language():
    order = prestashop("orders")["orders"][0]
    row = order["associations"]["order_rows"][1]
    row["product_name"] = [
        {"id": "1", "value": "Thé vert Sencha – 100 g"},
        {"id": "2", "value": "Sencha green tea – 100 g"},
        {"id": "3", "value": "Zielona herbata Sencha – 100 g"},
    ]
    order["id_lang"] = "3"

    dto = prestashop_order(order)

    assert dto.line_items[1].title == "Zielona herbata Sencha – 100 g"


def test_prestashop_shipped_row_wins_over_the_carrier_rows_still_empty():
    order = prestashop("orders")["orders"][0]
    rows = prestashop("order_carriers")["order_carriers"]
    rows.append(
        {
            "id": 506,
            "id_order": "1041",
            "id_carrier": "33",
            "id_order_invoice": "0",
            "weight": "0.000000",
            "shipping_cost_tax_excl": "0.000000",
            "shipping_cost_tax_incl": "0.000000",
            "tracking_number": "",
            "date_add": "2026-11-29 10:41:00",
        }
    )
    carriers = {str(c["id"]): c for c in prestashop("carriers")["carriers"]}

    dto = prestashop_order(order, order_carriers=rows, carriers=carriers)

    assert [f.external_id for f in dto.fulfillments] == ["501"]


def test_magento_child_item_carrying_a_price_too_is_still_not_a_second_line():
    # Some 2.2 releases filled the simple child's price as well (magento/magento2#22562).
    order = magento_orders()[0]
    child = order["items"][1]
    child["price"] = child["base_price"] = child["row_total"] = 49.9

    dto = magento_order(order)

    assert [item.sku for item in dto.line_items] == ["WP-FJALL-M-GRAU", "MZ-MERINO"]
    assert dto.line_items[0].price == "49.90"
