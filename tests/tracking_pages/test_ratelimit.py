"""Fixed-window counters in the cache, on the local-memory cache as on Redis."""

from __future__ import annotations

import pytest

from tracking_pages import ratelimit


@pytest.fixture(params=["locmem", "redis"])
def any_cache(request, settings):
    if request.param == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    elif "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("no REDIS_URL: the Redis cache is not configured")
    return request.param


def test_attempts_within_the_limit_pass_and_the_next_one_waits_for_the_window(any_cache):
    verdicts = [
        ratelimit.hit("ip", "10.0.0.1", limit=3, window=60, now=1_000_010.0) for _ in range(4)
    ]

    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.count for v in verdicts] == [1, 2, 3, 4]
    assert verdicts[-1].retry_after == 10  # the window 999_960..1_000_020 ends in 10 s


def test_a_new_window_starts_counting_afresh(any_cache):
    for _ in range(3):
        ratelimit.hit("ip", "10.0.0.2", limit=2, window=60, now=1_000_010.0)

    later = ratelimit.hit("ip", "10.0.0.2", limit=2, window=60, now=1_000_080.0)

    assert later.allowed and later.count == 1


def test_keys_and_names_count_apart(any_cache):
    ratelimit.hit("ip", "a", limit=1, window=60, now=5_000.0)

    assert ratelimit.hit("ip", "b", limit=1, window=60, now=5_000.0).allowed
    assert ratelimit.hit("tenant", "a", limit=1, window=60, now=5_000.0).allowed
    assert not ratelimit.hit("ip", "a", limit=1, window=60, now=5_000.0).allowed
    assert ratelimit.peek("ip", "a", window=60, now=5_000.0) == 2


def test_a_cache_that_is_down_lets_the_attempt_through(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "wismo.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }

    verdict = ratelimit.hit("ip", "10.0.0.3", limit=1, window=60)

    assert verdict.allowed
