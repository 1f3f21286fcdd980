"""The team page: invitations (emailed, accepted), role changes and removals, and their rules."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from dashboard.models import Invitation
from tenants.models import Membership, Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import PASSWORD, member

pytestmark = pytest.mark.django_db


def _membership(tenant, user) -> Membership:
    with tenant_scope(tenant):
        return Membership.objects.get(tenant=tenant, user=user)


def _role(tenant, user) -> str | None:
    with tenant_scope(tenant):
        found = Membership.objects.filter(tenant=tenant, user=user).first()
    return found.role if found else None


def test_an_admin_invites_an_agent_who_gets_an_email_and_joins(
    admin_client, tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/dashboard/settings/team/", {"email": "New.Agent@Example.com", "role": "agent"}
        )
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["new.agent@example.com"]
    link = re.search(r"https?://\S+/accounts/invite/(\S+)/", mail.body)
    assert link, mail.body
    page = admin_client.get("/dashboard/settings/team/").content.decode()
    assert "new.agent@example.com" in page  # pending

    shopper_side = Client()
    token = link.group(1)
    response = shopper_side.post(
        f"/accounts/invite/{token}/", {"password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    with tenant_scope(tenant_a):
        joined = Membership.objects.get(user__username="new.agent@example.com")
    assert joined.role == Role.AGENT
    assert shopper_side.get("/dashboard/settings/").status_code == 403


def test_an_admin_cannot_invite_an_owner(admin_client, tenant_a, mailoutbox):
    response = admin_client.post(
        "/dashboard/settings/team/", {"email": "boss@example.com", "role": "owner"}
    )
    assert response.status_code == 403
    with tenant_scope(tenant_a):
        assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_an_owner_invites_an_owner(owner_client, tenant_a):
    response = owner_client.post(
        "/dashboard/settings/team/", {"email": "partner@example.com", "role": "owner"}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert Invitation.objects.get().role == Role.OWNER


@pytest.mark.parametrize(
    "data", [{"email": "not an email", "role": "agent"}, {"email": "a@example.com", "role": "god"}]
)
def test_a_bad_invitation_sends_nothing(admin_client, tenant_a, mailoutbox, data):
    assert admin_client.post("/dashboard/settings/team/", data).status_code == 400
    with tenant_scope(tenant_a):
        assert not Invitation.objects.exists()
    assert mailoutbox == []


def test_inviting_a_member_again_is_a_form_error(admin_client, tenant_a, agent_a):
    response = admin_client.post(
        "/dashboard/settings/team/", {"email": agent_a.email, "role": "agent"}
    )
    assert response.status_code == 400
    assert b"already in the team" in response.content


def test_an_admin_revokes_a_pending_invitation(admin_client, tenant_a):
    admin_client.post("/dashboard/settings/team/", {"email": "x@example.com", "role": "agent"})
    with tenant_scope(tenant_a):
        invitation = Invitation.objects.get()
    response = admin_client.post(f"/dashboard/settings/team/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert b"No pending invitations." in admin_client.get("/dashboard/settings/team/").content


def test_tenant_b_cannot_revoke_tenant_a_invitation(admin_client, client_b, tenant_a):
    admin_client.post("/dashboard/settings/team/", {"email": "x@example.com", "role": "agent"})
    with tenant_scope(tenant_a):
        invitation = Invitation.objects.get()
    url = f"/dashboard/settings/team/invitations/{invitation.pk}/revoke/"
    assert client_b.post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_an_admin_promotes_an_agent_to_admin(admin_client, tenant_a, agent_a):
    membership = _membership(tenant_a, agent_a)
    url = f"/dashboard/settings/team/members/{membership.pk}/role/"
    assert admin_client.post(url, {"role": "admin"}).status_code == 302
    assert _role(tenant_a, agent_a) == Role.ADMIN


def test_an_admin_cannot_promote_to_owner(admin_client, tenant_a, agent_a):
    membership = _membership(tenant_a, agent_a)
    url = f"/dashboard/settings/team/members/{membership.pk}/role/"
    assert admin_client.post(url, {"role": "owner"}).status_code == 403
    assert _role(tenant_a, agent_a) == Role.AGENT


def test_an_admin_cannot_demote_or_remove_an_owner(admin_client, tenant_a, owner_a):
    membership = _membership(tenant_a, owner_a)
    base = f"/dashboard/settings/team/members/{membership.pk}"
    assert admin_client.post(f"{base}/role/", {"role": "agent"}).status_code == 403
    assert admin_client.post(f"{base}/remove/").status_code == 403
    assert _role(tenant_a, owner_a) == Role.OWNER


def test_nobody_changes_their_own_role(owner_client, admin_client, tenant_a, owner_a, admin_a):
    for client, user in ((owner_client, owner_a), (admin_client, admin_a)):
        membership = _membership(tenant_a, user)
        url = f"/dashboard/settings/team/members/{membership.pk}/role/"
        assert client.post(url, {"role": "agent"}).status_code == 403
        remove = f"/dashboard/settings/team/members/{membership.pk}/remove/"
        assert client.post(remove).status_code == 403
    assert _role(tenant_a, owner_a) == Role.OWNER
    assert _role(tenant_a, admin_a) == Role.ADMIN


def test_an_owner_demotes_another_owner_but_one_owner_always_stays(owner_client, tenant_a, owner_a):
    second = member(tenant_a, Role.OWNER, "second@alpha.example")
    membership = _membership(tenant_a, second)
    url = f"/dashboard/settings/team/members/{membership.pk}/role/"
    assert owner_client.post(url, {"role": "admin"}).status_code == 302
    assert _role(tenant_a, second) == Role.ADMIN
    # The service refuses to leave a tenant without an owner, whoever asks.
    from django.core.exceptions import PermissionDenied

    from dashboard.services import team

    with tenant_scope(tenant_a):
        actor = Membership.objects.get(user=second)
        actor.role = Role.OWNER  # a stale view of the world: pretend they still were an owner
        with pytest.raises(PermissionDenied):
            team.member_remove(
                tenant=tenant_a, actor=actor, membership=_membership(tenant_a, owner_a)
            )
    assert _role(tenant_a, owner_a) == Role.OWNER


def test_an_owner_removes_a_member(owner_client, tenant_a, agent_a):
    membership = _membership(tenant_a, agent_a)
    response = owner_client.post(f"/dashboard/settings/team/members/{membership.pk}/remove/")
    assert response.status_code == 302
    assert _role(tenant_a, agent_a) is None


def test_an_unknown_role_changes_nothing(admin_client, tenant_a, agent_a):
    membership = _membership(tenant_a, agent_a)
    url = f"/dashboard/settings/team/members/{membership.pk}/role/"
    assert admin_client.post(url, {"role": "emperor"}).status_code == 400
    assert _role(tenant_a, agent_a) == Role.AGENT


def test_tenant_b_cannot_change_or_remove_tenant_a_member(client_b, tenant_a, agent_a):
    membership = _membership(tenant_a, agent_a)
    base = f"/dashboard/settings/team/members/{membership.pk}"
    assert client_b.post(f"{base}/role/", {"role": "admin"}).status_code == 404
    assert client_b.post(f"{base}/remove/").status_code == 404
    assert _role(tenant_a, agent_a) == Role.AGENT


def test_an_agent_cannot_manage_the_team(agent_client, tenant_a, admin_a):
    membership = _membership(tenant_a, admin_a)
    base = f"/dashboard/settings/team/members/{membership.pk}"
    assert agent_client.post(f"{base}/role/", {"role": "agent"}).status_code == 403
    assert agent_client.post(f"{base}/remove/").status_code == 403
    assert (
        agent_client.post("/dashboard/settings/team/", {"email": "a@b.example", "role": "agent"})
    ).status_code == 403
