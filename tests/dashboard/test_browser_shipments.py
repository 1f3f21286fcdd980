"""A merchant in a real browser filters the shipments list, saves the view, and opens a row.

Headless Chromium through Playwright against live_server (skips when either is missing).
Screenshots go to ``var/test-artifacts/dashboard/``.
"""

from __future__ import annotations

import pytest

from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import ARTIFACTS, browser_login, member
from tests.factories import ShipmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_merchant_filters_saves_the_view_and_opens_a_shipment(browser, live_server, tenant_a):
    member(tenant_a, Role.ADMIN, "admin@alpha.example")
    with tenant_scope(tenant_a):
        late = ShipmentFactory(
            tenant=tenant_a, status="exception", substatus="exception.damaged", is_delayed=True
        )
        ShipmentFactory.create_batch(3, tenant=tenant_a, status="in_transit")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    try:
        browser_login(page, live_server.url, "admin@alpha.example")
        page.click("nav >> text=Shipments")
        page.wait_for_url("**/dashboard/shipments/")
        assert page.locator('input[name="ids"]').count() == 4

        page.select_option("#f-status", "exception")
        page.click('form[aria-labelledby="filters-heading"] button[type=submit]')
        page.wait_for_url("**/dashboard/shipments/?*status=exception*")
        assert page.locator('input[name="ids"]').count() == 1
        page.screenshot(path=str(ARTIFACTS / "shipments-filtered.png"), full_page=True)

        page.fill("#v-name", "Exceptions")
        page.click("button:has-text('Save view')")
        page.wait_for_selector("text=Exceptions")

        page.click(f'a:has-text("{late.tracking_number}")')
        page.wait_for_url(f"**/dashboard/shipments/{late.pk}/**")
        assert late.tracking_number in page.content()
        assert errors == []
    finally:
        context.close()
