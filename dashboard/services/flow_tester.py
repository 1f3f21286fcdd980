"""The flow tester: a merchant steps a test parcel through every status and reason and sees, in a
chosen language, the emails each step sends and the tracking page the shopper gets.

Nothing here writes or counts anything. The parcel, its order and its timeline exist only in
memory:

- the step's emails come from the same trigger mapping the dispatcher uses
  (``notifications.services.dispatch.triggers_for`` on an unsaved status change from the step
  before), rendered by ``notifications.rendering.render_email`` with the merchant's own saved
  templates (``template_sources``) over the sample shopper and order of that language, with this
  parcel's state and the tenant's branding;
- the tracking page is rendered by the tracking pages' own body renderer over in-memory page rows
  (``tracking_pages.selectors.ParcelRow`` / ``OrderRow`` / ``EventRow``): no page cache, no
  page-view count, no session.

A parcel normally lives ``pending -> info_received -> in_transit -> out_for_delivery ->
delivered``; other statuses branch off that path (``PATH``). Each reason of a status is reached
from the end of the path before it, so every step shows what arrives at that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from carriers.statuses import SUBSTATUSES, Status, action_required
from notifications import rendering
from notifications.models import Trigger
from notifications.services.dispatch import triggers_for
from notifications.services.policy import policy_for
from notifications.services.templates import PARTS, template_sources
from tracking_pages.branding import brand_from
from tracking_pages.selectors import EventRow, OrderRow, PageData, PageRef, PageTenant, ParcelRow
from tracking_pages.views import Site, _render_page
from wismo.tracking import labels
from wismo.tracking.models import ShipmentStatusChange

STEPS: tuple[str, ...] = tuple(SUBSTATUSES)  # taxonomy order
PREVIEW_TOKEN = "flow-tester-preview"  # noqa: S105 - a page address, not a secret
# The substatuses a parcel went through before reaching a status (its main road).
_ROAD = (
    "info_received.label_created",
    "in_transit.picked_up",
    "in_transit.in_transit",
    "out_for_delivery.out_for_delivery",
)
PATH: dict[str, tuple[str, ...]] = {
    Status.PENDING: (),
    Status.INFO_RECEIVED: (),
    Status.IN_TRANSIT: _ROAD[:1],
    Status.OUT_FOR_DELIVERY: _ROAD[:3],
    Status.AVAILABLE_FOR_PICKUP: _ROAD[:3],
    Status.FAILED_ATTEMPT: _ROAD[:4],
    Status.DELIVERED: _ROAD[:4],
    Status.EXCEPTION: _ROAD[:3],
    Status.EXPIRED: _ROAD[:2],
}


@dataclass(slots=True)
class StepEmail:
    trigger: str
    label: str
    enabled: bool  # the tenant's policy sends this trigger
    subject: str = ""
    html: str = ""
    text: str = ""
    customized: bool = False  # the merchant's own template
    error: str = ""


@dataclass(slots=True)
class Step:
    substatus: str
    status: str
    label: str
    reason: str
    action_required: bool
    previous: str  # the substatus the parcel came from ("" for the first)
    emails: list[StepEmail] = field(default_factory=list)


def step_neighbours(substatus: str) -> tuple[str | None, str | None]:
    """The steps before and after ``substatus`` in the walk."""
    at = STEPS.index(substatus)
    return (STEPS[at - 1] if at else None, STEPS[at + 1] if at + 1 < len(STEPS) else None)


def _path(substatus: str) -> list[str]:
    status = substatus.split(".", 1)[0]
    return [*PATH[status], substatus] if status != Status.PENDING else []


def _times(substatus: str, now: datetime) -> list[tuple[str, datetime]]:
    """Each substatus of the path with when it happened: a day apart, the last one an hour ago."""
    path = _path(substatus)
    last = now - timedelta(hours=1)
    return [(code, last - timedelta(days=len(path) - 1 - n)) for n, code in enumerate(path)]


def step_triggers(substatus: str) -> tuple[str, list[str]]:
    """(previous substatus, triggers) that arriving at ``substatus`` fires, as dispatch decides."""
    path = _path(substatus)
    previous = path[-2] if len(path) > 1 else ("pending.awaiting_carrier" if path else "")
    if not path:
        return "", []
    change = ShipmentStatusChange(
        kind=ShipmentStatusChange.Kind.STATUS,
        from_status=previous.split(".", 1)[0],
        from_substatus=previous,
        to_status=substatus.split(".", 1)[0],
        to_substatus=substatus,
    )
    return previous, [str(t) for t in triggers_for(change)]


def _sample_parcel(lang: str) -> dict:
    return rendering.sample_context(Trigger.SHIPPED, lang)["shipment"]


def _email_context(*, tenant, trigger: str, lang: str, substatus: str, now: datetime) -> dict:
    context = rendering.sample_context(trigger, lang)
    parcel = dict(context["shipment"])
    status = substatus.split(".", 1)[0]
    times = _times(substatus, now)
    expected = (now + timedelta(days=2)).date()
    delivered = status == Status.DELIVERED
    parcel.update(
        {
            "status": status,
            "substatus": substatus,
            "status_label": labels.status_label(status, lang),
            "reason": labels.substatus_text(substatus, lang),
            "next_step": labels.next_step(substatus, lang),
            "action_required": action_required(substatus),
            "tracking_url": _tracking_url(tenant),
        }
    )
    if times:
        parcel["last_event"] = {
            **parcel.get("last_event", {}),
            "description": labels.substatus_text(substatus, lang),
        }
    if not delivered:
        parcel["delivered_at"] = ""
        parcel["expected_date"] = rendering_date(expected, lang)
    context["shipment"] = parcel
    context["shipments"] = [parcel]
    context["tracking_url"] = _tracking_url(tenant)
    policy = policy_for(tenant=tenant, store_id=None)
    branding = tenant.branding or {}
    context["brand"] = {
        **context.get("brand", {}),
        "name": tenant.name,
        "sender_name": policy.sender_name or branding.get("sender_name") or tenant.name,
        "logo_url": branding.get("logo_url", ""),
        "primary_color": branding.get("primary_color", "#1f4e79"),
        "accent_color": branding.get("accent_color", "#f2a900"),
        "font": branding.get("font", ""),
    }
    context["store"] = {
        **context.get("store", {}),
        "name": tenant.name,
        "support_email": policy.reply_to,
    }
    context["promotion"] = policy.promotion or None
    context["discount_code"] = policy.delay_discount_code if trigger == Trigger.DELAYED else ""
    return context


def rendering_date(value, lang: str) -> str:
    from tracking_pages.presenters import short_date

    return short_date(value, lang)


def _tracking_url(tenant) -> str:
    base = settings.WISMO_BASE_URL.rstrip("/")
    return f"{base}/t/{tenant.slug}/{PREVIEW_TOKEN}/"


def step_email(*, tenant, substatus: str, trigger: str, lang: str) -> StepEmail:
    """One email of a step, rendered as the shopper would receive it (never sent)."""
    policy = policy_for(tenant=tenant, store_id=None)
    enabled = bool(policy.enabled and trigger in (policy.triggers or []))
    email = StepEmail(trigger=trigger, label=Trigger(trigger).label, enabled=enabled)
    saved = template_sources(tenant=tenant, trigger=trigger, language=lang)
    overrides = {p: str(saved[p]) for p in PARTS if saved[f"{p}_customized"]}
    email.customized = bool(overrides)
    context = _email_context(
        tenant=tenant, trigger=trigger, lang=lang, substatus=substatus, now=timezone.now()
    )
    try:
        rendered = rendering.render_email(trigger, lang, context, overrides)
    except rendering.TemplateProblem as exc:
        email.error = str(exc)
        return email
    email.subject, email.html, email.text = rendered.subject, rendered.html, rendered.text
    return email


def flow_step(*, tenant, substatus: str, lang: str, with_emails: bool = True) -> Step:
    """What arriving at ``substatus`` does: its triggers and (optionally) their emails."""
    previous, triggers = step_triggers(substatus)
    status = substatus.split(".", 1)[0]
    step = Step(
        substatus=substatus,
        status=status,
        label=labels.status_label(status, lang),
        reason=labels.substatus_text(substatus, lang),
        action_required=action_required(substatus),
        previous=previous,
    )
    for trigger in triggers:
        if with_emails:
            step.emails.append(
                step_email(tenant=tenant, substatus=substatus, trigger=trigger, lang=lang)
            )
        else:
            step.emails.append(
                StepEmail(trigger=trigger, label=Trigger(trigger).label, enabled=True)
            )
    return step


def _page_data(*, tenant, substatus: str, lang: str, now: datetime) -> PageData:
    sample = _sample_parcel(lang)
    context = rendering.sample_context(Trigger.SHIPPED, lang)
    status = substatus.split(".", 1)[0]
    times = _times(substatus, now)
    delivered = status == Status.DELIVERED
    expected = None if delivered or status == Status.EXPIRED else (now + timedelta(days=2)).date()
    order = OrderRow(
        pk=0,
        public_token=PREVIEW_TOKEN + "-order",
        order_number=str(context["order"]["number"]).lstrip("#"),
        customer_email=str(context["shopper"]["email"]),
        customer_name=str(context["shopper"]["name"]),
        shipping_postcode="",
        shipping_country="",
        line_items=[
            {"title": i["title"], "quantity": i["quantity"]} for i in context["order"]["items"]
        ],
        placed_at=now - timedelta(days=len(times) + 1),
        locale=lang,
        updated_at=now,
    )
    parcel = ParcelRow(
        pk=0,
        public_token=PREVIEW_TOKEN,
        carrier=str(sample["carrier_slug"]),
        tracking_number=str(sample["tracking_number"]),
        status=status,
        substatus=substatus,
        action_required=action_required(substatus),
        estimated_delivery=expected,
        estimated_delivery_earliest=expected - timedelta(days=1) if expected else None,
        estimated_delivery_latest=expected,
        estimated_delivery_source="predicted" if expected else "",
        estimated_delivery_confidence=0.8 if expected else None,
        delivered_at=times[-1][1] if delivered else None,
        last_event_at=times[-1][1] if times else None,
        last_checked_at=now - timedelta(minutes=8),
        next_poll_at=now + timedelta(hours=2),
        is_active=status not in (Status.DELIVERED, Status.EXPIRED),
        last_error_code="",
        updated_at=now,
        order_id=0,
        previous_number="",
        replacement_token="",
        replacement_number="",
    )
    location = str(sample.get("last_event", {}).get("location") or "")
    events = [
        EventRow(
            pk=-n,
            shipment_id=0,
            occurred_at=when,
            status=code.split(".", 1)[0],
            substatus=code,
            description=labels.substatus_text(code, lang),
            location=location,
        )
        for n, (code, when) in enumerate(times, 1)
    ]
    events.sort(key=lambda e: e.occurred_at, reverse=True)
    ref = PageRef("shipment", 0, 0, lang)
    return PageData(ref, order, [parcel], {0: events}, version="flow-tester")


def page_html(*, tenant, substatus: str, lang: str, proven: bool = False) -> str:
    """The tracking page of the test parcel at ``substatus`` exactly as the shopper sees it
    (``proven``: after proving the order, with its items)."""
    page_tenant = PageTenant(
        tenant.pk,
        tenant.slug,
        tenant.name,
        tenant.branding or {},
        tenant.timezone,
        tenant.default_language,
        tenant.custom_domain,
        True,
    )
    brand = brand_from(
        tenant.branding,
        name=tenant.name,
        custom_domain=tenant.custom_domain,
        default_language=tenant.default_language,
    )
    site = Site(tenant.pk, f"/t/{tenant.slug}", tenant.slug)
    data = _page_data(tenant=tenant, substatus=substatus, lang=lang, now=timezone.now())
    return _render_page(
        site=site,
        tenant=page_tenant,
        data=data,
        brand=brand,
        lang=lang,
        verified=proven,
        embed=False,
        suppression="",
    )
