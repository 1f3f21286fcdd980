"""Rate limits and circuit breakers shared by every worker that calls a carrier.

- ``AccountThrottle``: a token bucket per carrier account (the carrier's published rate), which
  also remembers a carrier's ``Retry-After`` so that no worker asks before that moment.
- ``CircuitBreaker``: per carrier; after repeated transient failures the carrier is left alone for
  a cool-down (doubling while it keeps failing), so one dead carrier never slows the others.

With ``REDIS_URL`` set, the state lives in Redis (atomic Lua scripts; Redis' clock, so workers on
several machines agree). Without it (the embedded mode, one machine), an in-process version.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from carriers.http import TransientError

# The longest a poll waits in-process for a slot before giving the shipments back to the scheduler.
MAX_WAIT_SECONDS = 5.0

_BUCKET_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'blocked')
local blocked = tonumber(data[3]) or 0
if blocked > now then return blocked - now end
local tokens = tonumber(data[1]) or capacity
local ts = tonumber(data[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], 3600000)
return wait
"""

_BLOCK_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if until_ms > current then redis.call('HSET', KEYS[1], 'blocked', until_ms) end
redis.call('PEXPIRE', KEYS[1], math.max(3600000, tonumber(ARGV[1]) + 60000))
return until_ms
"""

_BREAKER_FAIL_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
if failures >= tonumber(ARGV[1]) then
  local trips = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], 86400000)
  local cooldown = math.min(tonumber(ARGV[3]) * 2 ^ (trips - 1), tonumber(ARGV[4]))
  redis.call('SET', KEYS[2], now + cooldown, 'PX', cooldown)
  redis.call('DEL', KEYS[1])
  return cooldown
end
return 0
"""

_BREAKER_ALLOW_LUA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local open_until = tonumber(redis.call('GET', KEYS[1])) or 0
if open_until > now then return open_until - now end
return 0
"""


@cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def _prefix() -> str:
    return settings.WISMO_REDIS_PREFIX


def _use_redis() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


class _LocalState:
    """The in-process twin of the Redis state, for the embedded single-machine mode."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, ts, blocked)
        self.failures: dict[str, tuple[int, float]] = {}
        self.open_until: dict[str, float] = {}
        self.trips: dict[str, int] = {}


_local = _LocalState()


@dataclass
class AccountThrottle:
    """Token bucket of one carrier account: ``rate`` requests per second, bursts of ``capacity``."""

    key: str
    rate: float
    capacity: float = 0.0
    max_wait: float = MAX_WAIT_SECONDS

    def __post_init__(self) -> None:
        self.rate = max(self.rate, 0.001)
        self.capacity = self.capacity or max(1.0, self.rate)

    def _try(self) -> float:
        """Take a token; 0 when taken, else the seconds to wait for one."""
        if _use_redis():
            wait_ms = _redis().eval(
                _BUCKET_LUA, 1, f"{_prefix()}:bucket:{self.key}", self.rate, self.capacity
            )
            return int(wait_ms) / 1000
        now = time.monotonic()
        with _local.lock:
            tokens, ts, blocked = _local.buckets.get(self.key, (self.capacity, now, 0.0))
            if blocked > now:
                return blocked - now
            tokens = min(self.capacity, tokens + (now - ts) * self.rate)
            if tokens >= 1:
                _local.buckets[self.key] = (tokens - 1, now, blocked)
                return 0.0
            _local.buckets[self.key] = (tokens, now, blocked)
            return (1 - tokens) / self.rate

    def acquire(self) -> None:
        waited = 0.0
        while True:
            wait = self._try()
            if wait <= 0:
                return
            if waited + wait > self.max_wait:
                raise TransientError(
                    f"rate limit of {self.key}: next slot in {wait:.1f} s",
                    status=429,
                    retry_after=wait,
                )
            time.sleep(wait)
            waited += wait

    def penalize(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))
        if _use_redis():
            _redis().eval(_BLOCK_LUA, 1, f"{_prefix()}:bucket:{self.key}", int(seconds * 1000))
            return
        now = time.monotonic()
        with _local.lock:
            tokens, ts, blocked = _local.buckets.get(self.key, (self.capacity, now, 0.0))
            _local.buckets[self.key] = (tokens, ts, max(blocked, now + seconds))


@dataclass
class CircuitBreaker:
    """Leaves a failing carrier alone for a while: ``threshold`` transient failures in a row."""

    carrier: str
    threshold: int = 5
    window_seconds: float = 120.0
    cooldown_seconds: float = 30.0
    max_cooldown_seconds: float = 600.0

    def _keys(self) -> tuple[str, str, str]:
        base = f"{_prefix()}:breaker:{self.carrier}"
        return f"{base}:failures", f"{base}:open_until", f"{base}:trips"

    def open_for(self) -> float:
        """Seconds the breaker stays open (0 when calls are allowed)."""
        if _use_redis():
            return int(_redis().eval(_BREAKER_ALLOW_LUA, 1, self._keys()[1])) / 1000
        with _local.lock:
            return max(0.0, _local.open_until.get(self.carrier, 0.0) - time.monotonic())

    def failure(self) -> float:
        """Count a transient failure; returns the cool-down when this one opened the breaker."""
        if _use_redis():
            cooldown = _redis().eval(
                _BREAKER_FAIL_LUA,
                3,
                *self._keys(),
                self.threshold,
                int(self.window_seconds * 1000),
                int(self.cooldown_seconds * 1000),
                int(self.max_cooldown_seconds * 1000),
            )
            return int(cooldown) / 1000
        now = time.monotonic()
        with _local.lock:
            count, since = _local.failures.get(self.carrier, (0, now))
            if now - since > self.window_seconds:
                count, since = 0, now
            count += 1
            if count < self.threshold:
                _local.failures[self.carrier] = (count, since)
                return 0.0
            _local.failures.pop(self.carrier, None)
            trips = _local.trips[self.carrier] = _local.trips.get(self.carrier, 0) + 1
            cooldown = min(self.cooldown_seconds * 2 ** (trips - 1), self.max_cooldown_seconds)
            _local.open_until[self.carrier] = now + cooldown
            return cooldown

    def success(self) -> None:
        if _use_redis():
            failures, _, trips = self._keys()
            _redis().delete(failures, trips)
            return
        with _local.lock:
            _local.failures.pop(self.carrier, None)
            _local.trips.pop(self.carrier, None)


def reset_local_state() -> None:
    """Forget the in-process state (tests)."""
    global _local
    _local = _LocalState()
