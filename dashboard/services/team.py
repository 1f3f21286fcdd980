"""Who is in a tenant's team and with which role: invitations, role changes, removals.

The rules, in one place (the team page and anything else that changes people call these):

- nobody hands out more than they have: only an owner invites, promotes to or demotes from
  owner, and only an owner removes an owner;
- nobody changes their own role or removes themselves here;
- a tenant always keeps at least one owner.

Breaking a rule raises ``PermissionDenied``; bad input raises ``ValidationError``. Invitations
themselves (the token, the email) are ``dashboard.services.accounts``'s.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from dashboard.access import RANK
from dashboard.models import Invitation
from dashboard.services import accounts
from tenants.models import Membership, Role, Tenant


def _guard(*, actor: Membership, target: Membership, new_role: str | None = None) -> None:
    if target.user_id == actor.user_id:
        raise PermissionDenied("You cannot change your own role or remove yourself.")
    if target.tenant_id != actor.tenant_id:
        raise PermissionDenied("Not a member of this shop.")
    if RANK[target.role] > RANK[actor.role]:
        raise PermissionDenied("Only an owner can change or remove an owner.")
    if new_role is not None and RANK[new_role] > RANK[actor.role]:
        raise PermissionDenied("Only an owner can make someone an owner.")


def _keep_an_owner(*, tenant: Tenant, leaving: Membership) -> None:
    if leaving.role != Role.OWNER:
        return
    owners = (
        Membership.objects.select_for_update()
        .filter(tenant=tenant, role=Role.OWNER)
        .exclude(pk=leaving.pk)
    )
    if not owners.exists():
        raise PermissionDenied("A shop always keeps at least one owner.")


@transaction.atomic
def member_role_change(
    *, tenant: Tenant, actor: Membership, membership: Membership, role: str
) -> Membership:
    """Give ``membership`` the role ``role``, as ``actor`` (the signed-in person's membership)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    target = Membership.objects.select_for_update().get(pk=membership.pk, tenant=tenant)
    _guard(actor=actor, target=target, new_role=role)
    if target.role == role:
        return target
    if role != Role.OWNER:
        _keep_an_owner(tenant=tenant, leaving=target)
    Membership.objects.filter(pk=target.pk).update(role=role)
    target.role = role
    return target


@transaction.atomic
def member_remove(*, tenant: Tenant, actor: Membership, membership: Membership) -> None:
    """Take ``membership`` out of the team (the person's account stays, their access goes)."""
    target = Membership.objects.select_for_update().get(pk=membership.pk, tenant=tenant)
    _guard(actor=actor, target=target)
    _keep_an_owner(tenant=tenant, leaving=target)
    target.delete()


def member_invite(*, tenant: Tenant, actor: Membership, email: str, role: str) -> Invitation:
    """Invite ``email`` with ``role`` and email them the link (an admin cannot invite an owner)."""
    invitation, _token = accounts.invitation_create(
        tenant=tenant, email=email, role=role, invited_by=actor.user, inviter_role=actor.role
    )
    return invitation


def invitation_cancel(*, actor: Membership, invitation: Invitation) -> None:
    """Revoke a pending invitation; inviting an owner was an owner's act, so is revoking it."""
    if RANK[invitation.role] > RANK[actor.role]:
        raise PermissionDenied("Only an owner can revoke an owner's invitation.")
    accounts.invitation_revoke(invitation=invitation)
