"""Signal receivers: they only enqueue or record, never decide (the services do).

- the kernel's ``shipment_status_changed`` (after commit) enqueues the dispatch of the changes;
  if the broker is down the relay finds them later, as they stay undispatched;
- anymail's ``tracking`` signal (the provider's webhooks) records bounces, complaints, opens
  and clicks;
- the kernel's privacy service learns how to export and erase what notifications hold.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def on_status_changed(sender, change_ids: list[int], **kwargs) -> None:
    from notifications.tasks import dispatch_status_changes

    try:
        dispatch_status_changes.apply_async(kwargs={"change_ids": list(change_ids)})
    except Exception:  # the broker is down: the relay dispatches these changes later
        logger.warning("could not enqueue the dispatch of %s changes", len(change_ids))


def on_tracking(sender, event, esp_name: str, **kwargs) -> None:
    from notifications.services.tracking import tracking_event_apply

    tracking_event_apply(
        event_type=event.event_type,
        message_id=str(event.message_id or ""),
        recipient=str(event.recipient or ""),
        metadata=event.metadata,
    )


def connect() -> None:
    from anymail.signals import tracking

    from notifications.services.privacy import register
    from wismo.tracking.signals import shipment_status_changed

    shipment_status_changed.connect(on_status_changed, dispatch_uid="notifications-dispatch")
    tracking.connect(on_tracking, dispatch_uid="notifications-tracking")
    register()
