"""Incremental, resumable order sync from a shop platform's API.

``store_sync`` asks the platform for orders changed since the store's high-water mark, page by
page, imports each through ``order_import`` (idempotent), and saves the page cursor after every
page: a crash mid-sync resumes at the page it was on, and re-reading a page changes nothing.
Network calls happen outside the per-order transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from carriers.http import CarrierHTTPError, HttpClient, TerminalError, TransientError
from tenants.scoping import all_tenants
from wismo.tracking.importers import magento, prestashop, shopify, woocommerce
from wismo.tracking.importers.base import Page
from wismo.tracking.models import Platform, ShopConnection
from wismo.tracking.services.imports import orders_import

MAX_RETRIES = 6
MAX_WAIT_SECONDS = 120.0


@dataclass(slots=True)
class SyncReport:
    pages: int = 0
    created: int = 0
    updated: int = 0
    parcels: int = 0
    skipped: int = 0
    retries: int = 0
    failed: list[str] = field(default_factory=list)


def _with_retries(call: Callable[..., Page], args: tuple, report: SyncReport, sleep) -> Page:
    for attempt in range(MAX_RETRIES + 1):
        try:
            return call(*args)
        except TransientError as exc:
            if attempt == MAX_RETRIES:
                raise
            wait = exc.retry_after if exc.retry_after is not None else 2.0**attempt
            report.retries += 1
            sleep(min(max(wait, 0.0), MAX_WAIT_SECONDS))
    raise AssertionError("unreachable")


def store_client(store: ShopConnection, http: HttpClient):
    """The platform client of a store, from its URL and (decrypted) credentials."""
    credentials = store.credentials or {}
    if store.platform == Platform.SHOPIFY:
        return shopify.ShopifyClient(store.shop_url, credentials.get("access_token", ""), http)
    if store.platform == Platform.WOOCOMMERCE:
        return woocommerce.WooCommerceClient(
            store.shop_url,
            credentials.get("consumer_key", ""),
            credentials.get("consumer_secret", ""),
            http,
        )
    if store.platform == Platform.MAGENTO:
        return magento.MagentoClient(store.shop_url, credentials.get("access_token", ""), http)
    if store.platform == Platform.PRESTASHOP:
        # PrestaShop writes local times without an offset: the shop's zone (a credential field,
        # as it is part of how to read the shop) else the merchant's.
        return prestashop.PrestaShopClient(
            store.shop_url,
            credentials.get("api_key", ""),
            http,
            timezone=credentials.get("timezone") or store.tenant.timezone or "UTC",
        )
    raise ValidationError(f"{store.get_platform_display()} stores are not synced from an API.")


def store_sync(
    *,
    store: ShopConnection,
    since: datetime | None = None,
    http: HttpClient | None = None,
    on_page: Callable[[SyncReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncReport:
    """Sync orders changed since ``since`` (default: the last sync's high-water mark).

    A transient failure (429, 5xx, timeout) is retried after the platform's Retry-After or a
    growing backoff; past ``MAX_RETRIES`` it is raised, and the next run resumes at the page
    it stopped on.
    """
    client = store_client(store, http or HttpClient())
    report = SyncReport()
    if store.sync_cursor:  # resume an interrupted sync exactly where it stopped
        window, cursor = store.sync_since, store.sync_cursor
    else:
        window, cursor = since or store.last_synced_at, None
    high_water = store.last_synced_at
    while True:
        page = _with_retries(client.orders_page, (window, cursor), report, sleep)
        report.pages += 1
        for dto, outcome in zip(
            page.orders, orders_import(store=store, dtos=page.orders), strict=True
        ):
            if outcome.failed:
                report.failed.append(f"order {dto.order_number}: {outcome.failed}")
                continue
            report.created += outcome.order_created
            report.updated += not outcome.order_created
            report.parcels += outcome.shipments_created
            report.skipped += len(outcome.problems)
            if dto.updated_at and (high_water is None or dto.updated_at > high_water):
                high_water = dto.updated_at
        cursor = page.next_cursor
        store.sync_cursor, store.sync_since = cursor or "", window if cursor else None
        store.save(update_fields=["sync_cursor", "sync_since", "updated_at"])
        if on_page:
            on_page(report)
        if not cursor:
            break
    store.last_synced_at = high_water
    store.save(update_fields=["last_synced_at", "updated_at"])
    return report


# -- scheduled syncs -----------------------------------------------------------------------------

# Platforms with an order API. Shopify and WooCommerce push changes by webhook, so their sync
# is a safety net for missed deliveries; Magento Open Source and PrestaShop have no webhooks,
# so their sync is how shipments arrive at all.
SYNC_MINUTES = {
    Platform.SHOPIFY: 60,
    Platform.WOOCOMMERCE: 60,
    Platform.MAGENTO: 5,
    Platform.PRESTASHOP: 5,
}
TERMINAL_RETRY = timedelta(hours=6)  # refused credentials: do not hammer the shop
LEASE = timedelta(minutes=30)
TERMINAL_PREFIX = "refused: "


def stores_due_for_sync(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """``(tenant_id, store_id)`` of active API stores whose scheduled sync is due (all tenants)."""
    now = now or timezone.now()
    due = []
    with all_tenants():
        stores = ShopConnection.objects.filter(
            platform__in=list(SYNC_MINUTES), is_active=True, tenant__is_active=True
        ).exclude(sync_started_at__gt=now - LEASE)
        for tenant_id, store_id, platform, attempted, error in stores.values_list(
            "tenant_id", "id", "platform", "sync_attempted_at", "sync_error"
        ):
            wait = timedelta(minutes=SYNC_MINUTES[platform])
            if error.startswith(TERMINAL_PREFIX):
                wait = TERMINAL_RETRY
            if attempted is None or attempted <= now - wait:
                due.append((tenant_id, store_id))
    return due


def store_sync_scheduled(*, store_id: int, http: HttpClient | None = None) -> SyncReport | None:
    """Run one store's scheduled sync under a lease; None when another worker holds it.

    Failures are recorded on the store for the merchant (``sync_error``) instead of raised:
    the next tick retries, and the saved cursor makes it resume where this one stopped.
    """
    now = timezone.now()
    claimed = (
        ShopConnection.objects.filter(pk=store_id, is_active=True)
        .filter(Q(sync_started_at__isnull=True) | Q(sync_started_at__lte=now - LEASE))
        .update(sync_started_at=now)
    )
    if not claimed:
        return None
    store = ShopConnection.objects.get(pk=store_id)

    def renew(_report: SyncReport) -> None:
        ShopConnection.objects.filter(pk=store_id).update(sync_started_at=timezone.now())

    error, report = "", None
    try:
        report = store_sync(store=store, http=http, on_page=renew)
    except TerminalError as exc:
        error = f"{TERMINAL_PREFIX}{exc}"
    except (CarrierHTTPError, ValidationError, ValueError) as exc:
        error = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    finally:
        ShopConnection.objects.filter(pk=store_id).update(
            sync_started_at=None, sync_attempted_at=timezone.now(), sync_error=error[:2000]
        )
    return report
