"""Page views counted cheaply: in the process, then the shared cache, then the database in batches.

The flow:

1. ``count`` adds one to an in-process counter (no I/O on the request path).
2. At most every ``PUSH_SECONDS`` (or when many pages were seen), the process pushes its counts to
   the cache as one slot of the current minute's bucket: ``incr`` of the bucket's slot counter
   gives the slot number, ``set`` stores ``[[tenant, kind, id, views], ...]`` there. Two cache
   calls per push, whatever the traffic.
3. ``page_views_flush`` (beat, every minute) takes the closed buckets (older than the previous
   minute, so that no push can still land in them), sums their slots, adds the sums to
   ``PageViewCount`` (one row per page and UTC day), then deletes the bucket. A per-bucket lock
   (``cache.add``) keeps two flushers apart; a cursor remembers the last bucket flushed.

What this trades: a worker that dies loses at most ``PUSH_SECONDS`` of its views, and a flusher
that dies between its database commit and deleting the bucket counts that bucket twice. These are
analytics, not money. With the local-memory cache (the embedded runtime, where beat runs in
another process and cannot see this one's memory) the web process flushes its own buckets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F

from tenants.scoping import tenant_scope

log = logging.getLogger(__name__)

PUSH_SECONDS = 5.0
PUSH_AT = 500  # distinct pages buffered before an early push
BUCKET_SECONDS = 60
BUCKET_TTL = 3 * 3600
LOOKBACK_BUCKETS = 120  # where a flusher with no cursor starts

_lock = threading.Lock()
_pending: Counter = Counter()
_last_push = time.monotonic()
_last_local_flush = 0.0


def _prefix() -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:tp:pv"


def _bucket(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // BUCKET_SECONDS)


def count(tenant_id: int, kind: str, object_id: int) -> None:
    """One view of a page: ``kind`` is "shipment" or "order"."""
    global _last_push
    with _lock:
        _pending[(tenant_id, kind, object_id)] += 1
        due = len(_pending) >= PUSH_AT or time.monotonic() - _last_push >= PUSH_SECONDS
        if not due:
            return
        batch = list(_pending.items())
        _pending.clear()
        _last_push = time.monotonic()
    push(batch)


def push(batch: list[tuple[tuple[int, str, int], int]] | None = None, *, now=None) -> None:
    """Write buffered counts (this process's, when ``batch`` is None) to the cache."""
    global _last_push
    if batch is None:
        with _lock:
            batch = list(_pending.items())
            _pending.clear()
            _last_push = time.monotonic()
    if not batch:
        return
    bucket = _bucket(now)
    slots_key = f"{_prefix()}:{bucket}:n"
    payload = [[t, k, i, n] for (t, k, i), n in batch]
    try:
        cache.add(slots_key, 0, timeout=BUCKET_TTL)
        try:
            slot = cache.incr(slots_key)
        except ValueError:
            cache.set(slots_key, 1, timeout=BUCKET_TTL)
            slot = 1
        cache.set(f"{_prefix()}:{bucket}:{slot}", payload, timeout=BUCKET_TTL)
    except Exception:  # analytics never break a page
        log.warning("page views could not be pushed to the cache", exc_info=True)
        return
    if _cache_is_process_local():
        _flush_locally()


def _cache_is_process_local() -> bool:
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return backend.endswith(("LocMemCache", "DummyCache"))


def _flush_locally() -> None:
    global _last_local_flush
    if time.monotonic() - _last_local_flush < BUCKET_SECONDS:
        return
    _last_local_flush = time.monotonic()
    try:
        page_views_flush()
    except Exception:
        log.warning("page views could not be flushed", exc_info=True)


def page_views_flush(*, now: float | None = None) -> int:
    """Add every closed bucket's counts to ``PageViewCount``; returns the views written."""
    current = _bucket(now)
    cursor_key = f"{_prefix()}:cursor"
    cursor = cache.get(cursor_key)
    start = int(cursor) if cursor is not None else current - LOOKBACK_BUCKETS
    written = 0
    for bucket in range(max(start, current - LOOKBACK_BUCKETS), current - 1):
        lock_key = f"{_prefix()}:{bucket}:lock"
        if not cache.add(lock_key, 1, timeout=300):
            break  # another flusher is on it; it will move the cursor
        try:
            written += _flush_bucket(bucket)
            cache.set(cursor_key, bucket + 1, timeout=None)
        finally:
            cache.delete(lock_key)
    return written


def _flush_bucket(bucket: int) -> int:
    slots_key = f"{_prefix()}:{bucket}:n"
    slots = int(cache.get(slots_key) or 0)
    if not slots:
        return 0
    keys = [f"{_prefix()}:{bucket}:{n}" for n in range(1, slots + 1)]
    totals: Counter = Counter()
    for payload in cache.get_many(keys).values():
        for tenant_id, kind, object_id, views in payload:
            totals[(int(tenant_id), str(kind), int(object_id))] += int(views)
    day = datetime.fromtimestamp(bucket * BUCKET_SECONDS, tz=UTC).date()
    by_tenant: dict[int, list[tuple[str, int, int]]] = {}
    for (tenant_id, kind, object_id), views in totals.items():
        by_tenant.setdefault(tenant_id, []).append((kind, object_id, views))
    for tenant_id, rows in by_tenant.items():
        _add_views(tenant_id, day, rows)
    cache.delete_many([*keys, slots_key])
    return sum(totals.values())


def _add_views(tenant_id: int, day, rows: list[tuple[str, int, int]]) -> None:
    from tracking_pages.models import PageViewCount
    from wismo.tracking.models import Order, Shipment

    with tenant_scope(tenant_id), transaction.atomic():
        # Pages deleted since (or never this tenant's) drop their counts: foreign keys are only
        # checked at commit, where one bad row would lose the whole batch.
        wanted = {kind: [i for k, i, _ in rows if k == kind] for kind in ("shipment", "order")}
        alive = {
            "shipment": set(
                Shipment.objects.filter(pk__in=wanted["shipment"]).values_list("pk", flat=True)
            ),
            "order": set(Order.objects.filter(pk__in=wanted["order"]).values_list("pk", flat=True)),
        }
        for kind, object_id, views in rows:
            if object_id not in alive.get(kind, ()):
                continue
            target = {"shipment_id": object_id} if kind == "shipment" else {"order_id": object_id}
            updated = PageViewCount.objects.filter(day=day, **target).update(
                views=F("views") + views
            )
            if updated:
                continue
            try:
                with transaction.atomic():
                    PageViewCount.objects.create(
                        tenant_id=tenant_id, day=day, views=views, **target
                    )
            except IntegrityError:
                # A concurrent flusher made the day's row first: add to it.
                PageViewCount.objects.filter(day=day, **target).update(views=F("views") + views)
