"""The uncached page's cheaper paths keep their behaviour: the page read stands in for Django's
connection health check (and still survives a dead connection), and parcels and timelines come
back from one union statement in the right order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from tenants.scoping import tenant_scope
from tests.factories import ev
from tracking_pages import selectors
from wismo.tracking.models import Shipment

from .conftest import make_shipment

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a PostgreSQL backend to terminate"
)


def _next_request() -> None:
    # What Django does between two requests on a persistent connection: the next request's first
    # statement is due a health check.
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and not connection.health_check_done


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_page_read_stands_in_for_the_health_check(tenant_a, shipment_a, monkeypatch):
    with tenant_scope(tenant_a):
        selectors.page_load(token=shipment_a.public_token)
    _next_request()
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)

    with tenant_scope(tenant_a):
        data = selectors.page_load(token=shipment_a.public_token)

    assert data.shipments[0].pk == shipment_a.pk
    assert checks == []  # no SELECT 1 round trip before the page's own statement
    assert connection.health_check_done


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_dead_connection_is_replaced_and_the_page_still_loads(
    tenant_a, shipment_a, terminate_backend
):
    with tenant_scope(tenant_a):
        selectors.page_load(token=shipment_a.public_token)
    dead = connection.connection
    terminate_backend(dead)
    _next_request()

    with tenant_scope(tenant_a):
        data = selectors.page_load(token=shipment_a.public_token)

    assert data is not None and data.shipments[0].pk == shipment_a.pk
    assert connection.connection is not dead


@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_transaction_is_not_retried(tenant_a, shipment_a, monkeypatch):
    from django.db import OperationalError, transaction

    with tenant_scope(tenant_a):
        selectors.page_load(token=shipment_a.public_token)
    _next_request()
    calls = []

    def broken(tenant_id, token):
        calls.append(token)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "_page_load", broken)
    with pytest.raises(OperationalError), transaction.atomic(), tenant_scope(tenant_a):
        # A failed statement breaks the transaction: nothing to repeat the read in.
        selectors.page_load(token=shipment_a.public_token)
    assert len(calls) == 1


def test_an_order_page_lists_parcels_by_creation_with_their_own_timelines(tenant_a, order_a):
    first = make_shipment(tenant_a, order_a, number="FIRST", events=[ev(5, "in_transit")])
    second = make_shipment(
        tenant_a, order_a, number="SECOND", events=[ev(1, "info_received"), ev(9, "delivered")]
    )
    # The parcel created later gets the lower id: order follows creation, not ids.
    with tenant_scope(tenant_a):
        Shipment.objects.filter(pk=first.pk).update(created_at=second.created_at + timedelta(1))

    with tenant_scope(tenant_a):
        data = selectors.page_load(token=order_a.public_token)

    assert [s.tracking_number for s in data.shipments] == ["SECOND", "FIRST"]
    assert [e.status for e in data.events[second.pk]] == ["delivered", "info_received"]
    assert [e.status for e in data.events[first.pk]] == ["in_transit"]


def test_a_parcel_without_events_loads_alone(tenant_a, order_a):
    bare = make_shipment(tenant_a, order_a, number="BARE")

    with tenant_scope(tenant_a):
        data = selectors.page_load(token=bare.public_token)

    assert [s.pk for s in data.shipments] == [bare.pk]
    assert data.events == {bare.pk: []}
    assert data.order.pk == order_a.pk
