"""What notifications hold about a shopper, for the kernel's privacy requests."""

from __future__ import annotations

from notifications.models import Notification
from wismo.tracking.services.privacy import PersonalDataHandler, personal_data_handler_register


def _rows(order_pks: list[int], email: str):
    rows = Notification.objects.filter(order_id__in=order_pks)
    if email:
        rows = rows | Notification.objects.filter(recipient__iexact=email)
    return rows


def _export(order_pks: list[int], email: str) -> list[dict]:
    return [
        {
            "trigger": n.trigger,
            "recipient": n.recipient,
            "state": n.state,
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            "opened_at": n.opened_at.isoformat() if n.opened_at else None,
        }
        for n in _rows(order_pks, email).order_by("created_at")
    ]


def _erase(order_pks: list[int], email: str) -> int:
    # A suppression is kept: it is what honours the shopper's "no more emails" if they ever
    # order again, which is the one use of the address the law allows to keep.
    return _rows(order_pks, email).update(recipient="", context={})


def register() -> None:
    personal_data_handler_register(
        PersonalDataHandler(name="notifications", export=_export, erase=_erase)
    )
