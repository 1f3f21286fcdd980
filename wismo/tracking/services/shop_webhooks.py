"""Shop-platform webhooks (Shopify, WooCommerce): verify, store raw in the inbox, process later.

``shop_webhook_receive`` runs in the request: it finds the store named in the URL, checks the
platform's signature with the store's webhook secret, checks the body is an order or
fulfillment payload, and stores it as an ``InboundWebhook`` (Shopify's ``X-Shopify-Webhook-Id``
makes redeliveries no-ops). ``shop_webhook_process`` (from the inbox task) turns it into
``order_import`` calls.

The store is read once per process, then remembered as a hint: a delivery checked with a
remembered store is stored only if, in the inserting statement itself, the store still has that
very secret token and it and its tenant are still active (``inbox_store_guarded``). Anything
else (a changed store, a rejection, a duplicate) goes the whole way again with a fresh read, so
a rotated secret, a paused or deleted store answer exactly as without the hint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import connection

from tenants.models import Tenant
from wismo.db import checking_connection
from wismo.tracking.crypto import decrypt_hot
from wismo.tracking.importers import shopify, woocommerce
from wismo.tracking.importers.base import NotThisPayload, OrderDTO, SignatureMismatch
from wismo.tracking.models import InboundWebhook, Order, Platform, ShopConnection
from wismo.tracking.services import privacy
from wismo.tracking.services.imports import order_import
from wismo.tracking.services.inbox import (
    StoreGuard,
    inbox_nudge,
    inbox_store,
    inbox_store_guarded,
)
from wismo.tracking.services.webhooks import MAX_BODY_BYTES, Received, WebhookRejected

SHOPIFY_ORDER_TOPICS = {
    "orders/create",
    "orders/updated",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/cancelled",
}
SHOPIFY_FULFILLMENT_TOPICS = {"fulfillments/create", "fulfillments/update"}
_KEPT = (
    "content-type",
    "user-agent",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "x-shopify-shop-domain",
    "x-wc-webhook-topic",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
    "x-wc-webhook-source",
)


class Ping(Exception):
    """WooCommerce's unsigned creation ping: answered 200, nothing stored."""


@dataclass(frozen=True, slots=True)
class StoreRef:
    """What the intake needs of a store: read in one narrow query, no tenant row, no credentials."""

    pk: int
    tenant_id: int
    shop_url: str
    webhook_secret: str


# Table names are the models' constants; the values are parameters.
_STORE_TABLES = f"{ShopConnection._meta.db_table} s JOIN {Tenant._meta.db_table} t"
_STORE_SQL = (
    "SELECT s.id, s.tenant_id, s.shop_url, s.webhook_secret, s.is_active "  # noqa: S608
    f"FROM {_STORE_TABLES} ON t.id = s.tenant_id "
    "WHERE s.id = %s AND s.platform = %s AND t.is_active"
)


@dataclass(frozen=True, slots=True)
class _Hint:
    store: StoreRef
    guard: StoreGuard


# (platform, store id) -> the store as last read, active with a secret. Only a hint: see above.
_hints: dict[tuple[str, int], _Hint] = {}
_HINTS_MAX = 10_000


def _store(platform: str, store_id: int, *, active: bool = True) -> StoreRef:
    """The store the URL names, before any tenant is known (a spelled-out single-row read).

    Plain SQL on purpose: this runs on every delivery, and building the ORM query cost more
    than running it. Compliance webhooks still reach a paused store (``active=False``):
    erasure must not depend on it being on.
    """
    with connection.cursor() as cursor:
        cursor.execute(_STORE_SQL, [store_id, platform])
        row = cursor.fetchone()
    if row is None or not row[4] or not row[3]:
        _hints.pop((platform, store_id), None)
    if row is None or (active and not row[4]):
        raise WebhookRejected(404, "Not found.")
    secret = decrypt_hot(row[3]) if row[3] else ""
    store = StoreRef(pk=row[0], tenant_id=row[1], shop_url=row[2] or "", webhook_secret=secret)
    if row[4] and row[3]:
        if len(_hints) >= _HINTS_MAX:
            _hints.clear()
        _hints[(platform, store_id)] = _Hint(store, StoreGuard(platform, row[3]))
    return store


def _check_shop_domain(store: StoreRef, domain: str) -> None:
    """An erasure for another shop than this store's must not run here (a mixed-up secret)."""
    own = (
        urlsplit(
            store.shop_url if "://" in store.shop_url else f"https://{store.shop_url}"
        ).hostname
        or ""
    ).lower()
    if own.endswith(".myshopify.com") and domain.endswith(".myshopify.com") and own != domain:
        raise WebhookRejected(400, f"This webhook is for {domain}, not this store.")


def _check(
    platform: str, body: bytes, headers: dict[str, str], secret: str, store: StoreRef
) -> tuple[str, str]:
    """(topic, dedupe id) of a verified, well-formed delivery; raises WebhookRejected."""
    try:
        if platform == Platform.SHOPIFY:
            shopify.verify_webhook(body, headers.get("x-shopify-hmac-sha256", ""), secret)
        else:
            woocommerce.verify_webhook(body, headers.get("x-wc-webhook-signature", ""), secret)
    except SignatureMismatch:
        raise WebhookRejected(401, "Signature does not match.") from None
    try:
        # Decoded as UTF-8 first: json.loads(bytes) also takes UTF-16/32, which is not what the
        # platforms send and could not be stored as text afterwards.
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WebhookRejected(400, "Body is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "Body is not a JSON object.")
    if platform == Platform.SHOPIFY:
        topic = headers.get("x-shopify-topic", "")
        try:
            if topic in shopify.PRIVACY_TOPICS:
                request = shopify.privacy_request_from_payload(topic, payload)
                _check_shop_domain(store, request.shop_domain)
            elif topic in SHOPIFY_FULFILLMENT_TOPICS:
                shopify.fulfillment_from_payload(payload)
            elif topic in SHOPIFY_ORDER_TOPICS:
                shopify.order_from_payload(payload)
            else:
                raise WebhookRejected(400, f"Unsupported topic {topic!r}.")
        except NotThisPayload as exc:
            raise WebhookRejected(400, f"Not a Shopify {topic} payload: {exc}") from None
        return topic, headers.get("x-shopify-webhook-id", "")
    topic = headers.get("x-wc-webhook-topic", "order.updated")[:100]
    try:
        woocommerce.order_from_payload(payload)
    except NotThisPayload as exc:
        raise WebhookRejected(400, f"Not a WooCommerce order payload: {exc}") from None
    return topic, headers.get("x-wc-webhook-delivery-id", "")


def shop_webhook_receive(
    *, platform: str, store_id: int, body: bytes, headers: dict[str, str]
) -> Received:
    """Verify and store one delivery; WebhookRejected (404/401/413/400) stores nothing, Ping too."""
    # Safe to run twice: the delivery's digest makes a second store of it a duplicate.
    return checking_connection(
        lambda: _receive(platform, store_id, body, headers), what="shop webhook"
    )


def _receive(platform: str, store_id: int, body: bytes, headers: dict[str, str]) -> Received:
    privacy = platform == Platform.SHOPIFY and (
        headers.get("x-shopify-topic", "") in shopify.PRIVACY_TOPICS
    )
    if not privacy:  # erasures always read the store (and its domain) afresh
        hint = _hints.get((platform, store_id))
        if hint is not None:
            received = _receive_hinted(hint, platform, body, headers)
            if received is not None:
                return received
    store = _store(platform, store_id, active=not privacy)
    return _accept(platform, store, _verified(platform, store, body, headers), headers)


def _accept(
    platform: str,
    store: StoreRef,
    verified: tuple[str, str, str],
    headers: dict[str, str],
    guard: StoreGuard | None = None,
) -> Received | None:
    """Store a verified delivery and nudge its processing. With ``guard`` (a remembered
    store), None when nothing was stored: the caller then reads the store afresh."""
    topic, digest, text = verified
    fields = {
        "tenant_id": store.tenant_id,
        "source": f"shop:{platform}",
        "store_id": store.pk,
        "topic": topic,
        "headers": {k: v for k, v in headers.items() if k in _KEPT},
        "body": text,
        "digest": digest,
    }
    stored = inbox_store(**fields) if guard is None else inbox_store_guarded(**fields, guard=guard)
    if stored is None:  # the store changed, or a duplicate: settled the exact way
        return None
    webhook_id, duplicate = stored
    if not duplicate:
        inbox_nudge(tenant_id=store.tenant_id, webhook_id=webhook_id)
    return Received(webhook_id=webhook_id, tenant_id=store.tenant_id, duplicate=duplicate)


def _verified(
    platform: str, store: StoreRef, body: bytes, headers: dict[str, str]
) -> tuple[str, str, str]:
    """(topic, digest, text) of a delivery to ``store``; raises Ping or WebhookRejected."""
    if platform == Platform.WOOCOMMERCE and woocommerce.is_ping(body, headers):
        raise Ping()
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "Body too large.")
    if not store.webhook_secret:
        raise WebhookRejected(401, "This store has no webhook secret configured.")
    topic, delivery_id = _check(platform, body, headers, store.webhook_secret, store)
    # The platform's delivery id makes a redelivery (same id, maybe re-serialized) a no-op.
    key = (
        f"shop:{platform}:{store.pk}:{delivery_id}"
        if delivery_id
        else f"shop:{platform}:{store.pk}\n{body!r}"
    )
    digest = hashlib.sha256(key.encode()).hexdigest()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "Body is not UTF-8.") from None
    return topic, digest, text


def _receive_hinted(
    hint: _Hint, platform: str, body: bytes, headers: dict[str, str]
) -> Received | None:
    """The delivery stored with the remembered store, or None: then nothing was stored, and
    the caller reads the store afresh (a rejection is only answered from a fresh read)."""
    try:
        verified = _verified(platform, hint.store, body, headers)
    except (Ping, WebhookRejected):
        return None
    return _accept(platform, hint.store, verified, headers, guard=hint.guard)


def shop_webhook_process(webhook: InboundWebhook) -> int:
    """Import the order a stored delivery carries (inside the tenant's scope). Returns parcels created."""
    store = webhook.store
    if store is None:
        raise NotThisPayload("the store of this webhook was deleted")
    payload = json.loads(webhook.body)
    if webhook.source == "shop:shopify" and webhook.topic in shopify.PRIVACY_TOPICS:
        _privacy_process(webhook, shopify.privacy_request_from_payload(webhook.topic, payload))
        return 0
    if webhook.source == "shop:shopify" and webhook.topic in SHOPIFY_FULFILLMENT_TOPICS:
        order_id, fulfillment = shopify.fulfillment_from_payload(payload)
        order = Order.objects.filter(store=store, external_id=order_id).first()
        if order is None:
            raise NotThisPayload(
                f"order {order_id} is not known yet (its orders/create will bring it)"
            )
        current = OrderDTO(
            external_id=order.external_id,
            order_number=order.order_number,
            customer_email=order.customer_email,
            customer_name=order.customer_name,
            locale=order.locale,
            shipping_country=order.shipping_country,
            shipping_postcode=order.shipping_postcode,
            cancelled=order.cancelled_at is not None,
            fulfillments=(fulfillment,),
        )
        return order_import(store=store, dto=current).shipments_created
    parse = (
        shopify.order_from_payload
        if webhook.source == "shop:shopify"
        else woocommerce.order_from_payload
    )
    return order_import(store=store, dto=parse(payload)).shipments_created


def _privacy_process(webhook: InboundWebhook, request: shopify.PrivacyRequestDTO) -> None:
    store, reference = webhook.store, request.request_id or webhook.digest[:16]
    if request.kind == "shop_redact":
        privacy.store_redact(store=store, external_id=reference, keep_webhook=webhook.pk)
        return
    if request.kind == "data_request":
        privacy.customer_data_export(
            store=store,
            email=request.customer_email,
            order_ids=request.order_ids,
            external_id=reference,
        )
    else:
        privacy.customer_redact(
            store=store,
            email=request.customer_email,
            order_ids=request.order_ids,
            external_id=reference,
        )
    # The request's own body names the shopper: keep only what the audit needs.
    webhook.body = "{}"
