"""The Django admin, tenant-aware: operators see every tenant, a tenant's staff only their own.

Secrets are write-only there too: a change form never shows credentials or webhook secrets, and
saving it with those fields blank keeps what is stored.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.urls import reverse

from tenants.models import ApiKey, Membership
from tenants.scoping import all_tenants
from tenants.services import membership_add
from tests.test_isolation import build_world
from wismo.tracking.models import CarrierAccount, Shipment, ShopConnection

pytestmark = pytest.mark.django_db

# Every tenant-owned admin (and the tenants' own), with the text its changelist shows of the row
# that ``build_world(tenant, TAG)`` made.
CHANGELISTS = {
    "tracking.Shipment": "{TAG}0001",
    "tracking.Order": "{TAG}-1001",
    "tracking.TrackingEvent": "{TAG}0001",
    "tracking.ShipmentStatusChange": "{TAG}0001",
    "tracking.ShopConnection": "{TAG} Store",
    "tracking.CarrierAccount": "{TAG} Account",
    "tenants.Membership": "member@{tag}.example",
    "tenants.ApiKey": "{TAG} key",
    "tenants.Tenant": "{Tag} Shop",
}
SECRETS = ["shop-token", "webhook-secret", "carrier-key", "gAAAAA"]  # gAAAAA: a Fernet token


def listed(label: str, tag: str) -> str:
    return CHANGELISTS[label].format(TAG=tag, tag=tag.lower(), Tag=tag.title())


def admin_url(label: str, view: str, *args) -> str:
    app_label, model = label.lower().split(".")
    return reverse(f"admin:{app_label}_{model}_{view}", args=args)


def row_of(world: dict, tenant, label: str):
    return tenant if label == "tenants.Tenant" else world[label]


def traces_of(world: dict, tenant) -> list[str]:
    """Strings that only tenant ``tenant``'s data can put into a page."""
    texts = ["ALPHA", "alpha.example", tenant.name, world["tenants.ApiKey"].prefix]
    texts += [admin_url(label, "change", row_of(world, tenant, label).pk) for label in CHANGELISTS]
    return texts


def assert_no_trace(response, world: dict, tenant) -> None:
    html = response.content.decode()
    leaked = [text for text in traces_of(world, tenant) if text in html]
    assert not leaked, f"tenant {tenant.slug}'s data in the page: {leaked}"


def staff_user(email: str, tenant=None):
    """A staff account with view and change permissions on the tracking and tenants apps."""
    if tenant is not None:
        user = membership_add(tenant=tenant, email=email, role="admin").user
    else:
        user = get_user_model().objects.create_user(username=email, email=email)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(
        Permission.objects.filter(
            Q(codename__startswith="view_") | Q(codename__startswith="change_"),
            content_type__app_label__in=["tracking", "tenants"],
        )
    )
    return user


@pytest.fixture
def world_a(tenant_a):
    return build_world(tenant_a, "ALPHA")


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b, "BRAVO")


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator@wismo.example", password="x")


@pytest.fixture
def staff_b(tenant_b):
    return staff_user("staff@bravo.example", tenant_b)


@pytest.fixture
def staff_b_client(client, staff_b):
    client.force_login(staff_b)
    return client


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_operator_sees_every_tenants_rows_in_every_changelist(
    label, client, operator, world_a, world_b
):
    client.force_login(operator)

    response = client.get(admin_url(label, "changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert listed(label, "ALPHA") in html
    assert listed(label, "BRAVO") in html


def test_operator_opens_any_tenants_shipment(client, operator, world_a, world_b):
    client.force_login(operator)

    for world in (world_a, world_b):
        shipment = world["tracking.Shipment"]
        response = client.get(admin_url("tracking.Shipment", "change", shipment.pk))
        assert response.status_code == 200
        assert shipment.tracking_number in response.content.decode()


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_tenant_staff_sees_only_own_rows_in_every_changelist(
    label, staff_b_client, tenant_a, world_a, world_b
):
    response = staff_b_client.get(admin_url(label, "changelist"))

    assert response.status_code == 200
    assert listed(label, "BRAVO") in response.content.decode()
    assert_no_trace(response, world_a, tenant_a)


@pytest.mark.parametrize(
    "query",
    [
        lambda world, tenant: {"tenant__id__exact": tenant.pk},
        lambda world, tenant: {"q": world["tracking.Order"].customer_email},
        lambda world, tenant: {"q": world["tracking.Order"].order_number},
    ],
    ids=["tenant-filter", "search-email", "search-order-number"],
)
def test_tenant_staff_cannot_filter_or_search_their_way_to_another_tenants_rows(
    query, staff_b_client, tenant_a, world_a, world_b
):
    params = query(world_a, tenant_a)

    response = staff_b_client.get(admin_url("tracking.Shipment", "changelist"), params, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert world_a["tracking.Shipment"].tracking_number not in html
    assert admin_url("tracking.Shipment", "change", world_a["tracking.Shipment"].pk) not in html
    assert tenant_a.name not in html


@pytest.mark.parametrize("view", ["change", "history"])
@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_another_tenants_object_page_answers_like_a_missing_one(
    label, view, staff_b_client, tenant_a, world_a, world_b
):
    theirs = row_of(world_a, tenant_a, label)

    response = staff_b_client.get(admin_url(label, view, theirs.pk))
    missing = staff_b_client.get(admin_url(label, view, theirs.pk + 10_000))

    assert response.status_code in (302, 404)
    assert (response.status_code, response.get("Location")) == (
        missing.status_code,
        missing.get("Location"),
    )
    assert_no_trace(response, world_a, tenant_a)
    if response.status_code == 302:
        assert_no_trace(staff_b_client.get(response["Location"]), world_a, tenant_a)


def test_posting_another_tenants_shipment_change_form_changes_nothing(
    staff_b_client, world_a, world_b
):
    theirs = world_a["tracking.Shipment"]

    response = staff_b_client.post(
        admin_url("tracking.Shipment", "change", theirs.pk),
        {"carrier": "manual", "tracking_number": "HIJACKED", "status": "delivered"},
    )

    assert response.status_code in (302, 404)
    with all_tenants():
        stored = Shipment.objects.get(pk=theirs.pk)
    assert (stored.tracking_number, stored.status) == (theirs.tracking_number, "in_transit")


def test_tenant_staff_cannot_move_an_api_key_to_another_tenant(
    staff_b_client, tenant_a, tenant_b, world_a, world_b
):
    key = world_b["tenants.ApiKey"]

    response = staff_b_client.post(
        admin_url("tenants.ApiKey", "change", key.pk),
        {"tenant": tenant_a.pk, "name": "moved", "role": "admin"},
    )

    assert response.status_code == 200  # the form is shown again with an error
    assert response.context["adminform"].form.errors.get("tenant")
    assert_no_trace(response, world_a, tenant_a)
    assert ApiKey.unscoped.get(pk=key.pk).tenant_id == tenant_b.pk


def test_tenant_staff_cannot_move_a_membership_to_another_tenant(
    staff_b_client, staff_b, tenant_a, tenant_b, world_a, world_b
):
    membership = Membership.unscoped.get(user=staff_b)

    response = staff_b_client.post(
        admin_url("tenants.Membership", "change", membership.pk),
        {"tenant": tenant_a.pk, "role": "owner"},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors.get("tenant")
    assert_no_trace(response, world_a, tenant_a)
    assert Membership.unscoped.filter(user=staff_b).values_list("tenant_id", flat=True).get() == (
        tenant_b.pk
    )


def test_tenant_staff_cannot_attach_another_tenants_user_to_a_membership(
    staff_b_client, tenant_a, tenant_b, world_a, world_b
):
    membership = world_b["tenants.Membership"]
    their_user = world_a["tenants.Membership"].user

    response = staff_b_client.post(
        admin_url("tenants.Membership", "change", membership.pk),
        {"tenant": tenant_b.pk, "user": their_user.pk, "role": "agent"},
        follow=True,
    )

    assert response.status_code == 200
    assert_no_trace(response, world_a, tenant_a)
    assert Membership.unscoped.get(pk=membership.pk).user_id == membership.user_id


@pytest.mark.parametrize("label", sorted(CHANGELISTS))
def test_staff_without_membership_sees_empty_changelists(
    label, client, tenant_a, tenant_b, world_a, world_b
):
    client.force_login(staff_user("nobody@wismo.example"))

    response = client.get(admin_url(label, "changelist"))

    assert response.status_code == 200
    assert_no_trace(response, world_a, tenant_a)
    assert listed(label, "BRAVO") not in response.content.decode()
    assert tenant_b.name not in response.content.decode()


@pytest.mark.parametrize("label", ["tracking.CarrierAccount", "tracking.ShopConnection"])
@pytest.mark.parametrize("who", ["operator", "staff"])
def test_secrets_are_never_shown_in_the_admin(
    label, who, client, operator, staff_b, world_b, tenant_b
):
    client.force_login(operator if who == "operator" else staff_b)
    row = world_b[label]

    change = client.get(admin_url(label, "change", row.pk))
    changelist = client.get(admin_url(label, "changelist"))

    assert (change.status_code, changelist.status_code) == (200, 200)
    assert row.name in change.content.decode()
    for response in (change, changelist):
        html = response.content.decode()
        assert not [secret for secret in SECRETS if secret in html]


def carrier_account_form(account: CarrierAccount, **fields) -> dict:
    return {
        "tenant": account.tenant_id,
        "carrier": account.carrier,
        "name": account.name,
        "credentials": "",
        "is_active": "on",
        **fields,
    }


def shop_connection_form(store: ShopConnection, **fields) -> dict:
    return {
        "tenant": store.tenant_id,
        "platform": store.platform,
        "name": store.name,
        "shop_url": store.shop_url,
        "credentials": "",
        "webhook_secret": "",
        "is_active": "on",
        "last_synced_at_0": "",
        "last_synced_at_1": "",
        **fields,
    }


def test_saving_a_carrier_account_with_blank_credentials_keeps_them(staff_b_client, world_b):
    account = world_b["tracking.CarrierAccount"]

    response = staff_b_client.post(
        admin_url("tracking.CarrierAccount", "change", account.pk),
        carrier_account_form(account, name="BRAVO Account renamed"),
    )

    assert response.status_code == 302, response.content.decode()
    with all_tenants():
        stored = CarrierAccount.objects.get(pk=account.pk)
    assert stored.name == "BRAVO Account renamed"
    assert stored.credentials == {"api_key": "bravo-carrier-key"}


def test_saving_a_shop_connection_with_blank_secrets_keeps_them(staff_b_client, world_b):
    store = world_b["tracking.ShopConnection"]

    response = staff_b_client.post(
        admin_url("tracking.ShopConnection", "change", store.pk),
        shop_connection_form(store, name="BRAVO Store renamed"),
    )

    assert response.status_code == 302, response.content.decode()
    with all_tenants():
        stored = ShopConnection.objects.get(pk=store.pk)
    assert stored.name == "BRAVO Store renamed"
    assert stored.credentials == {"access_token": "bravo-shop-token"}
    assert stored.webhook_secret == "bravo-webhook-secret"


def test_saving_new_credentials_replaces_the_stored_ones(staff_b_client, world_b):
    account = world_b["tracking.CarrierAccount"]

    response = staff_b_client.post(
        admin_url("tracking.CarrierAccount", "change", account.pk),
        carrier_account_form(account, credentials='{"api_key": "rotated-key"}'),
    )

    assert response.status_code == 302, response.content.decode()
    with all_tenants():
        assert CarrierAccount.objects.get(pk=account.pk).credentials == {"api_key": "rotated-key"}


def test_the_admin_is_branded_as_wismo(client, django_user_model):
    operator = django_user_model.objects.create_superuser(
        "op@example.com", "op@example.com", "pw-12345-long"
    )
    client.force_login(operator)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"wismo admin" in response.content
