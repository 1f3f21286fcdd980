"""The email outbox's sender: claim due rows, render, send through Django's mail backend
(SMTP or any anymail provider, by settings), record the outcome.

State machine of a ``Notification``: ``scheduled`` -> ``sending`` (claimed, with a lease) ->
``sent``; ``skipped`` (nothing to send: suppressed, unsubscribed, superseded, trigger turned
off) and ``failed`` (refused by the provider, or out of attempts) are final.

- **Claim**: ``FOR UPDATE SKIP LOCKED`` over due rows, so several senders never take one row; a
  row whose lease expired (its worker died) is due again.
- **Digest**: the other scheduled rows of the same order and trigger due within
  ``DIGEST_WINDOW`` are claimed with it and go out as one email.
- **Once**: over SMTP (``notifications.smtp``) the row is recorded ``sent`` after the message
  is with the server but before its final dot, the moment the server takes it: a sender killed
  at any point leaves the row and the server agreeing (but for the instant between the commit
  and one socket write). An HTTP provider (anymail) has no such point: a failure after it
  accepted the message (a timeout, a worker killed between send and record) can only be
  resolved by sending again. The row's ``Message-ID`` is chosen before the first attempt and
  kept for every retry, so a copy carries the same id, which mailbox providers drop. Everything
  else (render errors, suppression, a refused address) is decided before or without a send.
- **Retries**: transient failures (connection, timeout, 429, 5xx) go back to ``scheduled`` with
  backoff (honouring ``Retry-After``); past ``MAX_ATTEMPTS`` the row is ``failed``.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, make_msgid, parseaddr

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django import db
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from carriers.http import parse_retry_after
from notifications import rendering
from notifications.models import EmailTemplate, Notification, Suppression
from notifications.services.context import email_context, unsubscribe_url
from notifications.services.dispatch import is_stale
from notifications.services.policy import policy_for
from tenants.scoping import all_tenants, tenant_scope
from wismo.metrics import emails_observed
from wismo.tracking import labels

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
DIGEST_WINDOW = timedelta(minutes=10)
MAX_ATTEMPTS = 8
BACKOFF = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600]


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0


def claim_due(*, limit: int = 100, now=None) -> dict[int, list[int]]:
    """Claim up to ``limit`` due rows (all tenants) and their digest siblings: tenant -> ids."""
    now = now or timezone.now()
    with all_tenants(), transaction.atomic():
        due = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(
                Q(state=Notification.State.SCHEDULED, send_after__lte=now)
                | Q(state=Notification.State.SENDING, claimed_until__lte=now)
            )
            .order_by("send_after")
            .values_list("pk", "tenant_id", "order_id", "trigger")[:limit]
        )
        if not due:
            return {}
        groups = {(order, trigger) for _pk, _t, order, trigger in due if order}
        siblings = []
        if groups:
            match = Q(pk__in=[])
            for order, trigger in groups:
                match |= Q(order_id=order, trigger=trigger)
            siblings = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(match)
                .filter(state=Notification.State.SCHEDULED, send_after__lte=now + DIGEST_WINDOW)
                .values_list("pk", "tenant_id", "order_id", "trigger")
            )
        claimed: dict[int, list[int]] = defaultdict(list)
        for pk, tenant_id, _order, _trigger in {*due, *siblings}:
            claimed[tenant_id].append(pk)
        ids = [pk for pks in claimed.values() for pk in pks]
        Notification.objects.filter(pk__in=ids).update(
            state=Notification.State.SENDING, claimed_until=now + LEASE
        )
    return dict(claimed)


def _finish(rows: list[Notification], **fields) -> None:
    Notification.objects.filter(pk__in=[r.pk for r in rows]).update(claimed_until=None, **fields)


class _Lookups:
    """What one sender lane reads again and again, read once: policies, the merchant's
    templates, and which recipients are suppressed."""

    def __init__(self) -> None:
        self.policies: dict[tuple[int, int | None], object] = {}
        self.templates: dict[tuple[int, str, str], dict[str, str]] = {}
        self.suppressed: dict[int, set[str]] = {}

    def policy(self, tenant, store_id):
        key = (tenant.pk, store_id)
        if key not in self.policies:
            self.policies[key] = policy_for(tenant=tenant, store_id=store_id)
        return self.policies[key]

    def overrides(self, tenant, trigger: str, language: str) -> dict[str, str]:
        key = (tenant.pk, trigger, language)
        if key not in self.templates:
            template = EmailTemplate.objects.filter(
                tenant=tenant, trigger=trigger, language=language
            ).first()
            self.templates[key] = (
                {part: getattr(template, part) for part in ("subject", "html", "text")}
                if template
                else {}
            )
        return self.templates[key]

    def load_suppressed(self, tenant_id: int, recipients: set[str]) -> None:
        emails = {r.lower() for r in recipients if r}
        found = (
            Suppression.objects.filter(tenant_id=tenant_id)
            .annotate(address=Lower("email"))
            .filter(address__in=emails)
            .values_list("address", flat=True)
        )
        self.suppressed.setdefault(tenant_id, set()).update(e.lower() for e in found)

    def is_suppressed(self, tenant_id: int, email: str) -> bool:
        return (email or "").lower() in self.suppressed.get(tenant_id, set())


def _message(rows: list[Notification], connection, lookups: _Lookups) -> EmailMultiAlternatives:
    first = rows[0]
    tenant = first.shipment.tenant
    policy = lookups.policy(tenant, first.shipment.store_id)
    language = labels.pick_language(first.language, tenant.default_language)
    context = email_context(notifications=rows, policy=policy, language=language)
    overrides = lookups.overrides(tenant, first.trigger, language)
    try:
        email = rendering.render_email(first.trigger, language, context, overrides)
    except rendering.TemplateProblem as exc:
        if not overrides:
            raise
        # The merchant's template broke at send time: ours rather than no email at all.
        logger.warning(
            "tenant %s template %s failed, default used: %s", tenant.pk, first.trigger, exc
        )
        email = rendering.render_email(first.trigger, language, context, None)
    sender_name = " ".join(str(context["brand"]["sender_name"]).split())[:100]
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "no-reply@localhost"
    unsubscribe = unsubscribe_url(tenant.pk, first.recipient)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text,
        from_email=formataddr((sender_name, from_address)),
        to=[first.recipient],
        reply_to=[policy.reply_to] if policy.reply_to else None,
        headers={
            "Message-ID": first.message_id,
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Wismo-Notification": ",".join(str(r.pk) for r in rows),
        },
        connection=connection,
    )
    message.attach_alternative(email.html, "text/html")
    # anymail: our ids ride along, so the provider's tracking events find their row.
    message.metadata = {"notification_ids": ",".join(str(r.pk) for r in rows)}
    message.tags = [first.trigger]
    return message


def _transient(exc: Exception) -> tuple[bool, float | None]:
    """(retry?, seconds the provider asked for)."""
    if isinstance(exc, AnymailRecipientsRefused):
        return False, None
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        response = getattr(exc, "response", None)
        # A requests.Response is falsy for 4xx/5xx: compare with None, or Retry-After is lost.
        wait = (
            parse_retry_after(response.headers.get("Retry-After")) if response is not None else None
        )
        return status is None or status == 429 or status >= 500, wait
    if isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused):
        return False, None
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 400 and exc.smtp_code < 500, None
    return isinstance(exc, OSError | socket.timeout | smtplib.SMTPException), None


def _send_group(
    rows: list[Notification], connection, report: SendReport, lookups: _Lookups
) -> None:
    first = rows[0]
    tenant = first.shipment.tenant
    policy = lookups.policy(tenant, first.shipment.store_id)
    live = []
    for row in rows:
        reason = ""
        if not policy.enabled or row.trigger not in policy.triggers:
            reason = "trigger_off"
        elif is_stale(row.trigger, row.shipment):
            reason = "superseded"
        elif lookups.is_suppressed(tenant.pk, row.recipient):
            reason = "suppressed"
        if reason:
            _finish([row], state=Notification.State.SKIPPED, skipped_reason=reason)
            report.skipped += 1
        else:
            live.append(row)
    if not live:
        return
    # One Message-ID for the email, chosen once and kept for every retry (module docstring).
    message_id = next((r.message_id for r in live if r.message_id), "")
    if not message_id:
        domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">").strip() or "wismo"
        message_id = make_msgid(idstring=f"n{live[0].pk}", domain=domain)
    attempts = max(r.attempts for r in live) + 1
    now = timezone.now()
    # Still ours? A lane that waited behind slow sends may have outlived its lease, and another
    # sender may hold these rows now: renewing the lease only where it is still ours says so.
    renewed = Notification.objects.filter(
        pk__in=[r.pk for r in live],
        state=Notification.State.SENDING,
        claimed_until__gt=now,
    ).update(message_id=message_id, attempts=attempts, claimed_until=now + LEASE)
    if renewed != len(live):
        logger.warning("lease of notifications %s lost before sending", [r.pk for r in live])
        return
    for row in live:
        row.message_id = message_id
    try:
        message = _message(live, connection, lookups)
    except rendering.TemplateProblem as exc:  # even our defaults failed: a bug, shown on the row
        _finish(live, state=Notification.State.FAILED, last_error=f"template: {exc}"[:2000])
        report.failed += len(live)
        return
    recorded = False

    def record_sent() -> None:
        # Called by notifications.smtp just before the message's final dot (see there); other
        # backends do not call it, and the row is recorded after they return.
        nonlocal recorded
        _finish(live, state=Notification.State.SENT, sent_at=timezone.now(), last_error="")
        recorded = True

    message.commit_point = record_sent
    try:
        message.send()
    except DatabaseError:
        # Recording failed before the final dot: the server discarded the message, and the row
        # stays ``sending`` until its lease runs out and it is sent again.
        raise
    except Exception as exc:  # the provider's failure, sorted below (a recorded row is undone)
        retry, wait = _transient(exc)
        if retry and attempts < MAX_ATTEMPTS:
            delay = wait if wait is not None else BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
            _finish(
                live,
                state=Notification.State.SCHEDULED,
                sent_at=None,
                send_after=timezone.now() + timedelta(seconds=min(delay, 24 * 3600)),
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
            )
            report.retried += len(live)
        else:
            _finish(
                live,
                state=Notification.State.FAILED,
                sent_at=None,
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
            )
            report.failed += len(live)
        return
    status = getattr(message, "anymail_status", None)
    provider_id = (status.message_id if status else None) or ""
    if not recorded:
        _finish(
            live,
            state=Notification.State.SENT,
            sent_at=timezone.now(),
            provider_message_id=str(provider_id)[:255],
            last_error="",
        )
    report.sent += len(live)


def _send_share(share: list[tuple[int, list[Notification]]]) -> SendReport:
    """One lane's groups, in order: its own mail connection and, in a thread, its own database
    connection (closed at the end, as pool threads outlive the request)."""
    report = SendReport()
    lookups = _Lookups()
    try:
        connection = get_connection()
        recipients: dict[int, set[str]] = defaultdict(set)
        for tenant_id, group in share:
            recipients[tenant_id].update(row.recipient for row in group)
        for tenant_id, emails in recipients.items():
            with tenant_scope(tenant_id):
                lookups.load_suppressed(tenant_id, emails)
        for tenant_id, group in share:
            with tenant_scope(tenant_id):
                _send_group(group, connection, report, lookups)
    finally:
        if threading.current_thread() is not threading.main_thread():
            db.connections.close_all()
    return report


def notifications_send(
    *, claimed: dict[int, list[int]], concurrency: int | None = None
) -> SendReport:
    """Send claimed rows, one email per (order, trigger) group, ``concurrency`` at a time.

    A provider answers in tens to hundreds of milliseconds: sending one email after the other
    would leave a worker waiting most of the time, so groups go out from a small thread pool.
    """
    concurrency = concurrency or settings.WISMO_NOTIFY_CONCURRENCY
    work: list[tuple[int, list[Notification]]] = []
    for tenant_id, ids in claimed.items():
        with tenant_scope(tenant_id):
            rows = list(
                Notification.objects.filter(pk__in=ids, state=Notification.State.SENDING)
                .select_related(
                    "shipment__tenant", "shipment__store", "shipment__replaces", "order"
                )
                .order_by("pk")
            )
        groups: dict[tuple, list[Notification]] = defaultdict(list)
        for row in rows:
            key = (row.order_id, row.trigger, row.recipient) if row.order_id else (row.pk,)
            groups[key].append(row)
        work += [(tenant_id, group) for group in groups.values()]
    total = SendReport()
    if not work:
        return total
    lanes = max(1, min(concurrency, len(work)))
    shares = [work[i::lanes] for i in range(lanes)]
    if lanes == 1:
        reports = [_send_share(shares[0])]
    else:
        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="wismo-mail") as pool:
            reports = list(pool.map(_send_share, shares))
    for report in reports:
        total.sent += report.sent
        total.skipped += report.skipped
        total.retried += report.retried
        total.failed += report.failed
    emails_observed(total)
    return total


def outbox_drain(*, limit: int = 100) -> SendReport:
    """One sender pass: claim due rows and send them."""
    return notifications_send(claimed=claim_due(limit=limit))
