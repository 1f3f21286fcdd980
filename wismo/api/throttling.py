"""Per-API-key rate limits: a fixed window of one minute per key, counted in Redis.

One round trip per request: a small Lua script increments the key's counter, starts the window on
the first hit and returns the count with the time left (Redis' clock, so every web process agrees).
Authentication runs that script itself (``tenants.services.api_key_check``: the same round trip
validates the process's copy of the key), and the throttle reads the count from the principal;
the throttle counts on its own only when authentication could not.
Without Redis (the embedded single-machine mode) Django's cache counts instead (``add`` + ``incr``).
Over the limit, DRF answers 429 with ``Retry-After`` (seconds until the window ends).

If Redis cannot be reached the request is let through: a rate limit must not take the API down.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.throttling import BaseThrottle

from tenants.services import api_key_rate_count, api_key_rate_name
from wismo.api.authentication import ApiPrincipal

logger = logging.getLogger(__name__)


def api_key_rate_limit(*, key) -> int:
    """Requests per minute ``key`` may make: its own limit, else the default from settings."""
    if key.rate_limit_per_minute is not None:
        return key.rate_limit_per_minute
    return settings.WISMO_API_RATE_LIMIT_PER_MINUTE


def _hit_redis(prefix: str, window_ms: int) -> tuple[int, int]:
    return api_key_rate_count(prefix, window_ms)


def _hit_cache(name: str, window_ms: int) -> tuple[int, int]:
    window = window_ms / 1000
    now = time.time()
    started = math.floor(now / window) * window
    slot = f"{name}:{int(started * 1000)}"
    django_cache.add(slot, 0, timeout=math.ceil(window) + 1)
    try:
        count = django_cache.incr(slot)
    except ValueError:  # evicted between add and incr
        django_cache.set(slot, 1, timeout=math.ceil(window) + 1)
        count = 1
    return count, int((started + window - now) * 1000)


class ApiKeyRateThrottle(BaseThrottle):
    """``rate_limit_per_minute`` requests per key per window; other keys are not affected."""

    window_seconds = 60

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        principal = getattr(request, "user", None)
        if not isinstance(principal, ApiPrincipal):
            return True  # public routes (schema, docs); unauthenticated calls are refused anyway
        limit = api_key_rate_limit(key=principal.key)
        if principal.count is not None:  # counted by authentication, in its round trip
            count, ttl_ms = principal.count, principal.window_left_ms or 0
        else:
            name = api_key_rate_name(principal.key.prefix)
            window_ms = int(self.window_seconds * 1000)
            try:
                if getattr(settings, "REDIS_URL", ""):
                    count, ttl_ms = _hit_redis(principal.key.prefix, window_ms)
                else:
                    count, ttl_ms = _hit_cache(name, window_ms)
            except Exception:
                logger.warning("API rate limit not checked: Redis unavailable", exc_info=True)
                return True
        if count <= limit:
            return True
        self._wait = max(1, math.ceil(ttl_ms / 1000))
        return False

    def wait(self) -> float | None:
        return self._wait
