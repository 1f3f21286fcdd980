"""Settings an admin keeps: notifications and email templates, branding (with a live preview of
the tracking page), languages and custom domain, the team and its invitations, API keys.

Every view needs ``Role.ADMIN`` (agents get 403). Views validate input with forms and call one
service; the rules live in ``dashboard.services.settings_general`` and ``dashboard.services.team``
(and, below them, in the apps that own each setting).

Previews (a tracking page with draft branding, an email template) are documents of their own,
framed by the settings page and sent with a sandboxing Content-Security-Policy: whatever a
merchant wrote can never run script in the dashboard's origin.
"""

from __future__ import annotations

import zoneinfo

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.access import RANK, dashboard_view
from dashboard.models import Invitation
from dashboard.services import settings_general as general
from dashboard.services import team
from notifications.models import Trigger
from notifications.services import templates as template_services
from tenants.models import ApiKey, Membership, Role
from tenants.services import api_key_create, api_key_revoke
from tracking_pages import branding as tp_branding
from tracking_pages.preview import PREVIEW_CSP, preview_page
from wismo.tracking import labels

ADMIN = Role.ADMIN
# The CSP of an email preview: the merchant's HTML in a sandbox, no script, https images only.
EMAIL_PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
LANGUAGE_NAMES = dict(settings.LANGUAGES)


def _errors_into(form: forms.Form, exc: ValidationError, fields: dict | None = None) -> None:
    """Put a service's ValidationError on the form (unknown keys become non-field errors)."""
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            name = (fields or {}).get(key, key)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- index ----------------------------------------------------------------------------------------


@dashboard_view(ADMIN)
def index(request: HttpRequest) -> HttpResponse:
    """Every settings page, grouped."""
    return render(
        request,
        "dashboard/settings/index.html",
        {"is_owner": request.membership.role == Role.OWNER},
    )


# --- general: name, language, time zone, custom domain --------------------------------------------


def _timezones() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(zoneinfo.available_timezones())]


class GeneralForm(forms.Form):
    name = forms.CharField(label="Shop name", max_length=200)
    default_language = forms.ChoiceField(label="Default language", choices=settings.LANGUAGES)
    timezone = forms.ChoiceField(label="Time zone", choices=_timezones)
    custom_domain = forms.CharField(
        label="Custom domain",
        max_length=253,
        required=False,
        help_text="e.g. track.yourshop.com, pointed (CNAME) at wismo. Leave empty for none.",
    )

    def clean_custom_domain(self) -> str | None:
        try:
            return general.clean_custom_domain(self.cleaned_data.get("custom_domain"))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def general_settings(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    initial = {
        "name": tenant.name,
        "default_language": tenant.default_language,
        "timezone": tenant.timezone,
        "custom_domain": tenant.custom_domain or "",
    }
    form = GeneralForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                general.tenant_general_update(tenant=tenant, **form.cleaned_data)
            except ValidationError as exc:
                tenant.refresh_from_db()
                _errors_into(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("dash-settings-general")
        status = 400
    return render(
        request,
        "dashboard/settings/general.html",
        {"form": form, "tracking_base": f"{settings.WISMO_BASE_URL}/t/{tenant.slug}/"},
        status=status,
    )


# --- notifications ----------------------------------------------------------------------------------


class PolicyForm(forms.Form):
    """Parses the page's fields; the rules are ``PolicySerializer``'s (the API's)."""

    enabled = forms.BooleanField(label="Send emails to shoppers", required=False)
    triggers = forms.MultipleChoiceField(
        choices=Trigger.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    quiet_start = forms.TimeField(
        label="Quiet hours from", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_end = forms.TimeField(
        label="until", required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    sender_name = forms.CharField(label="Sender name", required=False)
    reply_to = forms.CharField(label="Reply-to address", required=False)
    delay_discount_code = forms.CharField(label="Discount code in delay emails", required=False)
    promo_title = forms.CharField(label="Promotion title", required=False)
    promo_text = forms.CharField(label="Promotion text", required=False, widget=forms.Textarea)
    promo_image_url = forms.CharField(label="Promotion image (https://)", required=False)
    promo_link_url = forms.CharField(label="Promotion link (https://)", required=False)
    promo_products = forms.CharField(
        label="Products",
        required=False,
        widget=forms.Textarea,
        help_text="One a line: Title | https://product | https://image | price (up to 6).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for trigger in Trigger:
            self.fields[f"delay_{trigger.value}"] = forms.IntegerField(
                label=f"Delay of “{trigger.label}” (minutes)", required=False
            )

    def delay_fields(self):
        return [(t, self[f"delay_{t.value}"]) for t in Trigger]

    def clean_promo_products(self) -> list[dict]:
        try:
            return general.parse_products(self.cleaned_data.get("promo_products", ""), limit=6)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def policy_data(self) -> dict:
        data = self.cleaned_data
        promotion = {
            key: data[f"promo_{key}"]
            for key in ("title", "text", "image_url", "link_url", "products")
            if data[f"promo_{key}"]
        }
        return {
            "enabled": data["enabled"],
            "triggers": data["triggers"],
            "delays": {
                t.value: data[f"delay_{t.value}"]
                for t in Trigger
                if data.get(f"delay_{t.value}") is not None
            },
            "quiet_start": data["quiet_start"],
            "quiet_end": data["quiet_end"],
            "sender_name": data["sender_name"],
            "reply_to": data["reply_to"],
            "delay_discount_code": data["delay_discount_code"],
            "promotion": promotion,
        }


def _policy_initial(policy) -> dict:
    promotion = policy.promotion if isinstance(policy.promotion, dict) else {}
    initial = {
        "enabled": policy.enabled,
        "triggers": list(policy.triggers or []),
        "quiet_start": policy.quiet_start,
        "quiet_end": policy.quiet_end,
        "sender_name": policy.sender_name,
        "reply_to": policy.reply_to,
        "delay_discount_code": policy.delay_discount_code,
        "promo_title": promotion.get("title", ""),
        "promo_text": promotion.get("text", ""),
        "promo_image_url": promotion.get("image_url", ""),
        "promo_link_url": promotion.get("link_url", ""),
        "promo_products": general.products_text(promotion.get("products")),
    }
    for trigger, minutes in (policy.delays or {}).items():
        initial[f"delay_{trigger}"] = minutes
    return initial


_POLICY_FIELDS = {
    "promotion": None,
    "delays": None,
    "image_url": "promo_image_url",
    "link_url": "promo_link_url",
}


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    policy = general.notification_policy(tenant=request.tenant)
    form = PolicyForm(request.POST or None, initial=_policy_initial(policy))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                general.notification_policy_save(tenant=request.tenant, data=form.policy_data())
            except ValidationError as exc:
                _errors_into(form, exc, _POLICY_FIELDS)
            else:
                messages.success(request, "Notification settings saved.")
                return redirect("dash-settings-notifications")
        status = 400
    return render(request, "dashboard/settings/notifications.html", {"form": form}, status=status)


# --- email templates ------------------------------------------------------------------------------


def _template_key(trigger: str, lang: str) -> tuple[str, str]:
    if trigger not in Trigger.values or lang not in labels.LANGUAGES:
        raise Http404("No such template.")
    return trigger, lang


@dashboard_view(ADMIN)
def templates_list(request: HttpRequest) -> HttpResponse:
    """Every trigger in every language: ours (default) or the merchant's (customised)."""
    own = general.template_customized(tenant=request.tenant)
    rows = [
        {
            "trigger": trigger,
            "cells": [
                {"lang": lang, "parts": own.get((trigger.value, lang), [])}
                for lang in labels.LANGUAGES
            ],
        }
        for trigger in Trigger
    ]
    return render(
        request,
        "dashboard/settings/templates_list.html",
        {"rows": rows, "languages": [(c, LANGUAGE_NAMES.get(c, c)) for c in labels.LANGUAGES]},
    )


class TemplateForm(forms.Form):
    subject = forms.CharField(required=False, max_length=100_000)
    html = forms.CharField(
        label="HTML",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
    )
    text = forms.CharField(
        label="Plain text",
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
    )


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, trigger: str, lang: str) -> HttpResponse:
    """Edit one template: save (validated, errors by part and line), send a test, reset."""
    trigger, lang = _template_key(trigger, lang)
    tenant = request.tenant
    sources = template_services.template_sources(tenant=tenant, trigger=trigger, language=lang)
    action = request.POST.get("action", "save")
    form = TemplateForm(
        request.POST if request.method == "POST" and action == "save" else None,
        initial={p: sources[p] for p in template_services.PARTS},
    )
    status, warnings = 200, []
    here = redirect("dash-settings-template", trigger=trigger, lang=lang)
    if request.method == "POST" and action == "reset":
        template_services.template_save(tenant=tenant, trigger=trigger, language=lang, sources={})
        messages.success(request, "Back to the default template.")
        return here
    if request.method == "POST" and action == "test":
        to = request.user.email or request.user.username
        try:
            template_services.template_test_send(
                tenant=tenant,
                trigger=trigger,
                language=lang,
                to=to,
                allowed=general.test_recipients(tenant=tenant),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Test email sent to {to}.")
        return here
    if request.method == "POST":
        if form.is_valid():
            try:
                warnings = general.template_save_edited(
                    tenant=tenant, trigger=trigger, language=lang, sources=form.cleaned_data
                )
            except ValidationError as exc:
                _errors_into(form, exc)
                status = 400
            else:
                messages.success(request, "Template saved.")
                if not warnings:
                    return here
                sources = template_services.template_sources(
                    tenant=tenant, trigger=trigger, language=lang
                )
        else:
            status = 400
    context = {
        "form": form,
        "trigger": Trigger(trigger),
        "lang": lang,
        "lang_name": LANGUAGE_NAMES.get(lang, lang),
        "customized": [p for p in template_services.PARTS if sources[f"{p}_customized"]],
        "warnings": warnings,
        "test_to": request.user.email or request.user.username,
    }
    return render(request, "dashboard/settings/template_edit.html", context, status=status)


def _sandboxed(html: str, status: int = 200, csp: str = EMAIL_PREVIEW_CSP) -> HttpResponse:
    response = HttpResponse(html, status=status)
    response["Content-Security-Policy"] = csp
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _problem_document(title: str, problems: list[str]) -> str:
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview</title></head>'
        f"<body><h1>{escape(title)}</h1><ul>{items}</ul></body></html>"
    )


@dashboard_view(ADMIN)
@xframe_options_sameorigin
@require_http_methods(["GET", "POST"])
def template_preview(request: HttpRequest, trigger: str, lang: str) -> HttpResponse:
    """The email rendered over sample data: GET the saved template, POST the editor's draft.
    Sent sandboxed (see ``EMAIL_PREVIEW_CSP``); framed by the editor."""
    trigger, lang = _template_key(trigger, lang)
    sources = None
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if not form.is_valid():
            problems = [f"{k}: {m}" for k, v in form.errors.items() for m in v]
            return _sandboxed(_problem_document("Cannot preview", problems), status=400)
        sources = {part: value for part, value in form.cleaned_data.items() if value}
    try:
        email = template_services.template_preview(
            tenant=request.tenant, trigger=trigger, language=lang, sources=sources
        )
    except ValidationError as exc:
        problems = (
            [f"{k}: {m}" for k, v in exc.message_dict.items() for m in v]
            if hasattr(exc, "error_dict")
            else exc.messages
        )
        return _sandboxed(_problem_document("This template has an error", problems), status=400)
    return _sandboxed(email.html)


# --- branding -----------------------------------------------------------------------------------


FONT_CHOICES = [
    ("system", "System (the device's own)"),
    ("sans", "Sans serif (Helvetica, Arial)"),
    ("serif", "Serif (Georgia, Times)"),
    ("rounded", "Rounded"),
    ("humanist", "Humanist (Gill Sans, Trebuchet)"),
    ("geometric", "Geometric (Avenir, Futura)"),
    ("mono", "Monospace"),
]


class BrandingForm(forms.Form):
    logo_url = forms.CharField(label="Logo address (https://)", required=False, max_length=2000)
    primary_color = forms.CharField(
        label="Primary colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    accent_color = forms.CharField(
        label="Accent colour", max_length=7, widget=forms.TextInput(attrs={"type": "color"})
    )
    font = forms.ChoiceField(label="Font", choices=FONT_CHOICES)
    header_links = forms.CharField(
        label="Header links",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One a line: Label | https://address (up to 6).",
    )
    notice = forms.CharField(
        label="Notice on every page",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="e.g. peak-season delays. At most 500 characters.",
    )
    help_url = forms.CharField(
        label="Help or contact page (https:// or mailto:)", required=False, max_length=2000
    )
    faq = forms.CharField(
        label="Questions and answers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One a line: Question | Answer (up to 20).",
    )
    promo_title = forms.CharField(label="Banner title", required=False, max_length=120)
    promo_text = forms.CharField(
        label="Banner text",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    promo_image_url = forms.CharField(label="Banner image (https://)", required=False)
    promo_link_url = forms.CharField(label="Banner link", required=False)
    promo_products = forms.CharField(
        label="Recommended products",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One a line: Title | https://product | https://image | price (up to 4).",
    )

    def _color(self, name: str) -> str:
        value = tp_branding.parse_color(self.cleaned_data.get(name))
        if not value:
            raise ValidationError("Use a colour such as #1f4e79.")
        return value

    def clean_primary_color(self) -> str:
        return self._color("primary_color")

    def clean_accent_color(self) -> str:
        return self._color("accent_color")

    def clean_logo_url(self) -> str:
        return self._image("logo_url")

    def clean_promo_image_url(self) -> str:
        return self._image("promo_image_url")

    def _image(self, name: str) -> str:
        value = self.cleaned_data.get(name, "").strip()
        if value and not (tp_branding.safe_image_url(value) and value.startswith("https://")):
            raise ValidationError("Use an https:// image address.")
        return value

    def clean_help_url(self) -> str:
        value = self.cleaned_data.get("help_url", "").strip()
        if value and not tp_branding.safe_url(value, allow_mailto=True):
            raise ValidationError("Use an http(s):// or mailto: address.")
        return value

    def clean_promo_link_url(self) -> str:
        value = self.cleaned_data.get("promo_link_url", "").strip()
        if value and not tp_branding.safe_url(value):
            raise ValidationError("Use an http(s):// address.")
        return value

    def _parsed(self, name: str, parse):
        try:
            return parse(self.cleaned_data.get(name, ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None

    def clean_header_links(self) -> list[dict]:
        return self._parsed("header_links", general.parse_links)

    def clean_faq(self) -> list[dict]:
        return self._parsed("faq", general.parse_faq)

    def clean_promo_products(self) -> list[dict]:
        return self._parsed(
            "promo_products",
            lambda text: general.parse_products(text, limit=tp_branding.MAX_PRODUCTS),
        )

    def draft(self) -> dict:
        data = self.cleaned_data
        promo = {
            key: data[f"promo_{key}"]
            for key in ("title", "text", "image_url", "link_url", "products")
            if data[f"promo_{key}"]
        }
        return {
            "logo_url": data["logo_url"],
            "primary_color": data["primary_color"],
            "accent_color": data["accent_color"],
            "font": data["font"],
            "header_links": data["header_links"],
            "notice": data["notice"].strip(),
            "help_url": data["help_url"],
            "faq": data["faq"],
            "promo": promo,
        }


def _branding_initial(tenant) -> dict:
    raw = tenant.branding if isinstance(tenant.branding, dict) else {}
    lang = tenant.default_language
    promo = general.localized_get(raw.get("promo"), lang)
    promo = promo if isinstance(promo, dict) else {}
    notice = general.localized_get(raw.get("notice"), lang)
    return {
        "logo_url": raw.get("logo_url", ""),
        "primary_color": tp_branding.parse_color(raw.get("primary_color"))
        or tp_branding.DEFAULT_PRIMARY,
        "accent_color": tp_branding.parse_color(raw.get("accent_color"))
        or tp_branding.DEFAULT_ACCENT,
        "font": tp_branding.font_key(raw.get("font")),
        "header_links": general.links_text(raw.get("header_links")),
        "notice": notice if isinstance(notice, str) else "",
        "help_url": raw.get("help_url", ""),
        "faq": general.faq_text(general.localized_get(raw.get("faq"), lang)),
        "promo_title": promo.get("title", ""),
        "promo_text": promo.get("text", ""),
        "promo_image_url": promo.get("image_url", ""),
        "promo_link_url": promo.get("link_url", ""),
        "promo_products": general.products_text(promo.get("products")),
    }


def _contrast(branding: dict, name: str) -> dict:
    brand = tp_branding.brand_from(branding, name=name)

    def describe(background: str, text: str) -> dict:
        ratio = tp_branding.contrast(background, text)
        return {
            "text": "white" if text == tp_branding.WHITE else "black",
            "ratio": f"{ratio:.1f}",
            "ok": ratio >= tp_branding.AA_CONTRAST,
        }

    return {
        "primary": describe(brand.primary, brand.on_primary),
        "accent": describe(brand.accent, brand.on_accent),
        "primary_ink": brand.primary_ink,
        "primary_adjusted": brand.primary_ink != brand.primary,
    }


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def branding(request: HttpRequest) -> HttpResponse:
    """The shopper pages' look; "Preview" shows the draft in the frame, "Save" publishes it."""
    tenant = request.tenant
    form = BrandingForm(request.POST or None, initial=_branding_initial(tenant))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            general.tenant_branding_update(tenant=tenant, draft=form.draft())
            messages.success(request, "Branding saved: your tracking pages show it now.")
            return redirect("dash-settings-branding")
        status = 400
    context = {
        "form": form,
        "contrast": _contrast(tenant.branding or {}, tenant.name),
        "languages": [(c, LANGUAGE_NAMES.get(c, c)) for c in labels.LANGUAGES],
        "default_language": tenant.default_language,
    }
    return render(request, "dashboard/settings/branding.html", context, status=status)


@dashboard_view(ADMIN)
@xframe_options_sameorigin
@require_http_methods(["GET", "POST"])
def branding_preview(request: HttpRequest) -> HttpResponse:
    """A tracking page over a sample parcel: GET with the saved branding, POST with the form's
    draft (the branding page's "Preview" button and its script post into the frame)."""
    tenant = request.tenant
    lang = request.POST.get("preview_lang") or request.GET.get("lang") or tenant.default_language
    if lang not in labels.LANGUAGES:
        lang = tenant.default_language
    draft = tenant.branding or {}
    if request.method == "POST":
        form = BrandingForm(request.POST)
        if not form.is_valid():
            problems = [
                f"{form.fields[k].label if k in form.fields else k}: {m}"
                for k, v in form.errors.items()
                for m in v
            ]
            return _sandboxed(
                _problem_document("Fix these to see the preview", problems),
                status=400,
                csp=PREVIEW_CSP,
            )
        draft = general.branding_merge(tenant=tenant, draft=form.draft())
    html = preview_page(tenant=tenant, branding=draft, lang=lang)
    return _sandboxed(html, csp=PREVIEW_CSP)


# --- team -----------------------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.AGENT)

    def __init__(self, *args, max_role: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [
            (value, label) for value, label in Role.choices if RANK[value] <= RANK[max_role]
        ]


def _team_page(
    request: HttpRequest, form: InviteForm | None = None, status: int = 200, error: str = ""
) -> HttpResponse:
    actor = request.membership
    members = Membership.objects.filter(tenant=request.tenant).select_related("user")
    pending = Invitation.objects.filter(
        tenant=request.tenant,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    roles = [(v, label) for v, label in Role.choices if RANK[v] <= RANK[actor.role]]
    rows = [
        {
            "membership": m,
            "is_me": m.user_id == actor.user_id,
            "can_manage": m.user_id != actor.user_id and RANK[m.role] <= RANK[actor.role],
        }
        for m in sorted(members, key=lambda m: (-RANK[m.role], m.user.username))
    ]
    context = {
        "form": form or InviteForm(max_role=actor.role),
        "rows": rows,
        "pending": pending,
        "roles": roles,
        "error": error,
        "is_owner": actor.role == Role.OWNER,
    }
    return render(request, "dashboard/settings/team.html", context, status=status)


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def team_page(request: HttpRequest) -> HttpResponse:
    """Members and their roles, pending invitations, and the invitation form."""
    if request.method == "GET":
        return _team_page(request)
    actor = request.membership
    # Any role is accepted by the form so that an admin asking for "owner" hears why not (403).
    form = InviteForm(request.POST, max_role=Role.OWNER)
    if not form.is_valid():
        return _team_page(request, form, status=400)
    try:
        invitation = team.member_invite(
            tenant=request.tenant,
            actor=actor,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
    except PermissionDenied as exc:
        return _team_page(request, form, status=403, error=str(exc))
    except ValidationError as exc:
        _errors_into(form, exc)
        return _team_page(request, form, status=400)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect("dash-settings-team")


@dashboard_view(ADMIN)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects, pk=invitation_id)
    try:
        team.invitation_cancel(actor=request.membership, invitation=invitation)
    except PermissionDenied as exc:
        return _team_page(request, status=403, error=str(exc))
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("dash-settings-team")


@dashboard_view(ADMIN)
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    try:
        team.member_role_change(
            tenant=request.tenant,
            actor=request.membership,
            membership=membership,
            role=request.POST.get("role", ""),
        )
    except PermissionDenied as exc:
        return _team_page(request, status=403, error=str(exc))
    except ValidationError as exc:
        return _team_page(request, status=400, error=" ".join(exc.messages))
    messages.success(request, f"{membership.user.email or membership.user.username}: role changed.")
    return redirect("dash-settings-team")


@dashboard_view(ADMIN)
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=membership_id)
    try:
        team.member_remove(tenant=request.tenant, actor=request.membership, membership=membership)
    except PermissionDenied as exc:
        return _team_page(request, status=403, error=str(exc))
    messages.success(request, f"{membership.user.email or membership.user.username} was removed.")
    return redirect("dash-settings-team")


# --- API keys -------------------------------------------------------------------------------------


class ApiKeyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What uses it, e.g. Zendesk.")
    role = forms.ChoiceField(
        label="Role",
        choices=[(Role.ADMIN, "Admin (read and write)"), (Role.AGENT, "Agent (look up)")],
        initial=Role.AGENT,
    )


@dashboard_view(ADMIN)
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """The tenant's keys; a new key is shown once, on the answer to its creation."""
    form = ApiKeyForm(request.POST or None)
    status, raw_key, new_key = 200, "", None
    if request.method == "POST":
        if form.is_valid():
            new_key, raw_key = api_key_create(
                tenant=request.tenant,
                role=form.cleaned_data["role"],
                name=form.cleaned_data["name"],
            )
            form = ApiKeyForm()
        else:
            status = 400
    keys = ApiKey.objects.filter(tenant=request.tenant).order_by("-created_at", "-id")
    context = {"form": form, "keys": keys, "raw_key": raw_key, "new_key": new_key}
    response = render(request, "dashboard/settings/api_keys.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@dashboard_view(ADMIN)
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects, pk=key_id)
    api_key_revoke(key=key)
    messages.success(request, f"Key {key.prefix}… revoked: it no longer works.")
    return redirect("dash-settings-api-keys")


urlpatterns = [
    path("", index, name="dash-settings"),
    path("general/", general_settings, name="dash-settings-general"),
    path("notifications/", notifications, name="dash-settings-notifications"),
    path("templates/", templates_list, name="dash-settings-templates"),
    path("templates/<str:trigger>/<str:lang>/", template_edit, name="dash-settings-template"),
    path(
        "templates/<str:trigger>/<str:lang>/preview/",
        template_preview,
        name="dash-settings-template-preview",
    ),
    path("branding/", branding, name="dash-settings-branding"),
    path("branding/preview/", branding_preview, name="dash-settings-branding-preview"),
    path("team/", team_page, name="dash-settings-team"),
    path(
        "team/invitations/<int:invitation_id>/revoke/",
        invitation_revoke,
        name="dash-settings-invitation-revoke",
    ),
    path("team/members/<int:membership_id>/role/", member_role, name="dash-settings-member-role"),
    path(
        "team/members/<int:membership_id>/remove/",
        member_remove,
        name="dash-settings-member-remove",
    ),
    path("api-keys/", api_keys, name="dash-settings-api-keys"),
    path("api-keys/<int:key_id>/revoke/", api_key_revoke_view, name="dash-settings-api-key-revoke"),
]
