"""Tenant isolation: no tenant reads or writes another tenant's rows, by model, API, service or task.

Every test builds the same world for two tenants (one row of every tenant-owned model each) and
then acts as tenant B: whatever B does, tenant A's rows are neither seen nor changed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.db.models import Count
from django.utils import timezone

from carriers.adapters.sandbox import sandbox_tracking_number
from dashboard.models import (
    AuditEntry,
    Invitation,
    SavedView,
    ShipmentNote,
    StatusOverride,
    WismoContact,
)
from notifications.models import (
    EmailTemplate,
    Notification,
    NotificationPolicy,
    Suppression,
    WebhookDelivery,
    WebhookEndpoint,
)
from tenants.scoping import ScopeError, all_tenants, tenant_scope, tenants_scope
from tenants.services import api_key_authenticate, api_key_create, api_key_revoke, membership_add
from tests.factories import (
    CarrierAccountFactory,
    OrderFactory,
    ShipmentFactory,
    ShopConnectionFactory,
    TenantFactory,
    ev,
)
from tracking_pages.models import PageViewCount, ProblemReport
from wismo.tracking import tasks
from wismo.tracking.models import (
    EddModel,
    InboundWebhook,
    PollQueue,
    PrivacyRequest,
    Shipment,
    ShipmentStatusChange,
    TrackingEvent,
)
from wismo.tracking.services.polling import claim_due
from wismo.tracking.services.timeline import record_events, record_events_batch

pytestmark = pytest.mark.django_db

KNOWN_TENANT_OWNED = {
    "tracking.ShopConnection",
    "tracking.CarrierAccount",
    "tracking.Order",
    "tracking.Shipment",
    "tracking.TrackingEvent",
    "tracking.ShipmentStatusChange",
    "tenants.Membership",
    "tenants.ApiKey",
    "tracking.InboundWebhook",
    "tracking.PollQueue",
}

# A field each model lets us overwrite, to prove an update in B's scope never reaches A's row.
UPDATES = {
    "tracking.ShopConnection": ("name", "Renamed by B"),
    "tracking.CarrierAccount": ("name", "Renamed by B"),
    "tracking.Order": ("customer_name", "Renamed by B"),
    "tracking.Shipment": ("last_error", "Touched by B"),
    "tracking.TrackingEvent": ("description", "Touched by B"),
    "tracking.ShipmentStatusChange": ("to_substatus", "exception.lost"),
    "tenants.Membership": ("role", "owner"),
    "tenants.ApiKey": ("name", "Renamed by B"),
    "tracking.InboundWebhook": ("error", "Touched by B"),
    "tracking.PollQueue": ("carrier", "touched-by-b"),
    "tracking.PrivacyRequest": ("external_id", "touched-by-b"),
    "tracking.EddModel": ("samples", 999),
    "tracking_pages.ProblemReport": ("message", "Touched by B"),
    "tracking_pages.PageViewCount": ("views", 99),
    "notifications.NotificationPolicy": ("sender_name", "Touched by B"),
    "notifications.EmailTemplate": ("subject", "Touched by B"),
    "notifications.Notification": ("last_error", "Touched by B"),
    "notifications.Suppression": ("reason", "complained"),
    "notifications.WebhookEndpoint": ("disabled_reason", "Touched by B"),
    "notifications.WebhookDelivery": ("last_error", "Touched by B"),
    "dashboard.Invitation": ("email", "touched@b.example"),
    "dashboard.WismoContact": ("query", "Touched by B"),
    "dashboard.SavedView": ("name", "Touched by B"),
    "dashboard.ShipmentNote": ("body", "Touched by B"),
    "dashboard.StatusOverride": ("substatus", "exception.lost"),
    "dashboard.AuditEntry": ("path", "/touched-by-b/"),
}


def tenant_owned_models() -> list[type[models.Model]]:
    """Every model whose default manager is a django-scopes scoped manager."""
    return sorted(
        (
            model
            for model in apps.get_models()
            if hasattr(model._default_manager, "with_scope")
            and hasattr(model._default_manager, "with_scopes_disabled")
        ),
        key=lambda model: model._meta.label,
    )


def build_world(tenant, tag: str) -> dict[str, models.Model]:
    """One row of every tenant-owned model for ``tenant``; its texts carry ``tag``."""
    low = tag.lower()
    with tenant_scope(tenant):
        store = ShopConnectionFactory(
            tenant=tenant,
            name=f"{tag} Store",
            credentials={"access_token": f"{low}-shop-token"},
            webhook_secret=f"{low}-webhook-secret",
        )
        account = CarrierAccountFactory(
            tenant=tenant, name=f"{tag} Account", credentials={"api_key": f"{low}-carrier-key"}
        )
        order = OrderFactory(
            tenant=tenant,
            store=store,
            external_id=f"{tag}-ext-1",
            order_number=f"{tag}-1001",
            customer_email=f"shopper@{low}.example",
            customer_name=f"{tag} Shopper",
        )
        shipment = ShipmentFactory(
            tenant=tenant, order=order, store=store, tracking_number=f"{tag}0001"
        )
        record_events(
            shipment=shipment,
            events=[ev(0, "in_transit", code=f"{tag}-SCAN", description=f"{tag} scanned")],
        )
        membership = membership_add(tenant=tenant, email=f"member@{low}.example", role="agent")
        key, _raw = api_key_create(tenant=tenant, name=f"{tag} key")
        webhook = InboundWebhook.objects.create(
            tenant=tenant,
            source="carrier:sandbox",
            carrier_account=account,
            body=f'{{"tag": "{tag}"}}',
            digest=f"{low}-digest",
        )
        queued = PollQueue.objects.create(
            tenant=tenant, shipment=shipment, carrier="sandbox", due_at=shipment.created_at
        )
        privacy = PrivacyRequest.objects.create(
            tenant=tenant,
            store=store,
            kind=PrivacyRequest.Kind.DATA_REQUEST,
            customer_email=f"shopper@{low}.example",
            export={"orders": [{"customer_name": f"{tag} Shopper"}]},
        )
        edd_model = EddModel.objects.create(tenant=tenant, data={"tag": tag}, samples=7)
        problem = ProblemReport.objects.create(
            tenant=tenant, order=order, shipment=shipment, kind="damaged", message=f"{tag} report"
        )
        page_views = PageViewCount.objects.create(
            tenant=tenant, shipment=shipment, day=shipment.created_at.date(), views=3
        )
        policy = NotificationPolicy.objects.create(tenant=tenant, sender_name=f"{tag} Sender")
        template = EmailTemplate.objects.create(
            tenant=tenant, trigger="shipped", language="en", subject=f"{tag} subject"
        )
        notification = Notification.objects.create(
            tenant=tenant,
            shipment=shipment,
            order=order,
            trigger="shipped",
            dedupe_key=f"{shipment.pk}:shipped",
            recipient=f"shopper@{low}.example",
        )
        suppression = Suppression.objects.create(
            tenant=tenant, email=f"gone@{low}.example", reason="bounced"
        )
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant, url=f"https://{low}.example/hooks", secret=f"{low}-hook-secret"
        )
        delivery = WebhookDelivery.objects.create(
            tenant=tenant,
            endpoint=endpoint,
            event="shipment.status_changed",
            event_id=f"{low}-1",
            payload={"tag": tag},
        )
        user = membership.user
        invitation = Invitation.objects.create(
            tenant=tenant,
            email=f"invitee@{low}.example",
            token_hash=f"{low}-token-hash".ljust(64, "0"),
            expires_at=shipment.created_at + timedelta(days=7),
        )
        contact = WismoContact.objects.create(
            tenant=tenant, shipment=shipment, order=order, channel="email", query=f"{tag}-1001"
        )
        saved_view = SavedView.objects.create(
            tenant=tenant, user=user, name=f"{tag} view", query="status=exception"
        )
        note = ShipmentNote.objects.create(tenant=tenant, shipment=shipment, body=f"{tag} note")
        override = StatusOverride.objects.create(
            tenant=tenant,
            carrier="sandbox",
            code=f"{tag}-SCAN",
            status="in_transit",
            substatus="in_transit.on_the_way",
        )
        audit = AuditEntry.objects.create(
            tenant=tenant,
            actor=f"member@{low}.example",
            channel="dashboard",
            method="POST",
            path=f"/dashboard/{low}/",
            action="dash-test",
            status_code=200,
        )
        return {
            "dashboard.Invitation": invitation,
            "dashboard.WismoContact": contact,
            "dashboard.SavedView": saved_view,
            "dashboard.ShipmentNote": note,
            "dashboard.StatusOverride": override,
            "dashboard.AuditEntry": audit,
            "tracking.EddModel": edd_model,
            "tracking_pages.ProblemReport": problem,
            "tracking_pages.PageViewCount": page_views,
            "notifications.NotificationPolicy": policy,
            "notifications.EmailTemplate": template,
            "notifications.Notification": notification,
            "notifications.Suppression": suppression,
            "notifications.WebhookEndpoint": endpoint,
            "notifications.WebhookDelivery": delivery,
            "tracking.PrivacyRequest": privacy,
            "tracking.PollQueue": queued,
            "tracking.ShopConnection": store,
            "tracking.CarrierAccount": account,
            "tracking.Order": order,
            "tracking.Shipment": shipment,
            "tracking.TrackingEvent": TrackingEvent.objects.get(shipment=shipment),
            "tracking.ShipmentStatusChange": ShipmentStatusChange.objects.get(shipment=shipment),
            "tenants.Membership": membership,
            "tenants.ApiKey": key,
            "tracking.InboundWebhook": webhook,
        }


def snapshot(world: dict[str, models.Model]) -> dict[str, dict]:
    """Every stored value of the world's rows, read with scoping spelled out as disabled."""
    with all_tenants():
        return {
            label: type(row).objects.filter(pk=row.pk).values().first()
            for label, row in world.items()
        }


@pytest.fixture
def world_a(tenant_a):
    return build_world(tenant_a, "ALPHA")


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b, "BRAVO")


# --- the scoped manager fails closed -----------------------------------------------------------


def test_discovery_finds_every_known_tenant_owned_model():
    discovered = {model._meta.label for model in tenant_owned_models()}

    assert discovered >= KNOWN_TENANT_OWNED


def test_every_tenant_owned_model_is_covered_by_the_isolation_world():
    discovered = {model._meta.label for model in tenant_owned_models()}

    missing = discovered - set(UPDATES)
    assert not missing, f"add {sorted(missing)} to build_world and UPDATES in this file"


NO_SCOPE_QUERIES = {
    "filter": lambda m: m.objects.filter(pk=1),
    "exclude-exists": lambda m: m.objects.exclude(pk=0).exists(),
    "get": lambda m: m.objects.get(pk=1),
    "count": lambda m: m.objects.count(),
    "exists": lambda m: m.objects.exists(),
    "iteration": lambda m: list(m.objects.all()),
    "first": lambda m: m.objects.first(),
    "values": lambda m: m.objects.values_list("pk", flat=True),
    "aggregate": lambda m: m.objects.aggregate(n=Count("pk")),
    "in_bulk": lambda m: m.objects.in_bulk([1]),
    "update": lambda m: m.objects.update(tenant=None),
    "delete": lambda m: m.objects.all().delete(),
    "select_related-get": lambda m: m.objects.select_related("tenant").get(pk=1),
}


@pytest.mark.parametrize("query", sorted(NO_SCOPE_QUERIES))
@pytest.mark.parametrize(
    "model", tenant_owned_models(), ids=lambda model: model._meta.label.replace(".", "-")
)
def test_querying_a_tenant_owned_model_without_a_scope_raises(model, query, world_a):
    with pytest.raises(ScopeError):
        NO_SCOPE_QUERIES[query](model)


@pytest.mark.parametrize("tenant", [None, True, 0.0, "1"], ids=repr)
def test_tenant_scope_refuses_anything_but_a_saved_tenant_or_its_id(tenant):
    with pytest.raises(ScopeError), tenant_scope(tenant):
        pass  # pragma: no cover - the scope must not open


def test_tenant_scope_refuses_an_unsaved_tenant():
    unsaved = TenantFactory.build(slug="unsaved")

    with pytest.raises(ScopeError), tenant_scope(unsaved):
        pass  # pragma: no cover


def test_tenants_scope_refuses_a_missing_tenant_among_others(tenant_b):
    with pytest.raises(ScopeError), tenants_scope([tenant_b, None]):
        pass  # pragma: no cover


def test_tenants_scope_over_no_tenants_sees_nothing(world_a):
    with tenants_scope([]):
        assert Shipment.objects.count() == 0


def test_tenant_scope_inside_all_tenants_narrows_to_that_tenant(world_a, world_b, tenant_b):
    with all_tenants(), tenant_scope(tenant_b):
        seen = set(Shipment.objects.values_list("pk", flat=True))

    assert seen == {world_b["tracking.Shipment"].pk}


# --- inside tenant B's scope, tenant A's rows do not exist ---------------------------------------

KNOWN = sorted(KNOWN_TENANT_OWNED)


@pytest.mark.parametrize("label", KNOWN)
def test_tenant_scope_lists_and_counts_only_own_rows(label, world_a, world_b, tenant_b):
    model = apps.get_model(label)

    with tenant_scope(tenant_b):
        listed = {row.pk for row in model.objects.all()}
        values = set(model.objects.values_list("pk", flat=True))
        count = model.objects.count()

    assert listed == values == {world_b[label].pk}
    assert count == 1


@pytest.mark.parametrize("label", KNOWN)
def test_tenant_scope_cannot_read_another_tenants_row_by_id(label, world_a, world_b, tenant_b):
    model = apps.get_model(label)
    theirs = world_a[label].pk

    with tenant_scope(tenant_b):
        assert not model.objects.filter(pk=theirs).exists()
        assert model.objects.in_bulk([theirs]) == {}
        with pytest.raises(model.DoesNotExist):
            model.objects.get(pk=theirs)
        with pytest.raises(model.DoesNotExist):
            model.objects.get(tenant_id=world_a[label].tenant_id)


@pytest.mark.parametrize("label", KNOWN)
def test_tenant_scope_update_never_reaches_another_tenants_rows(label, world_a, world_b, tenant_b):
    model = apps.get_model(label)
    field, value = UPDATES[label]
    before = snapshot(world_a)

    with tenant_scope(tenant_b):
        targeted = model.objects.filter(pk=world_a[label].pk).update(**{field: value})
        everything = model.objects.update(**{field: value})

    assert (targeted, everything) == (0, 1)
    assert snapshot(world_a) == before
    with all_tenants():
        assert getattr(model.objects.get(pk=world_b[label].pk), field) == value


@pytest.mark.parametrize("label", KNOWN)
def test_tenant_scope_delete_never_reaches_another_tenants_rows(label, world_a, world_b, tenant_b):
    model = apps.get_model(label)
    before = snapshot(world_a)

    with tenant_scope(tenant_b):
        targeted, _ = model.objects.filter(pk=world_a[label].pk).delete()
        everything, _ = model.objects.all().delete()

    assert targeted == 0
    assert everything >= 1
    assert snapshot(world_a) == before
    with all_tenants():
        assert not model.objects.filter(pk=world_b[label].pk).exists()


# --- API: another tenant's shipment answers exactly like a missing one ---------------------------


def missing_shipment_id() -> int:
    with all_tenants():
        return (Shipment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


def manual_event_body() -> dict:
    return {
        "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "status": "out_for_delivery",
        "description": "With the driver",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/shipments/{id}/"), ("get", "/api/v1/shipments/{id}/events/")],
)
def test_another_tenants_shipment_reads_answer_404_like_a_missing_one(
    method, path, api_b, world_a, world_b
):
    theirs = getattr(api_b, method)(path.format(id=world_a["tracking.Shipment"].pk))
    missing = getattr(api_b, method)(path.format(id=missing_shipment_id()))

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"]["code"] == "not_found"
    assert "ALPHA" not in theirs.content.decode()


def test_another_tenants_shipment_events_post_answers_404_and_adds_nothing(
    api_a, api_b, world_a, world_b
):
    shipment = world_a["tracking.Shipment"]
    assert shipment.carrier == "manual"
    before = snapshot(world_a)

    theirs = api_b.post(
        f"/api/v1/shipments/{shipment.pk}/events/", manual_event_body(), format="json"
    )
    missing = api_b.post(
        f"/api/v1/shipments/{missing_shipment_id()}/events/", manual_event_body(), format="json"
    )

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert snapshot(world_a) == before
    with all_tenants():
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    # The same request by the owner is accepted: the 404 above is isolation, not a broken route.
    own = api_a.post(f"/api/v1/shipments/{shipment.pk}/events/", manual_event_body(), format="json")
    assert own.status_code == 201, own.content


@pytest.mark.parametrize(
    "query",
    [
        lambda w: {},
        lambda w: {"q": w["tracking.Shipment"].tracking_number},
        lambda w: {"q": w["tracking.Shipment"].tracking_number.lower()},
        lambda w: {"q": w["tracking.Order"].order_number},
        lambda w: {"q": w["tracking.Order"].customer_email},
        lambda w: {"carrier": "manual", "status": "in_transit"},
    ],
    ids=["all", "tracking-number", "tracking-number-lower", "order-number", "email", "filters"],
)
def test_shipment_list_never_contains_another_tenants_shipments(
    query, api_a, api_b, world_a, world_b
):
    params = query(world_a)

    listed_by_b = api_b.get("/api/v1/shipments/", params)
    listed_by_a = api_a.get("/api/v1/shipments/", params)

    assert listed_by_b.status_code == 200
    ids_b = {s["id"] for s in listed_by_b.json()["results"]}
    assert world_a["tracking.Shipment"].pk not in ids_b
    assert "ALPHA" not in listed_by_b.content.decode()
    assert ids_b <= {world_b["tracking.Shipment"].pk}
    # The same query finds A's shipment for A: B's empty answer is isolation, not a bad filter.
    assert world_a["tracking.Shipment"].pk in {s["id"] for s in listed_by_a.json()["results"]}


def test_creating_another_tenants_tracking_number_creates_an_own_shipment(
    api_b, world_a, world_b, tenant_b
):
    theirs = world_a["tracking.Shipment"]
    before = snapshot(world_a)

    response = api_b.post(
        "/api/v1/shipments/",
        {
            "tracking_number": theirs.tracking_number,
            "carrier": theirs.carrier,
            "order_number": world_a["tracking.Order"].order_number,
            "customer_email": "someone@bravo.example",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] != theirs.pk
    assert body["status"] == "pending"
    assert body["events"] == []
    assert snapshot(world_a) == before
    with all_tenants():
        created = Shipment.objects.select_related("order").get(pk=body["id"])
    assert created.tenant_id == created.order.tenant_id == tenant_b.pk
    assert created.order_id != world_a["tracking.Order"].pk


def test_agent_key_reads_but_cannot_write(agent_api_a, world_a):
    shipment = world_a["tracking.Shipment"]
    before = snapshot(world_a)

    listed = agent_api_a.get("/api/v1/shipments/")
    detail = agent_api_a.get(f"/api/v1/shipments/{shipment.pk}/")
    events = agent_api_a.get(f"/api/v1/shipments/{shipment.pk}/events/")
    create = agent_api_a.post(
        "/api/v1/shipments/", {"tracking_number": "AGENT1", "carrier": "manual"}, format="json"
    )
    post_event = agent_api_a.post(
        f"/api/v1/shipments/{shipment.pk}/events/", manual_event_body(), format="json"
    )

    assert (listed.status_code, detail.status_code, events.status_code) == (200, 200, 200)
    assert (create.status_code, post_event.status_code) == (403, 403)
    assert set(create.json()["error"]) >= {"code", "message"}
    assert snapshot(world_a) == before
    with all_tenants():
        assert not Shipment.objects.filter(tracking_number="AGENT1").exists()


def split_key(raw: str) -> tuple[str, str]:
    """A raw key is ``wsm_<hex>_<secret>``; the secret itself may contain underscores."""
    marker, hex_part, secret = raw.split("_", 2)
    return f"{marker}_{hex_part}", secret


def _authorization(kind: str, tenant_a) -> str | None:
    key, raw = api_key_create(tenant=tenant_a)
    prefix, _secret = split_key(raw)
    if kind == "revoked":
        api_key_revoke(key=key)
    if kind == "inactive-tenant":
        tenant_a.is_active = False
        tenant_a.save(update_fields=["is_active"])
    return {
        "missing": None,
        "garbage": "Bearer nonsense",
        "unknown-prefix": "Bearer wsm_00000000_" + "x" * 43,
        "wrong-secret": f"Bearer {prefix}_{'x' * 43}",
        "wrong-keyword": f"Token {raw}",
        "no-keyword": raw,
        "revoked": f"Bearer {raw}",
        "inactive-tenant": f"Bearer {raw}",
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "garbage",
        "unknown-prefix",
        "wrong-secret",
        "wrong-keyword",
        "no-keyword",
        "revoked",
        "inactive-tenant",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/shipments/", "/api/v1/shipments/{id}/"])
def test_a_request_without_a_valid_key_answers_401_in_the_error_shape(
    kind, path, client, tenant_a, world_a
):
    header = _authorization(kind, tenant_a)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get(path.format(id=world_a["tracking.Shipment"].pk), **extra)

    assert response.status_code == 401
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "ALPHA" not in response.content.decode()


# --- services and tasks -----------------------------------------------------------------------


def test_record_events_batch_in_another_tenants_scope_skips_their_shipment(
    world_a, world_b, tenant_b
):
    theirs, ours = world_a["tracking.Shipment"], world_b["tracking.Shipment"]
    before = snapshot(world_a)

    with tenant_scope(tenant_b):
        results = record_events_batch(
            items=[(theirs.pk, [ev(5, "delivered")]), (ours.pk, [ev(5, "delivered")])]
        )

    assert set(results) == {ours.pk}
    assert results[ours.pk].created == 1
    assert snapshot(world_a) == before
    with all_tenants():
        assert TrackingEvent.objects.filter(shipment=theirs).count() == 1
        assert ShipmentStatusChange.objects.filter(shipment=theirs).count() == 1


def test_record_events_for_another_tenants_shipment_raises_does_not_exist(world_a, tenant_b):
    before = snapshot(world_a)

    with tenant_scope(tenant_b), pytest.raises(Shipment.DoesNotExist):
        record_events(shipment=world_a["tracking.Shipment"], events=[ev(5, "delivered")])

    assert snapshot(world_a) == before


def due_sandbox_shipment(tenant, seq: int) -> Shipment:
    """A sandbox parcel handed over two days ago and due for a poll now."""
    number = sandbox_tracking_number(timezone.now() - timedelta(days=2), seq)
    with tenant_scope(tenant):
        return ShipmentFactory(
            tenant=tenant,
            carrier="sandbox",
            tracking_number=number,
            next_poll_at=timezone.now() - timedelta(minutes=1),
        )


def _poll_state(shipment: Shipment) -> tuple:
    with all_tenants():
        row = Shipment.objects.get(pk=shipment.pk)
        return (
            row.last_checked_at,
            row.next_poll_at,
            row.poll_failures,
            row.status,
            TrackingEvent.objects.filter(shipment=row).count(),
        )


@pytest.mark.parametrize("call", ["apply", "call"])
def test_poll_task_for_tenant_b_never_touches_tenant_a(call, tenant_a, tenant_b):
    theirs, ours = due_sandbox_shipment(tenant_a, 1), due_sandbox_shipment(tenant_b, 2)
    theirs_before, ours_before = _poll_state(theirs), _poll_state(ours)
    kwargs = {"tenant_id": tenant_b.pk, "shipment_ids": [theirs.pk, ours.pk]}

    if call == "apply":
        tasks.poll_shipments.apply(kwargs=kwargs).get()
    else:
        tasks.poll_shipments(**kwargs)

    assert _poll_state(theirs) == theirs_before
    # B's own shipment in the same call was polled: the task did run.
    assert _poll_state(ours) != ours_before
    assert _poll_state(ours)[0] is not None


@pytest.mark.parametrize("kwargs", [{}, {"tenant_id": None}], ids=["absent", "none"])
def test_tenant_task_without_tenant_id_raises_and_touches_nothing(kwargs, tenant_a):
    shipment = due_sandbox_shipment(tenant_a, 1)
    before = _poll_state(shipment)

    with pytest.raises(TypeError, match="tenant_id"):
        tasks.poll_shipments(shipment_ids=[shipment.pk], **kwargs)
    with pytest.raises(TypeError, match="tenant_id"):
        tasks.poll_shipments.apply(kwargs={"shipment_ids": [shipment.pk], **kwargs}).get()

    assert _poll_state(shipment) == before


def test_task_body_run_without_the_base_class_scope_raises(tenant_a):
    shipment = due_sandbox_shipment(tenant_a, 1)
    before = _poll_state(shipment)

    with pytest.raises(ScopeError):
        tasks.poll_shipments.run(tenant_id=tenant_a.pk, shipment_ids=[shipment.pk])

    assert _poll_state(shipment) == before


def test_claims_carry_each_shipments_own_tenant(tenant_a, tenant_b):
    theirs, ours = due_sandbox_shipment(tenant_a, 1), due_sandbox_shipment(tenant_b, 2)

    claims = {c.shipment_id: c.tenant_id for c in claim_due()}

    assert claims == {theirs.pk: tenant_a.pk, ours.pk: tenant_b.pk}


def test_poll_sweep_enqueues_each_tenants_shipments_under_that_tenant(
    monkeypatch, tenant_a, tenant_b
):
    theirs, ours = due_sandbox_shipment(tenant_a, 1), due_sandbox_shipment(tenant_b, 2)
    enqueued = []
    monkeypatch.setattr(tasks.poll_shipments, "apply_async", lambda kwargs: enqueued.append(kwargs))

    tasks.poll_due_shipments()

    assert sorted(enqueued, key=lambda k: k["tenant_id"]) == sorted(
        [
            {"tenant_id": tenant_a.pk, "shipment_ids": [theirs.pk]},
            {"tenant_id": tenant_b.pk, "shipment_ids": [ours.pk]},
        ],
        key=lambda k: k["tenant_id"],
    )


# --- API keys ---------------------------------------------------------------------------------


def test_api_key_authenticates_to_its_own_tenant_only(tenant_a, tenant_b):
    _key_a, raw_a = api_key_create(tenant=tenant_a)
    _key_b, raw_b = api_key_create(tenant=tenant_b)

    assert api_key_authenticate(raw_a).tenant == tenant_a
    assert api_key_authenticate(raw_b).tenant == tenant_b


def test_a_keys_secret_never_authenticates_under_another_keys_prefix(tenant_a, tenant_b):
    _key_a, raw_a = api_key_create(tenant=tenant_a)
    _key_b, raw_b = api_key_create(tenant=tenant_b)
    prefix_a, secret_b = split_key(raw_a)[0], split_key(raw_b)[1]

    assert api_key_authenticate(f"{prefix_a}_{secret_b}") is None


def test_a_key_of_a_deactivated_tenant_is_refused(tenant_a):
    _key, raw = api_key_create(tenant=tenant_a)
    assert api_key_authenticate(raw) is not None

    tenant_a.is_active = False
    tenant_a.save(update_fields=["is_active"])

    assert api_key_authenticate(raw) is None


def test_a_revoked_key_is_refused(tenant_a):
    key, raw = api_key_create(tenant=tenant_a)

    api_key_revoke(key=key)

    assert api_key_authenticate(raw) is None


def test_a_cached_key_stops_working_the_moment_it_is_revoked_or_its_tenant_stops(tenant_a):
    """Keys are cached for authentication: revoking one (service, admin save) or deactivating
    its tenant must take effect on the very next request, not when the cache expires."""
    from tenants.models import ApiKey

    key, raw = api_key_create(tenant=tenant_a)
    assert api_key_authenticate(raw) is not None  # now cached
    api_key_revoke(key=key)
    assert api_key_authenticate(raw) is None

    key, raw = api_key_create(tenant=tenant_a)
    assert api_key_authenticate(raw) is not None
    stored = ApiKey.unscoped.get(pk=key.pk)
    stored.revoked_at = timezone.now()
    stored.save()
    assert api_key_authenticate(raw) is None

    key, raw = api_key_create(tenant=tenant_a)
    assert api_key_authenticate(raw) is not None
    tenant_a.is_active = False
    tenant_a.save()
    assert api_key_authenticate(raw) is None
    # A wrong secret behind a cached prefix is still refused.
    tenant_a.is_active = True
    tenant_a.save()
    assert api_key_authenticate(raw) is not None
    assert api_key_authenticate(raw[:-2] + "xx") is None
