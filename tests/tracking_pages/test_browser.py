"""The shopper pages in a real browser: headless Chromium driven by Playwright against live_server.

Covers the lookup flow, a wrong email, the rate limit, the language switch, branding, hostile
merchant and carrier text that must never run, and the widget framed by another origin (allowed,
then refused). Screenshots of each state go to ``var/test-artifacts/tracking_pages/``.

Needs Debian's ``chromium`` at /usr/bin/chromium (or ``WISMO_CHROMIUM``) and the ``playwright``
Python package; without them the tests skip and say why.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from tenants.models import Tenant
from tests.factories import ev
from tests.tracking_pages.conftest import IN_TRANSIT, make_order, make_shipment
from tracking_pages import selectors

CHROMIUM = os.environ.get("WISMO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "tracking_pages"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() or shutil.which("chromium")),
        reason=f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
    ),
    pytest.mark.django_db(transaction=True),
]

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the playwright package (pip install playwright)",
)

XSS_FLAG = '<img src=x onerror="window.__xss=1">'
XSS = f'<script>window.__xss=1;alert(1)</script>{XSS_FLAG}"><svg onload=alert(1)>'


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django would refuse database calls
    # from it, and the test's own setup and teardown make some. The server runs in its own thread.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=LAUNCH_ARGS,
        )
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 420, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def shot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def world(tenant_a, order_a):
    shipment = make_shipment(
        tenant_a, order_a, carrier="dhl", number="1234567890", events=IN_TRANSIT
    )
    selectors.forget_tenants()
    return {"tenant": tenant_a, "order": order_a, "shipment": shipment}


def test_lookup_flow_shows_the_order_with_its_details(live_server, page, world):
    page.goto(f"{live_server.url}/t/alpha/")
    shot(page, "01-lookup-form")

    page.fill("#order_number", "1001")
    page.fill("#email", "ada@example.com")
    page.click("button[type=submit]")

    page.wait_for_url(f"**/t/alpha/{world['order'].public_token}/**")
    assert page.locator("h2#order-title").inner_text() == "Order 1001"
    assert "Ada Lovelace" in page.locator("#details").inner_text()
    assert "2 \u00d7 Blue teapot" in page.locator(".items").inner_text()
    assert page.locator("h1.status, h2.status").first.inner_text() == "In transit"
    shot(page, "02-order-after-lookup")


def test_a_wrong_email_shows_the_same_gentle_refusal(live_server, page, world):
    page.goto(f"{live_server.url}/t/alpha/")
    page.fill("#order_number", "1001")
    page.fill("#email", "eve@example.com")
    page.click("button[type=submit]")

    page.wait_for_selector("#form-error")
    assert "We could not find an order" in page.locator("#form-error").inner_text()
    assert "Ada" not in page.content()
    shot(page, "03-wrong-email")


def test_too_many_attempts_are_held_back(live_server, page, world, settings):
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (2, 60)
    page.goto(f"{live_server.url}/t/alpha/")
    for _ in range(3):
        page.fill("#order_number", "1001")
        page.fill("#email", "eve@example.com")
        with page.expect_navigation() as navigation:
            page.click("button[type=submit]")

    assert navigation.value.status == 429
    assert "Too many attempts" in page.locator("#form-error").inner_text()
    shot(page, "04-rate-limited")


def test_the_language_switch_translates_the_page(live_server, page, world):
    page.goto(f"{live_server.url}/t/alpha/{world['shipment'].public_token}/")
    assert page.locator("html").get_attribute("lang") == "en"

    page.click("nav.langs a[hreflang=it]")

    page.wait_for_url("**?lang=it")
    assert page.locator("html").get_attribute("lang") == "it"
    assert page.locator("h1.status").inner_text() == "In transito"
    assert page.locator(".timeline h3").inner_text() == "Cronologia della spedizione"
    shot(page, "05-italian")


def test_the_merchants_branding_is_applied_and_kept_readable(live_server, page, world):
    Tenant.objects.filter(pk=world["tenant"].pk).update(
        branding={
            "primary_color": "#ffff00",
            "accent_color": "#0b6e4f",
            "font": "serif",
            "notice": "Peak season: allow one more day.",
            "faq": [{"q": "Can I change the address?", "a": "Write to us soon."}],
            "help_url": "https://alpha.example/help",
            "promo": {"title": "10% off your next order", "link_url": "https://alpha.example/sale"},
        }
    )
    selectors.forget_tenants()

    page.goto(f"{live_server.url}/t/alpha/{world['shipment'].public_token}/")

    header = page.locator("header.masthead")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 0)"
    assert header.evaluate("e => getComputedStyle(e).color") == "rgb(17, 17, 17)"  # readable
    assert "Georgia" in page.locator("body").evaluate("e => getComputedStyle(e).fontFamily")
    assert page.locator(".notice").inner_text().endswith("Peak season: allow one more day.")
    assert page.locator(".status").evaluate("e => getComputedStyle(e).color") == "rgb(115, 115, 0)"
    assert "10% off your next order" in page.locator(".promo").inner_text()
    shot(page, "06-branded")


def test_hostile_merchant_and_carrier_text_never_runs(live_server, page, tenant_a, order_a):
    Tenant.objects.filter(pk=tenant_a.pk).update(
        name=XSS,
        branding={
            "primary_color": XSS,
            "accent_color": "#fff;}</style><script>alert(1)</script>",
            "logo_url": f"https://cdn.example/{XSS}",
            "font": XSS,
            "notice": XSS,
            "help_url": "javascript:alert(1)",
            "faq": [{"q": XSS, "a": XSS}],
            "header_links": [{"label": XSS, "url": "javascript:alert(1)"}],
            "promo": {
                "title": XSS,
                "text": XSS,
                "link_url": "javascript:alert(1)",
                "image_url": "javascript:alert(1)",
                "products": [{"title": XSS, "url": "https://a.example/", "price": XSS}],
            },
        },
    )
    selectors.forget_tenants()
    order = make_order(
        tenant_a, number="6006", name=XSS, line_items=[{"title": XSS, "quantity": 1}]
    )
    shipment = make_shipment(
        tenant_a,
        order,
        number="XSS1",
        events=[
            ev(0, "in_transit", description=XSS, location=XSS),
            ev(9, "exception", "exception.address_issue", description=XSS, location=XSS),
        ],
    )

    page.goto(f"{live_server.url}/t/alpha/{shipment.public_token}/")
    page.fill("#verify-email", "ada@example.com")
    page.click("#verify button[type=submit]")
    page.wait_for_selector("#details")
    page.goto(f"{live_server.url}/t/alpha/{shipment.public_token}/report/")
    page.goto(f"{live_server.url}/t/alpha/{shipment.public_token}/")

    assert page.dialogs == []
    assert page.evaluate("window.__xss") is None
    assert page.locator("script").count() == 1  # the page's own, external
    assert page.locator("[onerror], [onload]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert XSS_FLAG in page.locator(".notice").inner_text()  # shown as text
    shot(page, "07-hostile-text-inert")


def _merchant_site(html: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def merchant(live_server, world):
    """The merchant's own shop on another origin (127.0.0.1 vs the tracking host's localhost)."""
    token = world["shipment"].public_token
    html = (
        "<!doctype html><html><head><title>Alpha Shop</title></head><body>"
        "<h1>Your order</h1><div id='tracking'></div>"
        f"<script src='{live_server.url}/static/tracking_pages/widget.js' "
        f"data-wismo-tenant='alpha' data-wismo-token='{token}' data-wismo-target='tracking'>"
        "</script><h2>Track another</h2><div id='lookup'></div>"
        f"<script src='{live_server.url}/static/tracking_pages/widget.js' "
        "data-wismo-tenant='alpha' data-wismo-target='lookup'></script>"
        "</body></html>"
    )
    server = _merchant_site(html)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_widget_embeds_on_the_merchants_allowed_site(live_server, page, world, merchant):
    Tenant.objects.filter(pk=world["tenant"].pk).update(branding={"allowed_origins": [merchant]})
    selectors.forget_tenants()

    page.goto(f"{merchant}/")

    card = page.frame_locator("#tracking iframe")
    assert card.locator("h1.status").inner_text() == "In transit"
    page.wait_for_function("document.querySelector('#tracking iframe').style.height.endsWith('px')")
    form = page.frame_locator("#lookup iframe")
    form.locator("#order_number").wait_for()
    page.wait_for_timeout(200)  # the frames' heights settle
    shot(page, "08-widget-embedded")
    # The lookup widget opens the full page, in the top window, with the shopper proven there.
    form.locator("#order_number").fill("1001")
    form.locator("#email").fill("ada@example.com")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/t/alpha/{world['order'].public_token}/**")
    assert "Ada Lovelace" in page.locator("#details").inner_text()
    shot(page, "09-widget-lookup-opened-page")


def test_the_widget_refuses_to_be_framed_by_any_other_site(live_server, page, world, merchant):
    Tenant.objects.filter(pk=world["tenant"].pk).update(
        branding={"allowed_origins": ["https://www.alpha.example"]}
    )
    selectors.forget_tenants()

    page.goto(f"{merchant}/")
    page.wait_for_timeout(500)

    frame = page.locator("#tracking iframe").element_handle().content_frame()
    assert frame.url.startswith("chrome-error://") or "In transit" not in frame.content()
    shot(page, "10-widget-refused")
