"""The needs-attention queue, shopper cases and the flow tester (issue #7).

- ``/dashboard/attention/``: sections with counts, one section's rows at a time, keyset-paged;
- ``/dashboard/cases/<id>/``: one shopper-reported case: answer (emailed), resolve, reopen;
- ``/dashboard/flow-tester/``: step a test parcel through every status and reason (admins), with
  ``email/`` and ``page/`` serving the rendered email and tracking page to sandboxed frames.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods

from carriers.statuses import SUBSTATUSES
from dashboard.access import dashboard_view
from dashboard.services import attention, cases, flow_tester
from notifications.models import Trigger
from tenants.models import Role
from tracking_pages.branding import brand_from
from tracking_pages.models import ProblemReport
from tracking_pages.security import content_security_policy
from wismo.tracking.labels import LANGUAGES

# --- the queue -----------------------------------------------------------------------------------


class QueueForm(forms.Form):
    tab = forms.ChoiceField(choices=[(s.key, s.title) for s in attention.SECTIONS], required=False)
    after = forms.CharField(required=False, max_length=80)


@dashboard_view(Role.AGENT)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueForm(request.GET)
    counts = attention.section_counts()
    if not form.is_valid():
        return render(
            request,
            "dashboard/attention/queue.html",
            {"form": form, "tabs": _tabs(counts, None), "page": None},
            status=400,
        )
    key = form.cleaned_data["tab"] or next(
        (s.key for s in attention.SECTIONS if counts[s.key]), attention.SECTIONS[0].key
    )
    try:
        page = attention.section_page(key, cursor=form.cleaned_data["after"] or None)
    except attention.BadCursor:
        form.add_error("after", "This link is out of date: start from the first page.")
        return render(
            request,
            "dashboard/attention/queue.html",
            {"form": form, "tabs": _tabs(counts, key), "page": None},
            status=400,
        )
    return render(
        request,
        "dashboard/attention/queue.html",
        {
            "form": form,
            "tabs": _tabs(counts, key),
            "page": page,
            "section": page.section,
            "count": counts[key],
            "count_limit": attention.COUNT_LIMIT,
            "not_shipped_days": attention.not_shipped_after_days(),
            # Rows appended in place by htmx need no way back to the first page.
            "first_page": not form.cleaned_data["after"] or bool(getattr(request, "htmx", False)),
        },
    )


def _tabs(counts: dict[str, int], current: str | None) -> list[dict]:
    return [
        {
            "key": s.key,
            "title": s.title,
            "help": s.help,
            "count": counts[s.key],
            "capped": counts[s.key] >= attention.COUNT_LIMIT,
            "current": s.key == current,
        }
        for s in attention.SECTIONS
    ]


# --- cases ----------------------------------------------------------------------------------------


class ReplyForm(forms.Form):
    reply = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=cases.REPLY_LIMIT,
        strip=True,
        label="Reply to the shopper",
    )


class ActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("answer", "answer"), ("resolve", "resolve"), ("reopen", "reopen")]
    )


@dashboard_view(Role.AGENT)
@require_http_methods(["GET", "POST"])
def case(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        report = cases.case_get(pk=pk)
    except ProblemReport.DoesNotExist:
        raise Http404("No such case.") from None
    reply_form = ReplyForm()
    status, error = 200, ""
    if request.method == "POST":
        action = ActionForm(request.POST)
        if not action.is_valid():
            return _case_page(request, report, reply_form, status=400, error="Unknown action.")
        verb = action.cleaned_data["action"]
        try:
            if verb == "answer":
                reply_form = ReplyForm(request.POST)
                if reply_form.is_valid():
                    _, emailed = cases.case_answer(
                        report=report,
                        reply=reply_form.cleaned_data["reply"],
                        by=request.user,
                        tenant=request.tenant,
                    )
                    messages.success(
                        request,
                        "Reply saved and emailed to the shopper."
                        if emailed
                        else "Reply saved (no email: same reply as before, or no usable "
                        "address). The shopper sees it on their report page.",
                    )
                    return redirect("dash-case", pk=report.pk)
                status = 400
            elif verb == "resolve":
                cases.case_resolve(report=report, by=request.user)
                messages.success(request, "Case resolved.")
                return redirect("dash-case", pk=report.pk)
            else:
                cases.case_reopen(report=report)
                messages.success(request, "Case reopened.")
                return redirect("dash-case", pk=report.pk)
        except ValidationError as exc:
            error = " ".join(e for errors in exc.message_dict.values() for e in errors)
            status = 400 if verb == "answer" else 409
            report = cases.case_get(pk=pk)
    return _case_page(request, report, reply_form, status=status, error=error)


def _case_page(request, report, reply_form, *, status: int = 200, error: str = "") -> HttpResponse:
    order, shipment = report.order, report.shipment
    return render(
        request,
        "dashboard/attention/case.html",
        {
            "report": report,
            "order": order,
            "shipment": shipment,
            "reply_form": reply_form,
            "error": error,
            "states": ProblemReport.State,
            "is_resolved": report.state == ProblemReport.State.RESOLVED,
        },
        status=status,
    )


# --- flow tester ---------------------------------------------------------------------------------


class FlowForm(forms.Form):
    substatus = forms.ChoiceField(
        choices=[(code, code) for code in flow_tester.STEPS], required=False, label="Step"
    )
    lang = forms.ChoiceField(
        choices=[(code, code) for code in LANGUAGES], required=False, label="Language"
    )
    proven = forms.BooleanField(required=False, label="Shopper proved the order")
    trigger = forms.ChoiceField(choices=[(t.value, t.label) for t in Trigger], required=False)

    def clean(self):
        data = super().clean()
        data["substatus"] = data.get("substatus") or flow_tester.STEPS[0]
        data["lang"] = data.get("lang") or "en"
        return data


def _flow_form(request: HttpRequest) -> tuple[FlowForm, dict | None]:
    form = FlowForm(request.GET)
    if not form.is_valid():
        return form, None
    data = dict(form.cleaned_data)
    if not request.GET.get("lang"):
        data["lang"] = (
            request.tenant.default_language
            if request.tenant.default_language in (LANGUAGES)
            else "en"
        )
    return form, data


@dashboard_view(Role.ADMIN)
@require_GET
def flow(request: HttpRequest) -> HttpResponse:
    form, data = _flow_form(request)
    if data is None:
        return render(request, "dashboard/attention/flow_tester.html", {"form": form}, status=400)
    substatus, lang = data["substatus"], data["lang"]
    step = flow_tester.flow_step(tenant=request.tenant, substatus=substatus, lang=lang)
    before, after = flow_tester.step_neighbours(substatus)
    query = f"lang={lang}{'&proven=1' if data['proven'] else ''}"
    groups: dict[str, list[dict]] = {}
    for code in flow_tester.STEPS:
        groups.setdefault(code.split(".", 1)[0], []).append(
            {"code": code, "label": SUBSTATUSES[code].label, "current": code == substatus}
        )
    return render(
        request,
        "dashboard/attention/flow_tester.html",
        {
            "form": form,
            "step": step,
            "lang": lang,
            "proven": data["proven"],
            "query": query,
            "before": before,
            "after": after,
            "groups": groups,
            "languages": LANGUAGES,
            "position": flow_tester.STEPS.index(substatus) + 1,
            "total": len(flow_tester.STEPS),
        },
    )


# What a rendered email or page may do inside its frame: show itself, load images, nothing else.
EMAIL_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "font-src https: data:; frame-ancestors 'self'"
)


def _framed(html: str, csp: str) -> HttpResponse:
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = csp
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


@dashboard_view(Role.ADMIN)
@require_GET
@xframe_options_sameorigin
def flow_email(request: HttpRequest) -> HttpResponse:
    _form, data = _flow_form(request)
    if data is None or not data.get("trigger"):
        return HttpResponse(
            "Choose a step, a language and one of its emails.",
            status=400,
            content_type="text/plain",
        )
    _, triggers = flow_tester.step_triggers(data["substatus"])
    if data["trigger"] not in triggers:
        return HttpResponse(
            "This step does not send that email.", status=400, content_type="text/plain"
        )
    email = flow_tester.step_email(
        tenant=request.tenant,
        substatus=data["substatus"],
        trigger=data["trigger"],
        lang=data["lang"],
    )
    if email.error:
        return HttpResponse(
            f"Template error: {email.error}", status=200, content_type="text/plain; charset=utf-8"
        )
    return _framed(email.html, EMAIL_CSP)


@dashboard_view(Role.ADMIN)
@require_GET
@xframe_options_sameorigin
def flow_page(request: HttpRequest) -> HttpResponse:
    _form, data = _flow_form(request)
    if data is None:
        return HttpResponse("Choose a step and a language.", status=400, content_type="text/plain")
    tenant = request.tenant
    html = flow_tester.page_html(
        tenant=tenant, substatus=data["substatus"], lang=data["lang"], proven=data["proven"]
    )
    brand = brand_from(
        tenant.branding,
        name=tenant.name,
        custom_domain=tenant.custom_domain,
        default_language=tenant.default_language,
    )
    # The page's own policy, sandboxed (no scripts, no forms, an opaque origin), framed by us.
    csp = "sandbox; " + content_security_policy(brand).replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    response = _framed(html, csp)
    response["Content-Language"] = data["lang"]
    return response


urlpatterns = [
    path("attention/", queue, name="dash-attention"),
    path("cases/<int:pk>/", case, name="dash-case"),
    path("flow-tester/", flow, name="dash-flow-tester"),
    path("flow-tester/email/", flow_email, name="dash-flow-tester-email"),
    path("flow-tester/page/", flow_page, name="dash-flow-tester-page"),
]
