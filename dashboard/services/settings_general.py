"""A tenant's general settings: name, language, time zone and custom domain; the branding of its
shopper pages; its notification policy; its email templates as the dashboard edits them.

Validation is the owners' of each rule: branding values go through ``tracking_pages.branding``
(what it accepts is what the pages print), the notification policy through the API's
``PolicySerializer``, templates through ``notifications.services.templates``. A save that
changes what a page shows forgets this process's tenant maps; the page renderings need
nothing, their keys carry the branding's version.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from notifications import rendering
from notifications.models import EmailTemplate, NotificationPolicy
from notifications.serializers import PolicySerializer
from notifications.services import templates as template_services
from tenants.models import Membership, Tenant
from tracking_pages import branding as tp_branding
from tracking_pages import selectors as tp_selectors
from tracking_pages import views as tp_views

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"(?=.{{4,253}}$){_LABEL}(?:\.{_LABEL})*\.[a-z]{{2,63}}")


def _pages_forget() -> None:
    # This process's memory of tenants (TENANT_TTL) and of anonymous page responses (a few
    # seconds): dropped so the next page shows the change. Other processes catch up within
    # seconds; the renderings by version need nothing (their keys carry the branding version).
    tp_selectors.forget_tenants()
    tp_views.local_pages.clear()


# --- general --------------------------------------------------------------------------------------


def clean_custom_domain(value: str | None) -> str | None:
    """A bare lower-case hostname (``track.shop.example``), None for none; else ValidationError."""
    host = (value or "").strip().lower().rstrip(".")
    if not host:
        return None
    if not _HOSTNAME.fullmatch(host):
        raise ValidationError(
            "Enter a hostname such as track.yourshop.com (no https://, no path, no port)."
        )
    platform = (urlsplit(settings.WISMO_BASE_URL).hostname or "").lower()
    if host == platform:
        raise ValidationError("That is wismo's own address: use your shop's domain.")
    return host


@transaction.atomic
def tenant_general_update(
    *, tenant: Tenant, name: str, default_language: str, timezone: str, custom_domain: str | None
) -> Tenant:
    """Save the tenant's name, default language, time zone and custom domain (unique)."""
    domain = clean_custom_domain(custom_domain)
    if (
        domain
        and Tenant.objects.filter(custom_domain__iexact=domain).exclude(pk=tenant.pk).exists()
    ):
        raise ValidationError({"custom_domain": "Another shop already uses this domain."})
    tenant.name = (name or "").strip()
    tenant.default_language = default_language
    tenant.timezone = timezone
    tenant.custom_domain = domain
    tenant.full_clean(exclude=["slug", "branding", "carrier_priority"], validate_unique=False)
    try:
        with transaction.atomic():
            tenant.save(update_fields=["name", "default_language", "timezone", "custom_domain"])
    except IntegrityError:  # the same domain saved by another shop a moment ago
        raise ValidationError({"custom_domain": "Another shop already uses this domain."}) from None
    transaction.on_commit(_pages_forget)
    return tenant


# --- branding -------------------------------------------------------------------------------------


def _lines(text: str) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        if line.strip():
            rows.append([part.strip() for part in line.split("|")])
    return rows


def parse_links(text: str) -> list[dict]:
    """``Label | https://url`` per line -> header links (ValidationError naming the line)."""
    links = []
    for n, parts in enumerate(_lines(text), 1):
        if len(parts) != 2 or not parts[0]:
            raise ValidationError(f"Line {n}: write it as Label | https://address.")
        if len(parts[0]) > 40:
            raise ValidationError(f"Line {n}: labels are at most 40 characters.")
        if not tp_branding.safe_url(parts[1]):
            raise ValidationError(f"Line {n}: {parts[1]!r} is not an http(s) address.")
        links.append({"label": parts[0], "url": parts[1]})
    if len(links) > tp_branding.MAX_LINKS:
        raise ValidationError(f"At most {tp_branding.MAX_LINKS} links.")
    return links


def parse_faq(text: str) -> list[dict]:
    """``Question | Answer`` per line -> FAQ items."""
    items = []
    for n, parts in enumerate(_lines(text), 1):
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValidationError(f"Line {n}: write it as Question | Answer.")
        question, answer = parts[0], " | ".join(parts[1:])
        if len(question) > 200 or len(answer) > 1000:
            raise ValidationError(f"Line {n}: 200 characters per question, 1,000 per answer.")
        items.append({"q": question, "a": answer})
    if len(items) > tp_branding.MAX_FAQ:
        raise ValidationError(f"At most {tp_branding.MAX_FAQ} questions.")
    return items


def parse_products(text: str, *, limit: int) -> list[dict]:
    """``Title | https://product | https://image | price`` per line (image and price optional)."""
    products = []
    for n, parts in enumerate(_lines(text), 1):
        parts += [""] * (4 - len(parts))
        title, url, image, price = parts[:4]
        if len(parts) > 4 or not title or not url:
            raise ValidationError(f"Line {n}: write it as Title | https://product | image | price.")
        if not tp_branding.safe_url(url) or not url.startswith("https://"):
            raise ValidationError(f"Line {n}: the product address must be https://.")
        if image and not (tp_branding.safe_image_url(image) and image.startswith("https://")):
            raise ValidationError(f"Line {n}: the image address must be https://.")
        if len(title) > 120 or len(price) > 40:
            raise ValidationError(f"Line {n}: titles up to 120 characters, prices up to 40.")
        products.append({"title": title, "url": url, "image_url": image, "price": price})
    if len(products) > limit:
        raise ValidationError(f"At most {limit} products.")
    return products


def links_text(links: object) -> str:
    rows = links if isinstance(links, list) else []
    return "\n".join(
        f"{i.get('label', '')} | {i.get('url', '')}" for i in rows if isinstance(i, dict)
    )


def faq_text(items: object) -> str:
    rows = items if isinstance(items, list) else []
    return "\n".join(f"{i.get('q', '')} | {i.get('a', '')}" for i in rows if isinstance(i, dict))


def products_text(items: object) -> str:
    rows = items if isinstance(items, list) else []
    return "\n".join(
        " | ".join(str(i.get(k, "")) for k in ("title", "url", "image_url", "price")).rstrip(" |")
        for i in rows
        if isinstance(i, dict)
    )


def is_by_language(value: object) -> bool:
    """Is this branding value a table by language (``{"en": ..., "it": ...}``)?"""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and len(k) == 2 for k in value)
    )


def localized_get(value: object, language: str) -> object:
    """The ``language`` entry of a per-language value, or the value itself."""
    return value.get(language) if is_by_language(value) else value


def _localized_put(old: object, language: str, new: object) -> object:
    # Editing one language of a per-language value keeps the others.
    if is_by_language(old):
        merged = dict(old)
        if new:
            merged[language] = new
        else:
            merged.pop(language, None)
        return merged or ""
    return new


def branding_merge(*, tenant: Tenant, draft: dict) -> dict:
    """The tenant's branding JSON with the (validated) ``draft`` edited into it: keys the
    dashboard does not edit (``sender_name``, ``allowed_origins``...) and other languages of a
    per-language notice, FAQ or promotion are kept."""
    merged = dict(tenant.branding or {})
    lang = tenant.default_language
    for key, value in draft.items():
        if key in ("notice", "faq", "promo"):
            merged[key] = _localized_put(merged.get(key), lang, value)
        else:
            merged[key] = value
    for key in ("notice", "faq", "promo", "help_url", "header_links", "font", "logo_url"):
        if merged.get(key) in ("", [], {}, None):
            merged.pop(key, None)
    return merged


@transaction.atomic
def tenant_branding_update(*, tenant: Tenant, draft: dict) -> Tenant:
    """Save the branding; the pages show it at once in this process, within seconds elsewhere
    (their cache keys carry the branding version, and tenant maps live ``TENANT_TTL``)."""
    tenant.branding = branding_merge(tenant=tenant, draft=draft)
    tenant.save(update_fields=["branding"])
    transaction.on_commit(_pages_forget)
    return tenant


# --- notifications -------------------------------------------------------------------------------


def notification_policy(*, tenant: Tenant) -> NotificationPolicy:
    """The tenant-wide policy (unsaved defaults when there is none yet)."""
    policy = NotificationPolicy.objects.filter(tenant=tenant, store__isnull=True).first()
    return policy or NotificationPolicy(tenant=tenant, store=None)


@transaction.atomic
def notification_policy_save(*, tenant: Tenant, data: dict) -> NotificationPolicy:
    """Validate ``data`` with the API's rules and save the tenant-wide policy."""
    policy = notification_policy(tenant=tenant)
    serializer = PolicySerializer(policy, data=data, partial=True)
    if not serializer.is_valid():
        raise ValidationError(
            {field: [str(e) for e in _flat(errors)] for field, errors in serializer.errors.items()}
        )
    return serializer.save(tenant=tenant, store=None)


def _flat(errors) -> list:
    if isinstance(errors, dict):
        return [f"{k}: {m}" for k, v in errors.items() for m in _flat(v)]
    if isinstance(errors, list):
        return [m for e in errors for m in _flat(e)]
    return [errors]


# --- email templates -----------------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return (a or "").replace("\r\n", "\n").strip() == (b or "").replace("\r\n", "\n").strip()


def template_save_edited(
    *, tenant: Tenant, trigger: str, language: str, sources: dict[str, str]
) -> list[str]:
    """Save what the editor posted: a part left as our default stays "default" (not a copy).
    Returns the warnings; ``ValidationError`` names the part and line of an error."""
    own = {}
    for part in template_services.PARTS:
        text = (sources.get(part) or "").replace("\r\n", "\n")
        if not _same(text, rendering.default_source(trigger, language, part)):
            own[part] = text
    _template, warnings = template_services.template_save(
        tenant=tenant, trigger=trigger, language=language, sources=own
    )
    return warnings


def template_customized(*, tenant: Tenant) -> dict[tuple[str, str], list[str]]:
    """(trigger, language) -> the parts the merchant wrote, for every template they have."""
    found = {}
    for row in EmailTemplate.objects.filter(tenant=tenant).values(
        "trigger", "language", "subject", "html", "text"
    ):
        parts = [p for p in template_services.PARTS if row[p]]
        if parts:
            found[(row["trigger"], row["language"])] = parts
    return found


def test_recipients(*, tenant: Tenant) -> set[str]:
    """Addresses a test email may go to: the team's own."""
    return {
        e.lower()
        for e in Membership.objects.filter(tenant=tenant).values_list("user__email", flat=True)
        if e
    }
