"""Celery tasks of notifications: thin wrappers around the dispatch and outbox services.

All run platform-wide (the services open each tenant's scope themselves) and are idempotent:
dispatch skips changes already dispatched, the sender claims rows with a lease.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from notifications.services import dispatch, outbox, webhooks_out


@shared_task(name="notifications.tasks.dispatch_status_changes", ignore_result=True, acks_late=True)
def dispatch_status_changes(*, change_ids: list[int]) -> int:
    return dispatch.changes_dispatch(change_ids=change_ids)


@shared_task(name="notifications.tasks.relay_status_changes", ignore_result=True)
def relay_status_changes() -> int:
    """Beat: dispatch changes whose after-commit nudge was lost (a crash, a broker outage)."""
    ids = dispatch.changes_undispatched()
    return dispatch.changes_dispatch(change_ids=ids) if ids else 0


@shared_task(name="notifications.tasks.notify_sweep", ignore_result=True)
def notify_sweep() -> int:
    """Beat: start ``WISMO_NOTIFY_SENDERS`` senders for this sweep interval.

    One sender is bounded by its concurrency over the provider's latency; several, on several
    workers, share the outbox safely (rows are claimed with SKIP LOCKED). A copy that starts
    after the next sweep is already due is dropped (``expires``).
    """
    senders = max(1, settings.WISMO_NOTIFY_SENDERS)
    for _ in range(senders):
        send_due_notifications.apply_async(expires=settings.WISMO_NOTIFY_SWEEP_SECONDS)
    return senders


@shared_task(name="notifications.tasks.send_due_notifications", ignore_result=True)
def send_due_notifications() -> int:
    """Beat: drain the due outbox for up to most of a sweep interval."""
    deadline = time.monotonic() + max(5, settings.WISMO_NOTIFY_SWEEP_SECONDS - 5)
    sent = 0
    while time.monotonic() < deadline:
        report = outbox.outbox_drain(limit=settings.WISMO_NOTIFY_BATCH)
        sent += report.sent
        if report.sent + report.skipped + report.retried + report.failed == 0:
            break
    return sent


@shared_task(name="notifications.tasks.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> int:
    """Beat: POST due outbound webhook deliveries."""
    return webhooks_out.deliveries_send()
