"""People: invitations to a tenant, two-factor authentication, sign-in throttling."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import time
from datetime import timedelta

import pyotp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard.access import RANK
from dashboard.models import Invitation, TwoFactorDevice
from tenants.models import Membership, Role, Tenant
from tenants.scoping import tenant_scope
from tenants.services import membership_add

INVITATION_DAYS = 7
RECOVERY_CODES = 8
LOGIN_FAILURES_ALLOWED = 10
LOGIN_WINDOW_SECONDS = 15 * 60

log = logging.getLogger(__name__)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- Invitations ---------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(
    *, tenant: Tenant, email: str, role: str, invited_by, inviter_role: str
) -> tuple[Invitation, str]:
    """Invite ``email`` to ``tenant`` and email them the link. Returns the invitation and token.

    Nobody hands out more than they have: an admin invites agents and admins, only an owner
    invites owners.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": "Enter a valid email address."}) from exc
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if RANK[role] > RANK.get(inviter_role, 0):
        raise PermissionDenied("You cannot invite someone with a higher role than yours.")
    token = secrets.token_urlsafe(32)
    with tenant_scope(tenant):
        already = Membership.objects.filter(user__username__iexact=email).exists()
        if already:
            raise ValidationError({"email": "This person is already in the team."})
        # A new invitation replaces a pending one for the same address.
        Invitation.objects.filter(email=email, accepted_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=email,
            role=role,
            token_hash=_sha(token),
            invited_by=invited_by,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
    link = f"{settings.WISMO_BASE_URL}/accounts/invite/{token}/"
    context = {"tenant": tenant, "invitation": invitation, "link": link, "inviter": invited_by}

    def send() -> None:
        try:
            send_mail(
                subject=f"You are invited to {tenant.name} on wismo",
                message=render_to_string("registration/invitation_email.txt", context),
                from_email=None,
                recipient_list=[email],
                fail_silently=False,
            )
        except Exception:  # the invitation is saved: it can be sent again from the team page
            log.warning("invitation %s: the email could not be sent", invitation.pk, exc_info=True)

    transaction.on_commit(send)
    return invitation, token


def invitation_find(token: str) -> Invitation | None:
    """The pending invitation behind ``token``, or None (unknown, used, revoked or expired)."""
    if not token or len(token) > 100:
        return None
    invitation = Invitation.unscoped.select_related("tenant").filter(token_hash=_sha(token)).first()
    if invitation is None or not invitation.is_pending or not invitation.tenant.is_active:
        return None
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user=None, password: str | None = None) -> Membership:
    """Join the tenant: as the signed-in ``user`` (whose email must match), or as a new account."""
    invitation = invitation_find(token)
    if invitation is None:
        raise ValidationError("This invitation is no longer valid. Ask for a new one.")
    locked = Invitation.unscoped.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None:
        raise ValidationError("This invitation was already used.")
    if user is not None and user.is_authenticated:
        if (user.email or user.username).lower() != invitation.email:
            raise ValidationError(
                f"This invitation is for {invitation.email}. Sign out and open the link again."
            )
        membership = membership_add(
            tenant=invitation.tenant, email=invitation.email, role=invitation.role
        )
    else:
        existing = get_user_model().objects.filter(username__iexact=invitation.email).first()
        if existing is not None and existing.has_usable_password():
            raise ValidationError("You already have an account: sign in, then open the link.")
        if not password:
            raise ValidationError({"password": "Choose a password."})
        membership = membership_add(
            tenant=invitation.tenant,
            email=invitation.email,
            role=invitation.role,
            password=password,
        )
    Invitation.unscoped.filter(pk=locked.pk).update(accepted_at=timezone.now())
    return membership


def invitation_revoke(*, invitation: Invitation) -> None:
    Invitation.unscoped.filter(pk=invitation.pk, accepted_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- Two-factor authentication (TOTP) ------------------------------------------------------------


def totp_begin(*, user) -> TwoFactorDevice:
    """Start (or restart) enrolment: a fresh secret, not yet confirmed."""
    device, _ = TwoFactorDevice.objects.update_or_create(
        user=user,
        defaults={
            "secret": pyotp.random_base32(),
            "confirmed_at": None,
            "last_step": 0,
            "recovery_codes": [],
        },
    )
    return device


def totp_uri(device: TwoFactorDevice) -> str:
    user = device.user
    return pyotp.TOTP(device.secret).provisioning_uri(
        name=user.email or user.username, issuer_name="wismo"
    )


def totp_qr_svg(device: TwoFactorDevice) -> str:
    """The enrolment QR code as an inline SVG document (no image library, no external service)."""
    image = qrcode.make(totp_uri(device), image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


def _accept_code(device: TwoFactorDevice, code: str) -> bool:
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(device.secret)
    step_now = int(time.time()) // totp.interval
    for step in (step_now - 1, step_now, step_now + 1):  # one step of clock drift either way
        if step <= device.last_step:
            continue  # already used: a code is good once
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            updated = TwoFactorDevice.objects.filter(pk=device.pk, last_step__lt=step).update(
                last_step=step
            )
            return updated == 1
    return False


@transaction.atomic
def totp_confirm(*, user, code: str) -> list[str]:
    """Finish enrolment with a first good code. Returns the recovery codes, shown once."""
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        raise ValidationError("Start two-factor setup first.")
    if not _accept_code(device, code):
        raise ValidationError({"code": "That code is not right. Check your phone's clock."})
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
    TwoFactorDevice.objects.filter(pk=device.pk).update(
        confirmed_at=timezone.now(), recovery_codes=[_sha(c) for c in codes]
    )
    return codes


@transaction.atomic
def totp_verify(*, user, code: str) -> bool:
    """A sign-in's second step: a current code, or an unused recovery code (used up)."""
    device = TwoFactorDevice.objects.select_for_update().filter(user=user).first()
    if device is None or not device.is_confirmed:
        return False
    if _accept_code(device, code):
        return True
    digest = _sha((code or "").strip().lower())
    # Constant time over every stored code: which one matched, or how much of one, never shows.
    matched = [hmac.compare_digest(stored, digest) for stored in device.recovery_codes]
    if any(matched):
        remaining = [c for c, hit in zip(device.recovery_codes, matched, strict=True) if not hit]
        TwoFactorDevice.objects.filter(pk=device.pk).update(recovery_codes=remaining)
        return True
    return False


def totp_disable(*, user, code: str) -> None:
    if not totp_verify(user=user, code=code):
        raise ValidationError({"code": "That code is not right."})
    TwoFactorDevice.objects.filter(user=user).delete()


# --- Sign-in throttling --------------------------------------------------------------------------


def _login_key(ip: str, username: str) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:login-fail:{_sha(f'{ip}|{username.lower()}')}"


# The counters live in the shared cache. When it is down, sign-in stays open (a cache outage
# must not lock every merchant out) and the outage is logged; counting resumes with the cache.


def login_allowed(*, ip: str, username: str) -> bool:
    try:
        failures = int(cache.get(_login_key(ip, username), 0))
    except Exception:
        log.warning("sign-in throttle unavailable: the cache does not answer")
        return True
    return failures < LOGIN_FAILURES_ALLOWED


def login_failed(*, ip: str, username: str) -> None:
    key = _login_key(ip, username)
    try:
        if cache.add(key, 1, LOGIN_WINDOW_SECONDS):
            return
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, LOGIN_WINDOW_SECONDS)
    except Exception:
        log.warning("sign-in failure not counted: the cache does not answer")


def login_succeeded(*, ip: str, username: str) -> None:
    try:
        cache.delete(_login_key(ip, username))
    except Exception:
        log.warning("sign-in failures not cleared: the cache does not answer")
