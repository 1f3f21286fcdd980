"""Merchants' email templates: save (validated), preview with sample data, send a test.

Saving checks every part in the sandbox (syntax errors with their line, size and nesting
limits) and returns the warnings (unknown variable names) for the merchant to see. A preview
and a test send render the saved or the given sources over realistic sample data carrying the
tenant's own branding, so the merchant sees what a shopper would.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction

from notifications import rendering
from notifications.models import EmailTemplate, Trigger
from notifications.services.policy import policy_for
from wismo.tracking import labels

PARTS = ("subject", "html", "text")


def _check(trigger: str, language: str) -> None:
    if trigger not in Trigger.values:
        raise ValidationError({"trigger": f"Unknown trigger {trigger!r}."})
    if language not in labels.LANGUAGES:
        raise ValidationError({"language": f"Use one of {', '.join(labels.LANGUAGES)}."})


def template_validate(sources: dict[str, str]) -> list[str]:
    """Warnings of the given parts; ``ValidationError`` naming the part and line of an error."""
    warnings, errors = [], {}
    for part in PARTS:
        source = sources.get(part) or ""
        if not source:
            continue
        try:
            warnings += [f"{part}: {w}" for w in rendering.validate(source, part)]
        except rendering.TemplateProblem as exc:
            where = f"line {exc.line}: " if exc.line else ""
            errors[part] = f"{where}{exc.message}"
    if errors:
        raise ValidationError(errors)
    return warnings


@transaction.atomic
def template_save(
    *, tenant, trigger: str, language: str, sources: dict[str, str]
) -> tuple[EmailTemplate | None, list[str]]:
    """Store the merchant's parts (empty parts use ours); all parts empty removes the template."""
    _check(trigger, language)
    warnings = template_validate(sources)
    values = {part: sources.get(part) or "" for part in PARTS}
    if not any(values.values()):
        EmailTemplate.objects.filter(tenant=tenant, trigger=trigger, language=language).delete()
        return None, warnings
    template, _ = EmailTemplate.objects.update_or_create(
        tenant=tenant, trigger=trigger, language=language, defaults=values
    )
    return template, warnings


def template_sources(*, tenant, trigger: str, language: str) -> dict[str, object]:
    """The parts in effect (the merchant's or ours) and which are the merchant's."""
    _check(trigger, language)
    own = EmailTemplate.objects.filter(tenant=tenant, trigger=trigger, language=language).first()
    result: dict[str, object] = {}
    for part in PARTS:
        mine = getattr(own, part, "") if own else ""
        result[part] = mine or rendering.default_source(trigger, language, part)
        result[f"{part}_customized"] = bool(mine)
    return result


def _sample(tenant, trigger: str, language: str) -> dict:
    context = rendering.sample_context(trigger, language)
    branding = tenant.branding or {}
    policy = policy_for(tenant=tenant, store_id=None)
    context["brand"] = {
        **context.get("brand", {}),
        "name": tenant.name,
        "sender_name": policy.sender_name or branding.get("sender_name") or tenant.name,
        "logo_url": branding.get("logo_url", ""),
        "primary_color": branding.get("primary_color", "#1f4e79"),
        "accent_color": branding.get("accent_color", "#f2a900"),
    }
    context["store"] = {**context.get("store", {}), "name": tenant.name}
    if policy.promotion:
        context["promotion"] = policy.promotion
    return context


def template_preview(
    *, tenant, trigger: str, language: str, sources: dict[str, str] | None = None
) -> rendering.RenderedEmail:
    """Render the given parts (else the saved or default ones) over sample data."""
    _check(trigger, language)
    if sources is None or not any(sources.values()):
        saved = template_sources(tenant=tenant, trigger=trigger, language=language)
        sources = {p: str(saved[p]) for p in PARTS if saved[f"{p}_customized"]}
    else:
        template_validate(sources)
    try:
        return rendering.render_email(
            trigger, language, _sample(tenant, trigger, language), sources
        )
    except rendering.TemplateProblem as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ValidationError({"template": f"{where}{exc.message}"}) from None


def template_test_send(*, tenant, trigger: str, language: str, to: str, allowed: set[str]) -> str:
    """Send the preview to a merchant's own address (one of ``allowed``); returns it."""
    address = parseaddr(to or "")[1].lower()
    if not address or address not in {a.lower() for a in allowed}:
        raise ValidationError(
            {"to": "Test emails go to the tenant's own members or reply-to address only."}
        )
    email = template_preview(tenant=tenant, trigger=trigger, language=language)
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "no-reply@localhost"
    message = EmailMultiAlternatives(
        subject=f"[TEST] {email.subject}",
        body=email.text,
        from_email=formataddr((tenant.name, sender)),
        to=[address],
    )
    message.attach_alternative(email.html, "text/html")
    message.send()
    return address
