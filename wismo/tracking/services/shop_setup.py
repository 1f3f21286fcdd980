"""Setting a store up: the rules its connection fields follow, and the calls that check them.

Used by the REST API's store serializer and the dashboard's store settings alike, so that one
set of rules decides what a store may hold:

- ``PLATFORM_FIELDS`` names each platform's credential keys (what ``services.sync.store_client``
  reads); ``credentials_clean`` and ``shop_url_clean`` validate what a merchant typed.
- ``store_connection_test`` makes one cheap authenticated request with the stored credentials
  (Shopify ``shop.json``, WooCommerce one order, Magento / PrestaShop an empty order window) and
  says OK or what the platform answered. Bounded timeouts; never raises for platform failures.
- ``store_webhooks_register`` subscribes wismo's receiver
  (``{WISMO_BASE_URL}/hooks/<platform>/<store id>/``) to the platform's order topics: Shopify
  ``POST /admin/api/<version>/webhooks.json`` (one per topic, an "already taken" answer counts
  as done), WooCommerce ``POST /wp-json/wc/v3/webhooks`` with the store's webhook secret (made
  and saved first when the store has none: WooCommerce signs with the secret we give it).

No network call happens inside a database transaction; the HTTP client is injected for tests.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from carriers.http import CarrierHTTPError, HttpClient, TerminalError, TransientError, json_body
from wismo.tracking.importers import shopify, woocommerce
from wismo.tracking.importers.base import require_https
from wismo.tracking.models import Platform, ShopConnection

# Outbound calls made while a merchant waits on a page: short, whatever the platform does.
SETUP_TIMEOUT = (3.0, 10.0)
MAX_CREDENTIAL_PAIRS = 20
MAX_CREDENTIAL_CHARS = 4000

# The credential keys each platform's client reads (``services.sync.store_client``), with the
# label a merchant sees. Platforms without an order API (CSV, REST) hold no credentials.
PLATFORM_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    Platform.SHOPIFY: (("access_token", "Admin API access token (shpat_...)"),),
    Platform.WOOCOMMERCE: (
        ("consumer_key", "Consumer key (ck_...)"),
        ("consumer_secret", "Consumer secret (cs_...)"),
    ),
    Platform.MAGENTO: (("access_token", "Integration access token"),),
    Platform.PRESTASHOP: (
        ("api_key", "Webservice key"),
        ("timezone", "Shop time zone (e.g. Europe/Rome)"),
    ),
    Platform.CSV: (),
    Platform.API: (),
}
# Platforms that push order changes to /hooks/<platform>/<store id>/.
WEBHOOK_PLATFORMS = (Platform.SHOPIFY, Platform.WOOCOMMERCE)
SHOPIFY_TOPICS = ("orders/create", "orders/updated", "fulfillments/create", "fulfillments/update")
WOOCOMMERCE_TOPICS = ("order.created", "order.updated")


# -- rules -----------------------------------------------------------------------------------


def credentials_clean(value: object) -> dict:
    """Plain key/value pairs of reasonable size, or ``ValidationError``."""
    if not isinstance(value, dict):
        raise ValidationError("Credentials must be key/value pairs.")
    if len(value) > MAX_CREDENTIAL_PAIRS or any(
        not isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise ValidationError(f"Up to {MAX_CREDENTIAL_PAIRS} plain key/value pairs.")
    if sum(len(str(k)) + len(str(v)) for k, v in value.items()) > MAX_CREDENTIAL_CHARS:
        raise ValidationError("Credentials are too long.")
    return value


def shop_url_clean(value: str) -> str:
    """The shop's address: https only (credentials travel with every request)."""
    if value and not value.startswith("https://"):
        raise ValidationError("Use the shop's https:// address.")
    return value


def webhook_url(store: ShopConnection) -> str | None:
    """Where the platform delivers this store's webhooks; None for platforms that push nothing."""
    if store.platform not in WEBHOOK_PLATFORMS:
        return None
    return f"{settings.WISMO_BASE_URL}/hooks/{store.platform}/{store.pk}/"


# -- calls -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupCheck:
    """What a platform answered: ``ok``, and a sentence for the merchant."""

    ok: bool
    message: str
    details: list[str] = field(default_factory=list)


def _http(http: HttpClient | None) -> HttpClient:
    return http or HttpClient(timeout=SETUP_TIMEOUT)


def _explain(exc: Exception) -> str:
    if isinstance(exc, TerminalError) and exc.status in (401, 403):
        return f"The platform refused the credentials (HTTP {exc.status})."
    if isinstance(exc, TransientError):
        if exc.status:
            return f"The platform is unavailable or rate-limiting (HTTP {exc.status}); try again."
        return f"The shop could not be reached: {exc}."
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def store_connection_test(*, store: ShopConnection, http: HttpClient | None = None) -> SetupCheck:
    """One cheap authenticated request with the store's stored credentials."""
    from wismo.tracking.services.sync import store_client

    if store.platform not in (
        Platform.SHOPIFY,
        Platform.WOOCOMMERCE,
        Platform.MAGENTO,
        Platform.PRESTASHOP,
    ):
        return SetupCheck(False, f"{store.get_platform_display()} stores have no API to test.")
    credentials = store.credentials or {}
    missing = [key for key, _ in PLATFORM_FIELDS[store.platform][:1] if not credentials.get(key)]
    if missing:
        return SetupCheck(False, f"No {missing[0].replace('_', ' ')} is stored for this store.")
    http = _http(http)
    try:
        if store.platform == Platform.SHOPIFY:
            base = require_https(_shopify_base(store.shop_url), "Shopify shop")
            response = http.get(
                f"{base}/admin/api/{shopify.DEFAULT_API_VERSION}/shop.json",
                headers=_shopify_headers(store),
            )
            _expect_2xx(response, "Shopify")
            shop = json_body(response)
            name = shop.get("shop", {}).get("name", "") if isinstance(shop, dict) else ""
            return SetupCheck(True, f"Connected to Shopify{f' ({name})' if name else ''}.")
        if store.platform == Platform.WOOCOMMERCE:
            base = require_https(store.shop_url, "WooCommerce site")
            response = http.get(
                base + woocommerce.ORDERS_PATH,
                params={"per_page": "1"},
                auth=(credentials.get("consumer_key", ""), credentials.get("consumer_secret", "")),
            )
            _expect_2xx(response, "WooCommerce")
            if not isinstance(json_body(response), list):
                return SetupCheck(False, "WooCommerce answered, but not with an order list.")
            return SetupCheck(True, "Connected to WooCommerce.")
        # Magento, PrestaShop: their own client, asking for a window with nothing in it.
        client = store_client(store, http)
        client.orders_page(timezone.now() + timedelta(days=1), None)
        return SetupCheck(True, f"Connected to {store.get_platform_display()}.")
    except (CarrierHTTPError, ValidationError, ValueError) as exc:
        return SetupCheck(False, _explain(exc))


def store_webhooks_register(*, store: ShopConnection, http: HttpClient | None = None) -> SetupCheck:
    """Subscribe the store's webhook URL to the platform's order topics."""
    url = webhook_url(store)
    if url is None:
        return SetupCheck(False, f"{store.get_platform_display()} stores do not send webhooks.")
    http = _http(http)
    done: list[str] = []
    try:
        if store.platform == Platform.SHOPIFY:
            base = require_https(_shopify_base(store.shop_url), "Shopify shop")
            endpoint = f"{base}/admin/api/{shopify.DEFAULT_API_VERSION}/webhooks.json"
            for topic in SHOPIFY_TOPICS:
                response = http.post(
                    endpoint,
                    json={"webhook": {"topic": topic, "address": url, "format": "json"}},
                    headers=_shopify_headers(store),
                )
                if response.status_code == 422 and "taken" in response.text:
                    done.append(f"{topic} (already registered)")
                    continue
                _expect_2xx(response, "Shopify")
                done.append(topic)
            note = (
                ""
                if store.webhook_secret
                else " Save the app's client secret as the webhook secret."
            )
            return SetupCheck(True, f"Webhooks registered with Shopify.{note}", done)
        base = require_https(store.shop_url, "WooCommerce site")
        if not store.webhook_secret:
            store.webhook_secret = secrets.token_urlsafe(32)
            store.save(update_fields=["webhook_secret", "updated_at"])
        credentials = store.credentials or {}
        for topic in WOOCOMMERCE_TOPICS:
            response = http.post(
                f"{base}/wp-json/wc/v3/webhooks",
                json={
                    "name": f"wismo {topic}",
                    "topic": topic,
                    "delivery_url": url,
                    "secret": store.webhook_secret,
                    "status": "active",
                },
                auth=(credentials.get("consumer_key", ""), credentials.get("consumer_secret", "")),
            )
            _expect_2xx(response, "WooCommerce")
            done.append(topic)
        return SetupCheck(True, "Webhooks registered with WooCommerce.", done)
    except (CarrierHTTPError, ValidationError, ValueError) as exc:
        return SetupCheck(False, _explain(exc), done)


def _shopify_base(shop_url: str) -> str:
    base = shop_url.strip().rstrip("/")
    return base if "://" in base else f"https://{base}"


def _shopify_headers(store: ShopConnection) -> dict[str, str]:
    token = (store.credentials or {}).get("access_token", "")
    return {"X-Shopify-Access-Token": str(token), "Accept": "application/json"}


def _expect_2xx(response, platform: str) -> None:
    if not 200 <= response.status_code < 300:
        detail = ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            detail = str(body.get("message") or body.get("errors") or body.get("code") or "")
        detail = f": {detail[:200]}" if detail else ""
        raise TerminalError(
            f"{platform} answered HTTP {response.status_code}{detail}", status=response.status_code
        )
