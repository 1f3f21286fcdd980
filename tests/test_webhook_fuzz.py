"""Fuzzing what remote systems send us: never a 500, never half a write.

Every inbound endpoint (the Shopify, WooCommerce and carrier-push webhooks, and the two create
endpoints of the REST API) gets thousands of generated inputs: arbitrary bytes; arbitrary JSON
(deep nesting, huge numbers, NaN/Infinity, lone surrogates, NUL, long text, UTF-16/32 bodies);
and the recorded payloads under tests/fixtures/ with fields replaced by wrong types. The fuzzer
knows each secret, so most bodies are correctly signed and get past the signature check into the
parsers, which is where a crash would hide. For each request:

- the answer is one of the statuses the endpoint documents (below), never a 500;
- a 4xx changes no row; a webhook's 2xx adds at most its one ``InboundWebhook`` (processing is
  asynchronous) and nothing else;
- an accepted delivery is then processed synchronously, as the inbox task would: it ends
  ``processed`` or ``failed`` with its error kept (never a crash that leaves it stuck), a failure
  writes nothing, and a redelivered task changes nothing;
- a bad or missing signature is a 401 that stores nothing.

An order import is all-or-nothing: a crash injected at any point of it (after the order row, at
any parcel) leaves no order without its parcels, and the delivery waits in the inbox for a retry.

Each example runs inside a savepoint that is rolled back, so every example starts from the same
state (the fixtures of the test function), and row counts are compared across the request.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from django.apps import apps
from django.db import transaction
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from tenants.scoping import all_tenants, tenant_scope
from tenants.services import api_key_create
from tests.factories import (
    CarrierAccountFactory,
    OrderFactory,
    ShipmentFactory,
    ShopConnectionFactory,
)
from wismo.tracking import tasks
from wismo.tracking.importers import shopify, woocommerce
from wismo.tracking.models import InboundWebhook, Order, Shipment, ShopConnection
from wismo.tracking.services import imports
from wismo.tracking.services.shipments import normalize_tracking_number
from wismo.tracking.services.shop_webhooks import SHOPIFY_FULFILLMENT_TOPICS, SHOPIFY_ORDER_TOPICS
from wismo.tracking.services.webhooks import MAX_BODY_BYTES, pending_webhooks

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"

# What the issue allows an inbound endpoint to answer...
ALLOWED = frozenset({200, 201, 202, 204, 400, 401, 404, 409, 413, 415, 422})
# ...and what each endpoint actually answers (read from the code): webhooks 200 (accepted,
# duplicate, WooCommerce ping), 400 (not JSON / not this platform's payload / bad topic),
# 401 (signature), 404 (unknown store or account), 413 (over 1 MB); the API 200/201 (updated or
# created), 400 (validation, JSON parse), 401 (key), 415 (not JSON).
WEBHOOK_ANSWERS = frozenset({200, 400, 401, 404, 413})
API_ANSWERS = frozenset({200, 201, 400, 401, 415})
assert WEBHOOK_ANSWERS <= ALLOWED and API_ANSWERS <= ALLOWED

SHOPIFY_SECRET = "shpss_fuzz_secret"
WOO_SECRET = "woo-fuzz-secret"
DHL_HEADER, DHL_TOKEN = "X-Wismo-Token", "dhl-push-token"
UPS_TOKEN = "ups-track-alert-token"
SEVENTEEN_KEY = "k17-security-key"


# WISMO_FUZZ_SCALE=10 runs ten times the examples (a deeper, slower hunt than CI's).
FUZZ_SCALE = float(os.environ.get("WISMO_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * FUZZ_SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- generated values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: NaN, Infinity, 1e999, an integer of thousands of digits."""

    text: str


def render(value: object, *, ascii_only: bool) -> str:
    """JSON text of ``value``, with ``Raw`` tokens in place (json.dumps cannot write those)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                f"{json.dumps(key, ensure_ascii=ascii_only)}:{render(item, ascii_only=ascii_only)}"
                for key, item in value.items()
            )
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(render(item, ascii_only=ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


# Characters that break naive code: NUL, lone surrogates, BOM, bidi override, quotes, newlines.
ODD_CHARS = (
    st.characters()
    | st.characters(categories=["Cs"])
    | st.sampled_from(["\x00", "\ufeff", "\u202e", "\n", "\r", '"', "\\", "#", "-", " "])
)
ODD_TEXT = st.text(ODD_CHARS, max_size=30)
# Lengths just over the columns they might land in (2, 16, 20, 64, 100, 200, 254, 255, 320).
LONG_TEXT = st.builds(
    lambda char, n: char * n,
    st.sampled_from(["x", "9", "é", "😀"]),
    st.sampled_from([3, 17, 21, 65, 101, 201, 255, 256, 321, 5000, 70_000]),
)
ODD_NUMBERS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 5000, "-0", "1E400", "0.5e-400"]
).map(Raw) | st.integers(min_value=-(2**80), max_value=2**80)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | ODD_TEXT
    | LONG_TEXT
    | ODD_NUMBERS
)
# Keys our parsers look for, so generated objects often get past "is this an order?".
KNOWN_KEYS = st.sampled_from(
    [
        "id", "name", "order_number", "number", "line_items", "fulfillments", "order_id",
        "tracking_numbers", "tracking_number", "tracking_company", "order", "fulfillment",
        "billing", "shipping", "order_key", "meta_data", "key", "value", "status", "email",
        "shipping_address", "country_code", "zip", "customer", "customer_locale", "created_at",
        "shipments", "events", "timestamp", "statusCode", "location", "address", "title",
        "detail", "trackingNumber", "activityStatus", "event", "data", "track_info", "tracking",
        "providers", "_wc_shipment_tracking_items", "date_shipped", "cancelled_at",
    ]
)  # fmt: skip
KEYS = KNOWN_KEYS | st.text(ODD_CHARS, max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=25,
)


@st.composite
def json_bytes(draw, document=JSON) -> bytes:
    """A JSON document as bytes: UTF-8 mostly, sometimes with a BOM, UTF-16/32, or surrogates."""
    value = draw(document) if isinstance(document, st.SearchStrategy) else document
    text = render(value, ascii_only=draw(st.booleans()))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-32"]))
    return text.encode(encoding, "surrogatepass")


def _slots(document: object) -> Iterator[tuple[object, object]]:
    """(container, key) of every value in a JSON tree, the root's children first."""
    if isinstance(document, dict):
        for key in list(document):
            yield document, key
            yield from _slots(document[key])
    elif isinstance(document, list):
        for index in range(len(document)):
            yield document, index
            yield from _slots(document[index])


@st.composite
def mutated(draw, document: object, max_changes: int = 4) -> object:
    """``document`` with a few values replaced by wrong types / odd values, or removed."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_changes))):
        slots = list(_slots(document))
        if not slots:
            break
        # An index, not the slots themselves: a strategy over big trees reprs badly.
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        if draw(st.integers(0, 4)) == 0:
            del container[key]
        else:
            container[key] = draw(SCALARS | st.lists(SCALARS, max_size=3) | JSON)
    return document


# What a WSGI server can hand us in a header: Latin-1 text without control characters, sometimes
# longer than any column it might be stored in.
HEADER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
HEADER_TEXT = st.text(HEADER_CHARS, max_size=40) | st.builds(
    lambda char, n: char * n, HEADER_CHARS, st.sampled_from([65, 101, 256, 4000])
)


# Shopify's compliance webhooks as its documentation shows them (no recorded file for these).
COMPLIANCE_BODIES = {
    "customers/data_request": {
        "shop_id": 954889,
        "shop_domain": "fuzz-shop.myshopify.com",
        "orders_requested": [5123456789012],
        "customer": {"id": 191167, "email": "ana@example.com", "phone": "555-625-1199"},
        "data_request": {"id": 9999},
    },
    "customers/redact": {
        "shop_id": 954889,
        "shop_domain": "fuzz-shop.myshopify.com",
        "customer": {"id": 191167, "email": "ana@example.com", "phone": "555-625-1199"},
        "orders_to_redact": [5123456789012, 5123456789013],
    },
    "shop/redact": {"shop_id": 954889, "shop_domain": "fuzz-shop.myshopify.com"},
}


def fixture_json(name: str) -> object:
    """A recorded payload (a path under tests/fixtures) or a documented compliance body."""
    if name in COMPLIANCE_BODIES:
        return copy.deepcopy(COMPLIANCE_BODIES[name])
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    if name in COMPLIANCE_BODIES:
        return json.dumps(COMPLIANCE_BODIES[name]).encode()
    return (FIXTURES / name).read_bytes()


# -- the endpoints -------------------------------------------------------------------------------


def _b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, repr=False)
class Hook:
    """One inbound webhook endpoint and how its sender proves who it is."""

    name: str
    url: str
    sign: Callable[[bytes], dict[str, str]]  # the right credential headers for a body
    forge: dict[str, Callable[[bytes], dict[str, str]]]  # wrong ones, by kind
    fixtures: tuple[tuple[str, str], ...]  # (fixture file, topic)

    def __repr__(self) -> str:
        return f"<{self.name} hook {self.url}>"


def _hooks(shop, woo, dhl, ups, seventeen) -> dict[str, Hook]:
    def shop_sig(secret):
        return lambda body: {"HTTP_X_SHOPIFY_HMAC_SHA256": _b64_hmac(secret, body)}

    def woo_sig(secret):
        return lambda body: {"HTTP_X_WC_WEBHOOK_SIGNATURE": _b64_hmac(secret, body)}

    def seventeen_sig(key):
        return lambda body: {"HTTP_SIGN": hashlib.sha256(body + b"/" + key.encode()).hexdigest()}

    def other_body(sign):
        return lambda body: sign(body + b" ")

    def truncated(sign):
        return lambda body: {k: v[:-1] for k, v in sign(body).items()}

    shopify_sign, woo_sign = shop_sig(SHOPIFY_SECRET), woo_sig(WOO_SECRET)
    seventeen_sign = seventeen_sig(SEVENTEEN_KEY)
    return {
        "shopify": Hook(
            "shopify",
            f"/hooks/shopify/{shop.pk}/",
            shopify_sign,
            {
                "missing": lambda body: {},
                "wrong secret": shop_sig("shpss_not_it"),
                "other body": other_body(shopify_sign),
                "truncated": truncated(shopify_sign),
                "garbage": lambda body: {"HTTP_X_SHOPIFY_HMAC_SHA256": "ünicode-and-garbage=="},
            },
            (
                ("shops/shopify/order_two_fulfillments.json", "orders/create"),
                ("shops/shopify/order_cancelled.json", "orders/cancelled"),
                ("shops/shopify/fulfillment_update.json", "fulfillments/update"),
                *((topic, topic) for topic in COMPLIANCE_BODIES),
            ),
        ),
        "woocommerce": Hook(
            "woocommerce",
            f"/hooks/woocommerce/{woo.pk}/",
            woo_sign,
            {
                "missing": lambda body: {},
                "wrong secret": woo_sig("woo-not-it"),
                "other body": other_body(woo_sign),
                "truncated": truncated(woo_sign),
                "garbage": lambda body: {"HTTP_X_WC_WEBHOOK_SIGNATURE": "\xff\xfe not base64"},
            },
            (
                ("shops/woocommerce/order_two_trackings.json", "order.updated"),
                ("shops/woocommerce/webhook_order_updated.json", "order.updated"),
                ("shops/woocommerce/order_virtual_refunded.json", "order.updated"),
            ),
        ),
        "dhl": Hook(
            "dhl",
            f"/hooks/carriers/dhl/{dhl.pk}/",
            lambda body: {"HTTP_X_WISMO_TOKEN": DHL_TOKEN},
            {
                "missing": lambda body: {},
                "wrong token": lambda body: {"HTTP_X_WISMO_TOKEN": DHL_TOKEN + "x"},
                "empty token": lambda body: {"HTTP_X_WISMO_TOKEN": ""},
                "truncated": lambda body: {"HTTP_X_WISMO_TOKEN": DHL_TOKEN[:-1]},
                "other header": lambda body: {"HTTP_X_OTHER_TOKEN": DHL_TOKEN},
            },
            (
                ("carriers/dhl/transit.json", ""),
                ("carriers/dhl/delivered.json", ""),
                ("carriers/dhl/failure.json", ""),
                ("carriers/dhl/not_found.json", ""),
            ),
        ),
        "ups": Hook(
            "ups",
            f"/hooks/carriers/ups/{ups.pk}/",
            lambda body: {"HTTP_AUTHORIZATION": f"Bearer {UPS_TOKEN}"},
            {
                "missing": lambda body: {},
                "wrong bearer": lambda body: {"HTTP_AUTHORIZATION": "Bearer not-it"},
                "no scheme": lambda body: {"HTTP_AUTHORIZATION": UPS_TOKEN},
                "wrong api key": lambda body: {"HTTP_X_API_KEY": UPS_TOKEN.upper()},
                "truncated": lambda body: {"HTTP_X_API_KEY": UPS_TOKEN[:-1]},
            },
            (("carriers/ups/track_alert.json", ""),),
        ),
        "seventeen_track": Hook(
            "seventeen_track",
            f"/hooks/carriers/seventeen_track/{seventeen.pk}/",
            seventeen_sign,
            {
                "missing": lambda body: {},
                "wrong key": seventeen_sig("not-the-key"),
                "other body": other_body(seventeen_sign),
                "truncated": truncated(seventeen_sign),
                "garbage": lambda body: {"HTTP_SIGN": "0" * 64},
            },
            (
                ("carriers/seventeen_track/push_updated.json", ""),
                ("carriers/seventeen_track/push_stopped.json", ""),
            ),
        ),
    }


HOOK_NAMES = ["shopify", "woocommerce", "dhl", "ups", "seventeen_track"]
SHOPIFY_TOPICS = sorted(
    SHOPIFY_ORDER_TOPICS | SHOPIFY_FULFILLMENT_TOPICS | set(shopify.PRIVACY_TOPICS)
)


@st.composite
def platform_headers(draw, hook: Hook, topic: str | None = None) -> dict[str, str]:
    """Topic and delivery-id headers as the platform sends them, often odd."""
    if hook.name == "shopify":
        chosen = topic or draw(st.sampled_from(SHOPIFY_TOPICS))
        headers = {
            "HTTP_X_SHOPIFY_TOPIC": draw(st.just(chosen) | st.sampled_from(SHOPIFY_TOPICS))
            if draw(st.integers(0, 5))
            else draw(HEADER_TEXT),
            "HTTP_X_SHOPIFY_WEBHOOK_ID": draw(HEADER_TEXT),
            "HTTP_X_SHOPIFY_SHOP_DOMAIN": draw(HEADER_TEXT),
        }
    elif hook.name == "woocommerce":
        headers = {
            "HTTP_X_WC_WEBHOOK_TOPIC": draw(
                st.sampled_from(["order.updated", "order.created", "order.deleted"]) | HEADER_TEXT
            ),
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": draw(HEADER_TEXT),
            "HTTP_X_WC_WEBHOOK_SOURCE": draw(HEADER_TEXT),
        }
    else:
        headers = {"HTTP_X_REQUEST_ID": draw(HEADER_TEXT)}
    headers["HTTP_USER_AGENT"] = draw(HEADER_TEXT)
    # Each header is sent or not.
    return {k: v for k, v in headers.items() if draw(st.integers(0, 7))}


CONTENT_TYPES = st.sampled_from(
    ["application/json"] * 12
    + [
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=fuzz",
        "",
    ]
)


# -- fixtures and checks -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _recorded_dates_are_not_stale(settings):
    settings.WISMO_TRACKING_WINDOW_DAYS = 3650


@pytest.fixture
def enqueued(monkeypatch):
    """Processing is run by the tests themselves; the after-commit enqueue is only recorded."""
    sent = []
    monkeypatch.setattr(
        tasks.process_inbound_webhook, "apply_async", lambda kwargs: sent.append(kwargs)
    )
    return sent


@pytest.fixture
def hooks(tenant_a, enqueued) -> dict[str, Hook]:
    with tenant_scope(tenant_a):
        shop = ShopConnectionFactory(
            tenant=tenant_a,
            platform="shopify",
            shop_url="https://fuzz-shop.myshopify.com",
            webhook_secret=SHOPIFY_SECRET,
        )
        woo = ShopConnectionFactory(
            tenant=tenant_a, platform="woocommerce", webhook_secret=WOO_SECRET
        )
        dhl = CarrierAccountFactory(
            tenant=tenant_a,
            carrier="dhl",
            credentials={"push_header": DHL_HEADER, "push_token": DHL_TOKEN},
        )
        ups = CarrierAccountFactory(
            tenant=tenant_a, carrier="ups", credentials={"push_token": UPS_TOKEN}
        )
        seventeen = CarrierAccountFactory(
            tenant=tenant_a, carrier="seventeen_track", credentials={"security_key": SEVENTEEN_KEY}
        )
        # The parcels the recorded pushes name, and the order the recorded fulfillment belongs
        # to, so that processing goes all the way to the timeline and the order import.
        for account, number in (
            (dhl, "1234567890"),
            (ups, "1Z5R89390357567127"),
            (seventeen, "RR123456785NL"),
        ):
            ShipmentFactory(
                tenant=tenant_a,
                carrier=account.carrier,
                carrier_account=account,
                tracking_number=number,
            )
        OrderFactory(tenant=tenant_a, store=shop, external_id="5123456789013")
    return _hooks(shop, woo, dhl, ups, seventeen)


@pytest.fixture
def api_key(tenant_a) -> str:
    _, raw = api_key_create(tenant=tenant_a)
    return raw


def _counted_models() -> list:
    wanted = {"wismo.tracking", "tenants", "notifications", "carriers"}
    return [m for m in apps.get_models() if m._meta.app_config.name in wanted]


def counts() -> dict[str, int]:
    with all_tenants():
        return {m.__name__: m._base_manager.count() for m in _counted_models()}


def changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


@contextmanager
def fresh_state() -> Iterator[None]:
    """Run one example in a savepoint that is rolled back: the next one starts the same."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def send(client, path: str, body: bytes, content_type: str, **headers):
    """POST exactly these bytes (``client.post`` would re-encode a body with a charset)."""
    return client.generic("POST", path, data=body, content_type=content_type, **headers)


def deliver(client, hook: Hook, body: bytes, headers: dict, content_type="application/json"):
    """POST a delivery; check the answer and what it wrote. Returns the response."""
    before = counts()
    response = send(client, hook.url, body, content_type, **headers)
    written = changes(before, counts())
    assert response.status_code in WEBHOOK_ANSWERS, (response.status_code, response.content[:300])
    event(f"{hook.name}: {response.status_code} {_reason(response)}")
    if response.status_code != 200:
        assert written == {}, f"a {response.status_code} wrote {written}"
        return response
    status = response.json()["status"]
    if status == "accepted":
        assert written == {"InboundWebhook": 1}, written
    else:
        assert status in ("duplicate", "ok") and written == {}, (status, written)
    return response


def _reason(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "(not JSON)"
    message = body.get("status") or body.get("error", {}).get("message", "")
    return str(message).split(":")[0][:40]


def process(tenant, webhook_id: int) -> str:
    """Run the inbox task as the worker would; check it ends processed or failed, not crashed."""
    before = counts()
    # .get() re-raises whatever the task raised: anything but the failure path fails the test.
    tasks.process_inbound_webhook.apply(
        kwargs={"tenant_id": tenant.pk, "webhook_id": webhook_id}
    ).get()
    with all_tenants():
        webhook = InboundWebhook.objects.get(pk=webhook_id)
    assert webhook.state in ("processed", "failed"), webhook.state
    if webhook.state == "failed":
        assert webhook.error, "a failed delivery keeps its reason, to be replayed"
        assert changes(before, counts()) == {}, "a failed delivery wrote rows"
        event(f"processing failed: {webhook.error.split(':')[0][:50]}")
    else:
        event("processed")
        _assert_order_imported(webhook)
    # A redelivered task (acks_late) applies nothing twice.
    after = counts()
    tasks.process_inbound_webhook.apply(
        kwargs={"tenant_id": tenant.pk, "webhook_id": webhook_id}
    ).get()
    assert changes(after, counts()) == {}
    return webhook.state


def _assert_order_imported(webhook: InboundWebhook) -> None:
    """A processed order delivery left its order in the store (not a silent no-op)."""
    if webhook.source == "shop:shopify" and webhook.topic in SHOPIFY_ORDER_TOPICS:
        external_id = shopify.order_from_payload(json.loads(webhook.body)).external_id
    elif webhook.source == "shop:woocommerce":
        external_id = woocommerce.order_from_payload(json.loads(webhook.body)).external_id
    else:
        return
    with all_tenants():
        assert Order.objects.filter(store=webhook.store_id, external_id=external_id).exists()


def deliver_and_process(client, tenant, hook, body, headers, content_type="application/json"):
    response = deliver(client, hook, body, headers, content_type)
    if response.status_code == 200 and response.json()["status"] == "accepted":
        process(tenant, response.json()["id"])
    return response


# -- 1. never a 500, never a partial write -------------------------------------------------------


@fuzz(300)
@given(
    name=st.sampled_from(HOOK_NAMES),
    body=st.binary(max_size=600),
    signed=st.booleans(),
    content_type=CONTENT_TYPES,
    data=st.data(),
)
def test_arbitrary_bytes_never_crash_a_webhook_nor_write(
    client, hooks, tenant_a, name, body, signed, content_type, data
):
    hook = hooks[name]
    headers = {**data.draw(platform_headers(hook)), **(hook.sign(body) if signed else {})}
    with fresh_state():
        deliver_and_process(client, tenant_a, hook, body, headers, content_type)


@fuzz(500)
@given(name=st.sampled_from(HOOK_NAMES), data=st.data())
def test_signed_arbitrary_json_never_crashes_a_webhook_nor_its_processing(
    client, hooks, tenant_a, name, data
):
    hook = hooks[name]
    body = data.draw(json_bytes())
    headers = {**data.draw(platform_headers(hook)), **hook.sign(body)}
    with fresh_state():
        deliver_and_process(client, tenant_a, hook, body, headers)


@fuzz(600)
@given(name=st.sampled_from(HOOK_NAMES), data=st.data())
def test_signed_mutations_of_recorded_payloads_never_crash_nor_half_import(
    client, hooks, tenant_a, name, data
):
    hook = hooks[name]
    relative, topic = data.draw(st.sampled_from(hook.fixtures))
    body = data.draw(json_bytes(data.draw(mutated(fixture_json(relative)))))
    headers = {**data.draw(platform_headers(hook, topic or None)), **hook.sign(body)}
    with fresh_state():
        deliver_and_process(client, tenant_a, hook, body, headers)


@fuzz(40)
@given(
    name=st.sampled_from(HOOK_NAMES),
    depth=st.integers(1, 100_000),
    opener=st.sampled_from(["[", '{"a":', '{"order":', '{"shipments":[', '{"data":']),
)
def test_signed_deeply_nested_json_is_refused_not_a_crash(
    client, hooks, tenant_a, name, depth, opener
):
    hook = hooks[name]
    closer = {"[": "]", '{"a":': "}", '{"order":': "}", '{"shipments":[': "]}", '{"data":': "}"}
    body = (opener * depth + "1" + closer[opener] * depth).encode()
    topic = {"shopify": {"HTTP_X_SHOPIFY_TOPIC": "orders/create"}}.get(name, {})
    with fresh_state():
        deliver_and_process(client, tenant_a, hook, body, {**topic, **hook.sign(body)})


# -- 3. a bad signature is 401 and stores nothing ------------------------------------------------


@fuzz(250)
@given(name=st.sampled_from(HOOK_NAMES), data=st.data())
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(client, hooks, name, data):
    hook = hooks[name]
    relative, topic = data.draw(st.sampled_from(hook.fixtures))
    body = data.draw(
        st.just(fixture_bytes(relative))
        | json_bytes(mutated(fixture_json(relative)))
        | st.binary(max_size=300).filter(lambda b: not woocommerce.is_ping(b, {}))
    )
    assume(len(body) <= MAX_BODY_BYTES)  # a carrier refuses an oversized body first, with 413
    kind = data.draw(st.sampled_from(sorted(hook.forge)))
    forged = hook.forge[kind](body) | data.draw(
        st.fixed_dictionaries({}, optional={"HTTP_X_SIGNATURE_GUESS": HEADER_TEXT})
    )
    headers = {**data.draw(platform_headers(hook, topic or None)), **forged}
    with fresh_state():
        before = counts()
        response = send(client, hook.url, body, "application/json", **headers)
        assert response.status_code == 401, (kind, response.status_code, response.content[:300])
        assert response.json()["error"]["code"] == "unauthorized"
        assert changes(before, counts()) == {}


@fuzz(60)
@given(
    path=st.sampled_from(["/api/v1/orders/", "/api/v1/shipments/"]),
    authorization=st.none()
    | st.just("Bearer")
    | st.just("Bearer wsk_0000_not-a-key")
    | HEADER_TEXT.map(lambda text: f"Bearer {text}")
    | HEADER_TEXT,
)
def test_the_api_without_a_valid_key_is_401_and_writes_nothing(client, path, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    body = json.dumps({"order_number": "1001", "tracking_number": "1Z5R89390357567127"})
    with fresh_state():
        before = counts()
        response = send(client, path, body.encode(), "application/json", **headers)
        assert response.status_code == 401, (response.status_code, response.content[:300])
        assert changes(before, counts()) == {}


# -- the REST API's create endpoints -------------------------------------------------------------

# Bodies a careful client would send (edges included: the longest values the API accepts, odd
# but valid text), then spoiled: a few values replaced by wrong types or odd values, or removed.
PARCELS = st.one_of(
    st.sampled_from(
        [
            {"tracking_number": "1Z5R89390357567127", "carrier": "ups"},
            {"tracking_number": "1Z5R89390357567127"},  # detected
            {"tracking_number": "SBX2991965300077", "carrier": "sandbox"},
            {"tracking_number": "own-55 a", "carrier": "manual"},
            {"tracking_number": "1234567890", "carrier": "DHL Express"},
            {"tracking_number": "3SABCD1234567", "carrier": "PostNL"},
        ]
    ),
    st.fixed_dictionaries(
        {
            "tracking_number": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 -]{0,99}", fullmatch=True),
            "carrier": st.sampled_from(["manual", "sandbox", "", "BRT - Bartolini", "nope"]),
        },
        optional={"shipped_at": st.sampled_from(["2026-11-20", "2026-11-20T10:00:00+01:00"])},
    ),
)
EMAILS = (
    st.emails()
    | st.builds(lambda n: "a" * n + "@example.com", st.integers(1, 320))
    | st.builds(lambda n: "b@" + ("d" * 60 + ".") * n + "com", st.integers(1, 6))
)
DATETIMES = st.sampled_from(
    [
        "2026-11-20",
        "2026-11-20T10:00:00+01:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ]
) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
NAMES = st.text(max_size=200) | st.text(st.characters(codec="utf-8"), min_size=190, max_size=200)
LINE_ITEM = st.fixed_dictionaries(
    {"title": st.text(min_size=1, max_size=255)},
    optional={
        "quantity": st.integers(1, 100_000),
        "sku": st.text(max_size=100),
        "price": st.decimals(min_value=0, max_value=10**9, places=2).map(str),
    },
)
CUSTOMER_FIELDS = {
    "customer_email": EMAILS,
    "customer_name": NAMES,
    "locale": st.sampled_from(["en", "it", "de", "fr", ""]),
}
ORDER_BODY = st.fixed_dictionaries(
    {"order_number": st.text(min_size=1, max_size=100)},
    optional={
        **CUSTOMER_FIELDS,
        "external_id": st.text(max_size=255),
        "shipping_country": st.from_regex(r"[A-Za-z]{2}", fullmatch=True),
        "shipping_postcode": st.text(max_size=20),
        "cancelled": st.booleans(),
        "line_items": st.lists(LINE_ITEM, max_size=3),
        "shipments": st.lists(PARCELS, max_size=4),
    },
)
SHIPMENT_BODY = PARCELS.flatmap(
    lambda parcel: st.fixed_dictionaries(
        {key: st.just(value) for key, value in parcel.items()},
        optional={
            **CUSTOMER_FIELDS,
            "order_number": st.text(max_size=100),
            "destination_country": st.from_regex(r"[A-Za-z]{2}", fullmatch=True),
            "destination_postcode": st.text(max_size=20),
            **({} if "shipped_at" in parcel else {"shipped_at": DATETIMES}),
        },
    )
)


@st.composite
def spoiled(draw, valid: st.SearchStrategy) -> object:
    """A valid body, or the same with one or two values spoiled; now and then any JSON at all."""
    document = draw(valid)
    return draw(st.one_of(st.just(document), mutated(document, max_changes=2), JSON))


def as_text(value: object) -> str:
    """A scalar as DRF's CharField reads it (numbers become their text, whitespace trimmed)."""
    if isinstance(value, Raw):
        value = json.loads(value.text)
    return str(value).strip()


def _tracked_numbers() -> set[str]:
    with all_tenants():
        return set(Shipment.objects.values_list("tracking_number", flat=True))


def api_post(client, api_key: str, path: str, body: bytes, content_type: str, **headers):
    before = counts()
    response = send(
        client, path, body, content_type, HTTP_AUTHORIZATION=f"Bearer {api_key}", **headers
    )
    assert response.status_code in API_ANSWERS, (response.status_code, response.content[:300])
    event(f"{path}: {response.status_code}")
    if response.status_code >= 400:
        assert changes(before, counts()) == {}, response.status_code
    return response


@fuzz(400)
@given(
    document=spoiled(ORDER_BODY),
    data=st.data(),
    content_type=CONTENT_TYPES,
    idempotency_key=st.none() | HEADER_TEXT | LONG_TEXT.map(lambda t: t.encode().decode("latin-1")),
)
def test_api_order_bodies_never_crash_nor_half_import(
    client, api_key, tenant_a, document, data, content_type, idempotency_key
):
    body = data.draw(json_bytes(document))
    headers = {} if idempotency_key is None else {"HTTP_IDEMPOTENCY_KEY": idempotency_key}
    with fresh_state():
        known = _tracked_numbers()
        response = api_post(client, api_key, "/api/v1/orders/", body, content_type, **headers)
        if response.status_code >= 400:
            return
        # Every parcel asked for is on the order, reported as a problem, or already tracked
        # elsewhere: never an order that silently lost some of its parcels.
        order = response.json()
        on_order = {s["tracking_number"] for s in order["shipments"]}
        problems = " ".join(order.get("problems", []))
        if serializers.BooleanField().run_validation(document.get("cancelled", False)):
            return  # a cancelled order tracks nothing
        for shipment in document.get("shipments", []):
            number = normalize_tracking_number(as_text(shipment["tracking_number"]))
            assert number in on_order or number in problems or number in known, number


@fuzz(250)
@given(
    document=spoiled(SHIPMENT_BODY),
    data=st.data(),
    content_type=CONTENT_TYPES,
)
def test_api_shipment_bodies_never_crash_nor_write_on_refusal(
    client, api_key, tenant_a, document, data, content_type
):
    body = data.draw(json_bytes(document))
    with fresh_state():
        response = api_post(client, api_key, "/api/v1/shipments/", body, content_type)
        if response.status_code < 400:
            number = normalize_tracking_number(as_text(document["tracking_number"]))
            assert response.json()["tracking_number"] == number


@fuzz(20)
@given(
    depth=st.integers(1, 100_000), path=st.sampled_from(["/api/v1/orders/", "/api/v1/shipments/"])
)
def test_api_deeply_nested_json_is_a_400(client, api_key, depth, path):
    body = ("[" * depth + "]" * depth).encode()
    with fresh_state():
        assert api_post(client, api_key, path, body, "application/json").status_code == 400


# -- 2b. an order import is all-or-nothing -------------------------------------------------------


class WorkerKilled(Exception):
    """Stands for a worker dying at that line: nothing catches it."""


ORDER_DELIVERIES = [
    ("shopify", "shops/shopify/order_two_fulfillments.json", "orders/create"),
    ("woocommerce", "shops/woocommerce/order_two_trackings.json", "order.updated"),
    ("shopify", "shops/shopify/fulfillment_update.json", "fulfillments/update"),
]


def _order_parcels(store, external_id: str) -> set[str] | None:
    with all_tenants():
        order = Order.objects.filter(store=store, external_id=external_id).first()
        if order is None:
            return None
        return set(order.shipments.values_list("tracking_number", flat=True))


@fuzz(40)
@given(
    delivery=st.sampled_from(ORDER_DELIVERIES),
    crash_at=st.integers(0, 3),
    mutate=st.booleans(),
    data=st.data(),
)
def test_a_crash_anywhere_in_an_order_import_leaves_no_half_order(
    client, hooks, tenant_a, delivery, crash_at, mutate, data
):
    name, relative, topic = delivery
    hook = hooks[name]
    document = fixture_json(relative)
    if mutate:  # odd values, but still an order the receiver accepts
        document = data.draw(mutated(document))
    body = render(document, ascii_only=True).encode()
    headers = hook.sign(body) | (
        {"HTTP_X_SHOPIFY_TOPIC": topic, "HTTP_X_SHOPIFY_WEBHOOK_ID": "w-1"}
        if name == "shopify"
        else {"HTTP_X_WC_WEBHOOK_TOPIC": topic}
    )
    if name == "shopify" and topic in SHOPIFY_FULFILLMENT_TOPICS:
        external_id = "5123456789013"
    else:
        parse = shopify.order_from_payload if name == "shopify" else woocommerce.order_from_payload
        try:
            external_id = parse(document).external_id
        except ValueError:
            return  # the mutation made it a non-order: the receiver answers 400 (tested above)
    with fresh_state():
        response = deliver(client, hook, body, headers)
        if response.status_code != 200:
            return
        webhook_id = response.json()["id"]
        with all_tenants():
            store = ShopConnection.objects.get(
                pk=InboundWebhook.objects.get(pk=webhook_id).store_id
            )
        # The reference: what a clean run makes of this delivery.
        with transaction.atomic():
            state = process(tenant_a, webhook_id)
            reference = _order_parcels(store, external_id)
            transaction.set_rollback(True)
        parcels_before = _order_parcels(store, external_id)
        before = counts()

        calls = {"n": 0}
        real_upsert, real_create = imports.order_upsert, imports.shipment_create

        def upsert(**kwargs):
            result = real_upsert(**kwargs)
            if crash_at == 0:
                raise WorkerKilled("after the order row")
            return result

        def create(**kwargs):
            calls["n"] += 1
            result = real_create(**kwargs)
            if calls["n"] == crash_at:
                raise WorkerKilled(f"after parcel {crash_at}")
            return result

        with (
            mock.patch.object(imports, "order_upsert", upsert),
            mock.patch.object(imports, "shipment_create", create),
        ):
            try:
                tasks.process_inbound_webhook.apply(
                    kwargs={"tenant_id": tenant_a.pk, "webhook_id": webhook_id}
                ).get()
                crashed = False
            except WorkerKilled:
                crashed = True
        if crashed:
            # Nothing of the order was kept, and the delivery waits for the relay to retry it.
            assert changes(before, counts()) == {}
            assert _order_parcels(store, external_id) == parcels_before
            with all_tenants():
                assert InboundWebhook.objects.get(pk=webhook_id).state == "received"
            assert (tenant_a.pk, webhook_id) in pending_webhooks(older_than_seconds=0)
            # The retry makes exactly what a clean run makes.
            assert process(tenant_a, webhook_id) == state
        event(f"crashed={crashed}")
        assert _order_parcels(store, external_id) == reference
