"""Branding: validated with the tracking pages' own rules, previewed on a sample parcel in a
sandboxed frame, published to the tracking pages at once."""

from __future__ import annotations

import pytest

from tenants.models import Tenant
from tracking_pages import selectors as tp_selectors

pytestmark = pytest.mark.django_db

URL = "/dashboard/settings/branding/"
PREVIEW = "/dashboard/settings/branding/preview/"


def _form(**changes) -> dict:
    data = {
        "logo_url": "https://cdn.alpha.example/logo.png",
        "primary_color": "#aa2200",
        "accent_color": "#ffcc00",
        "font": "serif",
        "header_links": "Shop | https://alpha.example/\nReturns | https://alpha.example/returns",
        "notice": "Peak season: allow one extra day.",
        "help_url": "mailto:care@alpha.example",
        "faq": "Where is my parcel? | On its way, see above.",
        "promo_title": "New roasts",
        "promo_text": "Fresh this week",
        "promo_image_url": "https://cdn.alpha.example/promo.png",
        "promo_link_url": "https://alpha.example/new",
        "promo_products": "Huila 250 g | https://alpha.example/huila | https://cdn.alpha.example/h.png | 9.90",
        "preview_lang": "en",
        "action": "save",
    }
    data.update(changes)
    return data


def test_an_admin_saves_the_branding_and_other_keys_stay(admin_client, tenant_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        branding={"sender_name": "Alpha", "allowed_origins": ["https://alpha.example"]}
    )
    response = admin_client.post(URL, _form())
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    b = tenant_a.branding
    assert b["primary_color"] == "#aa2200" and b["accent_color"] == "#ffcc00"
    assert b["font"] == "serif"
    assert b["header_links"][1] == {"label": "Returns", "url": "https://alpha.example/returns"}
    assert b["faq"] == [{"q": "Where is my parcel?", "a": "On its way, see above."}]
    assert b["promo"]["products"][0]["price"] == "9.90"
    assert b["sender_name"] == "Alpha" and b["allowed_origins"] == ["https://alpha.example"]
    page = admin_client.get(URL).content.decode()
    assert 'value="#aa2200"' in page and "Returns | https://alpha.example/returns" in page


def test_a_short_colour_is_stored_in_full(admin_client, tenant_a):
    admin_client.post(URL, _form(primary_color="#A20"))
    tenant_a.refresh_from_db()
    assert tenant_a.branding["primary_color"] == "#aa2200"


@pytest.mark.parametrize(
    "bad",
    [
        {"primary_color": "red"},
        {"accent_color": "#12345"},
        {"logo_url": "http://cdn.alpha.example/logo.png"},  # https only
        {"logo_url": "javascript:alert(1)"},
        {"help_url": "javascript:alert(1)"},
        {"header_links": "Shop https://alpha.example/"},  # no separator
        {"header_links": "Evil | javascript:alert(1)"},
        {"header_links": "\n".join(f"L{i} | https://a.example/{i}" for i in range(7))},
        {"faq": "A question without an answer"},
        {"promo_products": "Thing | http://insecure.example/"},
        {"font": "Comic Sans from a CDN"},
        {"notice": "x" * 501},
    ],
)
def test_bad_branding_is_refused_and_nothing_changes(admin_client, tenant_a, bad):
    before = dict(tenant_a.branding)
    response = admin_client.post(URL, _form(**bad))
    assert response.status_code == 400
    assert b'class="error"' in response.content
    tenant_a.refresh_from_db()
    assert tenant_a.branding == before


def test_the_preview_renders_the_tracking_page_with_the_draft(admin_client, tenant_a):
    response = admin_client.post(PREVIEW, _form(primary_color="#ff0000", notice="Draft notice"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "--brand:#ff0000" in body  # the draft's CSS, inline
    assert "Draft notice" in body and "1Z999AA10123456784" in body  # the sample parcel
    assert 'href="/t/alpha/brand.css' not in body  # not the saved brand's stylesheet
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "script-src" not in csp and "default-src 'none'" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    tenant_a.refresh_from_db()
    assert tenant_a.branding.get("primary_color") != "#ff0000"  # a preview publishes nothing


def test_the_preview_escapes_merchant_text(admin_client):
    response = admin_client.post(PREVIEW, _form(notice="<script>alert(1)</script>"))
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body


def test_the_preview_without_a_draft_shows_the_saved_branding(admin_client, tenant_a):
    admin_client.post(URL, _form(primary_color="#123456"))
    response = admin_client.get(PREVIEW + "?lang=it")
    assert "--brand:#123456" in response.content.decode()
    assert '<html lang="it">' in response.content.decode()


def test_a_bad_draft_previews_as_its_errors(admin_client):
    response = admin_client.post(PREVIEW, _form(primary_color="nope"))
    assert response.status_code == 400
    assert b"Primary colour" in response.content
    assert response["Content-Security-Policy"].startswith("sandbox;")


def test_the_branding_page_frames_the_preview_in_a_sandbox(admin_client):
    body = admin_client.get(URL).content.decode()
    assert '<iframe name="brand-preview"' in body and " sandbox " in body
    assert 'formaction="/dashboard/settings/branding/preview/"' in body  # works without JS


def test_saving_shows_on_the_tracking_page_at_once(
    admin_client, tenant_a, shipment_a, django_capture_on_commit_callbacks
):
    page_url = f"/t/alpha/{shipment_a.public_token}/"
    first = admin_client.get(page_url)
    assert first.status_code == 200
    tp_selectors.page_tenant_cached(tenant_a.pk)  # this process remembers the tenant
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(URL, _form(primary_color="#0a0b0c", notice="Brand new notice"))
    second = admin_client.get(page_url).content.decode()
    assert "Brand new notice" in second
    css = admin_client.get("/t/alpha/brand.css").content.decode()
    assert "--brand:#0a0b0c" in css


def test_another_tenant_previews_its_own_brand(admin_client, client_b):
    admin_client.post(URL, _form(notice="Alpha only notice"))
    body = client_b.get(PREVIEW).content.decode()
    assert "Bravo Shop" in body and "Alpha only notice" not in body


def test_an_agent_cannot_brand_or_preview(agent_client, tenant_a):
    before = dict(tenant_a.branding)
    assert agent_client.post(URL, _form()).status_code == 403
    assert agent_client.post(PREVIEW, _form()).status_code == 403
    tenant_a.refresh_from_db()
    assert tenant_a.branding == before
