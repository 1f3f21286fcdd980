"""The needs-attention queue: one section per flag, counts, keyset pages, tenants kept apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.services import attention
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory
from tracking_pages.models import ProblemReport

URL = "/dashboard/attention/"
pytestmark = pytest.mark.django_db


def _parcel(tenant, number: str, **values):
    with tenant_scope(tenant):
        return ShipmentFactory(tenant=tenant, tracking_number=number, **values)


def _report(tenant, shipment, **values):
    with tenant_scope(tenant):
        return ProblemReport.objects.create(
            tenant=tenant, order=shipment.order, shipment=shipment, kind="damaged", **values
        )


@pytest.fixture
def flagged(tenant_a):
    """One parcel (or order, or report) of tenant A per section, and a quiet parcel."""
    now = timezone.now()
    made = {
        "exception": _parcel(tenant_a, "EXC1", status="exception", substatus="exception.lost"),
        "action": _parcel(
            tenant_a,
            "ACT1",
            status="available_for_pickup",
            substatus="available_for_pickup.locker",
            action_required=True,
        ),
        "delayed": _parcel(tenant_a, "DEL1", status="in_transit", is_delayed=True, flagged_at=now),
        "stalled": _parcel(tenant_a, "STA1", status="in_transit", is_stalled=True, flagged_at=now),
        "never_scanned": _parcel(
            tenant_a, "NEV1", status="info_received", never_scanned=True, flagged_at=now
        ),
    }
    _parcel(tenant_a, "QUIET1", status="in_transit")
    with tenant_scope(tenant_a):
        made["not_shipped"] = OrderFactory(
            tenant=tenant_a, order_number="5005", placed_at=now - timedelta(days=10)
        )
        OrderFactory(tenant=tenant_a, order_number="5006", placed_at=now - timedelta(hours=3))
    made["reports"] = _report(tenant_a, made["delayed"], message="Box <b>crushed</b>")
    return made


def test_each_section_lists_exactly_its_rows(flagged, tenant_a):
    with tenant_scope(tenant_a):
        listed = {
            key: [row.pk for row in attention.section_page(key).rows]
            for key in attention.SECTION_KEYS
        }
        counts = attention.section_counts()

    assert listed == {key: [obj.pk] for key, obj in flagged.items()}
    assert counts == dict.fromkeys(attention.SECTION_KEYS, 1)


def test_the_queue_page_shows_counts_and_links_rows_to_their_shipment(flagged, agent_client):
    response = agent_client.get(URL, {"tab": "delayed"})

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-count="delayed">1<' in body
    assert f'href="/dashboard/shipments/{flagged["delayed"].pk}/"' in body
    assert "QUIET1" not in body and "EXC1" not in body


def test_reports_tab_links_the_case_and_escapes_the_shoppers_words(flagged, agent_client):
    body = agent_client.get(URL, {"tab": "reports"}).content.decode()

    assert f'href="/dashboard/cases/{flagged["reports"].pk}/"' in body
    assert "Box &lt;b&gt;crushed&lt;/b&gt;" in body
    assert "<b>crushed</b>" not in body


def test_not_shipped_follows_the_days_setting(flagged, agent_client, settings):
    settings.WISMO_EDD_NOT_SHIPPED_DAYS = 30

    body = agent_client.get(URL, {"tab": "not_shipped"}).content.decode()

    assert "#5005" not in body
    assert "30 days ago" in body


def test_resolved_reports_and_delivered_pickups_leave_the_queue(tenant_a):
    done = _parcel(
        tenant_a,
        "DONE1",
        status="delivered",
        substatus="delivered.picked_up",
        action_required=True,
    )
    _report(tenant_a, done, state="resolved", resolved_at=timezone.now())

    with tenant_scope(tenant_a):
        counts = attention.section_counts()

    assert counts["reports"] == 0 and counts["action"] == 0


def test_show_more_pages_through_a_long_section_without_repeats(tenant_a, agent_client):
    start = timezone.now() - timedelta(days=2)
    for n in range(7):
        _parcel(tenant_a, f"D{n}", is_delayed=True, flagged_at=start + timedelta(minutes=n // 2))
    seen, cursor = [], None
    with tenant_scope(tenant_a):
        while True:
            page = attention.section_page("delayed", cursor=cursor, size=3)
            seen += [s.tracking_number for s in page.rows]
            cursor = page.next_cursor
            if not cursor:
                break

    assert seen == [f"D{n}" for n in range(7)]
    first = agent_client.get(URL, {"tab": "delayed"})
    assert 'id="attention-more"' not in first.content.decode()  # 7 rows fit a page of 50


def test_the_show_more_link_carries_a_working_cursor(tenant_a, agent_client, monkeypatch):
    monkeypatch.setattr(attention, "PAGE_SIZE", 2)
    now = timezone.now()
    for n in range(3):
        _parcel(tenant_a, f"S{n}", is_stalled=True, flagged_at=now + timedelta(seconds=n))
    with tenant_scope(tenant_a):
        cursor = attention.section_page("stalled").next_cursor

    second = agent_client.get(URL, {"tab": "stalled", "after": cursor})

    assert second.status_code == 200
    body = second.content.decode()
    assert "S2" in body and "S0" not in body


def test_tenant_b_never_sees_tenant_a_items(flagged, client_b):
    for key in attention.SECTION_KEYS:
        body = client_b.get(URL, {"tab": key}).content.decode()
        assert f'data-count="{key}">0<' in body
        assert "EXC1" not in body and "5005" not in body and "crushed" not in body


@pytest.mark.parametrize(
    "params", [{"tab": "nope"}, {"tab": "delayed", "after": "garbage"}, {"after": "x|1"}]
)
def test_bad_input_is_a_400_not_a_500(params, agent_client):
    assert agent_client.get(URL, params).status_code == 400


def test_signed_out_visitors_are_sent_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_queue_uses_the_partial_index_of_its_flag(tenant_a, postgres_only):
    from django.db import connection

    with tenant_scope(tenant_a):
        sql, params = attention.section_queryset("delayed")[:50].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "ship_delayed_idx" in plan


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_show_more_appends_the_next_rows_in_place(
    browser, live_server, tenant_a, monkeypatch
):
    from tests.dashboard.conftest import ARTIFACTS, browser_login, member

    monkeypatch.setattr(attention, "PAGE_SIZE", 2)
    now = timezone.now()
    for n in range(3):
        _parcel(tenant_a, f"S{n}", is_stalled=True, flagged_at=now + timedelta(seconds=n))
    member(tenant_a, "agent", "queue-agent@alpha.example")
    page = browser.new_page()
    browser_login(page, live_server.url, "queue-agent@alpha.example")
    page.goto(f"{live_server.url}{URL}?tab=stalled")
    assert page.locator("#attention-rows tr").count() == 2

    page.click("#attention-more")
    page.locator("#attention-rows tr").nth(2).wait_for(timeout=10000)

    assert page.locator("#attention-more").count() == 0
    assert page.url.endswith("?tab=stalled")  # appended in place, no navigation
    page.screenshot(path=str(ARTIFACTS / "attention_more.png"), full_page=True)
    page.close()
