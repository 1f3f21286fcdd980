"""A page's renderings are kept in this process by version: the same version is rendered once,
anything the page shows that changes is rendered afresh, entries stay within their byte budget
(expiry and eviction: tests/tracking_pages/test_lru.py), and an erased shopper's renderings go."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.scoping import tenant_scope
from tests.factories import ev
from tests.tracking_pages.conftest import page_url
from tracking_pages import pagecache, views
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def renders(monkeypatch):
    """The pages rendered (not answered from a kept rendering), by kind of page."""
    calls = []
    real = views._render_page

    def counting(**kwargs):
        calls.append(kwargs["data"].ref.kind)
        return real(**kwargs)

    monkeypatch.setattr(views, "_render_page", counting)
    return calls


def test_the_same_version_is_rendered_once_and_served_again_byte_for_byte(
    client, tenant_a, shipment_a, renders
):
    url = page_url(tenant_a, shipment_a.public_token)

    first, second = client.get(url), client.get(url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert renders == ["shipment"]
    assert first.content == second.content
    assert client.get(f"{url}?lang=it").content != first.content  # another language, rendered
    assert renders == ["shipment", "shipment"]


def test_a_new_event_is_a_new_version_and_shows_at_once(client, tenant_a, shipment_a, renders):
    url = page_url(tenant_a, shipment_a.public_token)
    client.get(url)
    with tenant_scope(tenant_a):
        record_events(
            shipment=shipment_a,
            events=[ev(30, "out_for_delivery", description="With the courier in Brera")],
        )

    page = client.get(url).content.decode()

    assert "With the courier in Brera" in page
    assert renders == ["shipment", "shipment"]


def test_a_proven_shopper_gets_a_kept_rendering_with_their_own_csrf_token(
    tenant_a, order_a, shipment_a, renders
):
    url = page_url(tenant_a, shipment_a.public_token)
    pages = []
    for _ in range(2):
        browser = Client(enforce_csrf_checks=True)
        browser.post("/t/alpha/", {"order_number": "1001", "email": "ada@example.com"})
        pages.append(browser.get(url).content.decode())

    assert renders == ["shipment"]
    assert "Ada Lovelace" in pages[0] and "Ada Lovelace" in pages[1]
    assert views.CSRF_MARK not in pages[0] + pages[1]
    assert pages[0] != pages[1]  # each browser's own token in its forms


def test_with_no_seconds_nothing_is_kept(client, tenant_a, shipment_a, renders, settings):
    settings.WISMO_PAGE_CACHE_SECONDS = 0
    url = page_url(tenant_a, shipment_a.public_token)

    client.get(url)
    client.get(url)

    assert renders == ["shipment", "shipment"]


def test_the_budget_is_in_bytes_of_page_bodies(monkeypatch):
    monkeypatch.setattr(pagecache.pages, "max_weight", 250)
    for name in "abc":
        pagecache.put(f"k:{name}", name.encode() * 100, 60)  # 100 bytes each: c pushes a out

    assert pagecache.get("k:a") is None
    assert pagecache.pages.weight == 200
    pagecache.put("k:huge", b"x" * 251, 60)  # larger than the whole budget: not kept
    assert pagecache.get("k:huge") is None and pagecache.pages.weight == 200


def test_forgetting_pages_drops_exactly_their_renderings():
    keys = [
        "wismo:tp:page:order:7:v1:en:p:x",
        "wismo:tp:page:order:70:v1:en:p:x",
        "wismo:tp:page:shipment:7:v1:en:a:x",
        "wismo:tp:page:shipment:8:v2:it:a:x",
    ]
    for key in keys:
        pagecache.put(key, b"<p>Ada Lovelace</p>", 60)

    assert pagecache.forget_pages(orders=[7], shipments=[8]) == 2

    assert [key for key in keys if pagecache.get(key) is not None] == [keys[1], keys[2]]
    assert pagecache.pages.weight == 2 * len(b"<p>Ada Lovelace</p>")
