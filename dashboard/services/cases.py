"""Shopper-reported problems handled as cases: open -> answered -> resolved (and reopened).

A shopper opens a ``ProblemReport`` on the tracking page (``tracking_pages.services``). Here the
merchant's people answer it, resolve it or reopen it:

- ``case_answer`` stores the reply on the locked row, moves the case to "answered" and, after
  commit, emails the reply to the shopper in the language they wrote in. Submitting the same reply
  again (a double click, a re-sent form) changes nothing and sends nothing: one reply, one email.
- ``case_resolve`` closes the case (through ``tracking_pages.services.problem_report_resolve``);
  ``case_reopen`` opens it again unless the shopper has opened another case of the same kind on
  the parcel meanwhile (one open case per parcel and kind, a database constraint).

Callers run inside the tenant's scope; the report comes from the scoped manager.
"""

from __future__ import annotations

import logging
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.services.policy import policy_for
from tracking_pages import selectors as page_selectors
from tracking_pages.models import ProblemReport
from tracking_pages.services import problem_report_resolve
from wismo.tracking.labels import pick_language

log = logging.getLogger(__name__)

REPLY_LIMIT = 5000
# Suppressions that mean the address cannot take mail at all (an unsubscribe from delivery
# updates does not stop the answer to the shopper's own question).
UNDELIVERABLE = ("bounced", "complained")

_SUBJECT = {
    "en": "Your report about order {number}",
    "it": "La tua segnalazione sull'ordine {number}",
    "es": "Tu aviso sobre el pedido {number}",
    "de": "Ihre Meldung zur Bestellung {number}",
    "fr": "Votre signalement concernant la commande {number}",
}
_GREETING = {
    "en": "Hello {name},",
    "it": "Ciao {name},",
    "es": "Hola {name}:",
    "de": "Hallo {name},",
    "fr": "Bonjour {name},",
}
_INTRO = {
    "en": "{store} has answered your report about parcel {tracking}:",
    "it": "{store} ha risposto alla tua segnalazione sul pacco {tracking}:",
    "es": "{store} ha respondido a tu aviso sobre el paquete {tracking}:",
    "de": "{store} hat auf Ihre Meldung zum Paket {tracking} geantwortet:",
    "fr": "{store} a répondu à votre signalement concernant le colis {tracking} :",
}
_FOLLOW = {
    "en": "You can follow your parcel and your report here: {url}",
    "it": "Puoi seguire il pacco e la segnalazione qui: {url}",
    "es": "Puedes seguir tu paquete y tu aviso aquí: {url}",
    "de": "Paket und Meldung können Sie hier verfolgen: {url}",
    "fr": "Suivez votre colis et votre signalement ici : {url}",
}


class CaseError(ValidationError):
    """A case action that cannot be done in the case's current state."""


def case_get(*, pk: int) -> ProblemReport:
    """The active tenant's case ``pk`` with its order and parcel (``DoesNotExist`` otherwise)."""
    return ProblemReport.objects.select_related(
        "order", "shipment", "answered_by", "resolved_by"
    ).get(pk=pk)


def _locked(report: ProblemReport) -> ProblemReport:
    return ProblemReport.objects.select_for_update().get(pk=report.pk)


def reply_email(*, report: ProblemReport, tenant) -> EmailMessage | None:
    """The email carrying the merchant's reply to the shopper, in the report's language; None
    when the order has no address or the address takes no mail."""
    order, shipment = report.order, report.shipment
    recipient = (order.customer_email or "").strip()
    if not recipient:
        return None
    if page_selectors.email_suppression(email=recipient) in UNDELIVERABLE:
        return None
    lang = pick_language(report.language, order.locale, default=tenant.default_language or "en")
    policy = policy_for(tenant=tenant, store_id=shipment.store_id)
    store = policy.sender_name or tenant.name
    base = settings.WISMO_BASE_URL.rstrip("/")
    url = f"{base}/t/{tenant.slug}/{shipment.public_token}/report/?lang={lang}"
    name = (order.customer_name or "").strip().split(" ")[0] or recipient.split("@")[0]
    body = "\n\n".join(
        [
            _GREETING[lang].format(name=name),
            _INTRO[lang].format(store=store, tracking=shipment.tracking_number),
            report.reply,
            _FOLLOW[lang].format(url=url),
            store,
        ]
    )
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "no-reply@localhost"
    message = EmailMessage(
        subject=_SUBJECT[lang].format(number=order.order_number),
        body=body,
        from_email=formataddr((store, sender)),
        to=[recipient],
        reply_to=[policy.reply_to] if policy.reply_to else None,
        headers={"Content-Language": lang, "X-Wismo-Case": str(report.pk)},
    )
    return message


def _send_after_commit(*, report: ProblemReport, tenant) -> bool:
    message = reply_email(report=report, tenant=tenant)
    if message is None:
        return False

    def send() -> None:
        try:
            message.send()
        except Exception:
            log.exception("case %s: the reply email could not be sent", report.pk)

    transaction.on_commit(send)
    return True


@transaction.atomic
def case_answer(*, report: ProblemReport, reply: str, by, tenant) -> tuple[ProblemReport, bool]:
    """Store ``reply`` on the case, mark it answered and email it to the shopper after commit.

    Returns (case, emailed). The same reply a second time is a no-op (no second email). A
    resolved case is reopened by answering it only through ``case_reopen`` first.
    """
    text = str(reply or "").replace("\x00", "").strip()
    if not text:
        raise CaseError({"reply": "Write a reply first."})
    if len(text) > REPLY_LIMIT:
        raise CaseError({"reply": f"Keep the reply under {REPLY_LIMIT} characters."})
    report = _locked(report)
    if report.state == ProblemReport.State.RESOLVED:
        raise CaseError({"reply": "This case is resolved: reopen it to answer again."})
    if report.reply == text and report.state == ProblemReport.State.ANSWERED:
        return case_get(pk=report.pk), False
    report.reply = text
    report.state = ProblemReport.State.ANSWERED
    report.answered_at = timezone.now()
    report.answered_by = by
    report.save(update_fields=["reply", "state", "answered_at", "answered_by"])
    report = case_get(pk=report.pk)
    emailed = _send_after_commit(report=report, tenant=tenant)
    return report, emailed


@transaction.atomic
def case_resolve(*, report: ProblemReport, by) -> ProblemReport:
    """Close the case (once; resolving a resolved case changes nothing)."""
    report = _locked(report)
    if report.state != ProblemReport.State.RESOLVED:
        problem_report_resolve(report=report)
        report.resolved_by = by
        report.save(update_fields=["resolved_by"])
    return case_get(pk=report.pk)


@transaction.atomic
def case_reopen(*, report: ProblemReport) -> ProblemReport:
    """Open a resolved case again (answered if it carries a reply, else open)."""
    report = _locked(report)
    if report.state != ProblemReport.State.RESOLVED:
        return case_get(pk=report.pk)
    report.state = ProblemReport.State.ANSWERED if report.reply else ProblemReport.State.OPEN
    report.resolved_at = None
    report.resolved_by = None
    try:
        with transaction.atomic():
            report.save(update_fields=["state", "resolved_at", "resolved_by"])
    except IntegrityError:
        raise CaseError(
            {"state": "The shopper has opened another case of this kind on this parcel."}
        ) from None
    return case_get(pk=report.pk)
