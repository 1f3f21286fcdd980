"""The merchant's shipment list: filters, keyset pages, saved views, CSV export, bulk actions.

Routes (mounted at /dashboard/):
- ``shipments/`` (dash-shipments): the filtered, sorted list, 50 rows a page, "next"/"previous"
  by an opaque signed cursor (a forged one is a 400).
- ``shipments/export.csv`` (dash-shipments-export): the same filters as a streamed CSV.
- ``shipments/views/`` (dash-shipments-view-save), ``shipments/views/<id>/delete/``
  (dash-shipments-view-delete): saved filter sets, personal or shared with the team.
- ``shipments/bulk/`` (dash-shipments-bulk): re-track, resend or stop the ticked shipments.
Every role may use them (agents re-track, resend and stop tracking).
"""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import dashboard_view
from dashboard.models import SavedView
from dashboard.selectors import shipments as selectors
from dashboard.services import shipments as services
from tenants.models import Role
from tenants.scoping import tenant_scope
from wismo.tracking.filters import STATUS_FILTER_CHOICES


def _list_url(query: str = "") -> str:
    base = reverse("dash-shipments")
    return f"{base}?{query}" if query else base


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(
        request,
        "dashboard/shipments/error.html",
        {"message": message, "back": _list_url(services.list_query_string(request.GET))},
        status=400,
    )


@dashboard_view(Role.AGENT)
@require_GET
def shipment_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.shipment_filter(data=request.GET, request=request)
    sort = request.GET.get("sort") or selectors.DEFAULT_SORT
    query = services.list_query_string(request.GET)
    context = {
        "filters": filters,
        "sort": sort if sort in selectors.SORTS else selectors.DEFAULT_SORT,
        "statuses": STATUS_FILTER_CHOICES,
        "sorts": [(key, spec.label) for key, spec in selectors.SORTS.items()],
        "stores": selectors.shipment_store_choices(),
        "carriers": selectors.shipment_carrier_choices(),
        "saved_views": selectors.saved_views_visible(user=request.user),
        "query": query,
        "export_url": reverse("dash-shipments-export") + (f"?{query}" if query else ""),
        "bulk_actions": services.BULK_ACTIONS,
        "max_bulk": services.MAX_BULK_IDS,
        "page": None,
    }
    status = 200
    if sort not in selectors.SORTS:
        context["error"] = "Unknown sort order."
        status = 400
    elif not filters.is_valid():
        status = 400
    else:
        try:
            page = selectors.shipment_page(
                queryset=filters.qs, sort=sort, cursor=request.GET.get("cursor") or None
            )
        except selectors.InvalidCursor:
            context["error"] = "That page link is not valid any more: start again from page one."
            status = 400
        else:
            context["page"] = page
            context["rows"] = _rows(page.rows, dict(context["stores"]))
            glue = f"{query}&" if query else ""
            if page.next_cursor:
                context["next_url"] = _list_url(f"{glue}cursor={page.next_cursor}")
            if page.previous_cursor:
                context["previous_url"] = _list_url(f"{glue}cursor={page.previous_cursor}")
    return render(request, "dashboard/shipments/list.html", context, status=status)


def _when(value, fmt: str) -> str:
    if value is None:
        return ""
    if hasattr(value, "tzinfo"):
        value = timezone.localtime(value)
    return value.strftime(fmt)


def _rows(shipments, store_names: dict) -> list[dict]:
    """What each table row shows, prepared once in Python (a page is 50 rows; the template
    engine's per-variable lookups and date filters were most of the page's time)."""
    labels = dict(STATUS_FILTER_CHOICES)
    return [
        {
            "pk": s.pk,
            "tracking_number": s.tracking_number,
            "order_number": s.order.order_number if s.order_id else "",
            "carrier": s.carrier,
            "status": s.status,
            "status_label": labels.get(s.status, s.status),
            "substatus": s.substatus,
            "flags": s.is_delayed or s.is_stalled or s.action_required,
            "is_delayed": s.is_delayed,
            "is_stalled": s.is_stalled,
            "action_required": s.action_required,
            "store": store_names.get(s.store_id, ""),
            "country": s.destination_country,
            "created": _when(s.created_at, "%Y-%m-%d %H:%M"),
            "expected": _when(s.estimated_delivery, "%Y-%m-%d"),
            "last_scan": _when(s.last_event_at, "%Y-%m-%d %H:%M"),
        }
        for s in shipments
    ]


class _Echo:
    """A file-like object whose write returns the line: csv.writer then yields strings."""

    def write(self, value: str) -> str:
        return value


@dashboard_view(Role.AGENT)
@require_GET
def shipment_export(request: HttpRequest) -> HttpResponse:
    filters = selectors.shipment_filter(data=request.GET, request=request)
    if not filters.is_valid():
        return _bad_request(request, "Some filters are not valid: fix them and export again.")
    queryset = filters.qs
    tenant = request.tenant
    header = [name for name, _ in selectors.EXPORT_COLUMNS]
    token_index = header.index("public_token")
    header[token_index] = "tracking_url"
    page_base = f"{settings.WISMO_BASE_URL}/t/{tenant.slug}/"
    writer = csv.writer(_Echo())

    def lines():
        # The response is iterated after the middleware has closed the request's scope.
        with tenant_scope(tenant):
            yield writer.writerow(header)
            batch: list[str] = []
            for row in selectors.shipment_export_rows(queryset=queryset):
                cells = [services.csv_safe(value) for value in row]
                cells[token_index] = f"{page_base}{row[token_index]}/"
                batch.append(writer.writerow(cells))
                if len(batch) >= 500:
                    yield "".join(batch)
                    batch = []
            if batch:
                yield "".join(batch)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="shipments-{tenant.slug}.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@dashboard_view(Role.AGENT)
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    query = services.list_query_string(QueryDict(request.POST.get("query", "")[:4000]))
    try:
        view = services.saved_view_create(
            tenant=request.tenant,
            user=request.user,
            name=request.POST.get("name", ""),
            query=query,
            shared=request.POST.get("shared") in ("1", "on", "true"),
        )
    except ValidationError as exc:
        return _bad_request(request, " ".join(exc.messages))
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(_list_url(query), permanent=False)


@dashboard_view(Role.AGENT)
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        services.saved_view_delete(user=request.user, view_id=view_id)
    except SavedView.DoesNotExist:
        raise Http404("No such view.") from None
    messages.success(request, "Deleted the view.")
    return redirect(_list_url())


@dashboard_view(Role.AGENT)
@require_POST
def shipment_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    if action not in services.BULK_ACTIONS:
        return _bad_request(request, "Choose an action.")
    try:
        ids = services.bulk_ids_clean(request.POST.getlist("ids"))
    except ValidationError as exc:
        return _bad_request(request, " ".join(exc.messages))
    count = services.shipments_bulk_action(action=action, shipment_ids=ids, user=request.user)
    label = services.BULK_ACTIONS[action]
    messages.success(request, f"{label}: {count} shipment{'s' if count != 1 else ''}.")
    query = services.list_query_string(QueryDict(request.POST.get("query", "")[:4000]))
    return redirect(_list_url(query))


urlpatterns = [
    path("shipments/", shipment_list, name="dash-shipments"),
    path("shipments/export.csv", shipment_export, name="dash-shipments-export"),
    path("shipments/views/", saved_view_save, name="dash-shipments-view-save"),
    path(
        "shipments/views/<int:view_id>/delete/",
        saved_view_delete,
        name="dash-shipments-view-delete",
    ),
    path("shipments/bulk/", shipment_bulk, name="dash-shipments-bulk"),
]
