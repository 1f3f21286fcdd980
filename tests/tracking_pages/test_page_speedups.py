"""The uncached page's cheaper paths keep their behaviour: the page read stands in for Django's
connection health check (and still survives a dead connection), parcels and timelines come back
from one union statement in the right order, and the page cache talks to Redis over its own
per-thread connection with writes that do not wait for a reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from tenants.scoping import tenant_scope
from tests.factories import ev
from tracking_pages import pagecache, selectors
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


# --- the page cache's own Redis connection --------------------------------------------------

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the page cache on Redis")


@pytest.fixture
def fresh_line():
    pagecache._line.client = None
    yield pagecache._line
    if pagecache._line.conn is not None:
        pagecache._line.conn.disconnect()
    pagecache._line.client = None


def _key(name: str) -> str:
    return f"{settings.WISMO_REDIS_PREFIX}:tp:page:test:{name}"


@needs_redis
def test_a_page_written_without_waiting_is_read_back_by_another_connection(fresh_line):
    html = "<p>Città · 東京 & more</p>" * 500
    pagecache.put(_key("a"), html, 60)

    assert fresh_line.skip_replies is True
    assert pagecache.get(_key("a")) == html
    other = pagecache._redis()  # the pooled client: another process would read this way
    assert other.get(_key("a")).decode() == html
    assert 0 < other.ttl(_key("a")) <= 60
    assert pagecache.get(_key("missing")) is None


@needs_redis
@pytest.mark.parametrize(
    "skip",
    [
        # A server without CLIENT REPLY answers with an error...
        b"*3\r\n$6\r\nCLIENT\r\n$6\r\nNOSUCH\r\n$4\r\nSKIP\r\n",
        # ...a proxy that does not pass it on may just say OK.
        b"*2\r\n$4\r\nECHO\r\n$2\r\nOK\r\n",
    ],
    ids=["refused", "ignored"],
)
def test_a_server_that_does_not_skip_replies_gets_writes_that_wait(fresh_line, monkeypatch, skip):
    # Its replies must then be read, or a later GET would take a write's "OK" for a page.
    monkeypatch.setattr(pagecache, "_SKIP", skip)
    pagecache.put(_key("b1"), "one", 60)
    pagecache.put(_key("b2"), "two", 60)

    assert fresh_line.skip_replies is False
    assert pagecache.get(_key("missing")) is None
    assert pagecache.get(_key("b1")) == "one"
    assert pagecache.get(_key("b2")) == "two"


@needs_redis
def test_a_dropped_connection_costs_one_miss_then_reconnects(fresh_line):
    pagecache.put(_key("c"), "page", 60)
    conn = fresh_line.conn
    conn.send_command("CLIENT", "ID")
    own_id = conn.read_response()
    pagecache._redis().client_kill_filter(_id=own_id)

    assert pagecache.get(_key("c")) is None  # the server closed it: a miss, not an error
    assert pagecache.get(_key("c")) == "page"


@needs_redis
def test_a_forked_worker_opens_its_own_connection(fresh_line, monkeypatch):
    pagecache.put(_key("d"), "page", 60)
    parents = fresh_line.conn
    monkeypatch.setattr(pagecache.os, "getpid", lambda: -1)

    assert pagecache.get(_key("d")) == "page"
    assert fresh_line.conn is not parents
