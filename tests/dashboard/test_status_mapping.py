"""Status mapping: unknown codes seen on the tenant's own events, and overrides that take effect."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.models import StatusOverride
from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory, ev
from wismo.tracking.models import TrackingEvent, UnmappedCarrierCode
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def unknown_codes(tenant_a, tenant_b):
    """DHL code ZZ1 seen on tenant A's parcel; code BB9 seen only on tenant B's."""
    UnmappedCarrierCode.objects.create(
        carrier="dhl",
        code="ZZ1",
        mapped_to="in_transit.on_the_way",
        count=5,
        sample_description="Other tenant's words",
    )
    UnmappedCarrierCode.objects.create(
        carrier="dhl",
        code="BB9",
        mapped_to="exception.unknown",
        count=3,
        sample_description="B only",
    )
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="dhl")
        record_events(
            shipment=shipment,
            events=[ev(1, "in_transit", code="ZZ1", description="Parcel at hub A")],
        )
    with tenant_scope(tenant_b):
        other = ShipmentFactory(tenant=tenant_b, carrier="dhl")
        record_events(
            shipment=other, events=[ev(1, "exception", code="BB9", description="Secret B wording")]
        )
    return shipment


def test_only_codes_on_this_tenants_events_are_listed(admin_client, unknown_codes):
    html = admin_client.get("/dashboard/settings/status-mapping/").content.decode()

    assert "ZZ1" in html and "Parcel at hub A" in html
    assert "in_transit.on_the_way" in html
    assert "BB9" not in html and "Secret B wording" not in html
    assert "Other tenant" not in html


def test_an_override_is_created_and_listed(admin_client, tenant_a):
    response = admin_client.post(
        "/dashboard/settings/status-mapping/",
        {
            "carrier": "dhl",
            "code": "ZZ1",
            "status": "exception",
            "substatus": "exception.address_issue",
        },
    )

    assert response.status_code == 302
    with tenant_scope(tenant_a):
        override = StatusOverride.objects.get()
    assert (override.carrier, override.code, override.status, override.substatus) == (
        "dhl",
        "ZZ1",
        "exception",
        "exception.address_issue",
    )
    html = admin_client.get("/dashboard/settings/status-mapping/").content.decode()
    assert "exception.address_issue" in html


def test_a_blank_substatus_takes_the_status_default(admin_client, tenant_a):
    admin_client.post(
        "/dashboard/settings/status-mapping/",
        {"carrier": "dhl", "code": "ZZ2", "status": "delivered", "substatus": ""},
    )
    with tenant_scope(tenant_a):
        assert StatusOverride.objects.get().substatus.startswith("delivered.")


@pytest.mark.parametrize(
    "data",
    [
        {"carrier": "nope", "code": "X", "status": "delivered"},
        {"carrier": "dhl", "code": "", "status": "delivered"},
        {"carrier": "dhl", "code": "X", "status": "teleported"},
        {"carrier": "dhl", "code": "X", "status": "delivered", "substatus": "exception.lost"},
        {"carrier": "dhl", "code": "X" * 65, "status": "delivered"},
    ],
)
def test_bad_override_input_is_a_400(admin_client, tenant_a, data):
    response = admin_client.post("/dashboard/settings/status-mapping/", data)
    assert response.status_code == 400
    with tenant_scope(tenant_a):
        assert not StatusOverride.objects.exists()


def test_a_second_override_of_the_same_code_is_a_400(admin_client, tenant_a):
    data = {"carrier": "dhl", "code": "ZZ1", "status": "delivered"}
    admin_client.post("/dashboard/settings/status-mapping/", data)
    response = admin_client.post("/dashboard/settings/status-mapping/", data)
    assert response.status_code == 400
    assert "already has an override" in response.content.decode()


@pytest.fixture
def override_a(tenant_a):
    with tenant_scope(tenant_a):
        return StatusOverride.objects.create(
            tenant=tenant_a,
            carrier="dhl",
            code="ZZ1",
            status="exception",
            substatus="exception.address_issue",
        )


def test_an_override_is_edited_and_deleted(admin_client, override_a, tenant_a):
    url = f"/dashboard/settings/status-mapping/{override_a.pk}/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url, {"carrier": "dhl", "code": "ZZ1", "status": "delivered", "substatus": ""}
    )
    assert response.status_code == 302
    with tenant_scope(tenant_a):
        assert StatusOverride.objects.get().status == "delivered"
    assert admin_client.post(f"{url}delete/").status_code == 302
    with tenant_scope(tenant_a):
        assert not StatusOverride.objects.exists()


def test_agents_are_refused(agent_client, override_a):
    assert agent_client.get("/dashboard/settings/status-mapping/").status_code == 403
    url = f"/dashboard/settings/status-mapping/{override_a.pk}/"
    assert agent_client.get(url).status_code == 403
    assert agent_client.post(f"{url}delete/").status_code == 403
    with tenant_scope(override_a.tenant):
        assert StatusOverride.objects.exists()


def test_another_tenant_gets_404(client_b, override_a):
    url = f"/dashboard/settings/status-mapping/{override_a.pk}/"
    assert client_b.get(url).status_code == 404
    assert (
        client_b.post(url, {"carrier": "dhl", "code": "Q", "status": "delivered"}).status_code
        == 404
    )
    assert client_b.post(f"{url}delete/").status_code == 404
    with tenant_scope(override_a.tenant):
        assert StatusOverride.objects.get().code == "ZZ1"


# -- overrides take effect --------------------------------------------------------------------------


def test_new_events_with_an_overridden_code_get_the_tenants_status(
    admin_client, tenant_a, tenant_b
):
    admin_client.post(
        "/dashboard/settings/status-mapping/",
        {
            "carrier": "dhl",
            "code": "ZZ1",
            "status": "exception",
            "substatus": "exception.address_issue",
        },
    )
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="dhl")
        record_events(
            shipment=shipment,
            events=[ev(1, "in_transit", code="ZZ1"), ev(2, "in_transit", code="OTHER")],
        )
        by_code = dict(TrackingEvent.objects.values_list("code", "substatus"))
        shipment.refresh_from_db()
    assert by_code["ZZ1"] == "exception.address_issue"
    assert by_code["OTHER"].startswith("in_transit.")
    # Tenant B has no override: the same code keeps the carrier table's meaning.
    with tenant_scope(tenant_b):
        other = ShipmentFactory(tenant=tenant_b, carrier="dhl")
        record_events(shipment=other, events=[ev(1, "in_transit", code="ZZ1")])
        assert TrackingEvent.objects.get().status == "in_transit"


def test_an_override_of_another_carrier_does_not_apply(override_a, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="ups")
        record_events(shipment=shipment, events=[ev(1, "in_transit", code="ZZ1")])
        assert TrackingEvent.objects.get().status == "in_transit"


def test_changes_take_effect_at_once_and_deleting_restores_the_table(admin_client, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="dhl")
        record_events(shipment=shipment, events=[ev(1, "in_transit", code="ZZ1")])  # warm cache
    admin_client.post(
        "/dashboard/settings/status-mapping/",
        {"carrier": "dhl", "code": "ZZ1", "status": "delivered", "substatus": ""},
    )
    with tenant_scope(tenant_a):
        record_events(shipment=shipment, events=[ev(2, "in_transit", code="ZZ1")])
        override = StatusOverride.objects.get()
        assert TrackingEvent.objects.filter(status="delivered").count() == 1
    admin_client.post(f"/dashboard/settings/status-mapping/{override.pk}/delete/")
    with tenant_scope(tenant_a):
        record_events(shipment=shipment, events=[ev(3, "in_transit", code="ZZ1")])
        assert TrackingEvent.objects.filter(status="in_transit").count() == 2


def test_overrides_cost_no_query_per_event_once_cached(override_a, tenant_a):
    from dashboard.services.settings_integrations import status_overrides_for

    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a, carrier="dhl")
        status_overrides_for(tenant_a.pk)  # warm
        with CaptureQueriesContext(connection) as queries:
            status_overrides_for(tenant_a.pk)
        assert not [q for q in queries.captured_queries if "statusoverride" in q["sql"]]
        record_events(
            shipment=shipment, events=[ev(h, "in_transit", code="ZZ1") for h in range(1, 30)]
        )
        assert set(TrackingEvent.objects.values_list("status", flat=True)) == {"exception"}
