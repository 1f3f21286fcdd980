"""The tracking page by token: what it shows, to whom, in which language, from which cache."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import ev
from tests.tracking_pages.conftest import IN_TRANSIT, make_order, make_shipment, page_url
from tracking_pages import selectors, views
from wismo.tracking.models import Shipment
from wismo.tracking.services.timeline import record_events

pytestmark = pytest.mark.django_db


def text_of(response) -> str:
    """The visible text of a page, tags dropped and whitespace collapsed."""
    page = response.content.decode()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_a_parcel_page_says_where_it_is_when_it_comes_and_how_fresh_that_is(
    client, tenant_a, shipment_a
):
    response = client.get(page_url(tenant_a, shipment_a.public_token))

    text = text_of(response)
    assert response.status_code == 200
    assert "In transit" in text
    assert "Your parcel has arrived at one of the carrier's sorting centres." in text
    assert "Expected between" in text
    assert "Our estimate, very likely (85% of similar parcels arrived in this window)." in text
    assert "Carrier's last scan:" in text and "checked 8 minutes ago" in text
    assert "Tracking number TRK0001" in text
    assert "Arrived at hub Bologna, IT" in text


def test_the_progress_line_marks_what_is_done_and_where_the_parcel_is(client, tenant_a, shipment_a):
    html = client.get(page_url(tenant_a, shipment_a.public_token)).content.decode()

    steps = re.findall(
        r'class="step step--(\w+)"[^>]*><span class="step__dot"[^>]*></span>'
        r'<span class="step__label">([^<]+)</span>',
        html,
    )
    assert steps == [
        ("done", "Ordered"),
        ("done", "Shipped"),
        ("current", "In transit"),
        ("todo", "Out for delivery"),
        ("todo", "Delivered"),
    ]
    assert html.count('aria-current="step"') == 1


def test_the_timeline_is_shown_newest_first_in_the_tenants_time_zone(client, tenant_a, order_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(timezone="Europe/Rome")
    shipment = make_shipment(tenant_a, order_a, events=IN_TRANSIT)

    html = client.get(page_url(tenant_a, shipment.public_token)).content.decode()

    times = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', html)
    # T0 + 20 h = 2026-11-03 04:00 UTC = 05:00 in Rome (CET).
    assert times[0] == ("2026-11-03T05:00:00+01:00", "Nov. 3, 2026, 5 a.m.")
    assert [t[0] for t in times] == sorted((t[0] for t in times), reverse=True)
    assert "Times are in Europe/Rome." in html


def test_a_parcel_needing_action_says_what_to_do_and_where_to_collect_it(client, tenant_a, order_a):
    shipment = make_shipment(
        tenant_a,
        order_a,
        carrier="dhl",
        number="1234567890",
        events=[
            ev(0, "in_transit", "in_transit.picked_up"),
            ev(
                30,
                "available_for_pickup",
                "available_for_pickup.pickup_point",
                description="Ready at the shop",
                location="Tabacchi Rossi, Via Roma 1, Milano",
            ),
        ],
    )

    response = client.get(page_url(tenant_a, shipment.public_token))

    text = text_of(response)
    assert "Ready for pickup" in text
    assert "Action needed" in text
    assert "Where to collect it: Tabacchi Rossi, Via Roma 1, Milano" in text
    assert 'href="https://www.dhl.com/global-en/home/tracking.html?tracking-id=1234567890"' in (
        response.content.decode()
    )


def test_a_customs_fee_tells_the_shopper_to_pay_it(client, tenant_a, order_a):
    shipment = make_shipment(
        tenant_a, order_a, events=[ev(0, "exception", "exception.held_for_payment")]
    )

    text = text_of(client.get(page_url(tenant_a, shipment.public_token)))

    assert "Import duties or fees must be paid before your parcel can be delivered." in text
    assert "Action needed" in text


def test_a_delivered_parcel_says_when_and_completes_the_progress_line(client, tenant_a, order_a):
    shipment = make_shipment(
        tenant_a, order_a, events=[*IN_TRANSIT, ev(40, "delivered", "delivered.neighbor")]
    )

    html = client.get(page_url(tenant_a, shipment.public_token)).content.decode()

    assert "Delivered Wednesday, Nov. 4, 2026" in html  # T0 + 40 h, UTC
    assert "Your parcel was left with a neighbour." in html
    assert html.count("step step--done") == 5


def test_an_estimate_in_the_past_says_it_runs_late(client, tenant_a, order_a):
    shipment = make_shipment(tenant_a, order_a, events=IN_TRANSIT)
    with tenant_scope(tenant_a):
        Shipment.objects.filter(pk=shipment.pk).update(
            estimated_delivery=date(2026, 1, 2), estimated_delivery_source="carrier"
        )

    text = text_of(client.get(page_url(tenant_a, shipment.public_token)))

    assert "Expected Friday, Jan. 2, 2026 Running later than expected." in text
    assert "Date given by the carrier." in text


def test_an_order_page_shows_every_parcel(client, tenant_a, order_a):
    make_shipment(tenant_a, order_a, number="PARCEL1", events=IN_TRANSIT)
    make_shipment(tenant_a, order_a, number="PARCEL2", events=[ev(1, "delivered")])

    text = text_of(client.get(page_url(tenant_a, order_a.public_token)))

    assert "Your parcels (2)" in text
    assert "Parcel 1" in text and "Parcel 2" in text
    assert text.index("PARCEL1") < text.index("PARCEL2")


def test_an_order_not_shipped_yet_says_so(client, tenant_a, order_a):
    text = text_of(client.get(page_url(tenant_a, order_a.public_token)))

    assert "Your order has not been shipped yet." in text


def test_a_replaced_tracking_number_points_to_the_new_one(client, tenant_a, order_a):
    old = make_shipment(tenant_a, order_a, number="OLD1", events=IN_TRANSIT)
    new = make_shipment(tenant_a, order_a, number="NEW1")
    with tenant_scope(tenant_a):
        Shipment.objects.filter(pk=new.pk).update(replaces=old)

    old_html = client.get(page_url(tenant_a, old.public_token)).content.decode()
    new_text = text_of(client.get(page_url(tenant_a, new.public_token)))

    assert "This tracking number was replaced by NEW1." in old_html
    assert f'href="/t/alpha/{new.public_token}/?lang=en"' in old_html
    assert "Previous tracking number OLD1" in new_text


# --- privacy -----------------------------------------------------------------------------------


def test_a_token_alone_shows_no_personal_data(client, tenant_a, shipment_a, order_a):
    response = client.get(page_url(tenant_a, shipment_a.public_token))

    html = response.content.decode()
    for personal in ("Ada", "Lovelace", "ada@example.com", "20121", "Blue teapot", "1001"):
        assert personal not in html
    assert "See your order details" in html


def test_another_tenants_token_answers_exactly_like_a_missing_one(
    client, tenant_a, tenant_b, shipment_a
):
    theirs = client.get(f"/t/{tenant_b.slug}/{shipment_a.public_token}/")
    missing = client.get(f"/t/{tenant_b.slug}/{'x' * 32}/")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content
    assert "In transit" not in theirs.content.decode()


def test_an_unknown_or_inactive_tenant_answers_404(client, tenant_a, shipment_a):
    assert client.get(f"/t/nobody/{shipment_a.public_token}/").status_code == 404
    Tenant.objects.filter(pk=tenant_a.pk).update(is_active=False)
    selectors.forget_tenants()

    assert client.get(page_url(tenant_a, shipment_a.public_token)).status_code == 404


def test_tokens_of_wismo_carry_at_least_128_bits(shipment_a, order_a):
    for token in (shipment_a.public_token, order_a.public_token):
        assert len(token) >= 22  # 22 url-safe base64 characters = 132 bits
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


# --- languages ---------------------------------------------------------------------------------


def _lang(response) -> str:
    return re.search(r'<html lang="(\w+)">', response.content.decode()).group(1)


def test_language_comes_from_the_query_first(client, tenant_a, order_a):
    order_a.locale = "de"
    order_a.save()
    shipment = make_shipment(tenant_a, order_a, events=IN_TRANSIT)

    response = client.get(
        page_url(tenant_a, shipment.public_token) + "?lang=it", HTTP_ACCEPT_LANGUAGE="fr"
    )

    assert _lang(response) == "it"
    assert response["Content-Language"] == "it"
    assert "In transito" in response.content.decode()


def test_then_from_the_orders_locale(client, tenant_a, order_a):
    order_a.locale = "de-AT"
    order_a.save()
    shipment = make_shipment(tenant_a, order_a, events=IN_TRANSIT)

    response = client.get(page_url(tenant_a, shipment.public_token), HTTP_ACCEPT_LANGUAGE="fr")

    assert _lang(response) == "de"
    assert "Unterwegs" in response.content.decode()


def test_then_from_accept_language(client, tenant_a, shipment_a):
    response = client.get(
        page_url(tenant_a, shipment_a.public_token), HTTP_ACCEPT_LANGUAGE="pt-BR, es;q=0.8"
    )

    assert _lang(response) == "es"


def test_then_the_tenants_default(client, tenant_a, shipment_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(default_language="fr")
    selectors.forget_tenants()

    response = client.get(page_url(tenant_a, shipment_a.public_token), HTTP_ACCEPT_LANGUAGE="ja")

    assert _lang(response) == "fr"
    assert "Suivi" in response.content.decode() or "acheminement" in response.content.decode()


def test_an_unsupported_query_language_is_ignored(client, tenant_a, shipment_a):
    response = client.get(page_url(tenant_a, shipment_a.public_token) + "?lang=xx<script>")

    assert _lang(response) == "en"
    assert "xx<script>" not in response.content.decode()


@pytest.mark.parametrize(
    ("lang", "status_words"),
    [
        ("en", "In transit"),
        ("it", "In transito"),
        ("es", "En tránsito"),
        ("de", "Unterwegs"),
        ("fr", "En cours d&#39;acheminement"),
    ],
)
def test_every_language_translates_status_and_reason(
    client, tenant_a, shipment_a, lang, status_words
):
    html = client.get(
        page_url(tenant_a, shipment_a.public_token) + f"?lang={lang}"
    ).content.decode()

    assert status_words in html


# --- branding and escaping ---------------------------------------------------------------------

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_branding_reaches_the_page_through_its_own_stylesheet(client, tenant_a, shipment_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        branding={
            "primary_color": "#ffff00",
            "logo_url": "https://cdn.alpha.example/logo.png",
            "notice": "Peak season: one more day",
            "help_url": "mailto:help@alpha.example",
            "faq": [{"q": "Where?", "a": "Here."}],
            "header_links": [{"label": "Our shop", "url": "https://alpha.example/"}],
            "promo": {"title": "10% off", "link_url": "https://alpha.example/sale"},
        }
    )
    selectors.forget_tenants()

    response = client.get(page_url(tenant_a, shipment_a.public_token))
    html = response.content.decode()
    css_url = re.search(r'href="(/t/alpha/brand\.css\?v=\w+)"', html).group(1)
    css = client.get(css_url)

    assert '<img class="logo" src="https://cdn.alpha.example/logo.png" alt="Alpha Shop">' in html
    assert "Peak season: one more day" in html
    assert 'href="mailto:help@alpha.example"' in html
    assert "<summary>Where?</summary>" in html
    assert '<a href="https://alpha.example/" rel="noopener noreferrer">Our shop</a>' in html
    assert "10% off" in html
    assert "style=" not in html and "<style" not in html
    assert "img-src 'self' https://cdn.alpha.example;" in response["Content-Security-Policy"]
    assert css.status_code == 200
    assert css["Content-Type"] == "text/css; charset=utf-8"
    assert "--brand:#ffff00;--on-brand:#111111;--brand-ink:#737300;" in css.content.decode()
    assert css["Cache-Control"] == "public, max-age=31536000, immutable"


def test_every_merchant_field_and_carrier_text_is_escaped(client, tenant_a, order_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        name=XSS,
        branding={
            "primary_color": XSS,
            "logo_url": f"https://cdn.example/{XSS}",
            "notice": XSS,
            "help_url": "javascript:alert(1)",
            "faq": [{"q": XSS, "a": XSS}],
            "header_links": [{"label": XSS, "url": "javascript:alert(1)"}],
            "promo": {
                "title": XSS,
                "text": XSS,
                "link_url": "javascript:alert(1)",
                "products": [{"title": XSS, "url": "https://a.example/", "price": XSS}],
            },
            "font": XSS,
        },
    )
    selectors.forget_tenants()
    shipment = make_shipment(
        tenant_a,
        order_a,
        number="X<b>1</b>",
        events=[ev(0, "in_transit", description=XSS, location=XSS)],
    )

    html = client.get(page_url(tenant_a, shipment.public_token)).content.decode()

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "javascript:" not in html
    assert "<b>1</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # the page's own external script, nothing else


def test_a_page_allows_no_inline_script_or_style_and_no_framing(client, tenant_a, shipment_a):
    response = client.get(page_url(tenant_a, shipment_a.public_token))

    csp = response["Content-Security-Policy"]
    assert csp == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Vary"] == "Accept-Language, Cookie"
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.content.decode())


# --- caching ------------------------------------------------------------------------------------


def test_a_new_event_gives_the_page_a_new_version_at_once(client, tenant_a, shipment_a):
    url = page_url(tenant_a, shipment_a.public_token)
    assert "In transit" in text_of(client.get(url))

    with tenant_scope(tenant_a):
        record_events(shipment=shipment_a, events=[ev(30, "out_for_delivery")])

    assert "Out for delivery" in text_of(client.get(url)).split("Delivery progress")[0]


def test_a_branding_change_shows_once_the_tenant_is_read_again(client, tenant_a, shipment_a):
    url = page_url(tenant_a, shipment_a.public_token)
    client.get(url)
    Tenant.objects.filter(pk=tenant_a.pk).update(branding={"notice": "New notice"})
    selectors.forget_tenants()  # what TENANT_TTL seconds do

    assert "New notice" in client.get(url).content.decode()


def test_the_shared_cache_serves_the_same_version_without_rendering(
    client, tenant_a, shipment_a, monkeypatch
):
    url = page_url(tenant_a, shipment_a.public_token)
    first = client.get(url)
    rendered = []
    monkeypatch.setattr(views, "_render_page", lambda **kw: rendered.append(kw) or "x")

    second = client.get(url)

    assert rendered == []
    assert second.content == first.content


def test_the_process_cache_answers_without_the_database_for_a_few_seconds(
    client, tenant_a, shipment_a, settings, django_assert_num_queries
):
    settings.WISMO_PAGE_LOCAL_SECONDS = 5
    url = page_url(tenant_a, shipment_a.public_token)
    first = client.get(url)

    with django_assert_num_queries(0):
        second = client.get(url)

    assert second.content == first.content
    assert second["Content-Security-Policy"] == first["Content-Security-Policy"]


def test_a_page_this_process_has_not_seen_costs_one_query(
    client, tenant_a, shipment_a, django_assert_num_queries
):
    url = page_url(tenant_a, shipment_a.public_token)
    client.get(url)

    with django_assert_num_queries(1):  # the parcel with its order, links and events
        client.get(url)


def test_the_freshness_stays_honest_from_minute_to_minute(
    client, tenant_a, shipment_a, monkeypatch
):
    url = page_url(tenant_a, shipment_a.public_token)
    assert "checked 8 minutes ago" in client.get(url).content.decode()
    later = timezone.now() + timedelta(minutes=3)
    monkeypatch.setattr(views.time, "time", lambda: later.timestamp())
    monkeypatch.setattr(views.timezone, "now", lambda: later)

    assert "checked 11 minutes ago" in client.get(url).content.decode()


# --- JSON, embedding, custom domain ------------------------------------------------------------


def test_the_json_view_has_the_parcel_but_no_personal_data(client, tenant_a, shipment_a):
    response = client.get(page_url(tenant_a, shipment_a.public_token, "json/"))

    body = response.json()
    assert response.status_code == 200
    assert body["verified"] is False and body["order"] is None
    parcel = body["shipments"][0]
    assert (parcel["tracking_number"], parcel["status"], parcel["status_label"]) == (
        "TRK0001",
        "in_transit",
        "In transit",
    )
    assert [e["description"] for e in parcel["events"]] == [
        "Arrived at hub",
        "Parcel picked up",
        "Label printed",
    ]
    assert parcel["estimated_delivery_range"]["confidence"] == 0.85
    assert "ada@example.com" not in response.content.decode()


def test_the_json_view_answers_the_tenants_own_sites_only(client, tenant_a, shipment_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        branding={"allowed_origins": ["https://www.alpha.example"]}
    )
    selectors.forget_tenants()
    url = page_url(tenant_a, shipment_a.public_token, "json/")

    own = client.get(url, HTTP_ORIGIN="https://www.alpha.example")
    other = client.get(url, HTTP_ORIGIN="https://evil.example")

    assert own["Access-Control-Allow-Origin"] == "https://www.alpha.example"
    assert "Access-Control-Allow-Origin" not in other


def test_another_tenants_token_in_json_answers_404(client, tenant_b, shipment_a):
    response = client.get(f"/t/{tenant_b.slug}/{shipment_a.public_token}/json/")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_the_embed_card_may_be_framed_by_the_tenants_sites_only(client, tenant_a, shipment_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        custom_domain="track.alpha.example",
        branding={"allowed_origins": ["https://www.alpha.example"]},
    )
    selectors.forget_tenants()

    response = client.get(page_url(tenant_a, shipment_a.public_token, "embed/"))

    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    assert response["Content-Security-Policy"].endswith(
        "frame-ancestors 'self' https://track.alpha.example https://www.alpha.example"
    )
    assert '<body class="embed">' in response.content.decode()
    assert "Tracking history" not in response.content.decode()


def test_a_custom_domain_serves_the_lookup_and_the_pages_at_its_root(
    client, tenant_a, tenant_b, shipment_a, settings
):
    Tenant.objects.filter(pk=tenant_a.pk).update(custom_domain="track.alpha.example")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "track.alpha.example"]
    with tenant_scope(tenant_b):
        theirs = make_shipment(tenant_b, make_order(tenant_b), number="BRAVO1")
    host = {"HTTP_HOST": "track.alpha.example"}

    lookup = client.get("/", **host)
    page = client.get(f"/{shipment_a.public_token}/", **host)
    other = client.get(f"/{theirs.public_token}/", **host)
    admin = client.get("/admin/", **host)

    assert lookup.status_code == 200 and "Where is my order?" in lookup.content.decode()
    assert 'action="/"' in lookup.content.decode()
    assert page.status_code == 200 and "In transit" in page.content.decode()
    assert f'action="/{shipment_a.public_token}/verify/"' in page.content.decode()
    assert "/t/alpha" not in page.content.decode()
    assert other.status_code == 404 and "BRAVO1" not in other.content.decode()
    assert admin.status_code == 404


def test_page_views_are_counted_without_touching_the_database(
    client, tenant_a, shipment_a, settings, django_assert_num_queries
):
    from tracking_pages import pageviews

    settings.WISMO_PAGE_LOCAL_SECONDS = 5
    url = page_url(tenant_a, shipment_a.public_token)
    client.get(url)

    with django_assert_num_queries(0):
        client.get(url)
        client.get(url)

    assert pageviews._pending[(tenant_a.pk, "shipment", shipment_a.pk)] == 3


def test_the_hot_read_refuses_to_run_without_a_tenant_scope(shipment_a):
    from tenants.scoping import ScopeError

    with pytest.raises(ScopeError):
        selectors.page_load(token=shipment_a.public_token)


def test_the_hot_read_never_crosses_tenants(tenant_b, shipment_a):
    with tenant_scope(tenant_b):
        assert selectors.page_load(token=shipment_a.public_token) is None


def test_an_order_page_loads_every_parcel_with_its_own_events(tenant_a, order_a, shipment_a):
    second = make_shipment(tenant_a, order_a, number="PARCEL2", events=[ev(50, "delivered")])
    empty = make_shipment(tenant_a, order_a, number="PARCEL3")

    with tenant_scope(tenant_a):
        data = selectors.page_load(token=order_a.public_token)

    assert data.ref.kind == "order"
    assert [s.tracking_number for s in data.shipments] == ["TRK0001", "PARCEL2", "PARCEL3"]
    assert [len(data.events[s.pk]) for s in (shipment_a, second, empty)] == [3, 1, 0]


def test_the_hot_read_returns_what_the_orm_sees(tenant_a, shipment_a, order_a):
    with tenant_scope(tenant_a):
        data = selectors.page_load(token=shipment_a.public_token)
        shipment = Shipment.objects.get(pk=shipment_a.pk)

    parcel = data.shipments[0]
    assert (parcel.pk, parcel.status, parcel.substatus, parcel.tracking_number) == (
        shipment.pk,
        shipment.status,
        shipment.substatus,
        shipment.tracking_number,
    )
    assert parcel.last_event_at == shipment.last_event_at == datetime(2026, 11, 3, 4, tzinfo=UTC)
    assert parcel.estimated_delivery == shipment.estimated_delivery
    assert data.order.line_items == order_a.line_items
    assert [e.description for e in data.events[shipment.pk]] == [
        "Arrived at hub",
        "Parcel picked up",
        "Label printed",
    ]
