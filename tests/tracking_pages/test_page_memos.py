"""What the uncached page keeps in the process between renders stays right: the progress line
(once per language and steps), the chrome with the page's tail (once per brand, language and
whether the promotion shows) and the response headers (once per policy's origins)."""

from __future__ import annotations

import re

import pytest

from tenants.models import Tenant
from tests.factories import ev
from tests.tracking_pages.conftest import IN_TRANSIT, make_order, make_shipment, page_url
from tracking_pages import selectors, views

pytestmark = pytest.mark.django_db

PROMO = {"promo": {"title": "10% off", "link_url": "https://alpha.example/sale"}}


def _steps(html: str) -> list[tuple[str, str]]:
    return re.findall(
        r'class="step step--(\w+)"[^>]*><span class="step__dot"[^>]*></span>'
        r'<span class="step__label">([^<]+)</span>',
        html,
    )


@pytest.fixture
def progress_renders(monkeypatch):
    """How many times the progress macro is rendered (not answered from the memo)."""
    calls = []
    real = views.macro

    def counting(template, name):
        render = real(template, name)
        return lambda *args: calls.append(name) or render(*args)

    monkeypatch.setattr(views, "macro", counting)
    views._progress_lines.clear()
    return calls


def test_parcels_in_the_same_state_share_one_progress_line(
    client, tenant_a, order_a, progress_renders
):
    first = make_shipment(tenant_a, order_a, number="SAME1", events=IN_TRANSIT)
    second = make_shipment(tenant_a, order_a, number="SAME2", events=IN_TRANSIT)

    pages = [
        client.get(page_url(tenant_a, s.public_token)).content.decode() for s in (first, second)
    ]

    assert progress_renders == ["progress"]
    assert (
        _steps(pages[0])
        == _steps(pages[1])
        == [
            ("done", "Ordered"),
            ("done", "Shipped"),
            ("current", "In transit"),
            ("todo", "Out for delivery"),
            ("todo", "Delivered"),
        ]
    )


def test_another_state_or_language_gets_its_own_progress_line(
    client, tenant_a, order_a, progress_renders
):
    moving = make_shipment(tenant_a, order_a, number="MOVING", events=IN_TRANSIT)
    done = make_shipment(
        tenant_a, order_a, number="DONE", events=[*IN_TRANSIT, ev(40, "delivered")]
    )

    moving_en = client.get(page_url(tenant_a, moving.public_token)).content.decode()
    done_en = client.get(page_url(tenant_a, done.public_token)).content.decode()
    moving_it = client.get(page_url(tenant_a, moving.public_token) + "?lang=it").content.decode()

    assert len(progress_renders) == 3
    assert [state for state, _ in _steps(done_en)] == ["done"] * 5
    assert _steps(moving_en)[2] == ("current", "In transit")
    assert _steps(moving_it)[2] == ("current", "In transito")
    assert 'class="progress" aria-label="Delivery progress"' in moving_en
    assert 'class="progress" aria-label="Avanzamento della consegna"' in moving_it


def test_a_parcel_with_a_problem_hides_the_promotion_a_page_before_showed(
    client, tenant_a, order_a
):
    Tenant.objects.filter(pk=tenant_a.pk).update(branding=PROMO)
    selectors.forget_tenants()
    fine = make_shipment(tenant_a, order_a, number="FINE", events=IN_TRANSIT)
    stuck = make_shipment(
        tenant_a, order_a, number="STUCK", events=[ev(0, "exception", "exception.held_for_payment")]
    )

    shown = client.get(page_url(tenant_a, fine.public_token)).content.decode()
    hidden = client.get(page_url(tenant_a, stuck.public_token)).content.decode()
    shown_again = client.get(page_url(tenant_a, fine.public_token)).content.decode()

    assert "10% off" in shown and "10% off" in shown_again
    assert "10% off" not in hidden
    for page in (shown, hidden):
        assert page.count('<p class="another">') == 1
        assert page.index('class="parcel card') < page.index('<p class="another">')
        assert page.index('<p class="another">') < page.index("</main>")


def test_a_new_promotion_shows_once_the_tenant_is_read_again(client, tenant_a, shipment_a):
    url = page_url(tenant_a, shipment_a.public_token)
    Tenant.objects.filter(pk=tenant_a.pk).update(branding=PROMO)
    selectors.forget_tenants()
    assert "10% off" in client.get(url).content.decode()

    Tenant.objects.filter(pk=tenant_a.pk).update(
        branding={"promo": {"title": "Free shipping", "link_url": "https://alpha.example/"}}
    )
    selectors.forget_tenants()  # what TENANT_TTL seconds do
    page = client.get(url).content.decode()

    assert "Free shipping" in page and "10% off" not in page


def test_each_tenant_frames_its_widget_for_its_own_sites_only(
    client, tenant_a, tenant_b, shipment_a, order_a
):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        branding={"allowed_origins": ["https://www.alpha.example"]}
    )
    Tenant.objects.filter(pk=tenant_b.pk).update(
        branding={"allowed_origins": ["https://www.bravo.example"]}
    )
    selectors.forget_tenants()
    order_b = make_order(tenant_b, number="B1")
    shipment_b = make_shipment(tenant_b, order_b, number="BRAVO1", events=IN_TRANSIT)

    a = client.get(page_url(tenant_a, shipment_a.public_token, "embed/"))
    b = client.get(page_url(tenant_b, shipment_b.public_token, "embed/"))
    a_full = client.get(page_url(tenant_a, shipment_a.public_token))

    assert a["Content-Security-Policy"].endswith("frame-ancestors 'self' https://www.alpha.example")
    assert b["Content-Security-Policy"].endswith("frame-ancestors 'self' https://www.bravo.example")
    assert a_full["Content-Security-Policy"].endswith("frame-ancestors 'none'")
    assert a["Content-Language"] == b["Content-Language"] == "en"
