"""Settings in a real browser (Playwright + headless chromium against live_server): the branding
preview follows the form, a template preview runs no script, and an invited agent joins from
the emailed link and cannot see settings. Screenshots go to var/test-artifacts/dashboard/."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tenants.models import Membership, Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import ARTIFACTS, PASSWORD, browser_login

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def test_branding_preview_follows_the_primary_colour(page, live_server, owner_a):
    browser_login(page, live_server.url, owner_a.email)
    page.goto(f"{live_server.url}/dashboard/settings/branding/")
    frame = page.frame(name="brand-preview")
    frame.wait_for_selector("header.masthead")
    before = frame.eval_on_selector("header.masthead", "e => getComputedStyle(e).backgroundColor")

    page.fill("#id_primary_color", "#ff0000")  # the script re-posts the form into the frame
    frame = page.frame(name="brand-preview")
    frame.wait_for_function(
        "() => getComputedStyle(document.querySelector('header.masthead')).backgroundColor"
        " === 'rgb(255, 0, 0)'",
        timeout=10_000,
    )
    assert before != "rgb(255, 0, 0)"
    page.screenshot(path=str(ARTIFACTS / "settings-branding-preview.png"))
    page.locator("#brand-preview").screenshot(path=str(ARTIFACTS / "settings-branding-frame.png"))

    # Saving publishes it.
    page.click("button[name=action][value=save]")
    page.wait_for_selector(".messages")
    assert "Branding saved" in page.inner_text(".messages")


def test_template_preview_shows_the_draft_and_runs_no_script(page, live_server, owner_a):
    browser_login(page, live_server.url, owner_a.email)
    page.goto(f"{live_server.url}/dashboard/settings/templates/shipped/en/")
    title = page.title()
    hostile = (
        '<p id="hello">Hello {{ customer.name }} from the draft</p>'
        "<script>document.body.dataset.ran='1'; window.top.document.title='pwned';</script>"
        '<img src="x" onerror="document.body.dataset.ran=\'2\'">'
    )
    page.fill("#id_html", hostile)
    frame = page.frame(name="template-preview")
    frame.wait_for_selector("#hello", timeout=10_000)
    assert "from the draft" in frame.inner_text("#hello")
    assert frame.evaluate("() => document.body.dataset.ran || ''") == ""
    assert page.title() == title
    page.screenshot(path=str(ARTIFACTS / "settings-template-preview.png"))


def test_an_invited_agent_joins_and_cannot_see_settings(
    browser, page, live_server, owner_a, tenant_a
):
    mail.outbox.clear()
    browser_login(page, live_server.url, owner_a.email)
    page.goto(f"{live_server.url}/dashboard/settings/team/")
    page.fill("#id_email", "new.agent@alpha.example")
    page.select_option("#id_role", Role.AGENT)
    page.click("text=Send invitation")
    page.wait_for_selector(".messages")
    assert "Invitation sent" in page.inner_text(".messages")
    page.screenshot(path=str(ARTIFACTS / "settings-team-invited.png"), full_page=True)

    assert len(mail.outbox) == 1
    path = re.search(r"/accounts/invite/\S+/", mail.outbox[0].body).group(0)

    fresh = browser.new_context()
    try:
        guest = fresh.new_page()
        guest.goto(f"{live_server.url}{path}")
        guest.fill("input[name=password1]", PASSWORD)
        guest.fill("input[name=password2]", PASSWORD)
        guest.click("button[type=submit]")
        guest.wait_for_url(f"{live_server.url}/dashboard/")
        nav = guest.inner_text("nav.sidenav")
        assert "Overview" in nav and "Settings" not in nav
        response = guest.goto(f"{live_server.url}/dashboard/settings/")
        assert response.status == 403
        guest.screenshot(path=str(ARTIFACTS / "settings-agent-refused.png"), full_page=True)
    finally:
        fresh.close()
    with tenant_scope(tenant_a):
        assert Membership.objects.get(user__username="new.agent@alpha.example").role == Role.AGENT
