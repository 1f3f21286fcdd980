"""WooCommerce importer: recorded REST v3 orders and webhook bodies replayed, webhook signatures
and pings, and the order listing client against the local fake HTTP server."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from carriers.http import HttpClient, TerminalError, TransientError
from tests.fakes.carrier_server import Reply
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    SignatureMismatch,
)
from wismo.tracking.importers.woocommerce import (
    WooCommerceClient,
    is_ping,
    order_from_payload,
    verify_webhook,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops" / "woocommerce"
ORDERS_PATH = r"^/wp-json/wc/v3/orders$"
SECRET = "wc-secret-5f8e"
# `openssl dgst -sha256 -hmac wc-secret-5f8e -binary webhook_order_updated.json | base64`
WEBHOOK_SIGNATURE = "So39Sws/nt2lulCJjbr6OFxFpdrlvwE/fp9Tes5mX4E="
CONSUMER_KEY = "ck_8f3a1c0d9e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
CONSUMER_SECRET = "cs_1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
CEST = timezone(timedelta(hours=2))


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict:
    return json.loads(raw(name))


def woocommerce_signature(body: bytes, secret: str) -> str:
    """What WooCommerce sends in X-WC-Webhook-Signature, computed here step by step."""
    mac = hmac.new(key=secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def client(server) -> WooCommerceClient:
    return WooCommerceClient(server.url + "/", CONSUMER_KEY, CONSUMER_SECRET, HttpClient())


# -- orders ---------------------------------------------------------------------------------


def test_an_order_with_two_tracking_items_is_normalized_whole():
    order = order_from_payload(payload("order_two_trackings.json"))

    assert order == OrderDTO(
        external_id="727",
        order_number="727",
        customer_email="jan@example.nl",
        customer_name="Jan de Vries",
        locale="nl",
        shipping_country="NL",
        shipping_postcode="3511 AB",
        currency="EUR",
        placed_at=datetime(2025, 3, 3, 9, 2, 44, tzinfo=UTC),
        updated_at=datetime(2025, 3, 4, 9, 20, 11, tzinfo=UTC),
        cancelled=False,
        line_items=(
            LineItemDTO(
                title="Stroopwafel tin - Large",
                quantity=2,
                sku="STW-TIN-L",
                price="12.396694",
                image_url="https://shop.example.nl/wp-content/uploads/2024/11/stroopwafel-tin.jpg",
            ),
            LineItemDTO(title="Delft blue mug", quantity=1, sku="", price="15.29", image_url=""),
        ),
        fulfillments=(
            FulfillmentDTO(
                external_id="b1946ac92492d2347c6235b4d2611184",
                tracking_numbers=("3SABCD1234567",),
                carrier_name="postnl",
                tracking_urls=(),
                shipped_at=datetime(2025, 3, 4, 0, 0, tzinfo=UTC),
            ),
            FulfillmentDTO(
                external_id="591785b794601e212b260e25925636fd",
                tracking_numbers=("JVGL0612345678901234",),
                carrier_name="DHL Parcel NL",
                tracking_urls=("https://my.dhlparcel.nl/home/tracktrace/JVGL0612345678901234",),
                shipped_at=datetime(2025, 3, 4, 12, 0, tzinfo=UTC),
            ),
        ),
    )


def test_a_virtual_refunded_order_is_cancelled_and_ships_to_its_billing_address():
    order = order_from_payload(payload("order_virtual_refunded.json"))

    assert order == OrderDTO(
        external_id="731",
        order_number="DE-731",
        customer_email="einkauf@baeckerei-huber.de",
        customer_name="Lena Huber",  # billing has no name: the shipping one is the person
        locale="de-DE",
        shipping_country="DE",
        shipping_postcode="80802",
        currency="EUR",
        placed_at=datetime(2025, 3, 5, 15, 40, 2, tzinfo=UTC),
        updated_at=datetime(2025, 3, 6, 8, 1, 37, tzinfo=UTC),
        cancelled=True,
        line_items=(LineItemDTO(title="Gift card 25 €", quantity=1, sku="GIFT-25", price="25.00"),),
        fulfillments=(),
    )


@pytest.mark.parametrize("status", ["cancelled", "refunded", "failed", "trash"])
def test_an_order_that_will_not_ship_is_cancelled(status):
    body = payload("order_two_trackings.json")
    body["status"] = status

    assert order_from_payload(body).cancelled is True


@pytest.mark.parametrize("status", ["pending", "processing", "on-hold", "completed", "shipped"])
def test_an_order_still_going_is_not_cancelled(status):
    body = payload("order_two_trackings.json")
    body["status"] = status

    assert order_from_payload(body).cancelled is False


def test_a_signed_webhook_body_becomes_the_same_order_shape():
    body = raw("webhook_order_updated.json")
    verify_webhook(body, WEBHOOK_SIGNATURE, SECRET)

    order = order_from_payload(json.loads(body))

    assert order == OrderDTO(
        external_id="1088",
        order_number="1088",
        customer_email="chiara.bianchi@example.it",
        customer_name="Chiara Bianchi",
        locale="it",
        shipping_country="IT",
        shipping_postcode="10121",
        currency="EUR",
        placed_at=datetime(2025, 4, 10, 16, 22, 5, tzinfo=UTC),
        updated_at=datetime(2025, 4, 11, 7, 14, 50, tzinfo=UTC),
        cancelled=False,
        line_items=(
            LineItemDTO(
                title="Caffè in grani 1 kg",
                quantity=3,
                sku="CAF-GR-1KG",
                price="13.00",
                image_url="https://bottega.example.it/wp-content/uploads/2025/01/caffe-grani.jpg",
            ),
        ),
        # The first tracking item was deleted: PHP sent the rest as an object keyed "1".
        fulfillments=(
            FulfillmentDTO(
                external_id="e4da3b7fbbce2345d7772b0674a318d5",
                tracking_numbers=("084123456789",),
                carrier_name="BRT",
                tracking_urls=(
                    "https://vas.brt.it/vas/sped_det_show.hsm"
                    "?referer=sped_numspe_par.htm&Nspediz=084123456789",
                ),
                shipped_at=datetime(2025, 4, 11, 0, 0, tzinfo=UTC),
            ),
        ),
    )


def test_a_bare_order_with_nothing_but_its_keys_does_not_crash():
    order = order_from_payload({"id": 5, "order_key": "wc_order_x", "billing": None})

    assert order == OrderDTO(external_id="5", order_number="5")


def test_broken_tracking_items_are_skipped_and_the_rest_kept():
    body = payload("order_two_trackings.json")
    tracking = next(m for m in body["meta_data"] if m["key"] == "_wc_shipment_tracking_items")
    tracking["value"] = [
        "not an item",
        {"tracking_number": "", "tracking_provider": "ups"},
        {
            "tracking_number": " 1Z999AA10123456784 ",
            "tracking_provider": "ups",
            "date_shipped": "x",
        },
        {"tracking_number": "1Z999AA10123456784", "tracking_provider": "ups"},
    ]
    body["line_items"] = [{"name": "Odd", "quantity": "two", "total": "9.00"}, None]

    order = order_from_payload(body)

    assert order.fulfillments == (
        FulfillmentDTO(
            external_id="1Z999AA10123456784",
            tracking_numbers=("1Z999AA10123456784",),
            carrier_name="ups",
        ),
    )
    assert order.line_items == (LineItemDTO(title="Odd", quantity=1, price="9.00"),)


def test_an_order_without_shipment_tracking_meta_has_no_fulfillments():
    body = payload("order_two_trackings.json")
    body["meta_data"] = [{"id": 1, "key": "_tracking_number", "value": "3SABCD1234567"}]

    assert order_from_payload(body).fulfillments == ()
    assert order_from_payload(body).locale == ""


FOREIGN = {
    "shopify order": {
        "id": 5123456789012,
        "name": "#1042",
        "email": "ana@example.com",
        "line_items": [{"title": "Mug", "quantity": 1}],
        "billing_address": {"first_name": "Ana"},
    },
    "woocommerce customer": {
        "id": 17,
        "email": "chiara.bianchi@example.it",
        "role": "customer",
        "username": "chiara",
        "billing": {"first_name": "Chiara"},
        "shipping": {"first_name": "Chiara"},
    },
    "woocommerce product": {"id": 501, "name": "Caffè", "sku": "CAF-GR-1KG", "price": "13"},
    "woocommerce refund": {"id": 732, "amount": "25.00", "reason": "", "line_items": []},
    "order.deleted body": {"id": 727},
    "legacy v3 webhook": {"order": {"id": 727, "order_number": 727}},
    "boolean id": {"id": True, "order_key": "wc_order_x"},
    "not a dict": [{"id": 727, "order_key": "wc_order_x"}],
    "nothing": None,
}


@pytest.mark.parametrize("body", FOREIGN.values(), ids=FOREIGN.keys())
def test_anything_but_a_woocommerce_order_is_not_this_payload(body):
    with pytest.raises(NotThisPayload):
        order_from_payload(body)


# -- webhooks -------------------------------------------------------------------------------


def test_the_signature_woocommerce_sends_verifies():
    body = raw("webhook_order_updated.json")

    assert woocommerce_signature(body, SECRET) == WEBHOOK_SIGNATURE
    verify_webhook(body, WEBHOOK_SIGNATURE, SECRET)  # does not raise


def test_a_signature_made_with_another_secret_is_refused():
    body = raw("webhook_order_updated.json")

    with pytest.raises(SignatureMismatch):
        verify_webhook(body, woocommerce_signature(body, "another-secret"), SECRET)


def test_a_tampered_body_is_refused():
    body = raw("webhook_order_updated.json")
    tampered = body.replace(b'"status":"processing"', b'"status":"cancelled"')
    assert tampered != body

    with pytest.raises(SignatureMismatch):
        verify_webhook(tampered, WEBHOOK_SIGNATURE, SECRET)


def test_a_re_encoded_body_is_refused_because_the_signature_covers_the_exact_bytes():
    body = raw("webhook_order_updated.json")
    re_encoded = json.dumps(json.loads(body)).encode()

    with pytest.raises(SignatureMismatch):
        verify_webhook(re_encoded, WEBHOOK_SIGNATURE, SECRET)


@pytest.mark.parametrize("header", ["", "not-base64!", WEBHOOK_SIGNATURE[:-4]])
def test_a_missing_or_mangled_signature_is_refused(header):
    with pytest.raises(SignatureMismatch):
        verify_webhook(raw("webhook_order_updated.json"), header, SECRET)


def test_no_secret_configured_refuses_every_signature():
    body = raw("webhook_order_updated.json")

    with pytest.raises(SignatureMismatch):
        verify_webhook(body, woocommerce_signature(body, ""), "")


def test_a_secret_stored_with_html_entities_signs_with_its_decoded_characters():
    body = raw("webhook_order_updated.json")
    signed = woocommerce_signature(body, "k&y<'2\"")  # WooCommerce decodes before signing

    verify_webhook(body, signed, "k&amp;y&lt;&#039;2&quot;")


def test_the_creation_ping_is_recognized():
    headers = {
        "User-Agent": "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)",
        "Content-Type": "application/x-www-form-urlencoded",
    }

    assert is_ping(b"webhook_id=42", headers) is True


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # a real delivery is signed
        (b"webhook_id=42", {"x-wc-webhook-signature": WEBHOOK_SIGNATURE}),
        (raw("webhook_order_updated.json"), {"X-WC-Webhook-Signature": WEBHOOK_SIGNATURE}),
        # an unsigned order body is not a ping: it must fail verification instead
        (raw("webhook_order_updated.json"), {}),
        (b"webhook_id=42&order=1", {}),
        (b"webhook_id=", {}),
        (b"", {}),
    ],
    ids=["signed ping body", "delivery", "unsigned order", "extra field", "no id", "empty"],
)
def test_anything_else_is_not_a_ping(body, headers):
    assert is_ping(body, headers) is False


# -- REST client ----------------------------------------------------------------------------


def listing(page: int, total_pages: int = 3) -> Reply:
    return Reply(
        body=raw(f"orders_page_{page}.json"),
        headers={"X-WP-Total": "5", "X-WP-TotalPages": str(total_pages)},
    )


def test_the_client_asks_with_basic_auth_and_the_documented_query(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, listing(1))

    client(carrier_server).orders_page(datetime(2025, 5, 1, 10, 0, 30, 123, tzinfo=CEST), None)

    (request,) = carrier_server.requests
    expected = base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.query == {
        "per_page": ["100"],
        "page": ["1"],
        "orderby": ["modified"],
        "order": ["asc"],
        "modified_after": ["2025-05-01T08:00:30"],  # UTC, no offset, with dates_are_gmt
        "dates_are_gmt": ["true"],
    }


def test_a_first_sync_sends_no_modified_after(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, listing(1))

    client(carrier_server).orders_page(None, None)

    assert "modified_after" not in carrier_server.requests[0].query


def test_the_client_walks_every_page_until_the_last(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, lambda request: listing(int(request.query["page"][0])))
    api = client(carrier_server)

    cursors, ids, cursor = [], [], None
    while True:
        page = api.orders_page(datetime(2025, 5, 1, tzinfo=UTC), cursor)
        ids += [order.external_id for order in page.orders]
        cursors.append(page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert cursors == ["2", "3", None]
    assert ids == ["901", "902", "903", "904", "905"]
    assert [r.query["page"] for r in carrier_server.requests] == [["1"], ["2"], ["3"]]


def test_a_listing_page_holds_whole_orders(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, listing(3))

    page = client(carrier_server).orders_page(None, "3")

    assert page.next_cursor is None
    assert page.orders == [
        OrderDTO(
            external_id="905",
            order_number="905",
            customer_email="amy905@example.co.uk",
            customer_name="Amy Cole 905",
            shipping_country="GB",
            shipping_postcode="EC1A 1BB",
            currency="GBP",
            placed_at=datetime(2025, 5, 1, 8, 5, tzinfo=UTC),
            updated_at=datetime(2025, 5, 2, 8, 5, tzinfo=UTC),
            line_items=(LineItemDTO(title="Tea towel", quantity=1, sku="TT-1", price="9.50"),),
        )
    ]


def test_an_empty_shop_is_one_page_with_no_next(carrier_server):
    carrier_server.route(
        "GET", ORDERS_PATH, Reply(body="[]", headers={"X-WP-Total": "0", "X-WP-TotalPages": "0"})
    )

    page = client(carrier_server).orders_page(None, None)

    assert page.orders == []
    assert page.next_cursor is None


def test_rate_limiting_is_transient_and_keeps_retry_after(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, listing(1))
    carrier_server.fail_next(429, headers={"Retry-After": "30"})

    with pytest.raises(TransientError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 429
    assert caught.value.retry_after == 30.0


def test_a_server_error_is_transient(carrier_server):
    carrier_server.fail_next(503)

    with pytest.raises(TransientError):
        client(carrier_server).orders_page(None, "2")


def test_a_refused_key_is_terminal(carrier_server):
    carrier_server.fail_next(
        401,
        body=json.dumps(
            {
                "code": "woocommerce_rest_authentication_error",
                "message": "Consumer secret is invalid.",
                "data": {"status": 401},
            }
        ),
    )

    with pytest.raises(TerminalError) as caught:
        client(carrier_server).orders_page(None, None)

    assert caught.value.status == 401


def test_a_site_without_the_rest_route_is_terminal(carrier_server):
    carrier_server.route(
        "GET",
        ORDERS_PATH,
        Reply(
            status=404, body='{"code":"rest_no_route","message":"No route","data":{"status":404}}'
        ),
    )

    with pytest.raises(TerminalError, match="rest_no_route"):
        client(carrier_server).orders_page(None, None)


def test_a_naive_modified_after_is_a_bug(carrier_server):
    with pytest.raises(ValueError, match="timezone"):
        client(carrier_server).orders_page(datetime(2025, 5, 1), None)


def test_the_key_pair_is_never_sent_over_plain_http_to_a_remote_site():
    with pytest.raises(ValueError, match="https"):
        WooCommerceClient("http://shop.example.nl", CONSUMER_KEY, CONSUMER_SECRET, HttpClient())


def test_a_listed_item_that_is_not_an_order_is_skipped(carrier_server):
    orders = json.loads(raw("orders_page_3.json"))
    carrier_server.route(
        "GET",
        ORDERS_PATH,
        Reply(
            body=json.dumps([{"id": 1}, *copy.deepcopy(orders)]), headers={"X-WP-TotalPages": "1"}
        ),
    )

    page = client(carrier_server).orders_page(None, None)

    assert [o.external_id for o in page.orders] == ["905"]
