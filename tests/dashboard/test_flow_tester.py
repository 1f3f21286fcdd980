"""The flow tester: every status and reason renders its emails and page, and nothing is written,
counted or sent."""

from __future__ import annotations

import pytest

from carriers.statuses import SUBSTATUSES
from dashboard.services import flow_tester
from notifications.models import Notification, NotificationPolicy, WebhookDelivery
from tenants.scoping import tenant_scope
from tracking_pages import pageviews
from tracking_pages.models import PageViewCount, ProblemReport
from wismo.tracking.models import Order, Shipment, ShipmentStatusChange, TrackingEvent

URL = "/dashboard/flow-tester/"
pytestmark = pytest.mark.django_db

MODELS = (
    Shipment,
    Order,
    TrackingEvent,
    ShipmentStatusChange,
    Notification,
    WebhookDelivery,
    PageViewCount,
    ProblemReport,
)


def _counts(tenant) -> dict[str, int]:
    with tenant_scope(tenant):
        return {model.__name__: model.objects.count() for model in MODELS}


def test_every_step_renders_its_emails_and_page_and_changes_nothing(
    admin_client, tenant_a, shipment_a, mailoutbox
):
    before = _counts(tenant_a)
    pending_views = dict(pageviews._pending)

    for code in SUBSTATUSES:
        response = admin_client.get(URL, {"substatus": code, "lang": "en"})
        assert response.status_code == 200, code
        body = response.content.decode()
        _, triggers = flow_tester.step_triggers(code)
        for trigger in triggers:
            email = admin_client.get(
                URL + "email/", {"substatus": code, "lang": "en", "trigger": trigger}
            )
            assert email.status_code == 200, (code, trigger)
            assert email["Content-Security-Policy"].startswith("sandbox;")
            assert f"?substatus={code}&amp;lang=en&amp;trigger={trigger}" in body
        page = admin_client.get(URL + "page/", {"substatus": code, "lang": "en", "proven": "1"})
        assert page.status_code == 200, code
        assert page["Content-Security-Policy"].startswith("sandbox;")

    assert _counts(tenant_a) == before
    assert dict(pageviews._pending) == pending_views
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("substatus", "triggers"),
    [
        ("pending.awaiting_carrier", []),
        ("info_received.label_created", ["shipped"]),
        ("in_transit.picked_up", ["in_transit"]),
        ("in_transit.customs_processing", ["in_transit"]),
        ("out_for_delivery.out_for_delivery", ["out_for_delivery"]),
        ("failed_attempt.recipient_unavailable", ["failed_attempt"]),
        ("delivered.neighbor", ["delivered", "delivery_check"]),
        ("exception.customs_hold", ["exception"]),
        ("exception.delayed_weather", ["delayed"]),
    ],
)
def test_each_step_fires_the_triggers_dispatch_would(substatus, triggers):
    assert flow_tester.step_triggers(substatus)[1] == triggers


def test_emails_and_page_come_in_the_chosen_language(tenant_a):
    with tenant_scope(tenant_a):
        step = flow_tester.flow_step(tenant=tenant_a, substatus="exception.customs_hold", lang="it")
        page = flow_tester.page_html(tenant=tenant_a, substatus="delivered.neighbor", lang="de")

    email = step.emails[0]
    assert email.trigger == "exception" and not email.error
    assert 'lang="it"' in email.html
    assert 'lang="de"' in page
    assert "flow-tester-preview" in page


def test_the_page_shows_the_status_of_the_step(admin_client):
    page = admin_client.get(
        URL + "page/", {"substatus": "available_for_pickup.locker", "lang": "en"}
    ).content.decode()

    assert "Waiting in a parcel locker" in page or "locker" in page.lower()


def test_a_trigger_turned_off_is_shown_as_off(admin_client, tenant_a):
    with tenant_scope(tenant_a):
        NotificationPolicy.objects.create(tenant=tenant_a, triggers=["delivered"])

    body = admin_client.get(
        URL, {"substatus": "out_for_delivery.out_for_delivery", "lang": "en"}
    ).content.decode()

    assert "Turned off in your notification settings" in body


def test_the_merchants_own_template_is_used(admin_client, tenant_a):
    from notifications.services.templates import template_save

    with tenant_scope(tenant_a):
        template_save(
            tenant=tenant_a,
            trigger="delivered",
            language="en",
            sources={"subject": "Arrived: {{ shipment.tracking_number }} <&>"},
        )

    body = admin_client.get(URL, {"substatus": "delivered.signed", "lang": "en"}).content.decode()

    assert "Arrived: " in body and "your template" in body
    assert "&lt;&amp;&gt;" in body


def test_an_agent_cannot_open_the_flow_tester(agent_client):
    assert agent_client.get(URL).status_code == 403
    assert agent_client.get(URL + "page/", {"substatus": "delivered.signed"}).status_code == 403
    assert (
        agent_client.get(
            URL + "email/", {"substatus": "delivered.signed", "trigger": "delivered"}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("", {"substatus": "delivered.teleported"}),
        ("", {"lang": "xx"}),
        ("email/", {"substatus": "delivered.signed"}),
        ("email/", {"substatus": "delivered.signed", "trigger": "shipped"}),
        ("email/", {"substatus": "delivered.signed", "trigger": "nope"}),
        ("page/", {"substatus": "nope"}),
    ],
)
def test_bad_input_is_a_400(admin_client, path, params):
    assert admin_client.get(URL + path, params).status_code == 400


def test_the_frames_are_sandboxed_and_framable_only_by_us(admin_client):
    body = admin_client.get(URL, {"substatus": "delivered.signed"}).content.decode()
    email = admin_client.get(
        URL + "email/", {"substatus": "delivered.signed", "trigger": "delivered"}
    )

    assert body.count('<iframe class="flow-frame') == 3  # delivered, delivery check, page
    assert "sandbox title=" in body
    assert "frame-ancestors 'self'" in email["Content-Security-Policy"]
    assert email["X-Frame-Options"] == "SAMEORIGIN"
    assert "script-src" not in email["Content-Security-Policy"]


def test_the_tester_shows_each_tenants_own_branding(admin_client, client_b, tenant_a, tenant_b):
    mine = admin_client.get(URL + "page/", {"substatus": "delivered.signed"}).content.decode()
    theirs = client_b.get(URL + "page/", {"substatus": "delivered.signed"}).content.decode()

    assert tenant_a.name in mine and tenant_b.name not in mine
    assert tenant_b.name in theirs and tenant_a.name not in theirs


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_sandboxed_email_and_page_load_and_run_no_script(
    browser, live_server, tenant_a
):
    from tests.dashboard.conftest import ARTIFACTS, browser_login, member

    member(tenant_a, "admin", "flow-admin@alpha.example")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    browser_login(page, live_server.url, "flow-admin@alpha.example")

    page.goto(f"{live_server.url}{URL}?substatus=exception.customs_hold&lang=it")
    email_frame = page.frame_locator("iframe.flow-frame").first
    shopper_page = page.frame_locator("iframe.flow-page")

    assert email_frame.locator("body").inner_text(timeout=10000).strip()
    assert shopper_page.locator("main").first.inner_text(timeout=10000).strip()
    page.locator("iframe.flow-page").scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "flow_tester.png"), full_page=True)
    page.goto(f"{live_server.url}{URL}page/?substatus=exception.customs_hold&lang=it")
    page.screenshot(path=str(ARTIFACTS / "flow_tester_page.png"), full_page=True)
    page.goto(f"{live_server.url}/dashboard/attention/")
    page.screenshot(path=str(ARTIFACTS / "attention.png"), full_page=True)
    assert errors == []
    page.close()
