"""The shared cache of rendered pages: Redis when ``REDIS_URL`` is set, else Django's cache.

Django's Redis cache builds a new client object and pickles the value on every call, which costs
more than the round trip itself on the page's hot path. Pages are plain text, so they go to Redis
as UTF-8 bytes through one client per process (thread-safe, pooled connections). Without Redis
(the embedded runtime) Django's local-memory cache does. Keys carry ``WISMO_REDIS_PREFIX`` and
expire on their own; an unreachable cache only makes pages slower.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

_lock = threading.Lock()
_clients: dict[str, object] = {}


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        with _lock:
            client = _clients.get(url) or redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=2
            )
            _clients[url] = client
    return client


def get(key: str) -> str | None:
    try:
        client = _redis()
        if client is None:
            return cache.get(key)
        value = client.get(key)
    except Exception:  # a cache outage makes pages slower, not broken
        log.warning("page cache unavailable", exc_info=True)
        return None
    return value.decode() if value is not None else None


def put(key: str, html: str, seconds: int) -> None:
    try:
        client = _redis()
        if client is None:
            cache.set(key, html, timeout=seconds)
        else:
            client.set(key, html.encode(), ex=seconds)
    except Exception:
        log.warning("page cache unavailable", exc_info=True)


def forget_pages(*, orders: list[int], shipments: list[int]) -> int:
    """Delete every cached rendering of these pages (a shopper's data was erased): one SCAN of
    the page keys. Without Redis the local cache's copies expire on their own within
    ``WISMO_PAGE_CACHE_SECONDS``; this process's own copies are dropped by the caller."""
    wanted = {f"order:{pk}" for pk in orders} | {f"shipment:{pk}" for pk in shipments}
    if not wanted:
        return 0
    client = _redis()
    if client is None:
        return 0
    prefix = f"{settings.WISMO_REDIS_PREFIX}:tp:page:"
    doomed = []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            kind, pk = key.decode()[len(prefix) :].split(":", 2)[:2]
            if f"{kind}:{pk}" in wanted:
                doomed.append(key)
        for start in range(0, len(doomed), 500):
            client.delete(*doomed[start : start + 500])
    except Exception:
        log.warning("cached pages could not be forgotten", exc_info=True)
    return len(doomed)
