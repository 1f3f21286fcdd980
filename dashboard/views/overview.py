"""The dashboard's home (KPI tiles of the last 30 days, the attention queue's counts) and the
analytics page (a period selector and server-rendered SVG charts, each with its data table).

Both read ``dashboard.services.analytics``; agents may open both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.safestring import SafeString

from dashboard import charts
from dashboard.access import dashboard_view
from dashboard.services.analytics import (
    MAX_DAYS,
    PRESET_DAYS,
    STATUS_ORDER,
    Analytics,
    PeriodError,
    analytics_figures,
    attention_counts,
    period_parse,
)
from notifications.models import Trigger
from wismo.tracking.models import STATUS_CHOICES

STATUS_LABELS = dict(STATUS_CHOICES)
TRIGGER_LABELS = dict(Trigger.choices)


@dashboard_view()
def home(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    figures = analytics_figures(tenant=tenant, period=period_parse(tenant=tenant))
    return render(
        request,
        "dashboard/home.html",
        {
            "figures": figures,
            "totals": figures.totals,
            "on_time_pct": _pct(figures.totals.on_time_rate),
            "attention": attention_counts(tenant=tenant),
        },
    )


class PeriodForm(forms.Form):
    """``?days=7|30|90`` or ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (inclusive, at most 366 days)."""

    days = forms.TypedChoiceField(
        label="Period",
        choices=[(str(d), f"Last {d} days") for d in PRESET_DAYS] + [("", "Custom dates")],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.period = None
        # "from" is a Python keyword: the fields are added by name.
        self.fields["from"] = forms.DateField(label="From", required=False, widget=_DateInput)
        self.fields["to"] = forms.DateField(label="To", required=False, widget=_DateInput)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        start, end = data.get("from"), data.get("to")
        if start is None and end is None and data.get("days") is None:
            data["days"] = 30
        try:
            self.period = period_parse(
                tenant=self.tenant,
                start=start,
                end=end,
                days=None if (start or end) else data.get("days"),
            )
        except PeriodError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self):
        super().__init__(format="%Y-%m-%d")


@dataclass
class ChartSection:
    """One chart of the page and the table that says the same in numbers."""

    slug: str
    title: str
    svg: SafeString | None
    headers: list[str]
    rows: list[list]
    note: str = ""
    extra: list[tuple[str, str]] = field(default_factory=list)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else f"{value:,}"


def _sections(figures: Analytics) -> list[ChartSection]:
    period = figures.period
    labels = [b.bucket.strftime("%d %b") for b in figures.status_series]
    statuses = [s for s in STATUS_ORDER if any(b.counts.get(s) for b in figures.status_series)]
    series = [
        (STATUS_LABELS.get(s, s), [b.counts.get(s, 0) for b in figures.status_series])
        for s in statuses
    ]
    carriers = [g for g in figures.by_carrier if g.shipments]
    sections = [
        ChartSection(
            slug="status",
            title="Shipments by status, per day"
            if period.bucket == "day"
            else "Shipments by status, per week (weeks start on Monday)",
            svg=charts.stacked_columns(
                labels,
                series,
                title="Shipments by status over time",
                class_ids=[STATUS_ORDER.index(s) for s in statuses],
            )
            if figures.totals.shipments
            else None,
            headers=["Period", *[name for name, _ in series], "Total"],
            rows=[
                [label, *[values[i] for _, values in series], figures.status_series[i].total]
                for i, label in enumerate(labels)
            ],
            note="Shipments created in each period, by their status now.",
        ),
        ChartSection(
            slug="on-time",
            title="On-time rate by carrier",
            svg=charts.bar_chart(
                [(g.key, g.on_time_rate) for g in carriers if g.on_time_known],
                title="On-time rate by carrier",
                fmt=_pct,
                max_value=1,
            )
            if any(g.on_time_known for g in carriers)
            else None,
            headers=["Carrier", "Delivered with a promise", "On time", "On-time rate"],
            rows=[[g.key, g.on_time_known, g.on_time, _pct(g.on_time_rate)] for g in carriers],
            note=(
                "Delivered on or before the last day of the first delivery range the shopper "
                "was given (else the stored estimate)."
            ),
        ),
        ChartSection(
            slug="transit",
            title="Average transit time by carrier (days)",
            svg=charts.bar_chart(
                [(g.key, g.avg_transit_days) for g in carriers if g.avg_transit_days is not None],
                title="Average transit time by carrier, days",
            )
            if any(g.avg_transit_days is not None for g in carriers)
            else None,
            headers=["Carrier", "Shipments", "Processing (days)", "Transit (days)"],
            rows=[
                [g.key, g.shipments, _num(g.avg_processing_days), _num(g.avg_transit_days)]
                for g in carriers
            ],
            note="Processing: order placed to shipped. Transit: shipped to delivered.",
        ),
        ChartSection(
            slug="lanes",
            title="Average transit time by lane (days)",
            svg=charts.bar_chart(
                [
                    (g.key, g.avg_transit_days)
                    for g in figures.by_lane
                    if g.avg_transit_days is not None
                ],
                title="Average transit time by lane, days",
            )
            if any(g.avg_transit_days is not None for g in figures.by_lane)
            else None,
            headers=[
                "Lane",
                "Shipments",
                "Processing (days)",
                "Transit (days)",
                "On-time rate",
            ],
            rows=[
                [
                    g.key,
                    g.shipments,
                    _num(g.avg_processing_days),
                    _num(g.avg_transit_days),
                    _pct(g.on_time_rate),
                ]
                for g in figures.by_lane
            ],
            note="Origin country -> destination country, the 20 busiest lanes.",
        ),
        ChartSection(
            slug="exceptions",
            title="Exception rate by carrier",
            svg=charts.bar_chart(
                [(g.key, g.exception_rate) for g in carriers],
                title="Exception rate by carrier",
                fmt=_pct,
            )
            if carriers
            else None,
            headers=["Carrier", "Shipments", "Exceptions", "Exception rate"],
            rows=[[g.key, g.shipments, g.exceptions, _pct(g.exception_rate)] for g in carriers],
            note="Shipments in exception now or at some point.",
        ),
        ChartSection(
            slug="wismo-carrier",
            title="WISMO rate by carrier (contacts per 100 shipments)",
            svg=charts.bar_chart(
                [(g.key, g.wismo_rate) for g in figures.by_carrier if g.wismo_rate is not None],
                title="WISMO contacts per 100 shipments by carrier",
            )
            if any(g.wismo_rate is not None for g in figures.by_carrier)
            else None,
            headers=["Carrier", "Shipments", "Contacts", "Per 100 shipments"],
            rows=[
                [g.key, g.shipments, g.wismo_contacts, _num(g.wismo_rate)]
                for g in figures.by_carrier
            ],
        ),
        ChartSection(
            slug="wismo-status",
            title="WISMO contacts by status at contact time",
            svg=charts.bar_chart(
                [(STATUS_LABELS.get(r.key, r.key), r.rate) for r in figures.wismo_by_status],
                title="WISMO contacts per 100 shipments by status",
            )
            if figures.wismo_by_status and figures.totals.shipments
            else None,
            headers=["Status", "Contacts", "Per 100 shipments"],
            rows=[
                [STATUS_LABELS.get(r.key, r.key), r.contacts, _num(r.rate)]
                for r in figures.wismo_by_status
            ],
            note="Per 100 shipments of the period; the parts add up to the whole rate.",
        ),
        ChartSection(
            slug="wismo-notified",
            title="WISMO rate with and without an email sent",
            svg=charts.bar_chart(
                [
                    ("Email sent" if r.key == "notified" else "No email", r.rate)
                    for r in figures.wismo_by_notified
                ],
                title="WISMO contacts per 100 shipments, notified or not",
            )
            if figures.totals.shipments
            else None,
            headers=["Shopper", "Shipments", "Contacts", "Per 100 shipments"],
            rows=[
                [
                    "Email sent" if r.key == "notified" else "No email",
                    r.shipments,
                    r.contacts,
                    _num(r.rate),
                ]
                for r in figures.wismo_by_notified
            ],
        ),
        ChartSection(
            slug="emails",
            title="Emails sent, opened and clicked",
            svg=charts.bar_chart(
                [
                    ("Sent", figures.emails.sent),
                    ("Opened", figures.emails.opened),
                    ("Clicked", figures.emails.clicked),
                    ("Bounced", figures.emails.bounced),
                ],
                title="Emails sent, opened, clicked and bounced",
            )
            if figures.emails.sent
            else None,
            headers=["Trigger", "Sent", "Opened", "Clicked"],
            rows=[
                [TRIGGER_LABELS.get(r.trigger, r.trigger), r.sent, r.opened, r.clicked]
                for r in figures.emails.by_trigger
            ],
            extra=[
                ("Open rate", _pct(figures.emails.open_rate)),
                ("Click rate", _pct(figures.emails.click_rate)),
            ],
        ),
        ChartSection(
            slug="page-views",
            title="Tracking page views per day",
            svg=charts.line_chart(
                [(d.day.strftime("%d %b"), d.views) for d in figures.page_views.by_day],
                title="Tracking page views per day",
            )
            if figures.page_views.views
            else None,
            headers=["Day", "Views"],
            rows=[[d.day.isoformat(), d.views] for d in figures.page_views.by_day],
            extra=[
                ("Views", _num(figures.page_views.views)),
                ("Shipments viewed", _num(figures.page_views.shipments_viewed)),
                ("Views per viewed shipment", _num(figures.page_views.views_per_viewed_shipment)),
                ("Views per shipment of the period", _num(figures.page_views.views_per_shipment)),
            ],
        ),
    ]
    return sections


@dashboard_view()
def analytics(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    form = PeriodForm(request.GET or None, tenant=tenant, initial={"days": "30"})
    if request.GET:
        if not form.is_valid():
            return render(
                request,
                "dashboard/analytics/index.html",
                {"form": form, "figures": None, "max_days": MAX_DAYS},
                status=400,
            )
        period = form.period
    else:
        period = period_parse(tenant=tenant)
    figures = analytics_figures(tenant=tenant, period=period)
    accuracy = figures.accuracy
    backtest = (accuracy.backtest or {}).get("overall") or {}
    backtest_carriers = sorted(((accuracy.backtest or {}).get("carriers") or {}).items())
    return render(
        request,
        "dashboard/analytics/index.html",
        {
            "form": form,
            "figures": figures,
            "totals": figures.totals,
            "sections": _sections(figures),
            "accuracy": accuracy,
            "range_hit_rate": _pct(accuracy.range_hit_rate),
            "backtest": {
                "n": backtest.get("n"),
                "range_hit_rate": _pct(backtest.get("range_hit_rate")),
                "exact_day_hit_rate": _pct(backtest.get("exact_day_hit_rate")),
                "mae_days": backtest.get("mae_days"),
            }
            if backtest
            else None,
            "backtest_carriers": [
                {
                    "carrier": carrier,
                    "n": score.get("n"),
                    "range_hit_rate": _pct(score.get("range_hit_rate")),
                    "exact_day_hit_rate": _pct(score.get("exact_day_hit_rate")),
                    "mae_days": score.get("mae_days"),
                }
                for carrier, score in backtest_carriers
            ],
            "max_days": MAX_DAYS,
        },
    )


urlpatterns = [
    path("", home, name="dash-home"),
    path("", home, name="dashboard-home"),  # the placeholder's name, kept for old links
    path("analytics/", analytics, name="dash-analytics"),
]
