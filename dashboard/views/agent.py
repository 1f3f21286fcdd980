"""Support agents: one search box, a shipment's full picture, the ready reply, and the actions
(note, re-track, resend, stop tracking, log a contact). Every view is open to agents."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dashboard.access import dashboard_view
from dashboard.models import ContactChannel
from dashboard.replies import ready_reply
from dashboard.selectors import agent as selectors
from dashboard.services import actions
from dashboard.services import agent as services
from tenants.models import Role
from wismo.tracking.models import Shipment


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Order number, tracking number, email or name",
        max_length=selectors.MAX_QUERY_LENGTH,
        required=False,
        strip=True,
    )


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Internal note", max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ContactForm(forms.Form):
    channel = forms.ChoiceField(
        label="How did the shopper ask?",
        choices=[(c.value, c.label) for c in services.AGENT_CHANNELS],
    )


def _zone(request: HttpRequest):
    try:
        return zoneinfo.ZoneInfo(request.tenant.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _render(request: HttpRequest, template: str, context: dict, status: int = 200):
    # Times read in the shop's own time zone.
    with timezone.override(_zone(request)):
        return render(request, template, context, status=status)


def _query(data) -> str:
    """The search a page was opened from (carried in ``q``), or "" when absent or not valid."""
    form = SearchForm({"q": data.get("q", "")})
    return form.cleaned_data["q"] if form.is_valid() else ""


def _shipment_or_404(pk: int) -> Shipment:
    try:
        return selectors.shipment_for_agent(shipment_id=pk)
    except Shipment.DoesNotExist:
        raise Http404("No such shipment.") from None


@dashboard_view(Role.AGENT)
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    if not form.is_valid():
        return _render(
            request,
            "dashboard/agent/search.html",
            {"form": form, "hits": [], "search_q": ""},
            status=400,
        )
    q = form.cleaned_data["q"]
    hits = selectors.search(q=q) if q else []
    reply = None
    shipments = [h for h in hits if h.shipment is not None]
    if len(shipments) == 1:
        only = shipments[0].shipment
        reply = ready_reply(shipment=only)
        services.contact_log(
            shipment=only, channel=ContactChannel.DASHBOARD, query=q, user=request.user
        )
    return _render(
        request,
        "dashboard/agent/search.html",
        {
            "form": form,
            "q": q,
            "search_q": q,
            "hits": hits,
            "limit": selectors.MAX_RESULTS,
            "reply": reply,
            "reply_shipment": shipments[0].shipment if reply else None,
        },
    )


def _detail_context(request: HttpRequest, shipment: Shipment, **extra) -> dict:
    return {
        "shipment": shipment,
        "order": shipment.order,
        "summary": selectors.shipment_summary(shipment),
        "carrier_link": selectors.carrier_link(shipment.carrier, shipment.tracking_number),
        "events": selectors.shipment_timeline(shipment=shipment),
        "notifications": selectors.shipment_notifications(shipment=shipment),
        "page_views": selectors.shipment_page_views(shipment=shipment),
        "notes": selectors.shipment_notes(shipment=shipment),
        "contacts": selectors.shipment_contacts(shipment=shipment),
        "reply": ready_reply(shipment=shipment),
        "note_form": extra.pop("note_form", None) or NoteForm(),
        "contact_form": extra.pop("contact_form", None) or ContactForm(),
        "q": _query(request.GET),
        "search_q": _query(request.GET),
        "tenant_zone": _zone(request),
        **extra,
    }


@dashboard_view(Role.AGENT)
@require_GET
def shipment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    q = _query(request.GET)
    if q:
        # Opened from the search: a shopper asked; a refresh is not a new contact.
        services.contact_log(
            shipment=shipment, channel=ContactChannel.DASHBOARD, query=q, user=request.user
        )
    return _render(request, "dashboard/agent/shipment.html", _detail_context(request, shipment))


def _back(shipment: Shipment) -> HttpResponse:
    return redirect(reverse("dash-shipment", args=[shipment.pk]))


@dashboard_view(Role.AGENT)
@require_POST
def shipment_note(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    form = NoteForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["body"].strip():
        if form.is_valid():
            form.add_error("body", "A note needs some text.")
        return _render(
            request,
            "dashboard/agent/shipment.html",
            _detail_context(request, shipment, note_form=form),
            status=400,
        )
    services.shipment_note_add(
        shipment=shipment, author=request.user, body=form.cleaned_data["body"]
    )
    messages.success(request, "Note added.")
    return _back(shipment)


@dashboard_view(Role.AGENT)
@require_POST
def shipment_contact(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    form = ContactForm(request.POST)
    if not form.is_valid():
        return _render(
            request,
            "dashboard/agent/shipment.html",
            _detail_context(request, shipment, contact_form=form),
            status=400,
        )
    services.contact_set_channel(
        shipment=shipment,
        channel=form.cleaned_data["channel"],
        user=request.user,
        query=_query(request.POST),
    )
    messages.success(request, "Contact logged.")
    return _back(shipment)


@dashboard_view(Role.AGENT)
@require_POST
def shipment_retrack(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    if actions.shipments_retrack(shipment_ids=[shipment.pk]):
        messages.success(request, "Asking the carrier again now.")
    else:
        messages.error(
            request, f"{selectors.carrier_name(shipment.carrier)} has no API to ask again."
        )
    return _back(shipment)


@dashboard_view(Role.AGENT)
@require_POST
def shipment_resend(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    notification = actions.notification_resend(shipment=shipment, user=request.user)
    if notification is None:
        messages.error(request, "No email was sent for this shipment yet: nothing to resend.")
    else:
        messages.success(
            request, f"The last email ({notification.get_trigger_display()}) will be sent again."
        )
    return _back(shipment)


@dashboard_view(Role.AGENT)
@require_POST
def shipment_stop(request: HttpRequest, pk: int) -> HttpResponse:
    shipment = _shipment_or_404(pk)
    if actions.shipments_stop_tracking(shipment_ids=[shipment.pk], user=request.user):
        messages.success(request, "Tracking stopped.")
    else:
        messages.info(request, "This shipment was not being tracked.")
    return _back(shipment)


urlpatterns = [
    path("search/", search, name="dash-search"),
    path("shipments/<int:pk>/", shipment_detail, name="dash-shipment"),
    path("shipments/<int:pk>/notes/", shipment_note, name="dash-shipment-note"),
    path("shipments/<int:pk>/contact/", shipment_contact, name="dash-shipment-contact"),
    path("shipments/<int:pk>/retrack/", shipment_retrack, name="dash-shipment-retrack"),
    path("shipments/<int:pk>/resend/", shipment_resend, name="dash-shipment-resend"),
    path("shipments/<int:pk>/stop/", shipment_stop, name="dash-shipment-stop"),
]
