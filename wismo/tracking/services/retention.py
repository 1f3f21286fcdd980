"""Retention: personal data and raw payloads are kept only as long as they serve the parcel.

A daily task (``retention_sweep``) and ``manage.py retention [--dry-run]`` run
``retention_run``, tenant after tenant, in batches of ``BATCH`` rows, each batch its own short
transaction. Every step selects only rows that still hold what it removes, so a second run (or
a run after a crash halfway) finds nothing left and touches nothing.

1. **Shoppers' personal data**, ``WISMO_RETENTION_PERSONAL_DAYS`` (120) after the parcels
   finished: an order whose every parcel is finished (delivered, returned to the sender,
   cancelled, or expired, and no longer tracked) since before the cutoff, or an order cancelled
   before the cutoff with no parcel still tracked, loses its customer's email, name and
   postcode and its line items; its parcels lose their destination postcode; the other apps'
   personal data of the order go through the privacy handlers (notifications: recipient and
   context). Parcels without an order lose their postcode on the same terms. Orders, parcels
   and timelines stay, so the merchant's delivery statistics survive (as with a shopper's own
   erasure, ``services.privacy.customer_redact``). Shopper data exports (``PrivacyRequest``)
   older than the cutoff are emptied too.
2. **Raw payloads**, ``WISMO_RETENTION_RAW_DAYS`` (30) after processing: the body and headers
   of stored inbound webhooks (carrier pushes, shop events) that were processed or failed are
   replaced by ``{}``; the row, its digest (which keeps a redelivery a no-op) and its outcome
   stay. Rows still waiting to be processed are never touched.

A parcel's "finished" moment is the latest of its delivery, its last event and its last update,
so a parcel that changed recently is never counted as old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from carriers.statuses import Status
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from wismo.tracking.models import InboundWebhook, Order, PrivacyRequest, Shipment
from wismo.tracking.services import privacy

BATCH = 500
FINAL_SUBSTATUSES = ("exception.returned_to_sender", "exception.cancelled")
EMPTY_RAW = "{}"


@dataclass(slots=True)
class RetentionReport:
    """What one run erased (or, dry, would erase)."""

    tenants: int = 0
    orders: int = 0
    shipments: int = 0
    webhooks: int = 0
    exports: int = 0
    handlers: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "tenants": self.tenants,
            "orders": self.orders,
            "shipments": self.shipments,
            "webhooks": self.webhooks,
            "exports": self.exports,
            **{f"{name}_rows": count for name, count in sorted(self.handlers.items())},
        }


def _with_finished_at(shipments: QuerySet[Shipment]) -> QuerySet[Shipment]:
    return shipments.annotate(
        finished_at=Greatest(
            Coalesce("delivered_at", "created_at"),
            Coalesce("last_event_at", "created_at"),
            Coalesce("updated_at", "created_at"),
        )
    )


def _finished(cutoff: datetime) -> Q:
    """A parcel no longer tracked, delivered, returned, cancelled or expired before ``cutoff``
    (on a queryset ``_with_finished_at``)."""
    done = Q(status__in=[Status.DELIVERED, Status.EXPIRED]) | Q(substatus__in=FINAL_SUBSTATUSES)
    return done & Q(is_active=False, finished_at__lt=cutoff)


def _finished_shipments(cutoff: datetime) -> QuerySet[Shipment]:
    """Parcels of the active scope that finished before ``cutoff``."""
    return _with_finished_at(Shipment.objects.all()).filter(_finished(cutoff))


def _holds_personal_data() -> Q:
    return (
        ~Q(customer_email="") | ~Q(customer_name="") | ~Q(shipping_postcode="") | ~Q(line_items=[])
    )


def expired_orders(*, cutoff: datetime) -> QuerySet[Order]:
    """Orders of the active scope whose personal data is past retention and still there."""
    shipments = Shipment.objects.filter(order=OuterRef("pk"))
    unfinished = _with_finished_at(shipments).exclude(_finished(cutoff))
    tracked = shipments.filter(is_active=True)
    all_finished = Exists(shipments) & ~Exists(unfinished)
    cancelled = Q(cancelled_at__lt=cutoff) & ~Exists(tracked)
    return Order.objects.filter(all_finished | cancelled).filter(_holds_personal_data())


def _standalone_shipments(*, cutoff: datetime) -> QuerySet[Shipment]:
    return _finished_shipments(cutoff).filter(order__isnull=True).exclude(destination_postcode="")


def _raw_webhooks(*, cutoff: datetime) -> QuerySet[InboundWebhook]:
    return (
        InboundWebhook.objects.filter(
            state__in=[InboundWebhook.State.PROCESSED, InboundWebhook.State.FAILED]
        )
        .annotate(done_at=Coalesce("processed_at", "received_at"))
        .filter(done_at__lt=cutoff)
        .filter(~Q(body=EMPTY_RAW) | ~Q(headers={}))
    )


def _old_exports(*, cutoff: datetime) -> list[int]:
    # Encrypted columns cannot be filtered on: the few old requests are read and checked here.
    return [
        request.pk
        for request in PrivacyRequest.objects.filter(created_at__lt=cutoff).only(
            "pk", "export", "customer_email"
        )
        if request.export or request.customer_email
    ]


def _anonymise_orders(pks: list[int], report: RetentionReport) -> None:
    with transaction.atomic():
        report.orders += Order.objects.filter(pk__in=pks).update(
            customer_email="",
            customer_name="",
            shipping_postcode="",
            line_items=[],
            updated_at=timezone.now(),
        )
        report.shipments += (
            Shipment.objects.filter(order_id__in=pks)
            .exclude(destination_postcode="")
            .update(destination_postcode="")
        )
        # The other apps' personal data of these orders (notifications), through the same
        # handlers a shopper's erasure uses.
        for name, handler in sorted(privacy._handlers.items()):
            report.handlers[name] = report.handlers.get(name, 0) + handler.erase(pks, "")


def _tenant_run(
    *, personal_cutoff: datetime, raw_cutoff: datetime, dry_run: bool, report: RetentionReport
) -> None:
    if dry_run:
        report.orders += expired_orders(cutoff=personal_cutoff).count()
        report.shipments += _standalone_shipments(cutoff=personal_cutoff).count()
        report.webhooks += _raw_webhooks(cutoff=raw_cutoff).count()
        report.exports += len(_old_exports(cutoff=personal_cutoff))
        return
    while pks := list(expired_orders(cutoff=personal_cutoff).values_list("pk", flat=True)[:BATCH]):
        _anonymise_orders(pks, report)
    while pks := list(
        _standalone_shipments(cutoff=personal_cutoff).values_list("pk", flat=True)[:BATCH]
    ):
        report.shipments += Shipment.objects.filter(pk__in=pks).update(destination_postcode="")
    while pks := list(_raw_webhooks(cutoff=raw_cutoff).values_list("pk", flat=True)[:BATCH]):
        report.webhooks += InboundWebhook.objects.filter(pk__in=pks).update(
            body=EMPTY_RAW, headers={}
        )
    exports = _old_exports(cutoff=personal_cutoff)
    for start in range(0, len(exports), BATCH):
        chunk = exports[start : start + BATCH]
        report.exports += PrivacyRequest.objects.filter(pk__in=chunk).update(
            export={}, customer_email=""
        )


def retention_run(
    *,
    now: datetime | None = None,
    personal_days: int | None = None,
    raw_days: int | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Erase (or, ``dry_run``, count) what is past retention in every tenant."""
    now = now or timezone.now()
    personal_days = (
        settings.WISMO_RETENTION_PERSONAL_DAYS if personal_days is None else personal_days
    )
    raw_days = settings.WISMO_RETENTION_RAW_DAYS if raw_days is None else raw_days
    if personal_days < 1 or raw_days < 1:
        raise ValueError("retention periods must be at least one day")
    report = RetentionReport()
    for tenant_id in Tenant.objects.order_by("pk").values_list("pk", flat=True):
        with tenant_scope(tenant_id):
            _tenant_run(
                personal_cutoff=now - timedelta(days=personal_days),
                raw_cutoff=now - timedelta(days=raw_days),
                dry_run=dry_run,
                report=report,
            )
        report.tenants += 1
    return report
