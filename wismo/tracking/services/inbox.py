"""The webhook inbox's hot path: store a verified delivery in one statement, nudge a drain.

A platform waits on our answer, and a burst of fulfilments is hundreds of deliveries a
second, so the request does the least that keeps the promise "accepted means never lost":

- ``inbox_store``: one ``INSERT ... ON CONFLICT (tenant, digest) DO NOTHING RETURNING id``,
  committed before the 200; a redelivery (same digest) inserts nothing and is reported as a
  duplicate, whichever of two concurrent copies wins.
- ``inbox_nudge``: at most one processing task per tenant in flight (a short cache key), not
  one per delivery; the task (``inbox_drain``) processes the row it was started for, then
  every other received row of the tenant, and gives the key back before its last look, so a
  row stored meanwhile is either seen or nudges a new task. The relay sweeps up after a lost
  task or a cache outage.
"""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from wismo.tracking.models import InboundWebhook

logger = logging.getLogger(__name__)

NUDGE_SECONDS = 30  # how long a nudge counts as "a task is on its way"
# A process that nudged a tenant less than WISMO_INBOX_DEBOUNCE_SECONDS ago does not ask the
# shared cache again; the drain looks once more that long after giving its nudge back, so
# such a row is never left behind.
_nudged_at: dict[int, float] = {}
DRAIN_BATCH = 100
DRAIN_BUDGET_SECONDS = 50.0


def inbox_store(
    *,
    tenant_id: int,
    source: str,
    digest: str,
    body: str,
    headers: dict[str, str],
    topic: str = "",
    store_id: int | None = None,
    carrier_account_id: int | None = None,
) -> tuple[int, bool]:
    """Store one delivery; ``(row id, duplicate)``."""
    table = InboundWebhook._meta.db_table
    values = [
        tenant_id,
        source,
        carrier_account_id,
        store_id,
        topic[:100],
        json.dumps(headers),
        body,
        digest,
        InboundWebhook.State.RECEIVED,
        "",
        0,
        timezone.now(),
    ]
    columns = (
        "tenant_id, source, carrier_account_id, store_id, topic, headers, body, digest, "
        "state, error, attempts, received_at"
    )
    with connection.cursor() as cursor:
        if connection.vendor in ("postgresql", "sqlite"):
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(values))}) "  # noqa: S608 - fixed names
                "ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING id",
                values,
            )
            row = cursor.fetchone()
            if row is not None:
                return row[0], False
        cursor.execute(
            f"SELECT id FROM {table} WHERE tenant_id = %s AND digest = %s",  # noqa: S608
            [tenant_id, digest],
        )
        row = cursor.fetchone()
    if row is None:  # a backend without ON CONFLICT: the ORM, racing copies settled by the key
        webhook, created = InboundWebhook.objects.get_or_create(
            tenant_id=tenant_id,
            digest=digest,
            defaults={
                "source": source,
                "store_id": store_id,
                "carrier_account_id": carrier_account_id,
                "topic": topic[:100],
                "headers": headers,
                "body": body,
            },
        )
        return webhook.pk, not created
    return row[0], True


def _key(tenant_id: int) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:inbox-nudge:{tenant_id}"


def inbox_nudge(*, tenant_id: int, webhook_id: int) -> bool:
    """Start a drain of the tenant's inbox unless one is on its way; True when one was started."""
    from wismo.tracking.tasks import process_inbound_webhook

    now = time.monotonic()
    if now - _nudged_at.get(tenant_id, -1e9) < settings.WISMO_INBOX_DEBOUNCE_SECONDS:
        return False
    _nudged_at[tenant_id] = now
    try:
        fresh = cache.add(_key(tenant_id), 1, timeout=NUDGE_SECONDS)
    except Exception:  # the cache is down: nudge anyway, the drain is idempotent
        logger.warning("inbox nudge without the cache for tenant %s", tenant_id)
        fresh = True
    if not fresh:
        return False

    def send() -> None:
        try:
            process_inbound_webhook.apply_async(
                kwargs={"tenant_id": tenant_id, "webhook_id": webhook_id}
            )
        except Exception:  # the broker is down: the relay finds the row within a minute
            logger.warning("could not enqueue inbox processing for tenant %s", tenant_id)
            try:  # let the next delivery try again; the cache may be down with the broker
                cache.delete(_key(tenant_id))
            except Exception:
                logger.warning("inbox nudge key for tenant %s not cleared", tenant_id)

    transaction.on_commit(send)
    return True


def inbox_drain(*, tenant_id: int, first: int | None, process) -> dict[str, int]:
    """Process ``first``, then every received row of the tenant (``process(webhook_id)``)."""
    debounce = settings.WISMO_INBOX_DEBOUNCE_SECONDS
    settle = debounce + 0.2 if debounce > 0 else 0.0
    totals = {"events": 0, "shipments": 0, "webhooks": 0}
    seen: set[int] = set()
    deadline = time.monotonic() + DRAIN_BUDGET_SECONDS

    def run(webhook_id: int) -> None:
        seen.add(webhook_id)
        result = process(webhook_id)
        totals["events"] += result.get("events", 0)
        totals["shipments"] += result.get("shipments", 0)
        totals["webhooks"] += 1

    if first is not None:
        run(first)
    released = False
    while time.monotonic() < deadline:
        batch = [
            pk
            for pk in InboundWebhook.objects.filter(
                tenant_id=tenant_id, state=InboundWebhook.State.RECEIVED
            )
            .order_by("received_at", "id")
            .values_list("pk", flat=True)[:DRAIN_BATCH]
            if pk not in seen
        ]
        if batch:
            for webhook_id in batch:
                run(webhook_id)
            continue
        if released:
            break
        # Give the nudge back, then look once more after the local debounce: a row stored
        # before that is seen here, a row stored after it starts a new drain.
        cache.delete(_key(tenant_id))
        released = True
        if settle:
            time.sleep(settle)
    return totals
