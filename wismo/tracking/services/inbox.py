"""The webhook inbox's hot path: store a verified delivery in one statement, nudge a drain.

A platform waits on our answer, and a burst of fulfilments is hundreds of deliveries a
second, so the request does the least that keeps the promise "accepted means never lost":

- ``inbox_store``: one ``INSERT ... ON CONFLICT (tenant, digest) DO NOTHING RETURNING id``,
  committed before the 200; a redelivery (same digest) inserts nothing and is reported as a
  duplicate, whichever of two concurrent copies wins. Outside any transaction (a request on
  PostgreSQL), the rows of concurrent requests of one process share that statement and its
  commit (``group_commit``): the commit, not the row, is what costs.
- ``inbox_nudge``: at most one processing task per tenant in flight (a short cache key), not
  one per delivery; the task (``inbox_drain``) processes the row it was started for, then
  every other received row of the tenant, and gives the key back before its last look, so a
  row stored meanwhile is either seen or nudges a new task. The relay sweeps up after a lost
  task or a cache outage.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from tenants.models import Tenant
from tenants.scoping import active_tenant_ids
from wismo.db import fetch_prepared
from wismo.tracking.models import InboundWebhook, ShopConnection
from wismo.tracking.services.group_commit import GroupCommit

logger = logging.getLogger(__name__)

NUDGE_SECONDS = 30  # how long a nudge counts as "a task is on its way"
# A process that nudged a tenant less than WISMO_INBOX_DEBOUNCE_SECONDS ago does not ask the
# shared cache again; the drain looks once more that long after giving its nudge back, so
# such a row is never left behind.
_nudged_at: dict[int, float] = {}
DRAIN_BATCH = 100
DRAIN_BUDGET_SECONDS = 50.0


@dataclass(frozen=True, slots=True)
class StoreGuard:
    """Store the row only if its store is still as the caller saw it: the same platform and
    secret (the stored token itself), the store and its tenant active."""

    platform: str
    secret_token: str


@dataclass(frozen=True, slots=True)
class _Row:
    tenant_id: int
    source: str
    carrier_account_id: int | None
    store_id: int | None
    topic: str
    headers: str  # JSON
    body: str
    digest: str
    received_at: datetime
    guard: StoreGuard | None = None


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
    row = _new_row(
        tenant_id=tenant_id,
        source=source,
        digest=digest,
        body=body,
        headers=headers,
        topic=topic,
        store_id=store_id,
        carrier_account_id=carrier_account_id,
    )
    if _shareable():
        stored = _group.submit(row)
        if stored is not None:
            return stored
    return _store_alone(row, headers)


def inbox_store_guarded(
    *,
    tenant_id: int,
    source: str,
    digest: str,
    body: str,
    headers: dict[str, str],
    topic: str,
    store_id: int,
    guard: StoreGuard,
) -> tuple[int, bool] | None:
    """``inbox_store`` for a store read from a cache: the row is stored (``(row id, False)``)
    only if ``guard`` still holds when it is. None when nothing was stored: the store changed,
    or the delivery is a duplicate, or this is not a request's shared write (inside a
    transaction, a tenant scope, not PostgreSQL): the caller then looks the store up afresh."""
    if not _shareable():
        return None
    row = _new_row(
        tenant_id=tenant_id,
        source=source,
        digest=digest,
        body=body,
        headers=headers,
        topic=topic,
        store_id=store_id,
        guard=guard,
    )
    return _group.submit(row)


def _new_row(
    *,
    tenant_id: int,
    source: str,
    digest: str,
    body: str,
    headers: dict[str, str],
    topic: str,
    store_id: int | None,
    carrier_account_id: int | None = None,
    guard: StoreGuard | None = None,
) -> _Row:
    return _Row(
        tenant_id=tenant_id,
        source=source,
        carrier_account_id=carrier_account_id,
        store_id=store_id,
        topic=topic[:100],
        headers=json.dumps(headers),
        body=body,
        digest=digest,
        received_at=timezone.now(),
        guard=guard,
    )


def _shareable() -> bool:
    """Whether this row may go into another thread's statement: nothing of this thread's
    connection is involved (no transaction of its own to join, autocommit, no tenant scope)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the ``connection`` proxy looks it up
    return (
        db.vendor == "postgresql"
        and not db.in_atomic_block
        and (db.autocommit or db.connection is None)
        and db.settings_dict["AUTOCOMMIT"]
        and active_tenant_ids() is None
    )


_TABLE = InboundWebhook._meta.db_table
_COLUMNS = (
    "tenant_id, source, carrier_account_id, store_id, topic, headers, body, digest, "
    "state, error, attempts, received_at"
)
_VALUES_ROW = (
    "(%s::bigint, %s::varchar, %s::bigint, %s::bigint, %s::varchar, %s::jsonb, %s::text, "
    "%s::varchar, %s::timestamptz, %s::varchar, %s::text)"
)
# One statement for the whole batch; a guarded row goes in only while its store is unchanged.
# The guard is a scalar subquery on purpose: two primary-key probes per row. (As an EXISTS next
# to the OR, PostgreSQL may hash the whole store-tenant join instead, every statement.)
_BATCH_SQL = (
    f"INSERT INTO {_TABLE} ({_COLUMNS}) "  # noqa: S608 - fixed names; the values are parameters
    "SELECT v.tenant_id, v.source, v.carrier_account_id, v.store_id, v.topic, v.headers, "
    "v.body, v.digest, %s, '', 0, v.received_at FROM (VALUES {rows}) AS v (tenant_id, source, "
    "carrier_account_id, store_id, topic, headers, body, digest, received_at, guard_platform, "
    "guard_secret) WHERE v.guard_secret IS NULL OR (SELECT s.platform = v.guard_platform "
    "AND s.webhook_secret = v.guard_secret AND s.is_active AND (SELECT t.is_active FROM "
    f"{Tenant._meta.db_table} t WHERE t.id = s.tenant_id) FROM "
    f"{ShopConnection._meta.db_table} s WHERE s.id = v.store_id AND s.tenant_id = v.tenant_id) "
    "ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING id, tenant_id, digest"
)


@functools.cache
def _batch_sql(rows: int) -> str:
    return _BATCH_SQL.format(rows=", ".join([_VALUES_ROW] * rows))


_EXISTING_SQL = (
    f"SELECT id, tenant_id, digest FROM {_TABLE} "  # noqa: S608 - fixed names
    "WHERE (tenant_id, digest) IN ({keys})"
)


def _store_batch(rows: Sequence[_Row]) -> list[tuple[int, bool] | None]:
    """Write the rows of several requests in one statement (autocommit: committed when it
    returns). Per row ``(id, duplicate)``, or None for a row its thread must settle alone."""
    first: dict[tuple[int, str], int] = {}  # a key's first row: later copies are duplicates
    params: list = [InboundWebhook.State.RECEIVED]
    for index, row in enumerate(rows):
        key = (row.tenant_id, row.digest)
        if key in first:
            continue
        first[key] = index
        guard = row.guard
        params += [
            row.tenant_id,
            row.source,
            row.carrier_account_id,
            row.store_id,
            row.topic,
            row.headers,
            row.body,
            row.digest,
            row.received_at,
            guard.platform if guard else None,
            guard.secret_token if guard else None,
        ]
    # Prepared once per batch size and connection: planning this statement cost PostgreSQL
    # more than running it (at most max_batch statements per connection).
    stored = fetch_prepared(f"wismo_inbox_{len(first)}", _batch_sql(len(first)), params)
    inserted = {(tenant_id, digest): pk for pk, tenant_id, digest in stored}
    # Unguarded rows that went nothing in: duplicates, found by their key (a guarded one
    # may be a changed store instead: its thread looks again).
    missing = [
        key for key, index in first.items() if key not in inserted and rows[index].guard is None
    ]
    existing: dict[tuple[int, str], int] = {}
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                _EXISTING_SQL.format(keys=", ".join(["(%s, %s)"] * len(missing))),
                [value for key in missing for value in key],
            )
            existing = {(tenant_id, digest): pk for pk, tenant_id, digest in cursor.fetchall()}
    results: list[tuple[int, bool] | None] = []
    for index, row in enumerate(rows):
        key = (row.tenant_id, row.digest)
        if key in inserted:
            if first[key] == index:
                results.append((inserted[key], False))
            else:  # a copy of a row of this very batch; a guarded one is checked alone
                results.append(None if row.guard else (inserted[key], True))
        elif key in existing and row.guard is None:
            results.append((existing[key], True))
        else:
            results.append(None)
    return results


_group: GroupCommit[_Row, tuple[int, bool]] = GroupCommit(_store_batch)


def _store_alone(row: _Row, headers: dict[str, str]) -> tuple[int, bool]:
    """This thread's own statement, in its own transaction when it is in one."""
    values = [
        row.tenant_id,
        row.source,
        row.carrier_account_id,
        row.store_id,
        row.topic,
        row.headers,
        row.body,
        row.digest,
        InboundWebhook.State.RECEIVED,
        "",
        0,
        row.received_at,
    ]
    with connection.cursor() as cursor:
        if connection.vendor in ("postgresql", "sqlite"):
            cursor.execute(
                f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(values))}) "  # noqa: S608 - fixed names
                "ON CONFLICT (tenant_id, digest) DO NOTHING RETURNING id",
                values,
            )
            found = cursor.fetchone()
            if found is not None:
                return found[0], False
        cursor.execute(
            f"SELECT id FROM {_TABLE} WHERE tenant_id = %s AND digest = %s",  # noqa: S608
            [row.tenant_id, row.digest],
        )
        found = cursor.fetchone()
    if found is None:  # a backend without ON CONFLICT: the ORM, racing copies settled by the key
        webhook, created = InboundWebhook.objects.get_or_create(
            tenant_id=row.tenant_id,
            digest=row.digest,
            defaults={
                "source": row.source,
                "store_id": row.store_id,
                "carrier_account_id": row.carrier_account_id,
                "topic": row.topic,
                "headers": headers,
                "body": row.body,
            },
        )
        return webhook.pk, not created
    return found[0], True


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
