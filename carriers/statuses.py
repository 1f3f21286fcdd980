"""The status taxonomy shared by every carrier, shipment, page and email (DESIGN.md §3).

A main status says where a parcel is in its life; a substatus ``<main>.<reason>`` says why. Reasons
that need the shopper to act carry ``action_required``. Carrier adapters map their raw codes onto
these values; nothing else in wismo knows a carrier's own vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    INFO_RECEIVED = "info_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    FAILED_ATTEMPT = "failed_attempt"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    EXPIRED = "expired"


# The order a parcel normally lives its statuses; used to break ties between events that carry
# the same timestamp, so that the derived status never depends on the order events arrived in.
STATUS_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(Status)}

TERMINAL_STATUSES = frozenset({Status.DELIVERED, Status.EXPIRED})

STATUS_LABELS: dict[str, str] = {
    Status.PENDING: "Pending",
    Status.INFO_RECEIVED: "Label created",
    Status.IN_TRANSIT: "In transit",
    Status.OUT_FOR_DELIVERY: "Out for delivery",
    Status.AVAILABLE_FOR_PICKUP: "Ready for pickup",
    Status.FAILED_ATTEMPT: "Delivery attempt failed",
    Status.DELIVERED: "Delivered",
    Status.EXCEPTION: "Exception",
    Status.EXPIRED: "Expired",
}


@dataclass(frozen=True, slots=True)
class Substatus:
    code: str
    label: str
    action_required: bool = False

    @property
    def status(self) -> str:
        return self.code.split(".", 1)[0]


_SUBSTATUSES = [
    Substatus("pending.awaiting_carrier", "Waiting for the carrier's first update"),
    Substatus("info_received.label_created", "Shipping label created"),
    Substatus("info_received.awaiting_pickup", "Waiting to be handed to the carrier"),
    Substatus("in_transit.picked_up", "Picked up by the carrier"),
    Substatus("in_transit.in_transit", "On its way"),
    Substatus("in_transit.arrived_at_facility", "Arrived at a carrier facility"),
    Substatus("in_transit.departed_facility", "Left a carrier facility"),
    Substatus("in_transit.customs_processing", "In customs"),
    Substatus("in_transit.customs_released", "Released by customs"),
    Substatus("in_transit.arrived_destination_country", "Arrived in the destination country"),
    Substatus("in_transit.rerouted", "Rerouted"),
    Substatus("out_for_delivery.out_for_delivery", "Out for delivery"),
    Substatus("available_for_pickup.pickup_point", "Waiting at a pickup point", True),
    Substatus("available_for_pickup.locker", "Waiting in a parcel locker", True),
    Substatus("available_for_pickup.post_office", "Waiting at the post office", True),
    Substatus("failed_attempt.recipient_unavailable", "Nobody was home", True),
    Substatus("failed_attempt.address_issue", "The address could not be found", True),
    Substatus("failed_attempt.business_closed", "The business was closed", True),
    Substatus("failed_attempt.other", "Delivery could not be completed", True),
    Substatus("delivered.delivered", "Delivered"),
    Substatus("delivered.signed", "Delivered and signed for"),
    Substatus("delivered.neighbor", "Delivered to a neighbour"),
    Substatus("delivered.safe_place", "Left in a safe place"),
    Substatus("delivered.picked_up", "Collected by the recipient"),
    Substatus("exception.customs_hold", "Held by customs", True),
    Substatus("exception.held_for_payment", "Duties or fees to pay", True),
    Substatus("exception.address_issue", "Problem with the address", True),
    Substatus("exception.refused", "Refused by the recipient"),
    Substatus("exception.damaged", "Damaged in transit"),
    Substatus("exception.lost", "Lost in transit"),
    Substatus("exception.delayed_weather", "Delayed by weather"),
    Substatus("exception.delayed", "Delayed by the carrier"),
    Substatus("exception.returning_to_sender", "Returning to the sender"),
    Substatus("exception.returned_to_sender", "Returned to the sender"),
    Substatus("exception.cancelled", "Shipment cancelled"),
    Substatus("exception.other", "A problem occurred"),
    Substatus("expired.no_updates", "No carrier updates for too long"),
]

SUBSTATUSES: dict[str, Substatus] = {s.code: s for s in _SUBSTATUSES}

# The substatus used when a carrier gives only a main status.
DEFAULT_SUBSTATUS: dict[str, str] = {
    Status.PENDING: "pending.awaiting_carrier",
    Status.INFO_RECEIVED: "info_received.label_created",
    Status.IN_TRANSIT: "in_transit.in_transit",
    Status.OUT_FOR_DELIVERY: "out_for_delivery.out_for_delivery",
    Status.AVAILABLE_FOR_PICKUP: "available_for_pickup.pickup_point",
    Status.FAILED_ATTEMPT: "failed_attempt.other",
    Status.DELIVERED: "delivered.delivered",
    Status.EXCEPTION: "exception.other",
    Status.EXPIRED: "expired.no_updates",
}


def is_valid_status(value: str) -> bool:
    return value in STATUS_RANK


def normalize_substatus(status: str, substatus: str | None) -> str:
    """Return a valid substatus for ``status``: the given one when it belongs to it, else the default.

    Raises ValueError for an unknown main status: callers validate untrusted input before this.
    """
    if status not in STATUS_RANK:
        raise ValueError(f"unknown status {status!r}")
    if substatus and substatus in SUBSTATUSES and SUBSTATUSES[substatus].status == status:
        return substatus
    return DEFAULT_SUBSTATUS[status]


def action_required(substatus: str) -> bool:
    entry = SUBSTATUSES.get(substatus)
    return bool(entry and entry.action_required)
