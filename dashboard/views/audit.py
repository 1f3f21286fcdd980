"""The audit log, for owners: every dashboard and API change of the shop, newest first.

Route (mounted at /dashboard/settings/audit/): ``""`` (dash-audit), filters by actor and by
day (in the shop's time zone), 50 entries a page by a keyset cursor (the next page starts after
the last entry shown). Owners only: the log names every member and key and where they came from.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from dashboard.access import dashboard_view
from dashboard.audit import audit_actors, audit_entries, cursor_parse
from tenants.models import Role


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=200)
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")
    after = forms.CharField(required=False, max_length=80)

    def clean_after(self) -> tuple | None:
        value = self.cleaned_data.get("after") or ""
        if not value:
            return None
        parsed = cursor_parse(value)
        if parsed is None:
            raise forms.ValidationError("This page link is not valid.")
        return parsed

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("“From” must not be after “To”.")
        return data


def _zone(request: HttpRequest) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(request.tenant.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, AttributeError):
        return zoneinfo.ZoneInfo("UTC")


@dashboard_view(Role.OWNER)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    zone = _zone(request)
    context = {"form": form, "actors": audit_actors(), "zone": str(zone)}
    if request.GET and not form.is_valid():
        context.update(entries=[], next_url="")
        return render(request, "dashboard/audit/log.html", context, status=400)
    data = form.cleaned_data if request.GET else {}
    start, end = data.get("date_from"), data.get("date_to")
    entries, cursor = audit_entries(
        actor=data.get("actor") or "",
        since=datetime.combine(start, time.min, tzinfo=zone) if start else None,
        until=datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone) if end else None,
        after=data.get("after"),
    )
    next_url = ""
    if cursor:
        kept = {k: v for k, v in request.GET.items() if k in ("actor", "date_from", "date_to")}
        next_url = "?" + urlencode({**kept, "after": cursor})
    context.update(entries=entries, next_url=next_url, paged=bool(data.get("after")))
    return render(request, "dashboard/audit/log.html", context)


urlpatterns = [path("", audit_log, name="dash-audit")]
