"""The webhook intake's database shortcuts keep their promises.

A delivery's own statement stands in for Django's connection health check (no ``SELECT 1``
first), so a persistent connection that died in between must be replaced and the delivery still
stored, exactly once, even when the connection died after the commit and before the answer.
The inbox insert is a prepared statement: prepared once per connection and batch size, again on a
new connection, never when turned off (``WISMO_DB_PREPARED``, for a transaction-pooling proxy).
It goes on psycopg2's own cursor (``db.fetch_prepared``) with the row-security setting of its
scope and Django's errors, and the ordinary way whenever something watches the queries.
"""

from __future__ import annotations

import pytest
from django.db import OperationalError, ProgrammingError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenants import rls
from tenants.scoping import all_tenants, tenant_scope
from tests.factories import CarrierAccountFactory
from tests.fakes.carrier_server import fixture_text
from tests.test_shop_webhooks import body_of, sign
from wismo import db
from wismo.tracking.models import InboundWebhook
from wismo.tracking.services import inbox

BODY = body_of("shopify/fulfillment_update.json")
PUSH = fixture_text("dhl/transit.json").encode()


def deliver(store_id: int, webhook_id: str):
    _next_request()
    return Client(raise_request_exception=False).post(
        f"/hooks/shopify/{store_id}/",
        BODY,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(BODY, "shpss_secret"),
        HTTP_X_SHOPIFY_TOPIC="fulfillments/create",
        HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
    )


def _next_request() -> None:
    # What a server does before each request on a persistent connection (Django's test client
    # leaves it out): the request's first statement is due a health check.
    connection.close_if_unusable_or_obsolete()


def stored() -> list[str]:
    with all_tenants():
        return sorted(
            h.get("x-shopify-webhook-id", "")
            for h in InboundWebhook.objects.values_list("headers", flat=True)
        )


@pytest.fixture
def warm(postgres_only, transactional_db, shop, enqueued):
    """``shop`` after one delivery: a persistent connection, the store remembered."""
    assert deliver(shop.pk, "first").json()["status"] == "accepted"
    assert connection.connection is not None
    return shop


def test_a_delivery_stands_in_for_the_health_check(warm, monkeypatch):
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)

    response = deliver(warm.pk, "second")

    assert response.json()["status"] == "accepted"
    assert checks == []  # no SELECT 1 round trip before the delivery's own statement
    assert stored() == ["first", "second"]


def test_a_dead_connection_is_replaced_and_the_delivery_stored(warm, terminate_backend):
    dead = connection.connection
    terminate_backend(dead)

    response = deliver(warm.pk, "after-restart")

    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert connection.connection is not dead
    assert stored() == ["after-restart", "first"]


def test_a_connection_lost_after_the_commit_stores_the_delivery_once(warm, monkeypatch):
    write = inbox._group._write
    calls = []

    def committed_then_lost(rows):
        calls.append(len(rows))
        results = write(rows)
        if len(calls) == 1:  # the row is in; the answer never came back
            raise OperationalError("server closed the connection unexpectedly")
        return results

    monkeypatch.setattr(inbox._group, "_write", committed_then_lost)

    response = deliver(warm.pk, "lost-reply")

    # Answered 200 (the platform stops redelivering); the row is there once.
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    assert stored() == ["first", "lost-reply"]
    assert len(calls) >= 2


def test_a_database_that_stays_down_is_still_a_503(warm, monkeypatch):
    def down(rows):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(inbox._group, "_write", down)
    monkeypatch.setattr(
        "wismo.tracking.services.inbox._store_alone",
        lambda row, headers: down([row]),
    )
    response = deliver(warm.pk, "down")
    assert response.status_code == 503
    assert stored() == ["first"]


def test_inside_a_transaction_a_failure_is_not_retried(warm):
    from django.db import transaction

    _next_request()
    calls = []

    def work():
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    with pytest.raises(OperationalError), transaction.atomic():
        db.checking_connection(work, what="test")
    assert calls == [1]  # a failed statement broke the transaction: nothing to repeat it in


def test_a_carrier_push_survives_a_dead_connection(
    postgres_only, transactional_db, tenant_a, enqueued, terminate_backend
):
    with tenant_scope(tenant_a):
        account = CarrierAccountFactory(
            tenant=tenant_a,
            carrier="dhl",
            credentials={"push_header": "X-Wismo-Token", "push_token": "s3cret"},
        )

    def push(body):
        _next_request()
        return Client(raise_request_exception=False).post(
            f"/hooks/carriers/dhl/{account.pk}/",
            body,
            content_type="application/json",
            HTTP_X_WISMO_TOKEN="s3cret",
        )

    assert push(PUSH).json()["status"] == "accepted"
    terminate_backend(connection.connection)

    again = push(PUSH.replace(b"1234567890", b"1234567891"))

    assert again.status_code == 200 and again.json()["status"] == "accepted"
    with all_tenants():
        assert InboundWebhook.objects.count() == 2


# --- prepared statements ---------------------------------------------------------------------------


def _prepares(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("PREPARE wismo_inbox_")]


def test_the_insert_is_prepared_once_per_connection(warm):
    with CaptureQueriesContext(connection) as again:
        deliver(warm.pk, "second")
    assert _prepares(again) == []  # prepared by the first delivery on this connection

    connection.close()
    with CaptureQueriesContext(connection) as fresh:
        deliver(warm.pk, "third")
    assert len(_prepares(fresh)) == 1  # a new connection prepares again
    assert stored() == ["first", "second", "third"]


def test_batches_of_several_rows_have_their_own_statements(warm, tenant_a):
    rows = [
        inbox._new_row(
            tenant_id=tenant_a.pk,
            source="shop:shopify",
            digest=f"digest-{n}",
            body="{}",
            headers={"x-shopify-webhook-id": f"batch-{n}"},
            topic="fulfillments/create",
            store_id=warm.pk,
        )
        for n in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        results = inbox._store_batch(rows)
        again = inbox._store_batch(rows)

    assert [duplicate for _, duplicate in results] == [False, False, False]
    assert [pk for pk, _ in again] == [pk for pk, _ in results]
    assert all(duplicate for _, duplicate in again)
    assert (
        _prepares(queries) == [_prepares(queries)[0]] and "wismo_inbox_3 " in _prepares(queries)[0]
    )
    assert stored() == ["batch-0", "batch-1", "batch-2", "first"]


def test_turned_off_the_statements_go_whole(warm, settings):
    settings.WISMO_DB_PREPARED = False
    connection.close()
    with CaptureQueriesContext(connection) as queries:
        response = deliver(warm.pk, "unprepared")
    assert response.json()["status"] == "accepted"
    assert not [q for q in queries if "PREPARE" in q["sql"] or "EXECUTE " in q["sql"]]
    assert [q for q in queries if "INSERT INTO" in q["sql"]]


# --- the lean write ---------------------------------------------------------------------------------

SETTING_SQL = "SELECT current_setting(%s, true)"


@pytest.fixture
def lean(postgres_only, transactional_db):
    """A connection as a request's write finds it: open, autocommit, its health check done."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.get_autocommit() and not connection.queries_logged


def _through_django(monkeypatch) -> list[str]:
    seen: list[str] = []
    execute = CursorWrapper.execute

    def spy(self, sql, params=None):
        seen.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", spy)
    return seen


def test_a_delivery_writes_its_row_on_psycopg2s_cursor(warm, monkeypatch):
    seen = _through_django(monkeypatch)

    assert deliver(warm.pk, "lean").json()["status"] == "accepted"

    assert stored() == ["first", "lean"]
    assert seen  # the spy sees the ORM's reads, and not the insert
    assert not [sql for sql in seen if "wismo_inbox_" in sql]


def test_the_lean_write_carries_its_scope_and_leaves_nothing_behind(lean, tenant_a, monkeypatch):
    seen = _through_django(monkeypatch)
    with tenant_scope(tenant_a):
        scoped = db.fetch_prepared("wismo_test_setting", SETTING_SQL, [rls.SETTING])
    unscoped = db.fetch_prepared("wismo_test_setting", SETTING_SQL, [rls.SETTING])

    assert scoped == [(str(tenant_a.pk),)] and unscoped == [("*",)]
    assert seen == []
    with connection.connection.cursor() as raw:
        raw.execute(SETTING_SQL, [rls.SETTING])
        assert raw.fetchone()[0] in (None, "")  # transaction-local: gone with its statement
        raw.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'wismo_test_setting'")
        assert raw.fetchone()[0] == 1  # prepared once, executed twice


def test_the_lean_writes_errors_are_djangos(lean):
    with pytest.raises(ProgrammingError):
        db.fetch_prepared("wismo_test_missing", "SELECT id FROM no_such_table WHERE id = %s", [1])
    assert connection.errors_occurred  # the end of the request checks the connection
    assert db.fetch_prepared("wismo_test_one", "SELECT %s::int", [1]) == [(1,)]


def test_watched_queries_go_the_ordinary_way(lean, monkeypatch):
    wrapped: list[str] = []

    def wrapper(execute, sql, params, many, context):
        wrapped.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert db.fetch_prepared("wismo_test_one", "SELECT %s::int", [1]) == [(1,)]
    with CaptureQueriesContext(connection) as queries:
        assert db.fetch_prepared("wismo_test_one", "SELECT %s::int", [2]) == [(2,)]
    seen = _through_django(monkeypatch)
    with transaction.atomic():
        assert db.fetch_prepared("wismo_test_one", "SELECT %s::int", [3]) == [(3,)]

    assert [sql for sql in wrapped if "EXECUTE wismo_test_one" in sql]
    assert [q for q in queries if "EXECUTE wismo_test_one" in q["sql"]]
    assert [sql for sql in seen if "EXECUTE wismo_test_one" in sql]
