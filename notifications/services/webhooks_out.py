"""Outbound webhooks: status changes POSTed to the merchant's systems, signed, retried.

Each ``WebhookDelivery`` is claimed with a lease (``FOR UPDATE SKIP LOCKED``), POSTed outside
any transaction and recorded. The body is JSON; the headers carry the event name, its stable
id (``X-Wismo-Event-Id``: the same on retries and replays, for the receiver to deduplicate) and
``X-Wismo-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the
endpoint's secret>``. A non-2xx or a timeout retries with backoff; after
``DISABLE_AFTER`` failures in a row the endpoint is switched off and says why. A delivery can be
replayed (``delivery_replay``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import defaultdict
from datetime import timedelta

import requests
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from notifications.models import WebhookDelivery, WebhookEndpoint
from tenants.scoping import all_tenants, tenant_scope

LEASE = timedelta(minutes=2)
TIMEOUT = (3.05, 10)
BACKOFF = [30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600]
MAX_ATTEMPTS = 12
DISABLE_AFTER = 50


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _claim(limit: int) -> dict[int, list[int]]:
    now = timezone.now()
    with all_tenants(), transaction.atomic():
        rows = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now)
            .exclude(claimed_until__gt=now)
            .order_by("next_attempt_at")
            .values_list("pk", "tenant_id")[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            claimed_until=now + LEASE
        )
    claimed: dict[int, list[int]] = defaultdict(list)
    for pk, tenant_id in rows:
        claimed[tenant_id].append(pk)
    return claimed


def _post(delivery: WebhookDelivery, session: requests.Session) -> tuple[int | None, str]:
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    stamp = int(time.time())
    try:
        response = session.post(
            endpoint.url,
            data=body,
            timeout=TIMEOUT,
            allow_redirects=False,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "wismo-webhooks/1",
                "X-Wismo-Event": delivery.event,
                "X-Wismo-Event-Id": delivery.event_id,
                "X-Wismo-Signature": signature(endpoint.secret, stamp, body),
            },
        )
    except requests.RequestException as exc:
        return None, exc.__class__.__name__
    return response.status_code, "" if response.ok else f"HTTP {response.status_code}"


def _record(delivery: WebhookDelivery, status: int | None, error: str) -> None:
    now = timezone.now()
    attempts = delivery.attempts + 1
    endpoint = delivery.endpoint
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=WebhookDelivery.State.DELIVERED,
            delivered_at=now,
            attempts=attempts,
            response_status=status,
            last_error="",
            claimed_until=None,
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return
    final = attempts >= MAX_ATTEMPTS
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.FAILED if final else WebhookDelivery.State.PENDING,
        attempts=attempts,
        response_status=status,
        last_error=error[:2000],
        next_attempt_at=now + timedelta(seconds=BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]),
        claimed_until=None,
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    WebhookEndpoint.objects.filter(
        pk=endpoint.pk, consecutive_failures__gte=DISABLE_AFTER, is_active=True
    ).update(is_active=False, disabled_reason=f"{DISABLE_AFTER} failed deliveries in a row")


def deliveries_send(*, limit: int = 200, session: requests.Session | None = None) -> int:
    """One pass: POST due deliveries (all tenants); returns how many were delivered."""
    session = session or requests.Session()
    delivered = 0
    for tenant_id, ids in _claim(limit).items():
        with tenant_scope(tenant_id):
            for delivery in WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint"):
                if not delivery.endpoint.is_active:
                    _record(delivery, None, "endpoint disabled")
                    continue
                status, error = _post(delivery, session)
                _record(delivery, status, error)
                delivered += not error
    return delivered


def delivery_replay(*, delivery: WebhookDelivery) -> None:
    """Send a delivery again (same event id), whatever happened to it before."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )
