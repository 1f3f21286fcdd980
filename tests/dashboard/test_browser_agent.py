"""An agent in a real browser: search an order number, open the shipment, copy the ready reply.

Headless Chromium through Playwright against live_server (skips when either is missing).
Screenshots go to ``var/test-artifacts/dashboard/``.
"""

from __future__ import annotations

import pytest

from tenants.models import Role
from tenants.scoping import tenant_scope
from tests.dashboard.conftest import ARTIFACTS, browser_login, member
from tests.factories import OrderFactory, ShipmentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.on(
        "console",
        lambda msg: tab.errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()


def test_an_agent_finds_an_order_and_copies_the_reply(page, live_server, tenant_a):
    member(tenant_a, Role.AGENT, "agent@alpha.example")
    with tenant_scope(tenant_a):
        order = OrderFactory(
            tenant=tenant_a,
            order_number="4242",
            customer_name="Lucia Bianchi",
            customer_email="lucia@example.com",
            locale="it",
        )
        shipment = ShipmentFactory(
            tenant=tenant_a,
            order=order,
            status="in_transit",
            substatus="in_transit.arrived_at_facility",
        )
        ShipmentFactory(tenant=tenant_a, order=order)  # a second parcel: no single reply

    browser_login(page, live_server.url, "agent@alpha.example")
    page.fill("#global-q", "4242")
    page.press("#global-q", "Enter")
    page.wait_for_url("**/dashboard/search/?q=4242")
    assert page.locator("table.results tbody tr").count() == 2
    page.screenshot(path=str(ARTIFACTS / "agent-search.png"), full_page=True)

    page.click(f"text={shipment.tracking_number}")
    page.wait_for_url(f"**/dashboard/shipments/{shipment.pk}/?q=4242")
    reply = page.locator(f"#reply-{shipment.pk}")
    assert "Ciao Lucia," in reply.input_value()
    assert "In transito" in reply.input_value()

    button = page.locator(f'[data-copy-target="#reply-{shipment.pk}"]')
    button.click()
    page.wait_for_function(
        "sel => document.querySelector(sel).getAttribute('data-copied') === '1'",
        arg=f'[data-copy-target="#reply-{shipment.pk}"]',
    )
    page.screenshot(path=str(ARTIFACTS / "agent-shipment.png"), full_page=True)

    # A note, through the real form.
    page.fill("#id_body", "Shopper called, parcel in Bologna.")
    page.click("text=Add note")
    page.wait_for_selector("text=Shopper called, parcel in Bologna.")
    assert page.errors == []
