"""Shopify importer: recorded REST payloads replayed, webhook signatures, and the order listing
client against the local fake HTTP server."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from carriers.http import HttpClient, MalformedResponse, TerminalError, TransientError
from tests.fakes.carrier_server import Reply
from wismo.tracking.importers.base import (
    FulfillmentDTO,
    LineItemDTO,
    NotThisPayload,
    OrderDTO,
    SignatureMismatch,
)
from wismo.tracking.importers.shopify import (
    ShopifyClient,
    fulfillment_from_payload,
    order_from_payload,
    verify_webhook,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "shops" / "shopify"
ORDERS_PATH = r"^/admin/api/2025-01/orders\.json$"
CET = timezone(timedelta(hours=1))
EST = timezone(timedelta(hours=-5))
SECRET = "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"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict:
    return json.loads(raw(name))


def shopify_signature(body: bytes, secret: str) -> str:
    """What Shopify sends in X-Shopify-Hmac-Sha256, computed here step by step."""
    mac = hmac.new(key=secret.encode("utf-8"), msg=body, digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


# -- orders ---------------------------------------------------------------------------------


def test_an_order_with_two_fulfillments_is_normalized_whole():
    order = order_from_payload(payload("order_two_fulfillments.json"))

    assert order == OrderDTO(
        external_id="5123456789012",
        order_number="1042",
        customer_email="ana@example.com",
        customer_name="Ana Rossi",
        locale="it",
        shipping_country="IT",
        shipping_postcode="20121",
        currency="EUR",
        placed_at=datetime(2025, 3, 3, 18, 42, 7, tzinfo=CET),
        updated_at=datetime(2025, 3, 4, 10, 15, tzinfo=CET),
        cancelled=False,
        line_items=(
            LineItemDTO(title="Moka pot 6 cups", quantity=2, sku="MOKA-6-SLV", price="39.90"),
            LineItemDTO(title="Espresso blend 250 g", quantity=1, sku="", price="25.10"),
        ),
        fulfillments=(
            FulfillmentDTO(
                external_id="4456789012345",
                tracking_numbers=("1234567890", "1234567891"),
                carrier_name="DHL Express",
                tracking_urls=(
                    "https://www.dhl.com/it-en/home/tracking.html?tracking-id=1234567890",
                    "https://www.dhl.com/it-en/home/tracking.html?tracking-id=1234567891",
                ),
                shipped_at=datetime(2025, 3, 4, 10, 14, tzinfo=CET),
                cancelled=False,
            ),
            FulfillmentDTO(
                external_id="4456789012346",
                tracking_numbers=("3UW1A00000001",),
                carrier_name="Poste Italiane",
                tracking_urls=(
                    "https://www.poste.it/cerca/index.html#/risultati-spedizioni/3UW1A00000001",
                ),
                shipped_at=datetime(2025, 3, 4, 9, 55, 12, tzinfo=CET),
                cancelled=False,
            ),
        ),
    )


def test_a_cancelled_order_and_its_cancelled_fulfillment_are_marked():
    order = order_from_payload(payload("order_cancelled.json"))

    assert (order.external_id, order.order_number, order.cancelled) == (
        "5123456789020",
        "1050",
        True,
    )
    assert order.fulfillments == (
        FulfillmentDTO(
            external_id="4456789019999",
            tracking_numbers=("7023210039414604",),
            carrier_name="Canada Post",
            tracking_urls=(
                "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=7023210039414604",
            ),
            shipped_at=datetime(2025, 3, 5, 7, 40, tzinfo=EST),
            cancelled=True,
        ),
    )


def test_a_regional_locale_becomes_its_language_and_the_country_and_postcode_are_kept():
    order = order_from_payload(payload("order_cancelled.json"))

    assert (order.locale, order.shipping_country, order.shipping_postcode, order.currency) == (
        "en",
        "CA",
        "M5V 2L4",
        "CAD",
    )


@pytest.mark.parametrize(
    ("customer_locale", "language"),
    [("it", "it"), ("en-CA", "en"), ("pt_BR", "pt"), ("DE", "de"), (None, ""), ("", "")],
)
def test_customer_locale_maps_to_a_language_code(customer_locale, language):
    body = payload("order_two_fulfillments.json")
    body["customer_locale"] = customer_locale

    assert order_from_payload(body).locale == language


def test_times_keep_their_offset_and_zulu_times_are_utc():
    body = payload("order_two_fulfillments.json")
    body["updated_at"] = "2025-03-04T09:15:00Z"

    order = order_from_payload(body)

    assert order.updated_at == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert order.placed_at.utcoffset() == timedelta(hours=1)


def test_a_custom_order_name_is_kept_and_only_the_hash_is_dropped():
    body = payload("order_two_fulfillments.json")
    body["name"] = "EU-1042-B"

    assert order_from_payload(body).order_number == "EU-1042-B"


def test_an_order_without_name_uses_its_order_number():
    body = payload("order_two_fulfillments.json")
    del body["name"]

    assert order_from_payload(body).order_number == "1042"


def test_a_fulfillment_with_only_the_single_tracking_fields_is_read():
    body = payload("order_two_fulfillments.json")
    fulfillment = body["fulfillments"][1]
    del fulfillment["tracking_numbers"], fulfillment["tracking_urls"]

    second = order_from_payload(body).fulfillments[1]

    assert (second.tracking_numbers, second.tracking_urls) == (
        ("3UW1A00000001",),
        ("https://www.poste.it/cerca/index.html#/risultati-spedizioni/3UW1A00000001",),
    )


def test_a_fulfillment_without_tracking_yet_has_no_numbers():
    body = payload("order_two_fulfillments.json")
    fulfillment = body["fulfillments"][0]
    fulfillment.update(
        tracking_numbers=[], tracking_number=None, tracking_urls=[], tracking_url=None
    )
    fulfillment["tracking_company"] = None

    first = order_from_payload(body).fulfillments[0]

    assert (first.tracking_numbers, first.tracking_urls, first.carrier_name) == ((), (), "")


def test_an_order_without_customer_data_falls_back_to_contact_email_and_shipping_names():
    # Apps without protected customer data access get no customer object and no email.
    body = payload("order_two_fulfillments.json")
    del body["customer"], body["email"]

    order = order_from_payload(body)

    assert (order.customer_email, order.customer_name) == ("ana@example.com", "Ana Rossi")


def test_a_bare_order_with_nulls_everywhere_does_not_crash():
    body = {
        "id": 1,
        "name": None,
        "order_number": 1001,
        "line_items": [{"title": None, "quantity": None, "sku": None, "price": None}, "junk"],
        "fulfillments": [None, {"id": None}, {"id": 9, "tracking_numbers": None}],
        "customer": None,
        "shipping_address": None,
        "created_at": "not a date",
        "customer_locale": 7,
        "cancelled_at": None,
    }

    assert order_from_payload(body) == OrderDTO(
        external_id="1",
        order_number="1001",
        locale="7",
        line_items=(LineItemDTO(title="", quantity=0),),
        fulfillments=(FulfillmentDTO(external_id="9", tracking_numbers=()),),
    )


def test_a_single_order_resource_wrapped_in_order_is_unwrapped():
    body = {"order": payload("order_cancelled.json")}

    assert order_from_payload(body).external_id == "5123456789020"


# -- fulfillment webhooks --------------------------------------------------------------------


def test_a_fulfillment_webhook_gives_its_order_id_and_the_whole_fulfillment():
    order_id, fulfillment = fulfillment_from_payload(payload("fulfillment_update.json"))

    assert (order_id, fulfillment) == (
        "5123456789013",
        FulfillmentDTO(
            external_id="4456789012347",
            tracking_numbers=("084123456789012",),
            carrier_name="BRT",
            tracking_urls=(
                "https://vas.brt.it/vas/sped_det_show.hsm?referer=sped_numspe_par.htm&Nspediz=084123456789012",
            ),
            shipped_at=datetime(2025, 3, 6, 14, 3, 27, tzinfo=CET),
            cancelled=False,
        ),
    )


def test_a_fulfillment_in_error_or_failure_is_not_travelling():
    for status, dead in [("error", True), ("failure", True), ("open", False), ("pending", False)]:
        body = payload("fulfillment_update.json")
        body["status"] = status

        assert fulfillment_from_payload(body)[1].cancelled is dead, status


# -- foreign payloads ------------------------------------------------------------------------

WOOCOMMERCE_ORDER = {
    "id": 727,
    "number": "727",
    "status": "completed",
    "date_modified_gmt": "2025-03-04T09:20:11",
    "billing": {"first_name": "Jan", "email": "jan@example.nl"},
    "line_items": [{"id": 1, "name": "Mug", "quantity": 1}],
}
FULFILLMENT_EVENT = {
    "id": 25062081,
    "fulfillment_id": 4456789012347,
    "order_id": 5123456789013,
    "status": "out_for_delivery",
    "happened_at": "2025-03-07T08:12:40+01:00",
}
APP_UNINSTALLED = {
    "id": 71234567890,
    "name": "Negozio Esempio",
    "email": "owner@example.com",
    "domain": "negozio-esempio.myshopify.com",
    "myshopify_domain": "negozio-esempio.myshopify.com",
}
CUSTOMERS_REDACT = {
    "shop_id": 71234567890,
    "shop_domain": "negozio-esempio.myshopify.com",
    "customer": {"id": 7012345678901, "email": "ana@example.com", "phone": None},
    "orders_to_redact": [5123456789012],
}


@pytest.mark.parametrize(
    "body",
    [
        WOOCOMMERCE_ORDER,
        FULFILLMENT_EVENT,
        APP_UNINSTALLED,
        CUSTOMERS_REDACT,
        {"orders": []},
        [],
        None,
        "#1042",
    ],
    ids=[
        "woocommerce",
        "fulfillment_event",
        "app_uninstalled",
        "redact",
        "list",
        "[]",
        "null",
        "str",
    ],
)
def test_foreign_payloads_are_not_orders(body):
    with pytest.raises(NotThisPayload):
        order_from_payload(body)


def test_a_fulfillment_is_not_an_order():
    with pytest.raises(NotThisPayload):
        order_from_payload(payload("fulfillment_update.json"))


@pytest.mark.parametrize(
    "body",
    [WOOCOMMERCE_ORDER, FULFILLMENT_EVENT, APP_UNINSTALLED, CUSTOMERS_REDACT, [], None],
    ids=["woocommerce", "fulfillment_event", "app_uninstalled", "redact", "[]", "null"],
)
def test_foreign_payloads_are_not_fulfillments(body):
    with pytest.raises(NotThisPayload):
        fulfillment_from_payload(body)


def test_an_order_is_not_a_fulfillment():
    with pytest.raises(NotThisPayload):
        fulfillment_from_payload(payload("order_two_fulfillments.json"))


# -- webhook signature -----------------------------------------------------------------------


def test_a_webhook_signed_with_the_app_secret_verifies():
    body = raw("order_two_fulfillments.json")

    verify_webhook(body, shopify_signature(body, SECRET), SECRET)  # no exception


def test_a_webhook_signed_with_another_secret_is_refused():
    body = raw("order_two_fulfillments.json")

    with pytest.raises(SignatureMismatch):
        verify_webhook(body, shopify_signature(body, "shpss_someone_else"), SECRET)


def test_a_tampered_body_is_refused():
    body = raw("order_two_fulfillments.json")
    header = shopify_signature(body, SECRET)
    tampered = body.replace(b'"ana@example.com"', b'"eve@example.com"', 1)
    assert tampered != body

    with pytest.raises(SignatureMismatch):
        verify_webhook(tampered, header, SECRET)


def test_a_hex_digest_or_missing_header_is_refused():
    body = raw("fulfillment_update.json")
    hex_digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    for header in (hex_digest, "", "not base64 at all ✓"):
        with pytest.raises(SignatureMismatch):
            verify_webhook(body, header, SECRET)


def test_no_configured_secret_refuses_everything():
    body = b"{}"

    with pytest.raises(SignatureMismatch):
        verify_webhook(body, shopify_signature(body, ""), "")


# -- listing client --------------------------------------------------------------------------


def client_for(server, token: str = "shpat_test_token") -> ShopifyClient:
    return ShopifyClient(server.url, token, HttpClient(timeout=(2.0, 5.0)))


def test_the_first_page_sends_the_token_and_the_incremental_filters(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, {"orders": [payload("order_two_fulfillments.json")]})

    page = client_for(carrier_server).orders_page(datetime(2025, 3, 1, 10, 0, tzinfo=CET), None)

    (request,) = carrier_server.requests
    assert request.headers["x-shopify-access-token"] == "shpat_test_token"
    assert request.query == {
        "status": ["any"],
        "limit": ["250"],
        "order": ["updated_at asc"],
        "updated_at_min": ["2025-03-01T09:00:00Z"],
    }
    assert [o.external_id for o in page.orders] == ["5123456789012"]
    assert page.next_cursor is None  # one page: no Link header


def test_a_first_sync_lists_everything_without_updated_at_min(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, {"orders": []})

    page = client_for(carrier_server).orders_page(None, None)

    assert "updated_at_min" not in carrier_server.requests[0].query
    assert (page.orders, page.next_cursor) == ([], None)


def test_a_naive_high_water_mark_is_refused_before_any_request(carrier_server):
    with pytest.raises(ValueError, match="timezone-aware"):
        client_for(carrier_server).orders_page(datetime(2025, 3, 1), None)

    assert carrier_server.requests == []


def test_link_header_pagination_walks_three_pages_sending_only_the_cursor(carrier_server):
    first, third = payload("order_two_fulfillments.json"), payload("order_cancelled.json")
    second = copy.deepcopy(first) | {"id": 5123456789013, "name": "#1043"}
    url = f"{carrier_server.url}/admin/api/2025-01/orders.json"
    cursor_2 = "eyJsYXN0X2lkIjo1MTIzNDU2Nzg5MDEyLCJkaXJlY3Rpb24iOiJuZXh0In0"
    cursor_3 = "eyJsYXN0X2lkIjo1MTIzNDU2Nzg5MDEzLCJkaXJlY3Rpb24iOiJuZXh0In0"
    back_1 = "eyJsYXN0X2lkIjo1MTIzNDU2Nzg5MDEzLCJkaXJlY3Rpb24iOiJwcmV2In0"

    def orders(request):
        page_info = request.query.get("page_info", [None])[0]
        if page_info is None:
            return Reply(
                body=json.dumps({"orders": [first]}),
                headers={"Link": f'<{url}?limit=250&page_info={cursor_2}>; rel="next"'},
            )
        if page_info == cursor_2:
            return Reply(
                body=json.dumps({"orders": [second]}),
                headers={
                    "Link": f'<{url}?limit=250&page_info={back_1}>; rel="previous", '
                    f'<{url}?limit=250&page_info={cursor_3}>; rel="next"'
                },
            )
        if page_info == cursor_3:
            return Reply(
                body=json.dumps({"orders": [third]}),
                headers={"Link": f'<{url}?limit=250&page_info={back_1}>; rel="previous"'},
            )
        return Reply(status=400, body='{"errors":{"page_info":"Invalid value."}}')

    carrier_server.route("GET", ORDERS_PATH, orders)
    client = client_for(carrier_server)

    seen, cursors, cursor = [], [], None
    since = datetime(2025, 3, 1, tzinfo=UTC)
    for _ in range(5):
        page = client.orders_page(since, cursor)
        seen += [o.order_number for o in page.orders]
        cursor = page.next_cursor
        cursors.append(cursor)
        if cursor is None:
            break

    assert seen == ["1042", "1043", "1050"]
    assert cursors == [cursor_2, cursor_3, None]
    assert [r.query for r in carrier_server.requests[1:]] == [
        {"limit": ["250"], "page_info": [cursor_2]},
        {"limit": ["250"], "page_info": [cursor_3]},
    ]


def test_a_rate_limited_listing_is_transient_with_retry_after(carrier_server):
    carrier_server.route("GET", ORDERS_PATH, {"orders": []})
    carrier_server.fail_next(
        429,
        body='{"errors":"Exceeded 2 calls per second for api client. Reduce request rates."}',
        headers={"Retry-After": "2", "X-Shopify-Shop-Api-Call-Limit": "40/40"},
    )

    with pytest.raises(TransientError) as caught:
        client_for(carrier_server).orders_page(None, None)

    assert (caught.value.status, caught.value.retry_after) == (429, 2.0)


def test_shopifys_decimal_retry_after_is_read(carrier_server):
    carrier_server.fail_next(429, headers={"Retry-After": "2.0"})

    with pytest.raises(TransientError) as caught:
        client_for(carrier_server).orders_page(None, None)

    assert caught.value.retry_after == 2.0


def test_a_refused_token_is_terminal(carrier_server):
    carrier_server.fail_next(
        401,
        body='{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}',
    )

    with pytest.raises(TerminalError) as caught:
        client_for(carrier_server, token="shpat_revoked").orders_page(None, None)

    assert caught.value.status == 401


def test_a_shop_that_is_gone_is_terminal(carrier_server):
    carrier_server.fail_next(404, body='{"errors":"Not Found"}')

    with pytest.raises(TerminalError) as caught:
        client_for(carrier_server).orders_page(None, None)

    assert caught.value.status == 404


def test_a_proxy_error_page_is_a_malformed_response(carrier_server):
    carrier_server.malformed_next()

    with pytest.raises(MalformedResponse):
        client_for(carrier_server).orders_page(None, None)


def test_a_bare_shop_domain_is_reached_over_https():
    client = ShopifyClient("negozio-esempio.myshopify.com/", "shpat_x", HttpClient())

    assert client.base_url == "https://negozio-esempio.myshopify.com"
