"""The email template editor: default vs customised, save with line-numbered errors, a sandboxed
preview, a test send to the signed-in person, reset to default."""

from __future__ import annotations

import pytest

from notifications import rendering
from notifications.models import EmailTemplate
from tenants.scoping import tenant_scope

pytestmark = pytest.mark.django_db

EDITOR = "/dashboard/settings/templates/shipped/en/"
PREVIEW = "/dashboard/settings/templates/shipped/en/preview/"


def _defaults(trigger="shipped", lang="en") -> dict:
    return {p: rendering.default_source(trigger, lang, p) for p in ("subject", "html", "text")}


def _template(tenant, trigger="shipped", lang="en"):
    with tenant_scope(tenant):
        return EmailTemplate.objects.filter(tenant=tenant, trigger=trigger, language=lang).first()


def test_the_list_shows_every_trigger_and_language_as_default(admin_client):
    response = admin_client.get("/dashboard/settings/templates/")
    body = response.content.decode()
    assert body.count('class="badge">default</span>') == 11 * 5
    assert 'href="/dashboard/settings/templates/delivery_check/fr/"' in body


def test_saving_one_part_makes_only_that_part_customised(admin_client, tenant_a):
    data = _defaults() | {"subject": "Your {{ store.name }} parcel is on its way", "action": "save"}
    response = admin_client.post(EDITOR, data)
    assert response.status_code == 302
    template = _template(tenant_a)
    assert template.subject == "Your {{ store.name }} parcel is on its way"
    assert template.html == "" and template.text == ""  # untouched parts stay wismo's
    listing = admin_client.get("/dashboard/settings/templates/").content.decode()
    assert listing.count(">customised</span>") == 1
    assert "Your own: subject" in admin_client.get(EDITOR).content.decode()


def test_a_template_error_is_shown_with_its_line_and_nothing_is_saved(admin_client, tenant_a):
    data = _defaults() | {
        "html": "<p>Hello</p>\n<p>{% if shipment %}never closed</p>",
        "action": "save",
    }
    response = admin_client.post(EDITOR, data)
    assert response.status_code == 400
    assert "line 2" in response.content.decode()
    assert _template(tenant_a) is None


def test_a_too_long_part_is_refused(admin_client, tenant_a):
    data = _defaults() | {"subject": "x" * 100_001, "action": "save"}
    assert admin_client.post(EDITOR, data).status_code == 400
    assert _template(tenant_a) is None


def test_unknown_trigger_or_language_is_404(admin_client):
    assert admin_client.get("/dashboard/settings/templates/teleported/en/").status_code == 404
    assert admin_client.get("/dashboard/settings/templates/shipped/xx/").status_code == 404
    assert admin_client.get("/dashboard/settings/templates/shipped/xx/preview/").status_code == 404


def test_the_preview_is_sandboxed(admin_client):
    editor = admin_client.get(EDITOR).content.decode()
    assert '<iframe name="template-preview"' in editor and " sandbox " in editor
    response = admin_client.get(PREVIEW)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert csp.startswith("sandbox;") and "default-src 'none'" in csp
    assert "img-src https: data:" in csp and "style-src 'unsafe-inline'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script at all
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_a_draft_with_script_is_previewed_inside_the_sandbox(admin_client, tenant_a):
    hostile = '<p>Hi {{ customer.name }}</p><script>parent.document.title="pwned"</script>'
    response = admin_client.post(PREVIEW, _defaults() | {"html": hostile})
    assert response.status_code == 200
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert "<script>" in response.content.decode()  # the merchant's own HTML, made inert
    assert _template(tenant_a) is None  # a preview saves nothing


def test_a_broken_draft_previews_as_an_escaped_error(admin_client):
    response = admin_client.post(PREVIEW, _defaults() | {"html": "{% for %}<script>x</script>"})
    assert response.status_code == 400
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert "<script>" not in response.content.decode()


def test_a_test_email_goes_to_the_signed_in_person(admin_client, admin_a, tenant_a, mailoutbox):
    admin_client.post(EDITOR, _defaults() | {"subject": "Custom hello", "action": "save"})
    response = admin_client.post(EDITOR, {"action": "test"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [admin_a.email]
    assert mailoutbox[0].subject == "[TEST] Custom hello"


def test_reset_goes_back_to_the_default(admin_client, tenant_a):
    admin_client.post(EDITOR, _defaults() | {"subject": "Mine", "action": "save"})
    assert _template(tenant_a) is not None
    assert admin_client.post(EDITOR, {"action": "reset"}).status_code == 302
    assert _template(tenant_a) is None


def test_another_tenants_template_is_never_shown(admin_client, client_b, tenant_a):
    admin_client.post(EDITOR, _defaults() | {"subject": "Alpha secret wording", "action": "save"})
    assert b"Alpha secret wording" not in client_b.get(EDITOR).content
    assert b"Alpha secret wording" not in client_b.get(PREVIEW).content
    client_b.post(EDITOR, {"action": "reset"})
    assert _template(tenant_a).subject == "Alpha secret wording"


def test_an_agent_cannot_edit_preview_or_send(agent_client, tenant_a, mailoutbox):
    assert agent_client.post(EDITOR, _defaults() | {"action": "save"}).status_code == 403
    assert agent_client.post(EDITOR, {"action": "test"}).status_code == 403
    assert agent_client.post(PREVIEW, _defaults()).status_code == 403
    assert mailoutbox == []
