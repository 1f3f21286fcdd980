"""Fixed-window counters in the shared cache: how the lookup forms are rate limited.

Each (name, key, window) gets one cache entry created with ``add`` (atomic "set if absent") and
counted with ``incr`` (atomic on Redis and, under its lock, on the local-memory cache), so every
web process shares the count when the cache is Redis. Keys carry ``WISMO_REDIS_PREFIX``. A cache
that is down fails open (the form still works), since the limit protects and must not lock out.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def _key(name: str, key: str, window_start: int) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:tp:rl:{name}:{key}:{window_start}"


def hit(name: str, key: str, *, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one attempt; ``allowed`` is False once more than ``limit`` fell in this window."""
    moment = time.time() if now is None else now
    start = int(moment // window) * window
    cache_key = _key(name, key, start)
    try:
        cache.add(cache_key, 0, timeout=window + 5)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # evicted between add and incr
            cache.set(cache_key, 1, timeout=window + 5)
            count = 1
    except Exception:  # an unreachable cache must not take the form down
        log.warning("rate limit cache unavailable", exc_info=True)
        return Verdict(True, 0, 0)
    if count > limit:
        return Verdict(False, count, max(1, math.ceil(start + window - moment)))
    return Verdict(True, count, 0)


def peek(name: str, key: str, *, window: int, now: float | None = None) -> int:
    """The count of the current window, without counting."""
    moment = time.time() if now is None else now
    start = int(moment // window) * window
    try:
        return int(cache.get(_key(name, key, start)) or 0)
    except Exception:
        return 0
