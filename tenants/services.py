"""Tenant services: creating tenants, adding members, issuing and checking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
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


def api_key_forget(*, prefix: str) -> None:
    _cache_call("delete", _key_cache_name(prefix))


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Constant-time on the secret part."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    parts = raw_key.split("_", 2)[:2]
    if len(parts) != 2:
        return None
    prefix = "_".join(parts)
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
    if not hmac.compare_digest(key.hashed_key, _hash(raw_key)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        # Recorded at minute resolution: one write per key per minute, not one per request.
        ApiKey.unscoped.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        _cache_call("set", _key_cache_name(prefix), key, _KEY_CACHE_SECONDS)
    return key


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
