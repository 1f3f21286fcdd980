"""The audit log: every dashboard and API change is recorded (who, what, when, from where, never
the body); owners read it, newest first, filtered and paged; nobody else does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dashboard import audit
from dashboard.models import AuditEntry
from tenants.models import ApiKey
from tenants.scoping import tenant_scope
from tests.dashboard import conftest as dashboard
from tests.dashboard.conftest import PASSWORD, member

pytestmark = pytest.mark.django_db

# The dashboard's people and clients (tests/dashboard/conftest.py), used here too.
owner_a, admin_a, agent_a, owner_b = (
    dashboard.owner_a,
    dashboard.admin_a,
    dashboard.agent_a,
    dashboard.owner_b,
)
owner_client, admin_client, agent_client, client_b = (
    dashboard.owner_client,
    dashboard.admin_client,
    dashboard.agent_client,
    dashboard.client_b,
)
shipment_a = dashboard.shipment_a


def entries(tenant) -> list[AuditEntry]:
    with tenant_scope(tenant):
        return list(AuditEntry.objects.order_by("created_at", "id"))


def add_entries(tenant, count: int, *, actor="someone@a.example", start=None) -> list[AuditEntry]:
    start = start or timezone.now() - timedelta(days=1)
    with tenant_scope(tenant):
        return [
            AuditEntry.objects.create(
                tenant=tenant,
                actor=actor,
                channel="dashboard",
                method="POST",
                path=f"/dashboard/x/{n}/",
                action="dash-x",
                object_id=str(n),
                status_code=302,
                created_at=start + timedelta(minutes=n),
            )
            for n in range(count)
        ]


# --- recording ----------------------------------------------------------------------------------


def test_a_dashboard_change_is_recorded_with_who_what_and_from_where(
    agent_client, agent_a, tenant_a, shipment_a
):
    response = agent_client.post(
        f"/dashboard/shipments/{shipment_a.pk}/notes/",
        {"body": "Customer ana@example.com called"},
        HTTP_USER_AGENT="Firefox/" + "x" * 400,
        HTTP_X_REQUEST_ID="req-note-1",
        REMOTE_ADDR="192.0.2.10",
    )

    [entry] = entries(tenant_a)
    assert entry.actor == agent_a.email and entry.user_id == agent_a.pk
    assert (entry.channel, entry.method, entry.action) == (
        "dashboard",
        "POST",
        "dash-shipment-note",
    )
    assert entry.object_id == str(shipment_a.pk)
    assert entry.status_code == response.status_code
    assert entry.ip == "192.0.2.10" and entry.request_id == "req-note-1"
    assert len(entry.user_agent) == 300
    # Never the body.
    values = [str(getattr(entry, f.attname)) for f in AuditEntry._meta.concrete_fields]
    assert not any("ana@example.com" in value for value in values)


def test_a_refused_change_is_recorded_too(agent_client, tenant_a, shipment_a):
    agent_client.post(f"/dashboard/shipments/{shipment_a.pk}/notes/", {"body": ""})
    [entry] = entries(tenant_a)
    assert entry.status_code == 400


def test_reading_is_not_recorded(owner_client, tenant_a):
    owner_client.get("/dashboard/")
    owner_client.get("/dashboard/settings/audit/")
    assert entries(tenant_a) == []


def test_an_api_change_is_recorded_under_the_keys_prefix(api_a, tenant_a):
    response = api_a.post(
        "/api/v1/shipments/",
        {"tracking_number": "AUD-1", "carrier": "manual", "customer_email": "bo@example.com"},
        format="json",
    )

    assert response.status_code == 201
    [entry] = entries(tenant_a)
    with tenant_scope(tenant_a):
        key = ApiKey.objects.get()
    assert entry.actor == f"api-key {key.prefix}" and entry.user_id is None
    assert entry.channel == "api" and entry.status_code == 201
    assert "bo@example.com" not in str(entry.__dict__)


def test_an_unauthenticated_api_call_reaches_no_tenant_and_is_not_recorded(tenant_a):
    Client().post("/api/v1/shipments/", {}, HTTP_AUTHORIZATION="Bearer nope")
    assert entries(tenant_a) == []


def test_a_sign_in_is_recorded_in_the_users_tenants(tenant_a, tenant_b):
    user = member(tenant_a, "agent", "sam@a.example")
    member(tenant_b, "agent", "sam@a.example")

    response = Client().post(
        "/accounts/login/", {"username": "sam@a.example", "password": PASSWORD}
    )
    Client().post("/accounts/login/", {"username": "sam@a.example", "password": "wrong"})

    assert response.status_code == 302
    for tenant in (tenant_a, tenant_b):
        [entry] = entries(tenant)
        assert (entry.action, entry.actor, entry.user_id) == ("login", "sam@a.example", user.pk)


def test_a_failing_audit_write_never_breaks_the_response(
    agent_client, tenant_a, shipment_a, monkeypatch, caplog
):
    def broken(**kwargs):
        raise RuntimeError("audit table is gone")

    monkeypatch.setattr(audit, "audit_record", broken)
    response = agent_client.post(
        f"/dashboard/shipments/{shipment_a.pk}/notes/", {"body": "still saved"}
    )

    assert response.status_code == 302
    assert "audit entry not written" in caplog.text
    assert entries(tenant_a) == []


def test_a_url_token_is_never_kept():
    assert audit._object_id({"token": "s3cret-token"}) == ""
    assert audit._object_id({"pk": 7, "token": "s3cret"}) == "7"


# --- the owners' reader -------------------------------------------------------------------------


def test_owners_read_the_log_newest_first(owner_client, tenant_a):
    add_entries(tenant_a, 3)
    response = owner_client.get("/dashboard/settings/audit/")

    assert response.status_code == 200
    shown = [e.object_id for e in response.context["entries"]]
    assert shown == ["2", "1", "0"]
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("who", ["admin_client", "agent_client"])
def test_only_owners_read_the_log(request, who, tenant_a):
    add_entries(tenant_a, 1)
    assert request.getfixturevalue(who).get("/dashboard/settings/audit/").status_code == 403


def test_another_tenants_owner_sees_none_of_this_log(client_b, tenant_a):
    add_entries(tenant_a, 2, actor="alpha-owner@a.example")
    response = client_b.get("/dashboard/settings/audit/")
    assert response.status_code == 200
    assert response.context["entries"] == []
    assert b"alpha-owner@a.example" not in response.content


def test_the_log_pages_by_keyset_without_gaps_or_repeats(owner_client, tenant_a):
    made = add_entries(tenant_a, 60)

    first = owner_client.get("/dashboard/settings/audit/")
    second = owner_client.get("/dashboard/settings/audit/" + first.context["next_url"])

    assert len(first.context["entries"]) == 50 and second.context["next_url"] == ""
    seen = [e.pk for e in first.context["entries"]] + [e.pk for e in second.context["entries"]]
    assert seen == [e.pk for e in reversed(made)]


def test_the_log_filters_by_actor_and_day(owner_client, tenant_a):
    old = timezone.now() - timedelta(days=10)
    add_entries(tenant_a, 2, actor="old@a.example", start=old)
    add_entries(tenant_a, 3, actor="new@a.example")
    day = (timezone.now() - timedelta(days=1)).date().isoformat()

    by_actor = owner_client.get("/dashboard/settings/audit/", {"actor": "old@a.example"})
    by_day = owner_client.get("/dashboard/settings/audit/", {"date_from": day})

    assert {e.actor for e in by_actor.context["entries"]} == {"old@a.example"}
    assert {e.actor for e in by_day.context["entries"]} == {"new@a.example"}


@pytest.mark.parametrize(
    "query",
    [
        {"date_from": "not-a-date"},
        {"after": "forged"},
        {"after": "2026-01-01T00:00:00~x"},
        {"date_from": "2026-02-01", "date_to": "2026-01-01"},
    ],
)
def test_bad_filters_are_a_400(owner_client, tenant_a, query):
    add_entries(tenant_a, 1)
    response = owner_client.get("/dashboard/settings/audit/", query)
    assert response.status_code == 400
    assert response.context["entries"] == []


def test_posting_to_the_log_is_refused(owner_client, tenant_a):
    assert owner_client.post("/dashboard/settings/audit/").status_code == 405
