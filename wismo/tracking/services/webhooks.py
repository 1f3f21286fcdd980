"""Inbound carrier pushes: verify, store raw, answer fast; process later, exactly once in effect.

``carrier_push_receive`` runs in the web request: it checks the push is the carrier's (signature
or shared token), stores it as an ``InboundWebhook`` keyed by a digest of its body (a redelivery
is a no-op) and nudges the inbox's drain (``services.inbox``). ``inbound_webhook_process`` (a task) parses it
and records the events of the tenant's matching shipments through ``record_events_batch``; a
failure stays on the row with its error, to be replayed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DataError, transaction
from django.utils import timezone

from carriers import registry
from carriers.base import NotThisFormat
from tenants.scoping import all_tenants
from wismo.db import checking_connection
from wismo.tracking.importers.base import NotThisPayload
from wismo.tracking.models import CarrierAccount, EventSource, InboundWebhook, Shipment
from wismo.tracking.services.inbox import inbox_nudge, inbox_store
from wismo.tracking.services.timeline import record_events_batch

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
# Headers worth keeping for replay and audit; never cookies or authorization.
_KEPT_HEADERS = ("content-type", "user-agent", "sign", "x-hmac", "x-request-id", "x-api-key-id")


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Received:
    webhook_id: int
    tenant_id: int
    duplicate: bool


def _account_for(slug: str, account_id: int) -> CarrierAccount:
    # The URL names the account before any tenant is known: a spelled-out, single-row lookup.
    with all_tenants():
        account = (
            CarrierAccount.objects.select_related("tenant")
            .filter(pk=account_id, carrier=slug, is_active=True, tenant__is_active=True)
            .first()
        )
    if account is None:
        raise WebhookRejected(404, "Not found.")
    return account


def carrier_push_receive(
    *, slug: str, account_id: int, body: bytes, headers: dict[str, str]
) -> Received:
    """Verify and store one push. Raises WebhookRejected (404, 401, 413, 400) and stores nothing then."""
    # Safe to run twice: the push's digest makes a second store of it a duplicate.
    return checking_connection(
        lambda: _receive(slug, account_id, body, headers), what="carrier push"
    )


def _receive(slug: str, account_id: int, body: bytes, headers: dict[str, str]) -> Received:
    try:
        adapter = registry.get_adapter(slug)
    except registry.UnknownCarrier:
        raise WebhookRejected(404, "Not found.") from None
    if not adapter.accepts_push:
        raise WebhookRejected(404, "Not found.")
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "Body too large.")
    account = _account_for(slug, account_id)
    try:
        adapter.verify_push(body, headers, account.credentials)
    except PermissionError as exc:
        raise WebhookRejected(401, str(exc) or "Signature does not match.") from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "Body is not UTF-8.") from None
    try:
        adapter.parse_push(body)
    except NotThisFormat as exc:
        raise WebhookRejected(400, f"Not a {slug} push: {exc}") from None
    except (RecursionError, TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
        # A verified body the adapter cannot read is the carrier's malformed push, not our 500.
        logger.warning("unreadable %s push for account %s: %r", slug, account.pk, exc)
        raise WebhookRejected(400, f"Not a readable {slug} push.") from None
    digest = hashlib.sha256(f"carrier:{slug}:{account.pk}\n".encode() + body).hexdigest()
    webhook_id, duplicate = inbox_store(
        tenant_id=account.tenant_id,
        source=f"carrier:{slug}",
        carrier_account_id=account.pk,
        headers={k: v for k, v in headers.items() if k in _KEPT_HEADERS},
        body=text,
        digest=digest,
    )
    if not duplicate:
        inbox_nudge(tenant_id=account.tenant_id, webhook_id=webhook_id)
    return Received(webhook_id=webhook_id, tenant_id=account.tenant_id, duplicate=duplicate)


def inbound_webhook_process(*, webhook_id: int) -> dict[str, int]:
    """Apply a stored carrier push to the tenant's shipments (inside the tenant's scope)."""
    with transaction.atomic():
        webhook = (
            InboundWebhook.objects.select_for_update(skip_locked=True)
            .filter(pk=webhook_id)
            .exclude(state=InboundWebhook.State.PROCESSED)
            .first()
        )
        if webhook is None:
            return {"events": 0, "shipments": 0}
        webhook.attempts += 1
        if webhook.source.startswith("shop:"):
            return _process_shop(webhook)
        slug = webhook.source.removeprefix("carrier:")
        try:
            batch = registry.get_adapter(slug).parse_push(webhook.body.encode())
        except (
            NotThisFormat,
            registry.UnknownCarrier,
            RecursionError,
            TypeError,
            ValueError,
            AttributeError,
            KeyError,
            OverflowError,
        ) as exc:
            webhook.state, webhook.error = InboundWebhook.State.FAILED, str(exc)[:2000]
            webhook.save(update_fields=["state", "error", "attempts"])
            return {"events": 0, "shipments": 0}
        # Only numbers we could be tracking: letters and digits (a NUL would break the query).
        numbers = {
            r.tracking_number
            for r in batch.results
            if r.tracking_number.isascii() and r.tracking_number.isalnum()
        }
        shipments = dict(
            Shipment.objects.filter(carrier=slug, tracking_number__in=numbers).values_list(
                "tracking_number", "id"
            )
        )
        results = record_events_batch(
            items=[
                (shipments[r.tracking_number], r.events)
                for r in batch.results
                if r.tracking_number in shipments
            ],
            source=EventSource.PUSH,
        )
        webhook.state, webhook.error, webhook.processed_at = (
            InboundWebhook.State.PROCESSED,
            "",
            timezone.now(),
        )
        webhook.save(update_fields=["state", "error", "processed_at", "attempts"])
    unknown = numbers - set(shipments)
    if unknown:
        logger.info("push %s named %s numbers this tenant does not track", webhook.pk, len(unknown))
    return {"events": sum(r.created for r in results.values()), "shipments": len(results)}


def pending_webhooks(*, older_than_seconds: int = 60, limit: int = 500) -> list[tuple[int, int]]:
    """(tenant_id, webhook_id) of received pushes not processed yet: the relay re-enqueues them."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    with all_tenants():
        return list(
            InboundWebhook.objects.filter(
                state=InboundWebhook.State.RECEIVED, received_at__lte=cutoff
            )
            .order_by("received_at")
            .values_list("tenant_id", "id")[:limit]
        )


def _process_shop(webhook: InboundWebhook) -> dict[str, int]:
    from wismo.tracking.services.shop_webhooks import shop_webhook_process

    try:
        with transaction.atomic():
            created = shop_webhook_process(webhook)
    except (NotThisPayload, ValidationError, ValueError, DataError, RecursionError) as exc:
        # DataError: a value the platform sent does not fit a column (a 3-letter country):
        # the delivery fails visibly with its error instead of being retried forever.
        webhook.state, webhook.error = InboundWebhook.State.FAILED, str(exc)[:2000]
        webhook.save(update_fields=["state", "error", "attempts"])
        return {"events": 0, "shipments": 0}
    webhook.state, webhook.error, webhook.processed_at = (
        InboundWebhook.State.PROCESSED,
        "",
        timezone.now(),
    )
    # body too: a compliance request blanks its own body once done (it names the shopper).
    webhook.save(update_fields=["state", "error", "processed_at", "attempts", "body"])
    return {"events": 0, "shipments": created}
