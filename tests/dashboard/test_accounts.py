"""Signing in and out, throttling, two-factor, invitations, tenant switching, password reset."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.core import mail
from django.test import Client

from dashboard.access import DASHBOARD_CSP
from dashboard.models import Invitation, TwoFactorDevice
from dashboard.services import accounts
from tenants.models import Membership, Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import PASSWORD, member, signed_in

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_dashboard_needs_sign_in():
    response = Client().get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/dashboard/")


def test_sign_in_lands_on_dashboard_with_csp(owner_a):
    client = Client()
    response = _login(client, owner_a.username)
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == DASHBOARD_CSP
    assert "unsafe-inline" not in page["Content-Security-Policy"]
    assert page["Cache-Control"] == "private, no-store"
    assert b"Alpha Shop" in page.content


def test_login_page_has_csrf_and_wrong_password_is_a_form_error(owner_a):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    assert b"csrfmiddlewaretoken" in page.content
    # Without the token the POST is refused.
    assert _login(client, owner_a.username).status_code == 403
    response = _login(Client(), owner_a.username, "wrong")
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_repeated_failures_are_throttled_even_with_the_right_password(tenant_a, owner_a):
    client = Client()
    for _ in range(accounts.LOGIN_FAILURES_ALLOWED):
        _login(client, owner_a.username, "wrong")
    response = _login(client, owner_a.username)
    assert response.status_code == 200
    assert b"Too many failed attempts" in response.content
    # Another person is not locked out by someone guessing at this account.
    other = member(tenant_a, Role.AGENT, "other@alpha.example")
    assert _login(Client(), other.username).status_code == 302


def test_open_redirect_after_login_is_refused(owner_a):
    response = Client().post(
        "/accounts/login/",
        {"username": owner_a.username, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/dashboard/"


def test_a_user_without_tenant_gets_a_clear_page():
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("lonely@example.com", "lonely@example.com", "x")
    response = signed_in(user).get("/dashboard/")
    assert response.status_code == 403
    assert b"not in a shop yet" in response.content


# --- Two-factor -----------------------------------------------------------------------------------


def _enrol(client: Client, user) -> tuple[str, list[str]]:
    client.post("/accounts/two-factor/", {"action": "begin"})
    device = TwoFactorDevice.objects.get(user=user)
    page = client.post(
        "/accounts/two-factor/", {"action": "confirm", "code": pyotp.TOTP(device.secret).now()}
    )
    codes = re.findall(rb"<code>([0-9a-f]{10})</code>", page.content)
    return device.secret, [c.decode() for c in codes]


def test_two_factor_enrolment_then_sign_in_asks_for_a_code(owner_a):
    client = signed_in(owner_a)
    page = client.post("/accounts/two-factor/", {"action": "begin"})
    assert b"<svg" in page.content  # the QR code, drawn locally
    secret, codes = _enrol(client, owner_a)
    assert len(codes) == accounts.RECOVERY_CODES
    assert TwoFactorDevice.objects.get(user=owner_a).is_confirmed

    fresh = Client()
    response = _login(fresh, owner_a.username)
    assert response["Location"].startswith("/accounts/login/verify/")
    # Password alone opens nothing.
    assert fresh.get("/dashboard/")["Location"].startswith("/accounts/login/verify/")
    assert fresh.post("/accounts/login/verify/", {"code": "000000"}).status_code == 200
    # The enrolment's code is spent; the authenticator's next one is accepted (one step of drift).
    next_code = pyotp.TOTP(secret).at(time.time() + 30)
    ok = fresh.post("/accounts/login/verify/?next=/dashboard/", {"code": next_code})
    assert ok.status_code == 302
    assert fresh.get("/dashboard/").status_code == 200


def test_a_totp_code_works_once(owner_a):
    client = signed_in(owner_a)
    secret, _ = _enrol(client, owner_a)
    # Move to a fresh step so the confirm code above does not interfere.
    totp = pyotp.TOTP(secret)
    step = int(time.time()) // 30 + 1
    code = totp.at(step * 30)
    assert accounts.totp_verify(user=owner_a, code=code)
    assert not accounts.totp_verify(user=owner_a, code=code)


def test_recovery_codes_work_once(owner_a):
    client = signed_in(owner_a)
    _, codes = _enrol(client, owner_a)
    assert accounts.totp_verify(user=owner_a, code=codes[0])
    assert not accounts.totp_verify(user=owner_a, code=codes[0])
    assert accounts.totp_verify(user=owner_a, code=codes[1].upper())


def test_two_factor_can_be_turned_off_with_a_code(owner_a):
    client = signed_in(owner_a)
    _, codes = _enrol(client, owner_a)
    bad = client.post("/accounts/two-factor/", {"action": "disable", "code": "123456"})
    assert bad.status_code == 200 and TwoFactorDevice.objects.filter(user=owner_a).exists()
    client.post("/accounts/two-factor/", {"action": "disable", "code": codes[0]})
    assert not TwoFactorDevice.objects.filter(user=owner_a).exists()


# --- Invitations ----------------------------------------------------------------------------------


def test_invitation_email_and_accept_with_a_new_password(
    tenant_a, owner_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = accounts.invitation_create(
            tenant=tenant_a,
            email="New.Agent@Example.com",
            role=Role.AGENT,
            invited_by=owner_a,
            inviter_role=Role.OWNER,
        )
    assert invitation.email == "new.agent@example.com"
    assert len(mailoutbox) == 1 and token in mailoutbox[0].body
    client = Client()
    page = client.get(f"/accounts/invite/{token}/")
    assert page.status_code == 200 and b"Alpha Shop" in page.content
    assert page["Referrer-Policy"] == "same-origin"
    mismatch = client.post(
        f"/accounts/invite/{token}/", {"password1": "a-Long-pass-42", "password2": "other"}
    )
    assert mismatch.status_code == 200 and b"differ" in mismatch.content
    response = client.post(
        f"/accounts/invite/{token}/",
        {"password1": "a-Long-pass-42", "password2": "a-Long-pass-42"},
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(user__username="new.agent@example.com")
    assert membership.role == Role.AGENT
    assert client.get("/dashboard/").status_code == 200
    # Used: the link is dead now.
    assert Client().get(f"/accounts/invite/{token}/").status_code == 404


def test_nobody_invites_above_their_role(tenant_a, admin_a):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        accounts.invitation_create(
            tenant=tenant_a,
            email="x@example.com",
            role=Role.OWNER,
            invited_by=admin_a,
            inviter_role=Role.ADMIN,
        )


def test_bad_tokens_and_expired_invitations_are_404(tenant_a, owner_a):
    from datetime import timedelta

    from django.utils import timezone

    assert Client().get("/accounts/invite/nope/").status_code == 404
    assert Client().get("/accounts/invite/" + "x" * 500 + "/").status_code == 404
    invitation, token = accounts.invitation_create(
        tenant=tenant_a,
        email="late@example.com",
        role=Role.AGENT,
        invited_by=owner_a,
        inviter_role=Role.OWNER,
    )
    Invitation.unscoped.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert Client().get(f"/accounts/invite/{token}/").status_code == 404


def test_signed_in_user_of_another_email_cannot_take_an_invitation(tenant_a, owner_a, owner_b):
    _, token = accounts.invitation_create(
        tenant=tenant_a,
        email="someone@example.com",
        role=Role.ADMIN,
        invited_by=owner_a,
        inviter_role=Role.OWNER,
    )
    response = signed_in(owner_b).post(f"/accounts/invite/{token}/", {})
    assert response.status_code == 200 and b"someone@example.com" in response.content
    with tenant_scope(tenant_a):
        assert not Membership.objects.filter(user=owner_b).exists()


def test_existing_member_of_another_tenant_joins_with_their_account(tenant_a, tenant_b, owner_a):
    user = member(tenant_b, Role.AGENT, "both@example.com")
    _, token = accounts.invitation_create(
        tenant=tenant_a,
        email="both@example.com",
        role=Role.AGENT,
        invited_by=owner_a,
        inviter_role=Role.OWNER,
    )
    # Not signed in: an account with a password must sign in first (nobody takes it over).
    refused = Client().post(
        f"/accounts/invite/{token}/", {"password1": "x-Very-long-1", "password2": "x-Very-long-1"}
    )
    assert b"already have an account" in refused.content
    client = signed_in(user)
    assert client.post(f"/accounts/invite/{token}/", {}).status_code == 302
    assert client.get("/dashboard/").wsgi_request.tenant == tenant_a


# --- Tenants --------------------------------------------------------------------------------------


def test_switching_tenant_only_to_ones_you_belong_to(tenant_a, tenant_b, owner_b):
    member(tenant_a, Role.AGENT, "multi@example.com")
    user = member(tenant_b, Role.ADMIN, "multi@example.com")
    client = signed_in(user)
    assert client.get("/dashboard/").wsgi_request.tenant == tenant_a
    client.post("/dashboard/switch/", {"tenant": tenant_b.pk})
    assert client.get("/dashboard/").wsgi_request.tenant == tenant_b
    outsider = signed_in(member(tenant_a, Role.AGENT, "only-a@example.com"))
    outsider.post("/dashboard/switch/", {"tenant": tenant_b.pk})
    assert outsider.get("/dashboard/").wsgi_request.tenant == tenant_a
    assert outsider.post("/dashboard/switch/", {"tenant": "x"}).status_code == 302
    assert outsider.get("/dashboard/switch/").status_code == 405


def test_password_reset_sends_a_link(owner_a, mailoutbox):
    client = Client()
    assert client.get("/accounts/password/reset/").status_code == 200
    response = client.post("/accounts/password/reset/", {"email": owner_a.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    link = re.search(r"http\S+/accounts/password/reset/\S+/", mailoutbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path, follow=True)
    assert page.status_code == 200 and b"new password" in page.content.lower()
    # An unknown address answers the same (no account enumeration).
    assert (
        client.post("/accounts/password/reset/", {"email": "nobody@x.example"}).status_code == 302
    )
    assert len(mail.outbox) == 1
