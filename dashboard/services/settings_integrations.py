"""Integration settings: stores, carrier accounts, carrier priority and status overrides.

Writes for the dashboard's settings pages. The rules a store or a carrier account follows live in
the kernel (``wismo.tracking.services.shop_setup`` / ``carrier_setup``), shared with the REST API;
this module adds what only the dashboard does:

- stores: create / update with write-only secrets (a blank field keeps the stored value), pause,
  delete, "sync now" (enqueues the kernel's sync task after commit), CSV upload (the kernel's CSV
  parser and ``orders_import``, with a per-row report);
- carrier priority: the tenant's ordered list of slugs;
- status overrides: a tenant's own (carrier, code) -> status; ``status_overrides_for`` is the
  provider the kernel's ``record_events_batch`` calls (registered in ``DashboardConfig.ready``).
  It is cached per tenant (a memory lookup per batch, no query per event); the cache is dropped
  on every change, and other processes see it within seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max

from carriers.statuses import SUBSTATUSES, normalize_substatus
from dashboard.models import StatusOverride
from tenants.models import Tenant
from wismo.tracking.importers.base import NotThisPayload
from wismo.tracking.importers.csv_file import parse_csv
from wismo.tracking.models import Platform, ShopConnection, TrackingEvent, UnmappedCarrierCode
from wismo.tracking.services.background import enqueue_after_commit
from wismo.tracking.services.carrier_setup import carrier_clean, carrier_priority_clean
from wismo.tracking.services.imports import orders_import
from wismo.tracking.services.shop_setup import (
    PLATFORM_FIELDS,
    credentials_clean,
    shop_url_clean,
)
from wismo.tracking.services.sync import SYNC_MINUTES

log = logging.getLogger(__name__)

OVERRIDES_CACHE_SECONDS = 3600
OVERRIDES_LOCAL_SECONDS = 5.0
_local_overrides: dict[str, tuple[float, dict]] = {}
CSV_CHUNK = 500
UNMAPPED_SHOWN = 200

# -- stores -------------------------------------------------------------------------------------


@transaction.atomic
def store_save(
    *,
    tenant: Tenant,
    store: ShopConnection | None = None,
    platform: str | None = None,
    name: str,
    shop_url: str = "",
    credentials: dict | None = None,
    webhook_secret: str = "",
    is_active: bool = True,
    write_back: bool = False,
) -> ShopConnection:
    """Create (``store`` None) or update a store. Blank secrets keep their stored values."""
    if store is None:
        if platform not in Platform.values:
            raise ValidationError("Choose a platform.")
        store = ShopConnection(tenant=tenant, platform=platform)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("A name of 1 to 200 characters is needed.")
    store.name = name
    store.shop_url = shop_url_clean(shop_url.strip())
    if store.platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE, Platform.MAGENTO) and not (
        store.shop_url
    ):
        raise ValidationError("The shop's https:// address is needed.")
    merged = dict(store.credentials or {})
    allowed = {key for key, _ in PLATFORM_FIELDS.get(store.platform, ())}
    for key, value in (credentials or {}).items():
        if key in allowed and str(value).strip():
            merged[key] = str(value).strip()
    store.credentials = credentials_clean(merged)
    if webhook_secret.strip():
        if len(webhook_secret) > 500:
            raise ValidationError("The webhook secret is too long.")
        store.webhook_secret = webhook_secret.strip()
    store.is_active = is_active
    store.write_back = write_back and store.platform in (Platform.SHOPIFY, Platform.WOOCOMMERCE)
    store.save()
    return store


def store_set_active(*, store: ShopConnection, active: bool) -> ShopConnection:
    store.is_active = active
    store.save(update_fields=["is_active", "updated_at"])
    return store


def store_delete(*, store: ShopConnection) -> None:
    """Delete the store; its orders and shipments stay (their store link is cleared)."""
    store.delete()


def store_sync_enqueue(*, store: ShopConnection) -> None:
    """Run the store's order sync now, in the background (after this transaction commits)."""
    from wismo.tracking.tasks import import_store

    if store.platform not in SYNC_MINUTES:
        raise ValidationError(f"{store.get_platform_display()} stores are not synced from an API.")
    if not store.is_active:
        raise ValidationError("The store is paused: resume it first.")
    kwargs = {"tenant_id": store.tenant_id, "store_id": store.pk}
    enqueue_after_commit(import_store, kwargs=kwargs, what=f"a sync of store {store.pk}")


@dataclass(slots=True)
class CsvReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    parcels: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        return len(self.skipped)

    @property
    def failed_count(self) -> int:
        return len(self.failed)


def store_csv_import(*, store: ShopConnection, data: bytes) -> CsvReport:
    """Import a CSV file into ``store``; ``ValidationError`` when the file itself is unusable.

    A bad row is reported with its line number and skipped; one order's failure never stops the
    rest (``orders_import`` isolates them).
    """
    try:
        batch = parse_csv(data)
    except NotThisPayload as exc:
        raise ValidationError(str(exc)) from None
    report = CsvReport(rows=batch.rows)
    report.skipped = [(f"line {e.line}", e.reason) for e in batch.errors]
    for start in range(0, len(batch.orders), CSV_CHUNK):
        chunk = batch.orders[start : start + CSV_CHUNK]
        for dto, outcome in zip(chunk, orders_import(store=store, dtos=chunk), strict=True):
            if outcome.failed:
                report.failed.append((f"order {dto.order_number}", outcome.failed))
                continue
            report.created += outcome.order_created
            report.updated += not outcome.order_created
            report.parcels += outcome.shipments_created
            report.skipped += [(f"order {dto.order_number}", p) for p in outcome.problems]
    return report


# -- carrier priority ---------------------------------------------------------------------------


def carrier_priority_set(*, tenant: Tenant, slugs: list[str]) -> list[str]:
    """Save the tenant's carrier order (validated against the registry)."""
    tenant.carrier_priority = carrier_priority_clean(slugs)
    tenant.save(update_fields=["carrier_priority"])
    return tenant.carrier_priority


# -- status overrides ---------------------------------------------------------------------------


def _overrides_key(tenant_id: int) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:status-overrides:{tenant_id}"


def status_overrides_for(tenant_id: int) -> dict[tuple[str, str], tuple[str, str]]:
    """The tenant's overrides as ``{(carrier, code): (status, substatus)}``, cached.

    Called by the kernel once per tenant per batch of events, inside that tenant's scope. Two
    layers: this process's memory for ``OVERRIDES_LOCAL_SECONDS`` (a dict lookup: polling
    workers record many batches a second), then the shared cache (dropped on every change), then
    one query. Another process sees a change within ``OVERRIDES_LOCAL_SECONDS``.
    """
    key = _overrides_key(tenant_id)
    now = time.monotonic()
    local = _local_overrides.get(key)
    if local is not None and local[0] > now:
        return local[1]
    overrides = cache.get(key)
    if overrides is None:
        overrides = {
            (carrier, code): (status, substatus)
            for carrier, code, status, substatus in StatusOverride.objects.filter(
                tenant_id=tenant_id
            ).values_list("carrier", "code", "status", "substatus")
        }
        cache.set(key, overrides, OVERRIDES_CACHE_SECONDS)
    if len(_local_overrides) > 10_000:  # bounded: a worker serving very many tenants
        _local_overrides.clear()
    _local_overrides[key] = (now + OVERRIDES_LOCAL_SECONDS, overrides)
    return overrides


def status_overrides_invalidate(*, tenant_id: int) -> None:
    key = _overrides_key(tenant_id)

    def drop() -> None:
        _local_overrides.pop(key, None)
        try:
            cache.delete(key)
        except Exception:  # the cache is down: the entry expires within OVERRIDES_CACHE_SECONDS
            log.warning("status overrides of tenant %s not dropped from the cache", tenant_id)

    drop()
    transaction.on_commit(drop)


def status_override_clean(*, carrier: str, code: str, status: str, substatus: str) -> tuple:
    """Validated (carrier, code, status, substatus) against the registry and the taxonomy."""
    carrier = carrier_clean(carrier)
    code = code.strip()
    if not code or len(code) > 64:
        raise ValidationError("A carrier code of 1 to 64 characters is needed.")
    try:
        normalized = normalize_substatus(status, substatus)
    except ValueError:
        raise ValidationError(f"Unknown status {status!r}.") from None
    if substatus and normalized != substatus:
        if substatus not in SUBSTATUSES:
            raise ValidationError(f"Unknown substatus {substatus!r}.")
        raise ValidationError(f"The substatus {substatus!r} does not belong to {status!r}.")
    return carrier, code, status, normalized


@transaction.atomic
def status_override_save(
    *,
    tenant: Tenant,
    override: StatusOverride | None = None,
    carrier: str,
    code: str,
    status: str,
    substatus: str = "",
    user=None,
) -> StatusOverride:
    """Create or change an override; new events with this code get its status."""
    carrier, code, status, substatus = status_override_clean(
        carrier=carrier, code=code, status=status, substatus=substatus
    )
    clash = StatusOverride.objects.filter(carrier=carrier, code=code)
    if override is not None:
        clash = clash.exclude(pk=override.pk)
    if clash.exists():
        raise ValidationError("This carrier code already has an override: edit that one.")
    if override is None:
        override = StatusOverride(tenant=tenant, created_by=user)
    override.carrier, override.code = carrier, code
    override.status, override.substatus = status, substatus
    override.save()
    status_overrides_invalidate(tenant_id=tenant.pk)
    return override


@transaction.atomic
def status_override_delete(*, override: StatusOverride) -> None:
    tenant_id = override.tenant_id
    override.delete()
    status_overrides_invalidate(tenant_id=tenant_id)


@dataclass(frozen=True, slots=True)
class UnmappedCode:
    carrier: str
    code: str
    count: int
    sample_description: str
    mapped_to: str
    last_seen_at: object


def unmapped_codes_for_tenant() -> list[UnmappedCode]:
    """Codes no table knew, limited to those on this tenant's own events (active scope).

    ``UnmappedCarrierCode`` is platform-wide; the counts and the sample wording shown come from
    the tenant's own events, so nothing of another tenant shows.
    """
    globals_ = {
        (carrier, code): mapped_to
        for carrier, code, mapped_to in UnmappedCarrierCode.objects.order_by("-count").values_list(
            "carrier", "code", "mapped_to"
        )[:UNMAPPED_SHOWN]
    }
    if not globals_:
        return []
    codes = {code for _, code in globals_}
    rows = (
        TrackingEvent.objects.filter(code__in=codes)
        .values("shipment__carrier", "code")
        .annotate(count=Count("id"), sample=Max("description"), last=Max("occurred_at"))
    )
    found = [
        UnmappedCode(
            carrier=row["shipment__carrier"],
            code=row["code"],
            count=row["count"],
            sample_description=(row["sample"] or "")[:255],
            mapped_to=globals_[(row["shipment__carrier"], row["code"])],
            last_seen_at=row["last"],
        )
        for row in rows
        if (row["shipment__carrier"], row["code"]) in globals_
    ]
    return sorted(found, key=lambda item: (-item.count, item.carrier, item.code))
