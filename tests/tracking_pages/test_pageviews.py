"""Page views: counted in the process, pushed to the cache, flushed to the database in batches."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tenants.scoping import tenant_scope
from tests.tracking_pages.conftest import page_url
from tracking_pages import pageviews, selectors
from tracking_pages.models import PageViewCount
from tracking_pages.tasks import flush_page_views

pytestmark = pytest.mark.django_db


def _rows(tenant):
    with tenant_scope(tenant):
        return sorted(
            PageViewCount.objects.values_list("shipment_id", "order_id", "day", "views"),
            key=str,
        )


def test_views_are_pushed_in_one_batch_and_flushed_once_the_minute_is_closed(
    tenant_a, tenant_b, order_a, shipment_a
):
    now = time.time()
    pageviews.push(
        [((tenant_a.pk, "shipment", shipment_a.pk), 3), ((tenant_a.pk, "order", order_a.pk), 1)]
    )
    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk), 2)])

    too_early = pageviews.page_views_flush(now=now + 30)
    written = pageviews.page_views_flush(now=now + 130)
    again = pageviews.page_views_flush(now=now + 190)

    day = datetime.fromtimestamp(now, tz=UTC).date()
    assert (too_early, written, again) == (0, 6, 0)
    assert _rows(tenant_a) == sorted(
        [(shipment_a.pk, None, day, 5), (None, order_a.pk, day, 1)], key=str
    )
    assert _rows(tenant_b) == []


def test_a_later_flush_adds_to_the_days_row(tenant_a, shipment_a):
    now = time.time()
    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk), 2)])
    pageviews.page_views_flush(now=now + 130)
    later = now + 200
    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk), 4)], now=later)
    pageviews.page_views_flush(now=later + 130)

    assert [row[-1] for row in _rows(tenant_a)] == [6]


def test_views_of_a_deleted_page_are_dropped_quietly(tenant_a, shipment_a):
    now = time.time()
    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk + 999), 2)])

    assert pageviews.page_views_flush(now=now + 130) == 2
    assert _rows(tenant_a) == []


def test_page_requests_reach_the_database_through_the_beat_task(
    client, tenant_a, shipment_a, monkeypatch
):
    monkeypatch.setattr(pageviews, "PUSH_SECONDS", 0.0)
    for _ in range(3):
        client.get(page_url(tenant_a, shipment_a.public_token))
    client.get(page_url(tenant_a, shipment_a.public_token, "json/"))  # not a page view
    monkeypatch.setattr(pageviews.time, "time", lambda real=time.time: real() + 130)

    written = flush_page_views()

    assert written == 3
    assert [row[-1] for row in _rows(tenant_a)] == [3]
    with tenant_scope(tenant_a):
        assert [r.views for r in selectors.page_views()] == [3]


def test_the_local_memory_cache_flushes_from_the_web_process_itself(
    tenant_a, shipment_a, settings, monkeypatch
):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    flushed = []
    monkeypatch.setattr(pageviews, "_last_local_flush", 0.0)
    monkeypatch.setattr(pageviews, "page_views_flush", lambda: flushed.append(1) or 0)

    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk), 1)])
    pageviews.push([((tenant_a.pk, "shipment", shipment_a.pk), 1)])

    assert flushed == [1]  # at most once a minute
