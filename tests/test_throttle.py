"""Shared rate limits and circuit breakers, in Redis (CI) and in-process (embedded mode)."""

from __future__ import annotations

import time

import pytest

from carriers.http import TransientError
from wismo.tracking.services import throttle as throttle_module
from wismo.tracking.services.throttle import AccountThrottle, CircuitBreaker


@pytest.fixture(params=["redis", "local"])
def backend(request, settings):
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("needs Redis")
    if request.param == "local":
        settings.REDIS_URL = ""
    return request.param


def test_a_bucket_lets_a_burst_through_then_paces_to_its_rate(backend):
    bucket = AccountThrottle(key="dhl:1", rate=20, capacity=5)
    started = time.monotonic()
    for _ in range(15):
        bucket.acquire()
    elapsed = time.monotonic() - started
    # 5 at once, then 10 more at 20/s: about half a second.
    assert 0.4 <= elapsed <= 1.5


def test_two_clients_of_one_account_share_its_bucket(backend):
    first, second = (
        AccountThrottle(key="ups:7", rate=10, capacity=2),
        AccountThrottle(key="ups:7", rate=10, capacity=2),
    )
    first.acquire()
    first.acquire()
    started = time.monotonic()
    second.acquire()
    assert time.monotonic() - started >= 0.05, "the second client waited for the shared bucket"


def test_accounts_do_not_share_buckets(backend):
    AccountThrottle(key="ups:1", rate=0.01, capacity=1).acquire()
    started = time.monotonic()
    AccountThrottle(key="ups:2", rate=0.01, capacity=1).acquire()
    assert time.monotonic() - started < 0.05


def test_a_long_wait_gives_the_work_back_instead_of_blocking(backend):
    bucket = AccountThrottle(key="usps:1", rate=1 / 60, capacity=1, max_wait=0.5)
    bucket.acquire()
    with pytest.raises(TransientError) as caught:
        bucket.acquire()
    assert 55 <= caught.value.retry_after <= 61


def test_retry_after_blocks_every_client_of_the_account(backend):
    AccountThrottle(key="fedex:3", rate=100).penalize(30)
    with pytest.raises(TransientError) as caught:
        AccountThrottle(key="fedex:3", rate=100, max_wait=1).acquire()
    assert 28 <= caught.value.retry_after <= 30


def test_the_breaker_opens_after_repeated_failures_and_cools_down_longer_each_time(backend):
    breaker = CircuitBreaker("gls", threshold=3, cooldown_seconds=10)
    assert breaker.open_for() == 0
    assert [breaker.failure() for _ in range(3)] == [0, 0, 10]
    assert 9 <= breaker.open_for() <= 10
    assert [breaker.failure() for _ in range(3)][-1] == 20, "a second trip cools down longer"


def test_a_success_resets_the_failure_count(backend):
    breaker = CircuitBreaker("brt", threshold=3)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.open_for() == 0


def test_breakers_are_per_carrier(backend):
    CircuitBreaker("dpd", threshold=1).failure()
    assert CircuitBreaker("dpd").open_for() > 0
    assert CircuitBreaker("gls").open_for() == 0


def test_redis_keys_live_under_the_configured_prefix(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    AccountThrottle(key="dhl:9", rate=1).acquire()
    keys = throttle_module._redis().keys(f"{settings.WISMO_REDIS_PREFIX}:*")
    assert keys == [f"{settings.WISMO_REDIS_PREFIX}:bucket:dhl:9".encode()]
