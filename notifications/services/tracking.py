"""What the email provider tells us after sending (anymail's normalized tracking events).

Bounces and spam complaints suppress the address for the tenant (no further email from it),
an unsubscribe from the provider's own link too; opens and clicks are stamped on the
notification. Events are matched by the provider's message id, or by the notification ids we
put in the message's metadata when the provider echoes it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Notification, Suppression
from tenants.scoping import all_tenants, tenant_scope

SUPPRESSING = {
    "bounced": Suppression.Reason.BOUNCED,
    "complained": Suppression.Reason.COMPLAINED,
    "unsubscribed": Suppression.Reason.UNSUBSCRIBED,
}


def suppression_add(*, tenant_id: int, email: str, reason: str) -> bool:
    """Suppress ``email`` for the tenant; False when it already was."""
    email = (email or "").strip().lower()
    if not email:
        return False
    with tenant_scope(tenant_id):
        try:
            with transaction.atomic():
                Suppression.objects.create(tenant_id=tenant_id, email=email, reason=reason)
        except IntegrityError:
            return False
    return True


def tracking_event_apply(
    *, event_type: str, message_id: str, recipient: str, metadata: dict | None
) -> int:
    """Apply one provider event; returns how many notifications it concerned."""
    ids = [
        int(part)
        for part in str((metadata or {}).get("notification_ids", "")).split(",")
        if part.strip().isdigit()
    ]
    with all_tenants():
        rows = Notification.objects.none()
        if message_id:
            rows = Notification.objects.filter(provider_message_id=message_id)
        if not rows.exists() and ids:
            rows = Notification.objects.filter(pk__in=ids)
        found = list(rows.values_list("pk", "tenant_id", "recipient"))
        now = timezone.now()
        pks = [pk for pk, _t, _r in found]
        if event_type == "opened":
            Notification.objects.filter(pk__in=pks, opened_at__isnull=True).update(opened_at=now)
        elif event_type == "clicked":
            Notification.objects.filter(pk__in=pks, clicked_at__isnull=True).update(clicked_at=now)
        elif event_type == "bounced":
            Notification.objects.filter(pk__in=pks).update(bounced_at=now)
    if event_type in SUPPRESSING:
        for tenant_id in {t for _pk, t, _r in found}:
            email = recipient or next(r for _pk, t, r in found if t == tenant_id)
            suppression_add(tenant_id=tenant_id, email=email, reason=SUPPRESSING[event_type])
    return len(found)
