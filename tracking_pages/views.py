"""The shopper pages: lookup form, tracking page, proof, actions, JSON, widget and brand CSS.

Every view finds its tenant from the URL's slug (``/t/<slug>/...``) or from the custom domain the
middleware recognised (``/...``), opens that tenant's scope, and answers a missing tenant, a
missing token and another tenant's token with the same 404.

A tracking page (``page``) goes through two caches:

1. **This process** (``local_pages``): the response of an anonymous shopper for a few seconds
   (``WISMO_PAGE_LOCAL_SECONDS``, default 5), keyed by tenant, address, token, ``?lang=`` and
   Accept-Language. A hit costs no I/O at all; a page is at most that many seconds behind.
2. **Renderings, by version** (``pagecache``, also in this process): the page's HTML keyed by
   its version (a hash of everything it shows, see ``selectors.page_load``), language, proof
   state, branding version, address and minute (its "checked 8 minutes ago" stays honest). Data
   or branding that changes gives a new key: nothing is ever invalidated by hand. The page is
   always loaded first, so a rendering is never staler than the database.

On a miss of both the page is loaded (one prepared statement for a parcel), rendered with Jinja2
(its chrome and tail once per brand and language, each progress line once per language and
steps) and stored.
A proven shopper's response is never kept by ``local_pages``, and carries CSRF-protected forms:
its rendering holds a marker that each response replaces with the shopper's own token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.utils import timezone, translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from markupsafe import Markup

from tenants.scoping import tenant_scope
from tracking_pages import pagecache, pageviews, ratelimit, selectors, services
from tracking_pages.branding import Brand, brand_from, branding_version
from tracking_pages.lru import ExpiringLRU
from tracking_pages.models import ProblemReport
from tracking_pages.presenters import local_date, order_view, shipment_view, zone
from tracking_pages.security import client_ip, content_security_policy, same_origin_post
from tracking_pages.selectors import PageData, PageTenant
from tracking_pages.templating import Row, macro, render, static_urls
from tracking_pages.words import LANGUAGE_NAMES, words
from wismo.tracking.labels import LANGUAGES, pick_language
from wismo.tracking.models import Order, Shipment

log = logging.getLogger(__name__)

PAGE_CACHE_SECONDS = 120
LOCAL_SECONDS = 5.0
LOCAL_ENTRIES = 1000
REPORT_KINDS = [k.value for k in ProblemReport.Kind]
CSRF_MARK = "csrf-" + hashlib.blake2b(settings.SECRET_KEY.encode(), digest_size=9).hexdigest()
_CSRF_MARK_BYTES = CSRF_MARK.encode()
_brands: dict[tuple, Brand] = {}
_brand_of: dict[int, tuple[PageTenant, Brand]] = {}


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- where, who, which language -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Site:
    tenant_id: int
    base: str  # "/t/<slug>" on the platform host, "" on the tenant's own domain
    slug: str | None


def _site(request: HttpRequest, tenant_slug: str | None) -> Site | None:
    if tenant_slug is None:
        tenant_id = getattr(request, "tracking_tenant_id", None)
        return Site(tenant_id, "", None) if tenant_id else None
    tenant_id = selectors.tenant_id_for_slug(tenant_slug)
    return Site(tenant_id, f"/t/{tenant_slug}", tenant_slug) if tenant_id else None


def _tenant(site: Site) -> PageTenant | None:
    tenant = selectors.page_tenant_cached(site.tenant_id)
    if tenant is None or (site.slug is not None and tenant.slug != site.slug):
        return None
    return tenant


def _brand(tenant: PageTenant) -> Brand:
    # The same PageTenant object (cached for TENANT_TTL) always gives the same brand: skip the
    # hash of its branding JSON.
    known = _brand_of.get(tenant.id)
    if known is not None and known[0] is tenant:
        return known[1]
    version = branding_version(tenant.branding, tenant.name)
    key = (tenant.id, version, tenant.custom_domain, tenant.default_language)
    brand = _brands.get(key)
    if brand is None:
        if len(_brands) > 2000:
            _brands.clear()
        brand = brand_from(
            tenant.branding,
            name=tenant.name,
            custom_domain=tenant.custom_domain,
            default_language=tenant.default_language,
        )
        _brands[key] = brand
    _brand_of[tenant.id] = (tenant, brand)
    return brand


def _language(request: HttpRequest, tenant: PageTenant | None, order_locale: str = "") -> str:
    """?lang=, then the order's locale, then Accept-Language, then the tenant's default."""
    # Parsing an empty query string into request.GET costs more than the rest of this.
    asked = request.GET.get("lang") if request.META.get("QUERY_STRING") else None
    if not asked and request.method == "POST":
        asked = request.POST.get("lang")
    return pick_language(
        asked,
        order_locale,
        request.META.get("HTTP_ACCEPT_LANGUAGE"),
        default=tenant.default_language if tenant else "en",
    )


def _base_context(
    *, brand: Brand | None, lang: str, base: str, here: str, title: str, embed: bool = False
) -> dict:
    w = words(lang)
    urls = static_urls()
    return {
        "lang": lang,
        "w": w,
        "brand": brand,
        "base": base,
        "title": title,
        "embed": embed,
        "css_url": urls["css"],
        "js_url": urls["js"],
        "brand_css_url": f"{base}/brand.css?v={brand.version}" if brand else "",
        "notice": brand.notice(lang) if brand else "",
        "faq": brand.faq(lang) if brand else [],
        "languages": [
            Row(code=code, name=LANGUAGE_NAMES[code], url=f"{here}?lang={code}")
            for code in LANGUAGES
        ],
        "csrf_field_value": CSRF_MARK,
    }


def _headers(
    brand: Brand | None, lang: str, *, embed: bool, private: bool
) -> tuple[tuple[str, str], ...]:
    return (
        # Built once per origins and kind (security.origins_policy).
        ("Content-Security-Policy", content_security_policy(brand, embed=embed)),
        ("Content-Language", lang),
        ("Vary", "Accept-Language, Cookie"),
        ("Cache-Control", "no-store" if private else "private, no-cache"),
        ("X-Robots-Tag", "noindex, nofollow"),
    )


def _finish(
    response: HttpResponse,
    brand: Brand | None,
    lang: str,
    *,
    embed: bool = False,
    private: bool = False,
) -> HttpResponse:
    for name, value in _headers(brand, lang, embed=embed, private=private):
        response[name] = value
    return response


def _not_found(request: HttpRequest, site: Site | None) -> HttpResponse:
    tenant = _tenant(site) if site else None
    brand = _brand(tenant) if tenant else None
    lang = _language(request, tenant)
    base = site.base if site and tenant else ""
    # Language links relative to the asked address ("?lang=it"): the answer does not echo it,
    # so every missing page reads the same.
    context = _base_context(
        brand=brand, lang=lang, base=base, here="", title=words(lang)["not_found_title"]
    )
    context["lookup_url"] = f"{base}/" if tenant else ""
    html = render("not_found.jinja", context)
    return _finish(HttpResponse(html, status=404), brand, lang)


def _forbidden(request: HttpRequest, site: Site, tenant: PageTenant, lang: str, token: str):
    brand = _brand(tenant)
    w = words(lang)
    context = _base_context(
        brand=brand, lang=lang, base=site.base, here=request.path, title=w["forbidden"]
    )
    context["back_url"] = f"{site.base}/{token}/?lang={lang}#verify"
    html = render("forbidden.jinja", context)
    return _finish(HttpResponse(html, status=403), brand, lang, private=True)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    response["Cache-Control"] = "no-store"
    return response


# --- the tracking page ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Local:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    tenant_id: int
    kind: str
    object_id: int
    order_id: int | None


# Anonymous shoppers' answers, each valid a few seconds (LOCAL_ENTRIES of them at most).
local_pages: ExpiringLRU[tuple, _Local] = ExpiringLRU(LOCAL_ENTRIES)


def _render_page(
    *,
    site: Site,
    tenant: PageTenant,
    data: PageData,
    brand: Brand,
    lang: str,
    verified: bool,
    embed: bool,
    suppression: str,
) -> str:
    tz = zone(tenant.timezone)
    w = words(lang)
    now = timezone.now()
    order = data.order
    # No translation.override here: presenters take the language as an argument and their
    # date formats activate it themselves, once per memoized value.
    parcels = [
        shipment_view(s, data.events[s.pk], lang=lang, tz=tz, w=w, now=now) for s in data.shipments
    ]
    order_data = order_view(order, lang=lang, tz=tz) if (verified and order) else None
    for n, parcel in enumerate(parcels, 1):
        parcel["label"] = w["parcel_n"].format(n=n)
        parcel["progress_line"] = _progress_line(parcel["progress"], lang, w)
        if parcel["replacement"]:
            parcel["replacement"]["text"] = w["replaced_by"].format(
                number=parcel["replacement"]["number"]
            )
    if order_data:
        order_data["title"] = w["order_number"].format(number=order_data["number"])
        order_data["placed_text"] = (
            w["ordered_on"].format(date=order_data["placed"]) if order_data["placed"] else ""
        )
    token = data.shipments[0].public_token if data.ref.kind == "shipment" else order.public_token
    here = f"{site.base}/{token}/"
    trouble = any(p["trouble"] for p in parcels)
    # Only what the body prints: the chrome around it (header, languages, FAQ) is cached.
    context = {
        "lang": lang,
        "w": w,
        "base": site.base,
        "embed": embed,
        "csrf_field_value": CSRF_MARK,
    }
    context.update(
        {
            "kind": data.ref.kind,
            "token": token,
            "parcels": parcels,
            "several": len(parcels) > 1,
            "parcels_title": w["parcels_title"].format(count=len(parcels)),
            "order": order_data,
            "can_verify": order is not None,
            "times_in": w["times_in"].format(tz=tenant.timezone or "UTC"),
            "full_url": f"{here}?lang={lang}",
            "verify_url": f"{here}verify/",
        }
    )
    if verified and order_data and order_data["email"]:
        context["notify"] = Row(
            on=not suppression,
            blocked=suppression in ("bounced", "complained"),
            text=(w["notify_off"] if suppression else w["notify_on"]).format(
                email=order_data["email"]
            ),
        )
    head, foot = _chrome(
        brand, lang, site.base, embed, w["page_title"], promo=not (trouble or embed)
    )
    return head + render("embed.jinja" if embed else "page.jinja", context) + foot


_MARK = Markup("\x00main\x00")
_chromes: dict[tuple, tuple[str, str]] = {}


def _chrome(
    brand: Brand, lang: str, base: str, embed: bool, title: str, *, promo: bool = False
) -> tuple[str, str]:
    """The page around its body (head, header, notice, FAQ, footer; on a full page also its
    tail: the promotion when ``promo``, the link to look up another order), rendered once per
    brand version, language, address and promotion shown or not in this process: it is the
    same for every parcel (its language links are relative, "?lang=it")."""
    key = (brand.version, id(brand), lang, base, embed, title, promo)
    found = _chromes.get(key)
    if found is None:
        if len(_chromes) > 500:
            _chromes.clear()
        context = _base_context(
            brand=brand, lang=lang, base=base, here="", title=title, embed=embed
        )
        context["marker"] = _MARK
        context["tail"] = not embed
        context["promo"] = brand.promo(lang) if promo else None
        head, _, foot = render("chrome.jinja", context).partition(str(_MARK))
        found = _chromes[key] = (head, foot)
    return found


_progress_lines: dict[tuple, Markup] = {}


def _progress_line(steps: list[dict], lang: str, w: dict) -> Markup:
    """A parcel's progress line (macros.jinja's ``progress``), rendered once per language and
    steps in this process: every parcel shows one of a handful."""
    key = (lang, *[(step["label"], step["state"]) for step in steps])
    found = _progress_lines.get(key)
    if found is None:
        if len(_progress_lines) > 1000:
            _progress_lines.clear()
        found = _progress_lines[key] = macro("macros.jinja", "progress")(steps, w)
    return found


def _respond(entry: _Local, *, count: bool) -> HttpResponse:
    response = HttpResponse(entry.body)
    for name, value in entry.headers:
        response[name] = value
    if count:
        pageviews.count(entry.tenant_id, entry.kind, entry.object_id)
    return response


def _page(
    request: HttpRequest, token: str, tenant_slug: str | None, *, embed: bool
) -> HttpResponse:
    site = _site(request, tenant_slug)
    if site is None:
        return _not_found(request, None)
    counting = request.method == "GET"
    local_key = (
        site.tenant_id,
        site.base,
        token,
        embed,
        request.GET.get("lang", "") if request.META.get("QUERY_STRING") else "",
        request.META.get("HTTP_ACCEPT_LANGUAGE", ""),
    )
    entry = local_pages.get(local_key)
    if entry is not None and (embed or not services.session_proves(request, entry.order_id)):
        return _respond(entry, count=counting)
    with tenant_scope(site.tenant_id):
        tenant = _tenant(site)
        data = selectors.page_load(token=token) if tenant else None
        if tenant is None or data is None:
            return _not_found(request, site)
        order = data.order
        lang = _language(request, tenant, order.locale if order else "")
        verified = not embed and services.session_proves(request, data.ref.order_id)
        brand = _brand(tenant)
        suppression = ""
        if verified and order.customer_email:
            suppression = selectors.email_suppression(email=order.customer_email) or ""
        key = (
            f"{settings.WISMO_REDIS_PREFIX}:tp:page:{data.ref.kind}:{data.ref.id}:{data.version}:"
            f"{lang}:{'p' + suppression if verified else 'a'}:{brand.version}:{tenant.timezone}:"
            f"{site.base}:{int(embed)}:{int(time.time() // 60)}"
        )
        body = pagecache.get(key)
        if body is None:
            body = _render_page(
                site=site,
                tenant=tenant,
                data=data,
                brand=brand,
                lang=lang,
                verified=verified,
                embed=embed,
                suppression=suppression,
            ).encode()
            pagecache.put(
                key, body, float(_setting("WISMO_PAGE_CACHE_SECONDS", PAGE_CACHE_SECONDS))
            )
    if verified:
        body = body.replace(_CSRF_MARK_BYTES, get_token(request).encode())
    entry = _Local(
        body=body,
        headers=_headers(brand, lang, embed=embed, private=verified),
        tenant_id=site.tenant_id,
        kind=data.ref.kind,
        object_id=data.ref.id,
        order_id=data.ref.order_id,
    )
    if not verified:
        local_pages.put(
            local_key, entry, float(_setting("WISMO_PAGE_LOCAL_SECONDS", LOCAL_SECONDS))
        )
    return _respond(entry, count=counting)


@require_http_methods(["GET", "HEAD"])
def page(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """``/t/<slug>/<token>/``: one parcel, or an order with all its parcels."""
    return _page(request, token, tenant_slug, embed=False)


@xframe_options_exempt
@require_http_methods(["GET", "HEAD"])
def page_embed(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """The compact card the widget frames on the merchant's site (never personal data)."""
    return _page(request, token, tenant_slug, embed=True)


# --- lookup and proof -----------------------------------------------------------------------------


def _throttled(request: HttpRequest, site: Site) -> int:
    """Seconds to wait when this attempt is over a limit, else 0 (counts the attempt)."""
    ip_limit, ip_window = _setting("WISMO_PAGES_LOOKUP_IP_LIMIT", (10, 60))
    tenant_limit, tenant_window = _setting("WISMO_PAGES_LOOKUP_TENANT_LIMIT", (300, 60))
    by_ip = ratelimit.hit("ip", client_ip(request), limit=ip_limit, window=ip_window)
    by_tenant = ratelimit.hit(
        "tenant", str(site.tenant_id), limit=tenant_limit, window=tenant_window
    )
    return max(by_ip.retry_after, by_tenant.retry_after)


def _pad(started: float) -> None:
    # The answer takes at least this long whatever happened, so that timing tells nothing.
    floor = float(_setting("WISMO_PAGES_LOOKUP_MIN_SECONDS", 0.15))
    remaining = floor - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)


def _lookup_response(
    request: HttpRequest,
    site: Site,
    tenant: PageTenant,
    lang: str,
    *,
    status: int = 200,
    error: str = "",
    embed: bool = False,
    retry_after: int = 0,
) -> HttpResponse:
    brand = _brand(tenant)
    w = words(lang)
    here = f"{site.base}/embed/" if embed else f"{site.base}/"
    context = _base_context(
        brand=brand, lang=lang, base=site.base, here=here, title=w["lookup_title"], embed=embed
    )
    posted = request.POST if request.method == "POST" else {}
    context.update(
        {
            "action": f"{site.base}/",
            "error": error,
            "order_number": str(posted.get("order_number", ""))[:100],
            "email": str(posted.get("email", ""))[:254],
            "postcode": str(posted.get("postcode", ""))[:20],
            "target": "_top" if embed else "",
        }
    )
    response = HttpResponse(render("lookup.jinja", context), status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return _finish(response, brand, lang, embed=embed, private=request.method == "POST")


@csrf_exempt  # see tracking_pages.security: the origin is checked instead
@require_http_methods(["GET", "HEAD", "POST"])
def lookup(request: HttpRequest, tenant_slug: str | None = None) -> HttpResponse:
    """``/t/<slug>/``: find an order by number + email or postcode."""
    site = _site(request, tenant_slug)
    tenant = _tenant(site) if site else None
    if site is None or tenant is None:
        return _not_found(request, None)
    lang = _language(request, tenant)
    w = words(lang)
    if request.method != "POST":
        return _lookup_response(request, site, tenant, lang)
    if not same_origin_post(request):
        return _lookup_response(request, site, tenant, lang, status=403, error=w["forbidden"])
    wait = _throttled(request, site)
    if wait:
        return _lookup_response(
            request, site, tenant, lang, status=429, error=w["rate_limited"], retry_after=wait
        )
    started = time.monotonic()
    number = request.POST.get("order_number", "")
    email, postcode = request.POST.get("email", ""), request.POST.get("postcode", "")
    if not number.strip() or not (email.strip() or postcode.strip()):
        _pad(started)
        return _lookup_response(request, site, tenant, lang, status=400, error=w["lookup_missing"])
    with tenant_scope(site.tenant_id):
        proof = services.order_verify(
            tenant_id=site.tenant_id, order_number=number, email=email, postcode=postcode
        )
    _pad(started)
    if proof is None:
        return _lookup_response(request, site, tenant, lang, status=400, error=w["lookup_failed"])
    services.session_prove(request.session, proof.order_id)
    return _see_other(f"{site.base}/{proof.token}/?lang={lang}")


@xframe_options_exempt
@require_http_methods(["GET", "HEAD"])
def lookup_embed(request: HttpRequest, tenant_slug: str | None = None) -> HttpResponse:
    """The lookup form for the widget: it posts to the full page in the top window."""
    site = _site(request, tenant_slug)
    tenant = _tenant(site) if site else None
    if site is None or tenant is None:
        return _not_found(request, None)
    return _lookup_response(request, site, tenant, _language(request, tenant), embed=True)


def _ref(site: Site, token: str):
    """(tenant, page reference) of ``token`` inside the open scope, or (None, None)."""
    tenant = _tenant(site)
    ref = selectors.page_ref(token=token) if tenant else None
    return (tenant, ref) if ref else (None, None)


@csrf_exempt  # see tracking_pages.security: the origin is checked instead
@require_http_methods(["POST"])
def verify(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """Prove the order of a tracking page with its email or postcode."""
    site = _site(request, tenant_slug)
    if site is None:
        return _not_found(request, None)
    with tenant_scope(site.tenant_id):
        tenant, ref = _ref(site, token)
        if ref is None:
            return _not_found(request, site)
        lang = _language(request, tenant, ref.order_locale)
        w = words(lang)
        if not same_origin_post(request):
            return _forbidden(request, site, tenant, lang, token)
        wait = _throttled(request, site)
        if wait:
            response = _verify_response(request, site, tenant, token, lang, w["rate_limited"], 429)
            response["Retry-After"] = str(wait)
            return response
        started = time.monotonic()
        ok = services.order_verify_by_id(
            tenant_id=site.tenant_id,
            order_id=ref.order_id,
            email=request.POST.get("email", ""),
            postcode=request.POST.get("postcode", ""),
        )
        _pad(started)
        if not ok:
            return _verify_response(request, site, tenant, token, lang, w["verify_failed"], 400)
    services.session_prove(request.session, ref.order_id)
    return _see_other(f"{site.base}/{token}/?lang={lang}#details")


def _verify_response(request, site, tenant, token, lang, error: str, status: int) -> HttpResponse:
    brand = _brand(tenant)
    context = _base_context(
        brand=brand,
        lang=lang,
        base=site.base,
        here=f"{site.base}/{token}/",
        title=words(lang)["verify_title"],
    )
    context.update(
        {
            "error": error,
            "verify_url": f"{site.base}/{token}/verify/",
            "back_url": f"{site.base}/{token}/?lang={lang}",
            "email": request.POST.get("email", "")[:254],
            "postcode": request.POST.get("postcode", "")[:20],
        }
    )
    response = HttpResponse(render("verify.jinja", context), status=status)
    return _finish(response, brand, lang, private=True)


# --- actions of a proven shopper -----------------------------------------------------------------


@require_http_methods(["POST"])
def notify(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """Turn delivery emails on or off (CSRF-protected; proof required)."""
    site = _site(request, tenant_slug)
    if site is None:
        return _not_found(request, None)
    with tenant_scope(site.tenant_id):
        tenant, ref = _ref(site, token)
        if ref is None:
            return _not_found(request, site)
        lang = _language(request, tenant, ref.order_locale)
        if not services.session_proves(request, ref.order_id):
            return _forbidden(request, site, tenant, lang, token)
        order = Order.objects.get(pk=ref.order_id)
        services.notify_set(
            tenant_id=site.tenant_id, order=order, subscribe=request.POST.get("subscribe") == "1"
        )
    return _see_other(f"{site.base}/{token}/?lang={lang}#notify")


@require_http_methods(["GET", "HEAD", "POST"])
def report(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """Report a problem with a parcel (proof required) and see what happens next."""
    site = _site(request, tenant_slug)
    if site is None:
        return _not_found(request, None)
    with tenant_scope(site.tenant_id):
        tenant, ref = _ref(site, token)
        if ref is None:
            return _not_found(request, site)
        lang = _language(request, tenant, ref.order_locale)
        if not services.session_proves(request, ref.order_id):
            return _forbidden(request, site, tenant, lang, token)
        w = words(lang)
        order = Order.objects.get(pk=ref.order_id)
        if ref.kind == "shipment":
            parcels = [Shipment.objects.get(pk=ref.id)]
        else:
            parcels = selectors.order_shipments(order_id=order.pk)
        error, status = "", 200
        if request.method == "POST":
            kind = request.POST.get("kind", "")
            given = request.POST.get("parcel", "").encode()
            chosen = next(
                (p for p in parcels if hmac.compare_digest(p.public_token.encode(), given)), None
            )
            if chosen is None and len(parcels) == 1:
                chosen = parcels[0]
            if kind in REPORT_KINDS and chosen is not None:
                services.problem_report_create(
                    order=order,
                    shipment=chosen,
                    kind=kind,
                    message=request.POST.get("message", ""),
                    language=lang,
                )
                return _see_other(f"{site.base}/{token}/report/?lang={lang}#reports")
            error, status = w["report_invalid"], 400
        tz = zone(tenant.timezone)
        with translation.override(lang):
            reports = [
                Row(
                    kind=w[f"kind_{r.kind}"],
                    number=r.shipment.tracking_number,
                    received=w["report_received"].format(date=local_date(r.created_at, tz, lang)),
                    resolved=r.state == ProblemReport.State.RESOLVED,
                    next=w[f"next_{r.kind}"],
                    message=r.message,
                    reply=r.reply,
                    replied=w["report_reply"].format(date=local_date(r.answered_at, tz, lang))
                    if r.reply and r.answered_at
                    else "",
                )
                for r in selectors.problem_reports_of_order(order_id=order.pk)
            ]
    brand = _brand(tenant)
    context = _base_context(
        brand=brand,
        lang=lang,
        base=site.base,
        here=f"{site.base}/{token}/report/",
        title=w["report_problem"],
    )
    context.update(
        {
            "action": f"{site.base}/{token}/report/",
            "back_url": f"{site.base}/{token}/?lang={lang}",
            "kinds": [Row(value=k, label=w[f"kind_{k}"]) for k in REPORT_KINDS],
            "parcels": [Row(token=p.public_token, number=p.tracking_number) for p in parcels],
            "reports": reports,
            "error": error,
            "csrf_field_value": get_token(request),
            "chosen_kind": request.POST.get("kind", ""),
            "message": request.POST.get("message", "")[:2000],
        }
    )
    response = HttpResponse(render("report.jinja", context), status=status)
    return _finish(response, brand, lang, private=True)


# --- JSON, brand CSS ------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def page_json(request: HttpRequest, token: str, tenant_slug: str | None = None) -> HttpResponse:
    """The page's content as JSON; personal data only for a proven shopper on this origin."""
    site = _site(request, tenant_slug)
    missing = JsonResponse({"error": {"code": "not_found", "message": "Not found."}}, status=404)
    if site is None:
        return missing
    with tenant_scope(site.tenant_id):
        tenant = _tenant(site)
        data = selectors.page_load(token=token) if tenant else None
        if tenant is None or data is None:
            return missing
        order = data.order
        lang = _language(request, tenant, order.locale if order else "")
        origin = request.headers.get("Origin")
        same_origin = origin is None or origin == f"{request.scheme}://{request.get_host()}"
        verified = same_origin and services.session_proves(request, data.ref.order_id)
        tz = zone(tenant.timezone)
        w = words(lang)
        now = timezone.now()
        with translation.override(lang):
            parcels = [
                _parcel_json(
                    shipment_view(s, data.events[s.pk], lang=lang, tz=tz, w=w, now=now),
                    s,
                    data.events[s.pk],
                )
                for s in data.shipments
            ]
            order_data = order_view(order, lang=lang, tz=tz) if (verified and order) else None
    body = {"language": lang, "verified": verified, "shipments": parcels, "order": order_data}
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False})
    if origin and origin in _brand(tenant).allowed_origins:
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin, Accept-Language, Cookie"
    response["Cache-Control"] = "no-store" if verified else "private, no-cache"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _parcel_json(view: dict, shipment: Shipment, events: list) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    has_range = shipment.estimated_delivery_earliest or shipment.estimated_delivery_latest
    return {
        "tracking_number": view["tracking_number"],
        "carrier": shipment.carrier,
        "carrier_name": view["carrier"]["name"],
        "carrier_url": view["carrier"]["url"],
        "status": shipment.status,
        "substatus": shipment.substatus,
        "status_label": view["status_label"],
        "reason": view["reason"],
        "next_step": view["next_step"],
        "action_required": view["action_required"],
        "expected": view["expected"]["text"],
        "estimated_delivery": iso(shipment.estimated_delivery),
        "estimated_delivery_range": (
            {
                "earliest": iso(shipment.estimated_delivery_earliest),
                "latest": iso(shipment.estimated_delivery_latest),
                "source": shipment.estimated_delivery_source or None,
                "confidence": shipment.estimated_delivery_confidence,
            }
            if has_range
            else None
        ),
        "delivered_at": iso(shipment.delivered_at),
        "last_event_at": iso(shipment.last_event_at),
        "last_checked_at": iso(shipment.last_checked_at),
        "freshness": view["freshness"]["text"],
        "progress": [{"step": s["name"], "state": s["state"]} for s in view["progress"]],
        "events": [
            {
                "occurred_at": e.occurred_at.isoformat(),
                "status": e.status,
                "substatus": e.substatus,
                "description": e.description,
                "location": e.location,
            }
            for e in events
        ],
    }


@require_http_methods(["GET", "HEAD"])
def brand_css(request: HttpRequest, tenant_slug: str | None = None) -> HttpResponse:
    """The tenant's colours and font as CSS custom properties (versioned by ``?v=``)."""
    site = _site(request, tenant_slug)
    tenant = _tenant(site) if site else None
    if site is None or tenant is None:
        return HttpResponse("/* not found */", status=404, content_type="text/css")
    brand = _brand(tenant)
    response = HttpResponse(brand.css(), content_type="text/css; charset=utf-8")
    if request.GET.get("v") == brand.version:
        response["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response["Cache-Control"] = "public, max-age=60"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


def not_found_handler(request: HttpRequest, exception=None) -> HttpResponse:
    """404 of a custom domain: the tenant's branded "not found" page."""
    tenant_id = getattr(request, "tracking_tenant_id", None)
    return _not_found(request, Site(tenant_id, "", None) if tenant_id else None)
