"""What the dashboard holds about a shopper, for export and erasure.

Agents' lookups (``WismoContact.query``: an email, a name or an order number typed into the
search box) and internal notes on the shopper's parcels are personal data too. Registered with
the kernel's privacy services (``wismo.tracking.services.privacy``) in ``DashboardConfig.ready``.
"""

from __future__ import annotations

from django.db.models import Q

from dashboard.models import ShipmentNote, WismoContact
from wismo.tracking.models import Order


def _contacts(order_pks: list[int], email: str):
    match = Q(order_id__in=order_pks)
    if email:
        match |= Q(query__iexact=email)
    numbers = list(Order.objects.filter(pk__in=order_pks).values_list("order_number", flat=True))
    names = [
        name
        for name in Order.objects.filter(pk__in=order_pks).values_list("customer_name", flat=True)
        if name
    ]
    for term in [*numbers, *names]:
        match |= Q(query__iexact=term)
    return WismoContact.objects.filter(match)


def shopper_export(order_pks: list[int], email: str) -> dict:
    return {
        "lookups": [
            {"query": c.query, "channel": c.channel, "at": c.created_at.isoformat()}
            for c in _contacts(order_pks, email).order_by("created_at", "pk")
        ],
        "notes": [
            {
                "tracking_number": n.shipment.tracking_number,
                "body": n.body,
                "at": n.created_at.isoformat(),
            }
            for n in ShipmentNote.objects.filter(shipment__order_id__in=order_pks)
            .select_related("shipment")
            .order_by("created_at", "pk")
        ],
    }


def shopper_erase(order_pks: list[int], email: str) -> int:
    # The contact stays (it is the WISMO rate); what the agent typed about the shopper goes.
    # Notes are free text about the shopper's parcel: they cannot be kept without them.
    contacts = _contacts(order_pks, email).exclude(query="").update(query="")
    notes = ShipmentNote.objects.filter(shipment__order_id__in=order_pks).delete()[0]
    return contacts + notes


def register_privacy_handler() -> None:
    from wismo.tracking.services.privacy import PersonalDataHandler, personal_data_handler_register

    personal_data_handler_register(
        PersonalDataHandler(name="dashboard", export=shopper_export, erase=shopper_erase)
    )
