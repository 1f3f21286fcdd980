"""Management commands of DESIGN.md §4: create_tenant, create_api_key, demo."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from tenants.models import ApiKey, Membership, Tenant
from tenants.scoping import all_tenants, tenant_scope
from tenants.services import api_key_authenticate
from wismo.tracking.models import CarrierAccount, Shipment, ShopConnection, TrackingEvent

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_tenant_with_an_owner():
    run(
        "create_tenant",
        "acme",
        "--name",
        "Acme Ltd",
        "--owner-email",
        "Boss@Acme.test",
        "--owner-password",
        "s3cret-pass-123",
    )

    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Ltd"
    user = get_user_model().objects.get(email="Boss@acme.test")
    assert user.check_password("s3cret-pass-123")
    with tenant_scope(tenant):
        assert Membership.objects.get(user=user).role == "owner"


@pytest.mark.parametrize("slug", ["Bad Slug", "-dash", "x" * 60, "über"])
def test_create_tenant_refuses_bad_slugs(slug):
    with pytest.raises(CommandError):
        run("create_tenant", slug, "--name", "X")
    assert not Tenant.objects.exists()


def test_create_tenant_refuses_a_duplicate_slug():
    run("create_tenant", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="slug"):
        run("create_tenant", "acme", "--name", "Acme again")


def test_create_api_key_prints_the_key_alone_on_its_last_line():
    run("create_tenant", "acme", "--name", "Acme")

    output = run("create_api_key", "acme", "--role", "agent")

    raw = output.strip().splitlines()[-1]
    assert raw == raw.strip() and " " not in raw
    key = api_key_authenticate(raw)
    assert key is not None and key.role == "agent" and key.tenant.slug == "acme"
    stored = ApiKey.unscoped.get()
    assert raw not in (stored.hashed_key, stored.prefix), "only a hash of the key is stored"


def test_create_api_key_for_an_unknown_tenant_fails():
    with pytest.raises(CommandError, match="No tenant"):
        run("create_api_key", "nope")


def test_demo_seeds_a_tenant_with_stores_accounts_and_shipments_in_every_state():
    output = run("demo")

    tenant = Tenant.objects.get(slug="demo")
    with tenant_scope(tenant):
        assert ShopConnection.objects.count() == 2
        assert CarrierAccount.objects.filter(carrier="sandbox").count() >= 2
        shipments = Shipment.objects.all()
        assert 280 <= shipments.count() <= 320
        statuses = set(shipments.values_list("status", flat=True))
        assert {
            "info_received",
            "in_transit",
            "delivered",
            "exception",
            "available_for_pickup",
        } <= statuses
        assert TrackingEvent.objects.count() > shipments.count() * 3
        assert shipments.filter(action_required=True).exists()
    assert "owner@demo.wismo.test" in output
    user = get_user_model().objects.get(username="owner@demo.wismo.test")
    assert user.is_staff and not user.is_superuser


def test_demo_twice_leaves_the_first_seed_alone():
    run("demo")
    with all_tenants():
        before = Shipment.objects.count()
    output = run("demo")
    with all_tenants():
        assert Shipment.objects.count() == before
    assert "exists already" in output


def test_polling_the_demo_right_after_seeding_finds_no_duplicate_events():
    """The seeded timelines are exactly what the sandbox carrier reports, so a poll adds none."""
    from wismo.tracking.services.polling import poll_shipments

    run("demo")
    tenant = Tenant.objects.get(slug="demo")
    with tenant_scope(tenant):
        ids = list(
            Shipment.objects.filter(carrier="sandbox", is_active=True).values_list("id", flat=True)
        )
        before = TrackingEvent.objects.count()
        poll_shipments(shipment_ids=ids[:100])
        assert TrackingEvent.objects.count() - before <= 5  # only scans that fell due meanwhile
