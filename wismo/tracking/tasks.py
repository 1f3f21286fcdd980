"""Celery tasks of the kernel: thin, idempotent wrappers around the polling services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from tenants.tasks_base import TenantTask
from wismo.tracking.services import (
    inbox,
    observations,
    polling,
    retention,
    sync,
    webhooks,
    write_back,
)


@shared_task(name="wismo.tracking.tasks.poll_due_shipments", ignore_result=True)
def poll_due_shipments() -> int:
    """Beat's tick: claim due shipments (platform-wide) and enqueue one poll task per group.

    Claim and enqueue share one transaction: a crash or a refused publish before the commit
    leaves the shipments due for the next tick, not leased for ``polling.LEASE`` with no task
    on its way (a task published before a crash only polls them once more, idempotently)."""
    with transaction.atomic():
        claims = polling.claim_due(limit=settings.WISMO_POLL_CLAIM_LIMIT)
        groups = polling.group_claims(claims)
        for group in groups:
            poll_shipments.apply_async(
                kwargs={"tenant_id": group.tenant_id, "shipment_ids": group.shipment_ids}
            )
    return len(groups)


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.poll_shipments",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # The database down or restarting: try again within seconds, not when the claim's lease
    # runs out (found by bench/faults/postgres_restart: 10 minutes late).
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=10,
)
def poll_shipments(*, tenant_id: int, shipment_ids: list[int]) -> dict:
    """Poll one group. Idempotent: a redelivered task re-asks and records nothing twice."""
    return polling.poll_shipments(shipment_ids=shipment_ids)


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.process_inbound_webhook",
    ignore_result=True,
    acks_late=True,
)
def process_inbound_webhook(*, tenant_id: int, webhook_id: int | None = None) -> dict:
    """Process one stored webhook, then the rest of the tenant's inbox (see services.inbox)."""
    return inbox.inbox_drain(
        tenant_id=tenant_id,
        first=webhook_id,
        process=lambda pk: webhooks.inbound_webhook_process(webhook_id=pk),
    )


@shared_task(name="wismo.tracking.tasks.relay_inbound_webhooks", ignore_result=True)
def relay_inbound_webhooks() -> int:
    """Beat: re-enqueue stored pushes whose processing was never enqueued (a crash after commit)."""
    pending = webhooks.pending_webhooks()
    for tenant_id, webhook_id in pending:
        process_inbound_webhook.apply_async(
            kwargs={"tenant_id": tenant_id, "webhook_id": webhook_id}
        )
    return len(pending)


@shared_task(name="wismo.tracking.tasks.import_due_stores", ignore_result=True)
def import_due_stores() -> int:
    """Beat: enqueue the scheduled order sync of every store whose turn it is."""
    due = sync.stores_due_for_sync()
    for tenant_id, store_id in due:
        import_store.apply_async(kwargs={"tenant_id": tenant_id, "store_id": store_id})
    return len(due)


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.import_store",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def import_store(*, tenant_id: int, store_id: int) -> dict | None:
    """One store's sync. Idempotent: a lease stops a second copy, imports are upserts."""
    report = sync.store_sync_scheduled(store_id=store_id)
    return None if report is None else {"pages": report.pages, "created": report.created}


WRITE_BACK_LOCK_SECONDS = 900


@shared_task(name="wismo.tracking.tasks.write_back_due", ignore_result=True)
def write_back_due() -> int:
    """Beat: enqueue the write-back of every store that has it on."""
    stores = write_back.stores_with_write_back()
    for tenant_id, store_id in stores:
        write_back_store.apply_async(kwargs={"tenant_id": tenant_id, "store_id": store_id})
    return len(stores)


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.write_back_store",
    ignore_result=True,
    acks_late=True,
)
def write_back_store(*, tenant_id: int, store_id: int) -> int:
    """Push one store's pending changes. A duplicate run re-sends at most one batch's events,
    which the platforms take as the same news again, never as a different one."""
    from django.core.cache import cache

    from wismo.tracking.models import ShopConnection

    lock = f"wismo:write-back:{store_id}"
    if not cache.add(lock, 1, timeout=WRITE_BACK_LOCK_SECONDS):
        return 0  # the previous run for this store is still going: it will take these too
    try:
        store = ShopConnection.objects.filter(pk=store_id).first()
        return 0 if store is None else write_back.store_write_back(store=store)
    finally:
        cache.delete(lock)


@shared_task(name="wismo.tracking.tasks.detect_quiet_shipments", ignore_result=True)
def detect_quiet_shipments() -> int:
    """Beat (hourly): parcels whose carrier went quiet while their date still holds."""
    return observations.quiet_sweep()


# --- delivery dates and delay flags (services/edd.py) --------------------------------------------


@shared_task(name="wismo.tracking.tasks.edd_fit_due", ignore_result=True)
def edd_fit_due() -> int:
    """Beat (daily): rebuild the prior from the models as they are, then refit every tenant."""
    from tenants.models import Tenant
    from wismo.tracking.services import edd

    edd.edd_prior_fit()
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        edd_fit_tenant.apply_async(kwargs={"tenant_id": tenant_id})
    return len(tenant_ids)


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.edd_fit_tenant",
    ignore_result=True,
    acks_late=True,
)
def edd_fit_tenant(*, tenant_id: int) -> int:
    """Refit one tenant's delivery-date model. Idempotent: a second run refits the same data."""
    from tenants.models import Tenant
    from wismo.tracking.services import edd

    return edd.edd_fit(tenant=Tenant.objects.get(pk=tenant_id)).samples


@shared_task(name="wismo.tracking.tasks.edd_flag_sweep", ignore_result=True)
def edd_flag_sweep() -> dict:
    """Beat (hourly): dates that passed, stalled parcels, labels never scanned (all tenants)."""
    from wismo.tracking.services import edd

    return edd.edd_sweep()


@shared_task(name="wismo.tracking.tasks.retention_sweep", ignore_result=True)
def retention_sweep() -> dict:
    """Daily: erase personal data and raw payloads past retention (services.retention)."""
    return retention.retention_run().as_dict()
