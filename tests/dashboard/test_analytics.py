"""Analytics: figures on a small hand-made dataset, tenant isolation, the period form, the home
page's KPI tiles and the analytics page's charts (for agents and owners, and for an empty shop)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import charts
from dashboard.models import WismoContact
from dashboard.services.analytics import (
    PeriodError,
    analytics_compute,
    analytics_figures,
    attention_counts,
    period_parse,
)
from notifications.models import Notification
from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory
from tracking_pages.models import PageViewCount
from wismo.tracking.models import EddModel, ShipmentStatusChange

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """Figures are cached per tenant id: a private cache keeps tests (and helpers) apart."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"analytics-{uuid.uuid4().hex}",
        }
    }


def build_dataset(tenant_a, tenant_b) -> dict:
    """Five parcels of tenant A created today, contacts, emails and page views; noise in B.

    dhl (IT -> DE): s1 delivered on time (processing 1 d, transit 2 d), s2 delivered late after
    an exception (processing 2 d, transit 3 d), s5 delivered with no promise (transit 1 d).
    ups (FR -> DE): s3 in transit, s4 in exception.
    """
    now = timezone.now()
    day = timedelta(days=1)
    today = now.date()
    with tenant_scope(tenant_a):

        def parcel(carrier, status, placed=None, **fields):
            order = OrderFactory(tenant=tenant_a, placed_at=placed)
            return ShipmentFactory(
                tenant=tenant_a, order=order, carrier=carrier, status=status, **fields
            )

        s1 = parcel(
            "dhl",
            "delivered",
            placed=now - 4 * day,
            shipped_at=now - 3 * day,
            delivered_at=now - day,
            promised_delivery=today - day,
            estimated_delivery_earliest=today - 2 * day,
            estimated_delivery_latest=today - day,
            origin_country="IT",
            destination_country="DE",
        )
        s2 = parcel(
            "dhl",
            "delivered",
            placed=now - 5 * day,
            shipped_at=now - 3 * day,
            delivered_at=now,
            promised_delivery=today - 2 * day,
            estimated_delivery_earliest=today - 2 * day,
            estimated_delivery_latest=today - 2 * day,
            origin_country="IT",
            destination_country="DE",
        )
        s3 = parcel(
            "ups", "in_transit", shipped_at=now - day, origin_country="FR", destination_country="DE"
        )
        s4 = parcel("ups", "exception", origin_country="FR", destination_country="DE")
        s5 = parcel(
            "dhl",
            "delivered",
            shipped_at=now - 2 * day,
            delivered_at=now - day,
            origin_country="IT",
            destination_country="DE",
        )
        s4.is_active = True
        ShipmentStatusChange.objects.create(
            tenant=tenant_a,
            shipment=s2,
            from_status="in_transit",
            from_substatus="in_transit.on_the_way",
            to_status="exception",
            to_substatus="exception.customs_hold",
            occurred_at=now - 2 * day,
        )
        for carrier, status, notified, shipment in (
            ("dhl", "in_transit", True, s1),
            ("dhl", "delivered", False, s2),
            ("ups", "exception", False, s4),
            ("ups", "exception", True, s3),
        ):
            WismoContact.objects.create(
                tenant=tenant_a,
                shipment=shipment,
                channel="dashboard",
                carrier=carrier,
                status=status,
                notified=notified,
            )
        # A contact from two months ago is outside the period.
        WismoContact.objects.create(
            tenant=tenant_a,
            channel="phone",
            carrier="dhl",
            status="in_transit",
            created_at=now - 60 * day,
        )
        for shipment, trigger, opened, clicked in (
            (s1, "delivered", True, True),
            (s3, "in_transit", True, False),
        ):
            Notification.objects.create(
                tenant=tenant_a,
                shipment=shipment,
                trigger=trigger,
                dedupe_key=f"{shipment.pk}:{trigger}",
                state="sent",
                sent_at=now - day,
                opened_at=now if opened else None,
                clicked_at=now if clicked else None,
            )
        Notification.objects.create(
            tenant=tenant_a, shipment=s4, trigger="exception", dedupe_key=f"{s4.pk}:exception"
        )
        PageViewCount.objects.create(tenant=tenant_a, shipment=s1, day=today, views=3)
        PageViewCount.objects.create(tenant=tenant_a, shipment=s3, day=today - day, views=2)

    with tenant_scope(tenant_b):
        b1 = ShipmentFactory(
            tenant=tenant_b,
            carrier="dhl",
            status="delivered",
            shipped_at=now - 9 * day,
            delivered_at=now - day,
            promised_delivery=today - 5 * day,
            origin_country="IT",
            destination_country="DE",
        )
        for _ in range(3):
            WismoContact.objects.create(
                tenant=tenant_b, shipment=b1, channel="email", carrier="dhl", status="delivered"
            )
        Notification.objects.create(
            tenant=tenant_b,
            shipment=b1,
            trigger="delivered",
            dedupe_key=f"{b1.pk}:delivered",
            state="sent",
            sent_at=now,
        )
        PageViewCount.objects.create(tenant=tenant_b, shipment=b1, day=today, views=40)
    return {"s1": s1, "s2": s2, "s3": s3, "s4": s4, "s5": s5, "b1": b1}


def _figures(tenant):
    with tenant_scope(tenant):
        return analytics_compute(tenant=tenant, period=period_parse(tenant=tenant, days=7))


def _by_key(rows):
    return {row.key: row for row in rows}


# --- figures ---------------------------------------------------------------------------------


def test_totals_count_the_cohort(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    totals = _figures(tenant_a).totals

    assert (totals.shipments, totals.in_transit, totals.delivered) == (5, 1, 3)
    assert totals.exceptions == 2  # s4 now, s2 on the way
    assert totals.exception_rate == 0.4
    assert (totals.on_time, totals.on_time_known, totals.on_time_rate) == (1, 2, 0.5)
    assert totals.avg_processing_days == 1.5
    assert totals.avg_transit_days == 2.0
    assert (totals.wismo_contacts, totals.wismo_rate) == (4, 80.0)
    assert (totals.emails_sent, totals.page_views) == (2, 5)


def test_figures_by_carrier(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    carriers = _by_key(_figures(tenant_a).by_carrier)

    dhl, ups = carriers["dhl"], carriers["ups"]
    assert (dhl.shipments, dhl.delivered, dhl.exceptions) == (3, 3, 1)
    assert dhl.on_time_rate == 0.5
    assert dhl.avg_transit_days == 2.0
    assert dhl.avg_processing_days == 1.5
    assert (dhl.wismo_contacts, dhl.wismo_rate) == (2, 66.67)
    assert (ups.shipments, ups.exceptions, ups.exception_rate) == (2, 1, 0.5)
    assert ups.on_time_rate is None  # nothing delivered: no rate, no division by zero
    assert ups.avg_transit_days is None
    assert (ups.wismo_contacts, ups.wismo_rate) == (2, 100.0)


def test_figures_by_lane(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    lanes = _by_key(_figures(tenant_a).by_lane)

    assert set(lanes) == {"IT -> DE", "FR -> DE"}
    assert lanes["IT -> DE"].shipments == 3
    assert lanes["IT -> DE"].avg_transit_days == 2.0
    assert lanes["FR -> DE"].avg_transit_days is None


def test_wismo_rate_by_status_and_by_notification(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    figures = _figures(tenant_a)

    by_status = {r.key: (r.contacts, r.rate) for r in figures.wismo_by_status}
    assert by_status == {"in_transit": (1, 20.0), "delivered": (1, 20.0), "exception": (2, 40.0)}
    assert [r.key for r in figures.wismo_by_status] == ["in_transit", "delivered", "exception"]
    by_notified = {r.key: (r.contacts, r.shipments, r.rate) for r in figures.wismo_by_notified}
    # s1 and s3 had an email sent; s4's was only scheduled.
    assert by_notified == {"notified": (2, 2, 100.0), "not_notified": (2, 3, 66.67)}


def test_emails_page_views_and_accuracy(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        EddModel.objects.create(
            tenant=tenant_a,
            accuracy={"overall": {"n": 10, "range_hit_rate": 0.9}, "carriers": {}},
            backtested_at=timezone.now(),
        )

    figures = _figures(tenant_a)

    emails = figures.emails
    assert (emails.sent, emails.opened, emails.clicked, emails.bounced) == (2, 2, 1, 0)
    assert (emails.open_rate, emails.click_rate) == (1.0, 0.5)
    assert {r.trigger: r.sent for r in emails.by_trigger} == {"delivered": 1, "in_transit": 1}
    views = figures.page_views
    assert (views.views, views.shipments_viewed, views.views_per_viewed_shipment) == (5, 2, 2.5)
    assert views.views_per_shipment == 1.0
    assert len(views.by_day) == 7 and sum(d.views for d in views.by_day) == 5
    accuracy = figures.accuracy
    assert (accuracy.range_n, accuracy.range_hits, accuracy.range_hit_rate) == (2, 1, 0.5)
    assert accuracy.backtest["overall"]["range_hit_rate"] == 0.9


def test_status_series_has_every_day_of_the_period(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    series = _figures(tenant_a).status_series

    assert len(series) == 7
    assert series[-1].bucket == timezone.now().date()
    assert series[-1].counts == {"delivered": 3, "in_transit": 1, "exception": 1}
    assert sum(b.total for b in series[:-1]) == 0


def test_long_periods_group_by_week(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        figures = analytics_compute(tenant=tenant_a, period=period_parse(tenant=tenant_a, days=90))

    assert figures.period.bucket == "week"
    assert all(b.bucket.weekday() == 0 for b in figures.status_series)
    assert sum(b.total for b in figures.status_series) == 5


def test_tenant_b_is_never_counted_in_a(tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    a, b = _figures(tenant_a), _figures(tenant_b)

    assert a.totals.shipments == 5 and a.totals.page_views == 5
    assert b.totals.shipments == 1
    assert (b.totals.wismo_contacts, b.totals.wismo_rate) == (3, 300.0)
    assert (b.totals.emails_sent, b.totals.page_views) == (1, 40)
    assert b.totals.on_time_rate == 0.0


def test_empty_tenant_has_no_rates(tenant_a):
    figures = _figures(tenant_a)

    totals = figures.totals
    assert totals.shipments == 0
    assert totals.on_time_rate is None and totals.wismo_rate is None
    assert totals.exception_rate is None and totals.avg_transit_days is None
    assert figures.emails.open_rate is None
    assert figures.page_views.views_per_shipment is None
    assert [r.rate for r in figures.wismo_by_notified] == [None, None]


def test_figures_are_cached_per_tenant_and_period(tenant_a, tenant_b, django_assert_num_queries):
    build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        period = period_parse(tenant=tenant_a, days=7)
        first = analytics_figures(tenant=tenant_a, period=period)
        with django_assert_num_queries(0):
            again = analytics_figures(tenant=tenant_a, period=period)
    assert again.totals == first.totals
    with tenant_scope(tenant_b):
        other = analytics_figures(tenant=tenant_b, period=period_parse(tenant=tenant_b, days=7))
    assert other.totals.shipments == 1


def test_attention_counts(tenant_a, tenant_b):
    data = build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        data["s3"].is_delayed = True
        data["s3"].save(update_fields=["is_delayed"])
        counts = attention_counts(tenant=tenant_a)

    assert (counts.delayed, counts.stalled, counts.exceptions) == (1, 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, "after the end"),
        ({"start": "2025-01-01", "end": "2026-01-02"}, "longer than 366"),
        ({"start": "2026-01-01"}, "both"),
        ({"days": 0}, "between"),
    ],
)
def test_bad_periods_are_refused(tenant_a, kwargs, message):
    from datetime import date

    parsed = {k: date.fromisoformat(v) if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(PeriodError, match=message):
        period_parse(tenant=tenant_a, **parsed)


def test_a_366_day_period_is_allowed(tenant_a):
    from datetime import date

    period = period_parse(tenant=tenant_a, start=date(2024, 1, 1), end=date(2024, 12, 31))

    assert period.days == 366


# --- charts ----------------------------------------------------------------------------------


def test_chart_labels_are_escaped():
    svg = str(charts.bar_chart([("<script>x</script>", 3)], title="A & B"))
    stacked = str(charts.stacked_columns(["<i>d</i>"], [("<b>s</b>", [2])], title="t"))
    line = str(charts.line_chart([("<u>d</u>", 1)], title="t"))

    assert "<script>" not in svg and "&lt;script&gt;" in svg and "A &amp; B" in svg
    assert "<i>" not in stacked and "<b>" not in stacked and "&lt;b&gt;" in stacked
    assert "<u>" not in line
    assert "style=" not in svg + stacked + line


def test_charts_draw_nothing_odd_when_empty():
    assert "<svg" in str(charts.bar_chart([], title="empty"))
    assert "<svg" in str(charts.stacked_columns([], [], title="empty"))
    assert "<svg" in str(charts.line_chart([], title="empty"))


# --- pages -----------------------------------------------------------------------------------


def _text(response) -> str:
    return response.content.decode()


def test_home_shows_kpis_and_attention_counts(owner_client, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    response = owner_client.get("/dashboard/")

    assert response.status_code == 200
    html = _text(response)
    assert re.search(r'id="kpi-shipments"><div class="value">5<', html)
    assert re.search(r'id="kpi-on-time"><div class="value">50.0%<', html)
    assert re.search(r'id="kpi-wismo"><div class="value">80.0<', html)
    assert re.search(r'id="kpi-emails"><div class="value">2<', html)
    assert re.search(r'id="attention-exceptions">.*?<div class="value">1<', html)
    assert 'href="/dashboard/attention/"' in html
    assert "style=" not in html


def test_home_renders_for_an_empty_shop_and_for_agents(agent_client):
    response = agent_client.get("/dashboard/")

    assert response.status_code == 200
    assert re.search(r'id="kpi-shipments"><div class="value">0<', _text(response))


@pytest.mark.parametrize("who", ["agent_client", "owner_client"])
def test_analytics_page_renders_charts_and_tables(request, who, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)
    client = request.getfixturevalue(who)

    response = client.get("/dashboard/analytics/", {"days": "7"})

    assert response.status_code == 200
    html = _text(response)
    for slug in (
        "status",
        "on-time",
        "transit",
        "lanes",
        "exceptions",
        "wismo-carrier",
        "wismo-status",
        "wismo-notified",
        "emails",
        "page-views",
    ):
        assert f'id="chart-{slug}"' in html
    assert html.count("<svg") >= 10
    assert html.count("<details>") >= 10
    assert "IT -&gt; DE" in html
    assert "style=" not in html
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_analytics_page_renders_for_an_empty_shop(owner_client):
    response = owner_client.get("/dashboard/analytics/")

    assert response.status_code == 200
    assert "No data in this period." in _text(response)


def test_analytics_page_accepts_custom_dates(owner_client, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)
    today = timezone.now().date()

    response = owner_client.get(
        "/dashboard/analytics/",
        {"days": "", "from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat()},
    )

    assert response.status_code == 200
    assert "(3 days)" in _text(response)


@pytest.mark.parametrize(
    "query",
    [
        {"from": "not-a-date", "to": "2026-01-01"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"from": "2026-03-02"},
        {"days": "13"},
    ],
)
def test_analytics_page_refuses_a_bad_period(owner_client, query):
    response = owner_client.get("/dashboard/analytics/", query)

    assert response.status_code == 400
    assert 'role="alert"' in _text(response)
    assert 'id="chart-status"' not in _text(response)


def test_analytics_page_escapes_carrier_names(owner_client, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        WismoContact.objects.create(tenant=tenant_a, channel="chat", carrier="<b>evil</b>")

    html = _text(owner_client.get("/dashboard/analytics/"))

    assert "<b>evil</b>" not in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html


def test_tenant_b_sees_only_its_own_figures(client_b, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    home = _text(client_b.get("/dashboard/"))
    page = _text(client_b.get("/dashboard/analytics/"))

    assert re.search(r'id="kpi-shipments"><div class="value">1<', home)
    assert re.search(r'id="kpi-page-views"><div class="value">40<', home)
    assert "ups" not in page and "FR -&gt; DE" not in page


def test_pages_need_a_signed_in_member(client):
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/dashboard/analytics/").status_code == 302


# --- in a browser ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_analytics_page_in_a_browser_breaks_no_csp_and_runs_no_carrier_text(
    browser, live_server, tenant_a, tenant_b, owner_a
):
    from tests.dashboard.conftest import ARTIFACTS, browser_login

    build_dataset(tenant_a, tenant_b)
    with tenant_scope(tenant_a):
        WismoContact.objects.create(
            tenant=tenant_a, channel="chat", carrier="<img src=x onerror=window.__xss=1>"
        )
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    try:
        browser_login(page, live_server.url, owner_a.email)
        page.goto(f"{live_server.url}/dashboard/analytics/?days=7")
        page.click("#chart-wismo-carrier summary")
        page.screenshot(path=str(ARTIFACTS / "analytics.png"), full_page=True)

        assert page.locator("#chart-status svg rect.s-6").count() >= 1  # delivered columns
        assert page.locator("#chart-wismo-carrier table").is_visible()
        assert (
            page.locator("#chart-wismo-carrier th[scope=row]").filter(has_text="onerror").count()
            == 1
        )
        assert page.evaluate("window.__xss") is None
        assert [u for u in missing if not u.endswith("/favicon.ico")] == []
        assert [p for p in problems if "404" not in p] == []  # no CSP violation, no error
    finally:
        page.close()
