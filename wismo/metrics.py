"""Prometheus metrics: what the processes count, what the database says at scrape time, and
the ``/metrics`` view.

Two kinds of numbers:

- **Counters and histograms** (carrier polls, webhook intake, emails) are counted where the work
  happens, by the small ``*_observed`` helpers below, in whichever process does it: gunicorn
  workers take webhooks, Celery workers poll and send. With ``PROMETHEUS_MULTIPROC_DIR`` set (one
  empty folder per deployment, shared by every process of the host, wiped at deploy), the client
  keeps the values in memory-mapped files there and the scrape adds them up across processes;
  without it each process counts for itself (fine for one process, e.g. ``runserver``).
- **Gauges of the queues** (polls due, inbox unprocessed, notification and webhook outboxes
  pending, the age of the oldest undispatched status change and unsent due email) are read from
  the database when Prometheus scrapes: one cheap query each on a partial index, platform-wide
  (``all_tenants``), so they are right whichever process answers and need no bookkeeping.

Nothing here carries a tenant's or a shopper's data: labels are carrier slugs, webhook sources
and outcome codes from short fixed lists.

Access (``metrics_view``): with ``WISMO_METRICS_TOKEN`` set, only ``Authorization: Bearer
<token>`` (constant-time comparison). Without it, only a direct connection from the machine or a
private network (loopback, RFC 1918, unique-local), and never a request that came through a
proxy (any ``X-Forwarded-For``/``Forwarded``/``X-Real-IP`` header): behind a reverse proxy
every request would otherwise look private.

The helpers never raise: a metrics failure is logged once and the work goes on.

This module is a leaf for the domain packages (``tests/test_architecture.py``): at module level
it imports nothing of the project; the scrape-time collector imports models inside its method.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

POLL_OUTCOMES = {
    "ok",
    "breaker_open",
    "rate_limited",
    "carrier_unavailable",
    "credentials_refused",
    "not_found",
    "invalid",
}
WEBHOOK_OUTCOMES = {"accepted", "duplicate", "ping", "rejected", "unauthorized", "not_found"}
EMAIL_OUTCOMES = ("sent", "failed", "skipped", "retried")
_SAFE_LABEL = re.compile(r"^[a-z0-9_:-]{1,40}$")

POLL_REQUESTS = Counter(
    "wismo_poll_shipments",
    "Shipments asked about, by carrier and outcome (ok or the error code).",
    ["carrier", "outcome"],
)
POLL_LATENCY = Histogram(
    "wismo_poll_duration_seconds",
    "Time one poll group spent asking its carrier (all its batches, threads included).",
    ["carrier"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
WEBHOOK_INTAKE = Counter(
    "wismo_webhook_intake",
    "Inbound webhooks answered, by source (carrier:<slug> or shop:<platform>) and outcome.",
    ["source", "outcome"],
)
EMAILS = Counter(
    "wismo_emails",
    "Notification emails by outcome (sent, failed, skipped, retried).",
    ["outcome"],
)

_warned = False


def _failed(what: str) -> None:
    """Log a metrics failure once per process; the caller's work goes on."""
    global _warned
    if not _warned:
        _warned = True
        logger.warning("metrics: %s failed", what, exc_info=True)


def _label(value: str, allowed: set[str] | None = None) -> str:
    """A label value from a short known list, so an attacker cannot grow the series."""
    value = str(value or "").lower()
    if allowed is not None:
        return value if value in allowed else "other"
    return value if _SAFE_LABEL.match(value) else "other"


def _carrier(slug: str) -> str:
    """A known carrier's slug, or "other" (a push URL's slug is anyone's to make up)."""
    try:
        from carriers import registry  # read lazily: this module stays a leaf

        return registry.get_adapter(slug).slug
    except Exception:  # an unknown slug; never break the caller
        return "other"


def clock() -> float:
    """A start time for ``poll_observed``."""
    return time.monotonic()


def poll_observed(
    *, carrier: str, started: float, ok: int, error_codes: Iterable[str] = ()
) -> None:
    """One poll group asked its carrier: its latency and each number's outcome."""
    try:
        label = _carrier(carrier)
        POLL_LATENCY.labels(carrier=label).observe(max(0.0, time.monotonic() - started))
        if ok:
            POLL_REQUESTS.labels(carrier=label, outcome="ok").inc(ok)
        counts: dict[str, int] = {}
        for code in error_codes:
            outcome = _label(code, POLL_OUTCOMES)
            counts[outcome] = counts.get(outcome, 0) + 1
        for outcome, count in counts.items():
            POLL_REQUESTS.labels(carrier=label, outcome=outcome).inc(count)
    except Exception:
        _failed("poll_observed")


def poll_skipped(*, carrier: str, count: int) -> None:
    """Shipments left alone because the carrier's circuit breaker is open."""
    try:
        if count:
            POLL_REQUESTS.labels(carrier=_carrier(carrier), outcome="breaker_open").inc(count)
    except Exception:
        _failed("poll_skipped")


def webhook_observed(*, source: str, outcome: str) -> None:
    """One inbound webhook answered."""
    try:
        kind, _, name = str(source).partition(":")
        if kind == "carrier":
            source = f"carrier:{_carrier(name)}"
        elif kind == "shop":
            source = f"shop:{_label(name, {'shopify', 'woocommerce'})}"
        else:
            source = "other"
        WEBHOOK_INTAKE.labels(source=source, outcome=_label(outcome, WEBHOOK_OUTCOMES)).inc()
    except Exception:
        _failed("webhook_observed")


def webhook_outcome(response: HttpResponse) -> str:
    """The outcome a webhook view answered with (its status, or the JSON ``status``)."""
    status = response.status_code
    if status == 200:
        body = getattr(response, "content", b"")[:200]
        for outcome in ("duplicate", "accepted"):
            if f'"status": "{outcome}"'.encode() in body:
                return outcome
        return "ping" if b'"status": "ok"' in body else "accepted"
    return {401: "unauthorized", 403: "unauthorized", 404: "not_found"}.get(status, "rejected")


def count_webhooks(source: str):
    """Decorate a webhook view: count its answers under ``source`` (``carrier:`` takes the
    view's ``slug`` argument)."""

    def decorate(view):
        def wrapper(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            name = f"carrier:{kwargs.get('slug', '')}" if source == "carrier" else source
            try:
                webhook_observed(source=name, outcome=webhook_outcome(response))
            except Exception:
                _failed("count_webhooks")
            return response

        return wraps(view)(wrapper)  # keeps csrf_exempt and the name

    return decorate


def emails_observed(report) -> None:
    """A sender pass's outcome counts (a ``SendReport``: sent, failed, skipped, retried)."""
    try:
        for outcome in EMAIL_OUTCOMES:
            count = int(getattr(report, outcome, 0) or 0)
            if count:
                EMAILS.labels(outcome=outcome).inc(count)
    except Exception:
        _failed("emails_observed")


class QueueCollector(Collector):
    """Queue depths and outbox lags, read from the database at scrape time (all tenants)."""

    def describe(self) -> list:
        return []  # collected lazily: registering must not touch the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "wismo_metrics_database_up", "1 when the queue gauges could be read from the database."
        )
        try:
            values = queue_depths()
        except Exception:  # a scrape during a database outage still answers
            logger.warning("metrics: queue gauges unavailable", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, (help_text, value) in values.items():
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge


def queue_depths(now=None) -> dict[str, tuple[str, float]]:
    """name -> (help, value) of every queue gauge; each query runs on a partial index."""
    from django.db.models import Min
    from django.utils import timezone

    from notifications.models import Notification, WebhookDelivery
    from tenants.scoping import all_tenants
    from wismo.tracking.models import InboundWebhook, PollQueue, ShipmentStatusChange

    now = now or timezone.now()

    def age(value) -> float:
        return max(0.0, (now - value).total_seconds()) if value else 0.0

    with all_tenants():
        polls_due = PollQueue.objects.filter(due_at__lte=now).count()
        inbox = InboundWebhook.objects.filter(state=InboundWebhook.State.RECEIVED).count()
        inbox_failed = InboundWebhook.objects.filter(state=InboundWebhook.State.FAILED).count()
        pending = Notification.objects.filter(
            state__in=[Notification.State.SCHEDULED, Notification.State.SENDING]
        )
        emails_pending = pending.count()
        oldest_due = pending.filter(send_after__lte=now).aggregate(m=Min("send_after"))["m"]
        deliveries = WebhookDelivery.objects.filter(state=WebhookDelivery.State.PENDING).count()
        oldest_change = ShipmentStatusChange.objects.filter(dispatched_at__isnull=True).aggregate(
            m=Min("created_at")
        )["m"]
    return {
        "wismo_poll_queue_due": ("Shipments due for a carrier poll now.", polls_due),
        "wismo_inbox_unprocessed": ("Inbound webhooks stored, not yet processed.", inbox),
        "wismo_inbox_failed": ("Inbound webhooks whose processing failed.", inbox_failed),
        "wismo_notifications_pending": (
            "Notification emails scheduled or being sent.",
            emails_pending,
        ),
        "wismo_webhook_deliveries_pending": ("Outgoing webhook deliveries pending.", deliveries),
        "wismo_status_change_lag_seconds": (
            "Age of the oldest status change not yet dispatched to notifications.",
            age(oldest_change),
        ),
        "wismo_notification_lag_seconds": (
            "How long the oldest due, unsent notification email has been waiting.",
            age(oldest_due),
        ),
    }


def registry_for_scrape() -> CollectorRegistry:
    """The registry one scrape reads: every process's counters plus the queue gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCounters())
    registry.register(QueueCollector())
    return registry


class _ProcessCounters(Collector):
    """This process's own counters (no multiprocess folder): the default registry's."""

    def collect(self):
        yield from REGISTRY.collect()


_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _allowed(request: HttpRequest) -> tuple[bool, int]:
    """(may read?, status to answer otherwise)."""
    token = getattr(settings, "WISMO_METRICS_TOKEN", "") or ""
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
        return ok, 401
    if any(request.META.get(name) for name in _PROXY_HEADERS):
        return False, 403
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False, 403
    return (address.is_loopback or address.is_private), 403


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text exposition of every metric (see the module docstring for access)."""
    allowed, status = _allowed(request)
    if not allowed:
        response = HttpResponse("Forbidden\n", status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)
