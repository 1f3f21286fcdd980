"""Celery tasks of the kernel: thin, idempotent wrappers around the polling services."""

from __future__ import annotations

from celery import shared_task

from tenants.scoping import tenant_scope
from tenants.tasks_base import TenantTask
from wismo.tracking.services import polling


@shared_task(name="wismo.tracking.tasks.poll_due_shipments", ignore_result=True)
def poll_due_shipments() -> int:
    """Beat's sweep: claim every due shipment and enqueue one poll per carrier batch."""
    enqueued = 0
    for group in polling.due_shipment_groups():
        with tenant_scope(group.tenant_id):
            ids = polling.claim_for_polling(shipment_ids=group.shipment_ids)
        if ids:
            poll_shipments.apply_async(kwargs={"tenant_id": group.tenant_id, "shipment_ids": ids})
            enqueued += 1
    return enqueued


@shared_task(
    base=TenantTask,
    name="wismo.tracking.tasks.poll_shipments",
    bind=True,
    ignore_result=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    max_retries=5,
)
def poll_shipments(self, *, tenant_id: int, shipment_ids: list[int]) -> dict:
    return polling.poll_shipments(shipment_ids=shipment_ids)
