"""Group commit of the webhook inbox, and the remembered store of the shop intake.

Concurrent requests of one process share one INSERT and one commit; each is answered only once
its row is committed, a duplicate is still a duplicate, a failing row fails alone. A store read
once is remembered, but a delivery is only stored while the store is, in that very statement,
unchanged: a rotated secret, a paused or deleted store, a paused tenant take effect at once.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenants.models import Tenant
from tenants.scoping import all_tenants, tenant_scope
from tests.test_shop_webhooks import body_of, sign
from wismo.tracking.models import InboundWebhook, ShopConnection
from wismo.tracking.services import inbox, shop_webhooks
from wismo.tracking.services.group_commit import GroupCommit

# --- the group commit itself (no database) ------------------------------------------------------


def _in_threads(count, target):
    results, threads = [None] * count, []
    for index in range(count):

        def run(index=index):
            results[index] = target(index)

        threads.append(threading.Thread(target=run))
        threads[-1].start()
    return threads, results


def _wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def test_rows_that_arrive_during_a_write_share_the_next_one_and_wait_for_it():
    gate, batches, committed = threading.Event(), [], set()

    def write(items):
        batches.append(list(items))
        if len(batches) == 1:
            gate.wait(5)
        time.sleep(0.01)
        committed.update(items)
        return [f"stored {item}" for item in items]

    group = GroupCommit(write)

    def submit(item):
        result = group.submit(item)
        return result, item in committed  # committed before this thread was answered?

    first, first_result = _in_threads(1, lambda _: submit("a"))
    _wait_for(lambda: batches)
    rest, rest_results = _in_threads(3, lambda n: submit(f"b{n}"))
    _wait_for(lambda: len(group._queue) == 3)
    gate.set()
    for thread in first + rest:
        thread.join(5)

    assert len(batches) == 2 and batches[0] == ["a"]
    assert sorted(batches[1]) == ["b0", "b1", "b2"]
    assert first_result == [("stored a", True)]
    assert sorted(rest_results) == [(f"stored b{n}", True) for n in range(3)]
    assert not group._writing and not group._queue


def test_a_failed_batch_of_several_tells_each_thread_to_write_alone():
    gate, calls = threading.Event(), []

    def write(items):
        calls.append(list(items))
        if len(calls) == 1:
            gate.wait(5)
            return ["first"]
        raise RuntimeError("the statement failed")

    group = GroupCommit(write)
    first, first_result = _in_threads(1, lambda _: group.submit("a"))
    _wait_for(lambda: calls)
    rest, rest_results = _in_threads(2, lambda n: group.submit(f"b{n}"))
    _wait_for(lambda: len(group._queue) == 2)
    gate.set()
    for thread in first + rest:
        thread.join(5)

    assert first_result == ["first"]
    assert rest_results == [None, None]  # nothing known stored: each writes its own row


def test_a_batch_of_one_raises_its_error_and_the_next_write_still_runs():
    def write(items):
        if items == ["bad"]:
            raise ValueError("bad row")
        return ["ok" for _ in items]

    group = GroupCommit(write)
    with pytest.raises(ValueError, match="bad row"):
        group.submit("bad")
    assert group.submit("good") == "ok"


# --- inbox_store through the group commit (PostgreSQL, autocommit) ------------------------------


def _store(tenant, digest, body="{}"):
    try:
        return inbox.inbox_store(
            tenant_id=tenant.pk,
            source="shop:shopify",
            digest=digest,
            body=body,
            headers={"x-shopify-topic": "orders/create"},
            topic="orders/create",
        )
    except Exception as exc:  # the test looks at what each thread got
        return exc
    finally:
        connection.close()  # each thread's own connection


@pytest.fixture
def held_first_write(monkeypatch):
    """The group write of digest "a" waits for the gate: rows stored meanwhile queue up."""
    gate, batches = threading.Event(), []
    write = inbox._group._write

    def held(rows):
        batches.append([row.digest for row in rows])
        if [row.digest for row in rows] == ["a"]:
            gate.wait(5)
        return write(rows)

    monkeypatch.setattr(inbox._group, "_write", held)
    return gate, batches


@pytest.mark.django_db(transaction=True)
def test_concurrent_rows_are_one_statement_and_duplicates_stay_duplicates(
    postgres_only, tenant_a, held_first_write
):
    gate, batches = held_first_write
    existing, _ = inbox.inbox_store(
        tenant_id=tenant_a.pk, source="shop:shopify", digest="x", body="{}", headers={}
    )
    gate_thread, first = _in_threads(1, lambda _: _store(tenant_a, "a"))
    _wait_for(lambda: len(batches) == 2)  # the writer of "a" holds the group
    digests = ["b", "b", "x", "c"]
    threads, results = _in_threads(4, lambda n: _store(tenant_a, digests[n]))
    _wait_for(lambda: len(inbox._group._queue) == 4)
    gate.set()
    for thread in gate_thread + threads:
        thread.join(10)

    assert sorted(batches[2]) == ["b", "b", "c", "x"]  # one statement for the four
    assert first[0][1] is False
    b1, b2, x, c = results
    assert b1[0] == b2[0] and sorted([b1[1], b2[1]]) == [False, True]
    assert x == (existing, True)
    assert c[1] is False
    with all_tenants():
        rows = dict(InboundWebhook.objects.values_list("digest", "pk"))
    assert rows == {"x": existing, "a": first[0][0], "b": b1[0], "c": c[0]}


@pytest.mark.django_db(transaction=True)
def test_a_row_that_fails_fails_alone(postgres_only, tenant_a, held_first_write):
    gate, batches = held_first_write
    gate_thread, _ = _in_threads(1, lambda _: _store(tenant_a, "a"))
    _wait_for(lambda: batches)
    bodies = ["{}", "nul \x00 byte", "{}"]
    threads, results = _in_threads(3, lambda n: _store(tenant_a, f"d{n}", bodies[n]))
    _wait_for(lambda: len(inbox._group._queue) == 3)
    gate.set()
    for thread in gate_thread + threads:
        thread.join(10)

    assert isinstance(results[1], ValueError)  # what storing it alone raises, to its thread only
    assert results[0][1] is False and results[2][1] is False
    with all_tenants():
        assert set(InboundWebhook.objects.values_list("digest", flat=True)) == {"a", "d0", "d2"}


def test_inside_a_transaction_the_row_is_the_transactions_own(tenant_a, monkeypatch):
    def shared(row):
        raise AssertionError("a row of an open transaction went to the group")

    monkeypatch.setattr(inbox._group, "submit", shared)
    webhook_id, duplicate = inbox.inbox_store(
        tenant_id=tenant_a.pk, source="shop:shopify", digest="t", body="{}", headers={}
    )
    assert not duplicate
    with all_tenants():
        assert InboundWebhook.objects.filter(pk=webhook_id).exists()


# --- the remembered store ------------------------------------------------------------------------

BODY = body_of("shopify/fulfillment_update.json")


def deliver(store_id, webhook_id, secret="shpss_secret"):
    return Client().post(
        f"/hooks/shopify/{store_id}/",
        BODY,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=sign(BODY, secret),
        HTTP_X_SHOPIFY_TOPIC="fulfillments/create",
        HTTP_X_SHOPIFY_WEBHOOK_ID=webhook_id,
    )


def stored() -> list[str]:
    with all_tenants():
        return sorted(
            h["x-shopify-webhook-id"]
            for h in InboundWebhook.objects.values_list("headers", flat=True)
        )


@pytest.fixture
def remembered(postgres_only, transactional_db, shop, enqueued):
    """``shop`` after one delivery: its store is remembered by this process."""
    assert deliver(shop.pk, "first").json()["status"] == "accepted"
    assert ("shopify", shop.pk) in shop_webhooks._hints
    return shop


def test_a_remembered_store_is_not_read_again(remembered):
    with CaptureQueriesContext(connection) as queries:
        response = deliver(remembered.pk, "second")
    assert response.json()["status"] == "accepted"
    assert not [q for q in queries if shop_webhooks._STORE_SQL[:60] in q["sql"]]  # no lookup
    assert [q for q in queries if "EXECUTE wismo_inbox_1(" in q["sql"]]  # the prepared insert
    assert stored() == ["first", "second"]


def test_a_redelivery_to_a_remembered_store_is_a_duplicate(remembered):
    response = deliver(remembered.pk, "first")
    assert response.status_code == 200 and response.json()["status"] == "duplicate"
    with all_tenants():
        assert response.json()["id"] == InboundWebhook.objects.get().pk
    assert stored() == ["first"]


def test_a_rotated_secret_takes_effect_at_once(remembered):
    with tenant_scope(remembered.tenant):
        store = ShopConnection.objects.get(pk=remembered.pk)
        store.webhook_secret = "shpss_rotated"
        store.save()

    old = deliver(remembered.pk, "old-secret")
    new = deliver(remembered.pk, "new-secret", secret="shpss_rotated")

    assert old.status_code == 401
    assert new.status_code == 200 and new.json()["status"] == "accepted"
    assert stored() == ["first", "new-secret"]


def test_a_paused_store_is_404_at_once_even_when_changed_behind_the_orm(remembered):
    with all_tenants():
        ShopConnection.objects.filter(pk=remembered.pk).update(is_active=False)
    assert deliver(remembered.pk, "paused").status_code == 404

    with all_tenants():
        ShopConnection.objects.filter(pk=remembered.pk).update(is_active=True)
    assert deliver(remembered.pk, "resumed").json()["status"] == "accepted"
    assert stored() == ["first", "resumed"]


def test_a_paused_tenant_or_a_deleted_store_is_404_at_once(remembered, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)
    assert deliver(remembered.pk, "tenant-paused").status_code == 404
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=True)

    with all_tenants():
        InboundWebhook.objects.all().delete()
        ShopConnection.objects.filter(pk=remembered.pk).delete()
    assert deliver(remembered.pk, "deleted").status_code == 404
    assert stored() == []
    assert ("shopify", remembered.pk) not in shop_webhooks._hints


def test_a_store_moved_to_another_tenant_is_not_written_under_the_old_one(remembered, tenant_b):
    with all_tenants():
        # The same secret token: only the tenant differs from what was remembered.
        ShopConnection.objects.filter(pk=remembered.pk).update(tenant=tenant_b)
    response = deliver(remembered.pk, "moved")
    assert response.json()["status"] == "accepted"
    with all_tenants():
        assert InboundWebhook.objects.get(pk=response.json()["id"]).tenant_id == tenant_b.pk
