"""Tenant services: creating tenants, adding members, issuing and checking API keys."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import pickle
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.models import ApiKey, Membership, Role, Tenant
from tenants.scoping import tenant_scope

KEY_PREFIX = "wsm_"
_LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    default_language: str = "en",
    timezone_name: str = "UTC",
    owner_email: str | None = None,
    owner_password: str | None = None,
) -> Tenant:
    """Create a tenant, and its owner account when an email is given."""
    tenant = Tenant(slug=slug, name=name, default_language=default_language, timezone=timezone_name)
    tenant.full_clean()
    tenant.save()
    if owner_email:
        membership_add(tenant=tenant, email=owner_email, password=owner_password, role=Role.OWNER)
    return tenant


@transaction.atomic
def membership_add(
    *, tenant: Tenant, email: str, role: str, password: str | None = None
) -> Membership:
    """Give the user with ``email`` (created if new) ``role`` in ``tenant``."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email).strip()
    user = user_model.objects.filter(username__iexact=email).first()
    if user is None:
        user = user_model(username=email, email=email)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean()
        user.save()
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    with tenant_scope(tenant):
        membership, _ = Membership.objects.update_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
    return membership


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, tenant: Tenant, role: str = Role.ADMIN, name: str = "") -> tuple[ApiKey, str]:
    """Issue a key. The raw key is returned once and never stored (only its SHA-256 is)."""
    if role not in (Role.ADMIN, Role.AGENT):
        raise ValidationError({"role": "API keys are admin or agent keys."})
    prefix = KEY_PREFIX + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    with tenant_scope(tenant):
        key = ApiKey.objects.create(
            tenant=tenant, name=name, prefix=prefix, hashed_key=_hash(raw), role=role
        )
    return key, raw


# A key's row is read from the shared cache, not the database, on every request after the first:
# the lookup was the largest fixed cost of an API call. Revoking a key, or any change to a key or
# its tenant, drops the entry at once (``api_key_forget``, wired to saves and deletes in
# ``tenants.apps``); the TTL bounds anything else (a raw UPDATE).
_KEY_CACHE_SECONDS = 30


def _key_cache_name(prefix: str) -> str:
    from django.conf import settings

    return f"{settings.WISMO_REDIS_PREFIX}:api-key:{prefix}"


def _cache_call(method: str, *args):
    """The shared cache, or None when it is down: authentication then reads the database."""
    from django.core.cache import cache

    try:
        return getattr(cache, method)(*args)
    except Exception:
        return None


# Each process also keeps the keys it has seen (pickled, so every request gets its own
# copy), checked on every request against the key's generation in Redis: a number that
# ``api_key_forget`` bumps. Reading the generation rides in the same round trip as the API's
# rate-limit count (``api_key_check``), so a request that knows its key costs one Redis call,
# and a revocation still takes effect on the very next request in every process. The entry's
# age is bounded by the same TTL as the shared cache, and the generation outlives it.
_GEN_SECONDS = 24 * 3600
_local_keys: dict[str, tuple[bytes, int, float]] = {}
_CHECK_LUA = """
local gen = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == '0' then return {gen, 0, 0} end
local count = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {gen, count, ttl}
"""
_FORGET_LUA = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
_scripts: dict[str, object] = {}


def _redis_script(name: str, source: str):
    """A registered script on a client of ``REDIS_URL`` (one per process), or None without it."""
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    key = f"{url}\n{name}"
    script = _scripts.get(key)
    if script is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        script = _scripts[key] = client.register_script(source)
    return script


def _gen_name(prefix: str) -> str:
    from django.conf import settings

    return f"{settings.WISMO_REDIS_PREFIX}:api-key-gen:{prefix}"


def api_key_rate_name(prefix: str) -> str:
    """The Redis counter of a key's rate-limit window."""
    from django.conf import settings

    return f"{settings.WISMO_REDIS_PREFIX}:api-rate:{prefix}"


def api_key_rate_count(prefix: str, window_ms: int) -> tuple[int, int]:
    """Count one request in the key's rate-limit window: (count, milliseconds left). Without
    the key check; raises when Redis is not configured or fails."""
    script = _redis_script("check", _CHECK_LUA)
    if script is None:
        raise RuntimeError("REDIS_URL is not set")
    _gen, count, left = script(
        keys=[_gen_name(prefix), api_key_rate_name(prefix)], args=[max(1, window_ms)]
    )
    return int(count), int(left)


def api_key_forget(*, prefix: str) -> None:
    _local_keys.pop(prefix, None)
    _cache_call("delete", _key_cache_name(prefix))
    script = _redis_script("forget", _FORGET_LUA)
    if script is not None:
        try:
            script(keys=[_gen_name(prefix)], args=[_GEN_SECONDS])
        except Exception:
            # Other processes keep their copy until its TTL: say so loudly, as it is a revocation.
            import logging

            logging.getLogger(__name__).error("API key %s: generation not bumped", prefix)


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """The key a request presented (None: refused), and, when it was counted, its rate-limit
    window: the count so far and the milliseconds left."""

    key: ApiKey | None
    count: int | None = None
    window_left_ms: int | None = None


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Constant-time on the secret part."""
    return api_key_check(raw_key).key


def api_key_check(raw_key: str, *, rate_window_ms: int = 0) -> KeyCheck:
    """``api_key_authenticate``, counting the request in the key's rate-limit window of
    ``rate_window_ms`` (0: not counted) in the same Redis round trip that validates this
    process's copy of the key. A refused key's count is given back."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return KeyCheck(None)
    parts = raw_key.split("_", 2)[:2]
    if len(parts) != 2:
        return KeyCheck(None)
    prefix = "_".join(parts)
    generation = count = left = None
    script = _redis_script("check", _CHECK_LUA)
    if script is not None:
        try:
            generation, count, left = script(
                keys=[_gen_name(prefix), api_key_rate_name(prefix)], args=[rate_window_ms]
            )
        except Exception:  # Redis is down: the shared cache or the database decides, uncounted
            generation = count = left = None
    counted = bool(rate_window_ms) and count is not None
    key = None
    local = _local_keys.get(prefix)
    if (
        local is not None
        and generation is not None
        and local[1] == generation
        and time.monotonic() - local[2] < _KEY_CACHE_SECONDS
    ):
        key = pickle.loads(local[0])  # noqa: S301 - our own bytes, never from outside
    else:
        key = _key_lookup(prefix)
        if key is not None and generation is not None:
            _local_keys[prefix] = (pickle.dumps(key), generation, time.monotonic())
    if key is None or not hmac.compare_digest(key.hashed_key, _hash(raw_key)):
        if counted:
            _uncount(prefix)
        return KeyCheck(None)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        # Recorded at minute resolution: one write per key per minute, not one per request.
        ApiKey.unscoped.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        _cache_call("set", _key_cache_name(prefix), key, _KEY_CACHE_SECONDS)
        if generation is not None:
            _local_keys[prefix] = (pickle.dumps(key), generation, time.monotonic())
    if not counted:
        return KeyCheck(key)
    return KeyCheck(key, int(count), int(left))


def _key_lookup(prefix: str) -> ApiKey | None:
    """The active key of ``prefix`` from the shared cache, else the database (and cached)."""
    key = _cache_call("get", _key_cache_name(prefix))
    if key is None:
        key = (
            ApiKey.unscoped.select_related("tenant")
            .filter(prefix=prefix, revoked_at__isnull=True, tenant__is_active=True)
            .first()
        )
        if key is None:
            return None  # misses are not cached: random prefixes must not fill the cache
        _cache_call("set", _key_cache_name(prefix), key, _KEY_CACHE_SECONDS)
    return key


def _uncount(prefix: str) -> None:
    """Give back the count of a refused request: guessing secrets behind a known prefix must
    not spend its owner's budget."""
    with contextlib.suppress(Exception):
        _redis_script("check", _CHECK_LUA).registered_client.decr(api_key_rate_name(prefix))


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.unscoped.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key_forget(prefix=key.prefix)


def user_tenants(user) -> list[Membership]:
    """The memberships of ``user``, with their tenants, before any scope is open."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Membership.unscoped.select_related("tenant")
        .filter(user=user, tenant__is_active=True)
        .order_by("tenant__slug")
    )
