"""Order sync from a (fake) Shopify: paged, incremental, resumable after a crash."""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from tests.factories import ShopConnectionFactory
from tests.fakes.carrier_server import Reply, fixture_text
from wismo.tracking.models import Order, ShopConnection

pytestmark = pytest.mark.django_db

BASE = json.loads(fixture_text("../shops/shopify/order_two_fulfillments.json"))
BASE = BASE.get("order", BASE)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def orders(start: int, count: int) -> list[dict]:
    made = []
    for n in range(start, start + count):
        order = copy.deepcopy(BASE)
        order.update(
            id=9_000_000 + n,
            name=f"#{5000 + n}",
            order_number=5000 + n,
            updated_at=(T0 + timedelta(minutes=n)).isoformat(),
        )
        for i, fulfillment in enumerate(order.get("fulfillments") or []):
            fulfillment["id"] = 8_000_000 + n * 10 + i
            fulfillment["order_id"] = order["id"]
            fulfillment["tracking_numbers"] = [f"SBXSYNC{n:05d}{i}"]
            fulfillment["tracking_number"] = f"SBXSYNC{n:05d}{i}"
            fulfillment["tracking_company"] = "sandbox"
        made.append(order)
    return made


PAGES = {None: (orders(0, 3), "p2"), "p2": (orders(3, 3), "p3"), "p3": (orders(6, 2), None)}


@pytest.fixture
def shop_server(carrier_server):
    def answer(request):
        cursor = request.query.get("page_info", [None])[0]
        page, following = PAGES[cursor]
        headers = {}
        if following:
            url = f"{carrier_server.url}/admin/api/2025-01/orders.json?limit=250&page_info={following}"
            headers["Link"] = f'<{url}>; rel="next"'
        return Reply(body=json.dumps({"orders": page}), headers=headers)

    carrier_server.route("GET", r"/orders\.json$", answer)
    return carrier_server


@pytest.fixture
def store(scope_a, shop_server):
    return ShopConnectionFactory(
        tenant=scope_a,
        platform="shopify",
        shop_url=shop_server.url,
        credentials={"access_token": "shpat_test"},
    )


def sync(store, *args) -> str:
    out = io.StringIO()
    call_command("shops", "sync", str(store.pk), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_full_sync_walks_every_page_and_remembers_how_far_it_got(store, shop_server):
    output = sync(store)

    assert "3 pages: 8 orders created, 0 updated" in output
    assert Order.objects.filter(store=store).count() == 8
    store.refresh_from_db()
    assert store.last_synced_at == T0 + timedelta(minutes=7)
    assert (store.sync_cursor, store.sync_since) == ("", None)
    assert shop_server.requests[0].headers["x-shopify-access-token"] == "shpat_test"


def test_the_next_sync_asks_only_for_newer_changes(store, shop_server):
    sync(store)
    shop_server.requests.clear()
    sync(store)
    first = shop_server.requests[0]
    assert first.query["updated_at_min"] == ["2026-11-01T08:07:00Z"]


def test_a_crash_mid_sync_resumes_at_the_page_it_was_on(store, shop_server, monkeypatch):
    monkeypatch.setattr("wismo.tracking.services.sync.MAX_RETRIES", 0)
    shop_server.fail_next(503)  # the very first request fails: nothing imported, nothing saved
    with pytest.raises(CommandError, match="run it again to resume"):
        sync(store)
    assert Order.objects.count() == 0

    # Page 1 succeeds, then page 2 fails: the cursor of page 2 is kept.
    original = PAGES["p2"]
    PAGES["p2"] = None
    try:
        with pytest.raises(Exception):  # noqa: B017 - the fake cannot serve page 2
            sync(store)
    finally:
        PAGES["p2"] = original
    store.refresh_from_db()
    assert store.sync_cursor == "p2" and Order.objects.count() == 3

    shop_server.requests.clear()
    output = sync(store)
    assert shop_server.requests[0].query["page_info"] == ["p2"]
    assert "2 pages: 5 orders created" in output
    assert Order.objects.count() == 8


def test_a_csv_store_cannot_be_synced(scope_a):
    csv_store = ShopConnectionFactory(tenant=scope_a, platform="csv")
    with pytest.raises(CommandError, match="not synced"):
        sync(csv_store)


def test_since_must_be_a_date(store):
    with pytest.raises(CommandError, match="--since"):
        sync(store, "--since", "yesterday")


def test_refused_credentials_stop_the_sync_with_a_clear_message(store, shop_server):
    shop_server.fail_next(401)
    with pytest.raises(CommandError, match="credentials refused"):
        sync(store)
    assert ShopConnection.objects.get(pk=store.pk).last_synced_at is None


def test_rate_limits_and_outages_are_waited_out_as_the_platform_asks(store, shop_server):
    from wismo.tracking.services.sync import store_sync

    shop_server.fail_next(429, headers={"Retry-After": "2.0"})
    shop_server.fail_next(503)
    waits = []

    report = store_sync(store=store, sleep=waits.append)

    assert waits == [2.0, 2.0]  # Shopify's Retry-After, then the second step of the backoff
    assert report.retries == 2 and report.created == 8


def test_a_platform_that_stays_down_stops_the_sync_after_bounded_retries(store, shop_server):
    from carriers.http import TransientError
    from wismo.tracking.services.sync import MAX_RETRIES, store_sync

    for _ in range(MAX_RETRIES + 1):
        shop_server.fail_next(502)
    waits = []

    with pytest.raises(TransientError):
        store_sync(store=store, sleep=waits.append)

    assert len(waits) == MAX_RETRIES and max(waits) <= 120


def test_a_nearly_full_request_bucket_slows_the_sync_before_shopify_refuses(store, shop_server):
    from carriers.http import HttpClient
    from wismo.tracking.importers.shopify import ShopifyClient, bucket_pause

    assert bucket_pause("10/40") == 0.0
    assert bucket_pause("39/40") == pytest.approx(1.5)  # 3 over the headroom, leaking 2/s
    assert bucket_pause("396/400") == 0.0 and bucket_pause("400/400") == pytest.approx(0.2)
    assert bucket_pause("garbage") == 0.0 and bucket_pause("") == 0.0

    original = shop_server.routes[0][2]

    def busy(request):
        reply = original(request)
        reply.headers["X-Shopify-Shop-Api-Call-Limit"] = "40/40"
        return reply

    shop_server.route("GET", r"/orders\.json$", busy)
    waits = []
    client = ShopifyClient(shop_server.url, "shpat_test", HttpClient(), sleep=waits.append)
    page = client.orders_page(None, None)
    client.orders_page(None, page.next_cursor)

    assert waits == [pytest.approx(2.0)]


# -- scheduled syncs ----------------------------------------------------------------------------


def test_scheduled_syncs_come_due_by_platform_and_back_off_after_refused_credentials(scope_a):
    from wismo.tracking.services.sync import stores_due_for_sync

    now = T0 + timedelta(days=1)

    def make(platform, **fields):
        return ShopConnectionFactory(tenant=scope_a, platform=platform, **fields).pk

    never = make("magento")
    fresh = make("prestashop", sync_attempted_at=now - timedelta(minutes=2))
    stale = make("prestashop", sync_attempted_at=now - timedelta(minutes=6))
    webhooks_cover = make("shopify", sync_attempted_at=now - timedelta(minutes=30))
    safety_net = make("woocommerce", sync_attempted_at=now - timedelta(minutes=61))
    refused = make(
        "magento", sync_attempted_at=now - timedelta(hours=1), sync_error="refused: HTTP 401"
    )
    running = make("magento", sync_started_at=now - timedelta(minutes=3))
    make("csv")
    make("magento", is_active=False)

    due = {store for _tenant, store in stores_due_for_sync(now=now)}

    assert due == {never, stale, safety_net}
    assert not due & {fresh, webhooks_cover, refused, running}


def test_a_scheduled_sync_records_success_and_failure_for_the_merchant(store, shop_server):
    from wismo.tracking.services.sync import store_sync_scheduled

    report = store_sync_scheduled(store_id=store.pk)
    store.refresh_from_db()
    assert report.created == 8
    assert store.sync_error == "" and store.sync_attempted_at and store.sync_started_at is None

    shop_server.fail_next(401)
    assert store_sync_scheduled(store_id=store.pk) is None
    store.refresh_from_db()
    assert store.sync_error.startswith("refused: ") and store.sync_started_at is None


def test_a_store_already_syncing_is_not_synced_twice(store, shop_server):
    from django.utils import timezone

    from wismo.tracking.services.sync import store_sync_scheduled

    ShopConnection.objects.filter(pk=store.pk).update(sync_started_at=timezone.now())

    assert store_sync_scheduled(store_id=store.pk) is None
    assert shop_server.requests == []


def test_beat_enqueues_one_import_task_per_due_store(scope_a, monkeypatch):
    from wismo.tracking import tasks

    sent = []
    monkeypatch.setattr(tasks.import_store, "apply_async", lambda kwargs: sent.append(kwargs))
    store = ShopConnectionFactory(tenant=scope_a, platform="magento")

    assert tasks.import_due_stores() == 1
    assert sent == [{"tenant_id": scope_a.pk, "store_id": store.pk}]
