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


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Constant-time on the secret part."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    prefix = raw_key.split("_", 2)[:2]
    if len(prefix) != 2:
        return None
    key = (
        ApiKey.unscoped.select_related("tenant")
        .filter(prefix="_".join(prefix), revoked_at__isnull=True, tenant__is_active=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.hashed_key, _hash(raw_key)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        # Recorded at minute resolution: one write per key per minute, not one per request.
        ApiKey.unscoped.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.unscoped.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def user_tenants(user) -> list[Membership]:
    """The memberships of ``user``, with their tenants, before any scope is open."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Membership.unscoped.select_related("tenant")
        .filter(user=user, tenant__is_active=True)
        .order_by("tenant__slug")
    )
