"""What shoppers do on the tracking pages: prove an order, switch emails, report a problem.

Flow of a lookup (``/t/<slug>/``: order number + email or postcode):

1. The view rate-limits the attempt (per IP, per tenant; ``ratelimit``) before anything else.
2. ``order_verify`` finds the orders with that number (with or without a leading ``#``) and
   compares the secret with ``hmac.compare_digest`` against each, or against a dummy when there
   is none, so that "no such order" and "wrong email" do the same work; the view also pads the
   answer to a fixed minimum duration and renders the same failure for both.
3. Too many failures on one order number lock it for a while (``LOCK_AFTER``): a locked number
   answers exactly like a wrong one, so the lock tells an attacker nothing either.
4. Success puts the order id in the session (``session_prove``, with a new session key), which
   is what unlocks personal data (name, postcode, items) and the actions below. A tracking
   number or a token alone never does.

Problem reports are written with ``problem_report_create``. Listeners registered with
``problem_report_listen`` run inside the same transaction, so they should only write (an outbox
row, a webhook delivery): ``problem_report_webhook_enqueue`` is one, ready to be registered.
``merchant_notified_at`` is the durable truth for a relay (``problem_reports_mark_notified``).
"""

from __future__ import annotations

import hmac
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Suppression, WebhookDelivery, WebhookEndpoint
from notifications.services.tracking import suppression_add
from tracking_pages import pagecache, ratelimit, selectors
from tracking_pages.models import ProblemReport
from wismo.tracking.models import Order, Shipment

log = logging.getLogger(__name__)

SESSION_KEY = "wismo_pages_orders"
SESSION_LIMIT = 20
MESSAGE_LIMIT = 2000
# Failed proofs of one order number before it answers "no" for the rest of the window.
LOCK_AFTER = 10
LOCK_WINDOW = 3600
_DUMMY = "\x00dummy-secret-never-matches\x00"


def _setting(name: str, default):
    return getattr(settings, name, default)


def normalize_number(value: str) -> list[str]:
    """The spellings an order number may be stored under: as typed, without and with "#"."""
    text = " ".join(str(value or "").split())[:100]
    bare = text.lstrip("#").strip()
    if not bare:
        return []
    return list(dict.fromkeys([text, bare, f"#{bare}"]))


def normalize_email(value: str) -> str:
    return unicodedata.normalize("NFKC", str(value or "")).strip().casefold()[:254]


def normalize_postcode(value: str) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).upper()
    return "".join(ch for ch in text if ch.isalnum())[:20]


def _matches(secret: str, given: str) -> bool:
    return hmac.compare_digest(secret.encode(), given.encode())


def _proof_matches(email: str, postcode: str, *, order_email: str, order_postcode: str) -> bool:
    # Both comparisons always run; an empty stored value never matches anything.
    email_ok = _matches(normalize_email(order_email) or _DUMMY, email or "\x01")
    postcode_ok = _matches(normalize_postcode(order_postcode) or _DUMMY, postcode or "\x01")
    return bool((email and email_ok) or (postcode and postcode_ok))


@dataclass(frozen=True, slots=True)
class Proof:
    order_id: int
    token: str


def order_verify(*, tenant_id: int, order_number: str, email: str, postcode: str) -> Proof | None:
    """The order with this number whose email or postcode matches, in the active scope; else None.

    Does the same comparisons whether or not an order with the number exists (see module doc).
    """
    numbers = normalize_number(order_number)
    email, postcode = normalize_email(email), normalize_postcode(postcode)
    candidates = selectors.order_candidates(numbers=numbers) if numbers else []
    found = None
    for pk, order_email, order_postcode, token in candidates or [(0, "", "", "")]:
        ok = _proof_matches(email, postcode, order_email=order_email, order_postcode=order_postcode)
        if ok and found is None and pk:
            found = Proof(pk, token)
    lock_key = f"{tenant_id}:{numbers[-1] if numbers else ''}"
    if _locked(lock_key):
        return None
    if found is None:
        ratelimit.hit("fail", lock_key, limit=LOCK_AFTER, window=LOCK_WINDOW)
    return found


def order_verify_by_id(*, tenant_id: int, order_id: int | None, email: str, postcode: str) -> bool:
    """Whether the email or postcode proves the order ``order_id`` (from a page's token)."""
    secrets = selectors.order_secrets(order_id=order_id) if order_id else None
    order_email, order_postcode = secrets or ("", "")
    ok = _proof_matches(
        normalize_email(email),
        normalize_postcode(postcode),
        order_email=order_email,
        order_postcode=order_postcode,
    )
    lock_key = f"{tenant_id}:id:{order_id or 0}"
    if _locked(lock_key):
        return False
    if not ok:
        ratelimit.hit("fail", lock_key, limit=LOCK_AFTER, window=LOCK_WINDOW)
    return ok and bool(secrets)


def _locked(key: str) -> bool:
    return ratelimit.peek("fail", key, window=LOCK_WINDOW) >= LOCK_AFTER


# --- session proofs -----------------------------------------------------------------------------


def session_prove(session, order_id: int) -> None:
    """Remember in the session that its owner proved ``order_id``; rotates the session key."""
    proven = [pk for pk in session.get(SESSION_KEY, []) if pk != order_id]
    proven.append(order_id)
    session.cycle_key()  # a session fixed by someone else does not inherit the proof
    session[SESSION_KEY] = proven[-SESSION_LIMIT:]


def session_proves(request, order_id: int | None) -> bool:
    """Whether this request's session proved ``order_id`` (without creating a session)."""
    if not order_id or settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    return order_id in request.session.get(SESSION_KEY, [])


# --- notifications switch -----------------------------------------------------------------------


def notify_set(*, tenant_id: int, order: Order, subscribe: bool) -> str | None:
    """Turn delivery emails to the order's address on or off; returns the suppression reason that
    remains (None when emails are on). A bounce or complaint is not lifted by the shopper."""
    email = normalize_email(order.customer_email)
    if not email:
        return None
    if not subscribe:
        suppression_add(tenant_id=tenant_id, email=email, reason=Suppression.Reason.UNSUBSCRIBED)
        return selectors.email_suppression(email=email)
    Suppression.objects.filter(email__iexact=email, reason=Suppression.Reason.UNSUBSCRIBED).delete()
    return selectors.email_suppression(email=email)


# --- problem reports ----------------------------------------------------------------------------

ProblemReportListener = Callable[[ProblemReport], None]
_listeners: list[ProblemReportListener] = []


def problem_report_listen(listener: ProblemReportListener) -> None:
    """Call ``listener(report)`` for every new report, inside its transaction (write only)."""
    if listener not in _listeners:
        _listeners.append(listener)


def problem_report_unlisten(listener: ProblemReportListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def problem_report_create(
    *, order: Order, shipment: Shipment, kind: str, message: str = "", language: str = ""
) -> tuple[ProblemReport, bool]:
    """Open a report on ``shipment`` (of ``order``); (report, created). An open (or answered, not
    yet resolved) report of the same kind on the parcel is returned instead of a second one."""
    if shipment.order_id != order.pk:
        raise ValueError("the parcel does not belong to the order")
    if kind not in ProblemReport.Kind.values:
        raise ValueError(f"unknown problem kind {kind!r}")
    text = str(message or "").replace("\x00", "").strip()[:MESSAGE_LIMIT]
    try:
        with transaction.atomic():
            report = ProblemReport.objects.create(
                tenant_id=order.tenant_id,
                order=order,
                shipment=shipment,
                kind=kind,
                message=text,
                language=language[:8],
            )
            for listener in list(_listeners):
                listener(report)
    except IntegrityError:
        existing = ProblemReport.objects.filter(
            shipment=shipment, kind=kind, state__in=ProblemReport.OPEN_STATES
        ).first()
        if existing is None:
            raise
        return existing, False
    return report, True


def problem_report_resolve(*, report: ProblemReport) -> ProblemReport:
    """The merchant closed the case."""
    report.state = ProblemReport.State.RESOLVED
    report.resolved_at = timezone.now()
    report.save(update_fields=["state", "resolved_at"])
    return report


def problem_reports_mark_notified(*, ids: list[int]) -> int:
    """Record that the merchant was told about these reports (by a listener or a relay)."""
    return ProblemReport.objects.filter(pk__in=ids, merchant_notified_at__isnull=True).update(
        merchant_notified_at=timezone.now()
    )


def problem_report_payload(report: ProblemReport) -> dict:
    """The JSON a merchant's systems receive about a report (no shopper contact data)."""
    order, shipment = report.order, report.shipment
    return {
        "id": f"prb_{report.pk}",
        "type": "problem_report.created",
        "created_at": report.created_at.isoformat(),
        "data": {
            "report_id": report.pk,
            "kind": report.kind,
            "message": report.message,
            "language": report.language,
            "order_number": order.order_number,
            "order_external_id": order.external_id,
            "shipment_id": shipment.pk,
            "tracking_number": shipment.tracking_number,
            "carrier": shipment.carrier,
            "status": shipment.status,
            "substatus": shipment.substatus,
        },
    }


def problem_report_webhook_enqueue(report: ProblemReport) -> None:
    """A listener: one outbound webhook delivery per active endpoint that takes this event
    (``events`` empty or listing ``problem_report.created``); notifications' sender posts them."""
    endpoints = WebhookEndpoint.objects.filter(is_active=True)
    made = False
    for endpoint in endpoints:
        if endpoint.events and "problem_report.created" not in endpoint.events:
            continue
        WebhookDelivery.objects.get_or_create(
            tenant_id=report.tenant_id,
            endpoint=endpoint,
            event_id=f"prb_{report.pk}",
            defaults={"event": "problem_report.created", "payload": problem_report_payload(report)},
        )
        made = True
    if made:
        report.merchant_notified_at = timezone.now()
        report.save(update_fields=["merchant_notified_at"])


# --- privacy --------------------------------------------------------------------------------------


def _export(order_pks: list[int], email: str) -> list[dict]:
    return [
        {
            "kind": r.kind,
            "message": r.message,
            "state": r.state,
            "created_at": r.created_at.isoformat(),
            "reply": r.reply,
            "answered_at": r.answered_at.isoformat() if r.answered_at else None,
        }
        for r in ProblemReport.objects.filter(order_id__in=order_pks).order_by("created_at")
    ]


def _erase(order_pks: list[int], email: str) -> int:
    # The case stays for the merchant's statistics; the shopper's words and the reply to them go.
    erased = (
        ProblemReport.objects.filter(order_id__in=order_pks)
        .exclude(message="", reply="")
        .update(message="", reply="")
    )
    # A proven shopper's page shows their name and address: this process's renderings of it go
    # too (other processes' are never served again: the erasure changes the order's version).
    shipments = list(Shipment.objects.filter(order_id__in=order_pks).values_list("pk", flat=True))
    pagecache.forget_pages(orders=order_pks, shipments=shipments)
    return erased


def register_privacy_handler() -> None:
    from wismo.tracking.services.privacy import PersonalDataHandler, personal_data_handler_register

    personal_data_handler_register(
        PersonalDataHandler(name="tracking_pages", export=_export, erase=_erase)
    )
