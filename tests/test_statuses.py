"""The status taxonomy of DESIGN.md §3."""

from carriers.statuses import (
    DEFAULT_SUBSTATUS,
    STATUS_RANK,
    SUBSTATUSES,
    Status,
    action_required,
    normalize_substatus,
)

DESIGN_SUBSTATUSES = [
    "in_transit.picked_up",
    "in_transit.customs_processing",
    "in_transit.customs_released",
    "in_transit.arrived_destination_country",
    "failed_attempt.recipient_unavailable",
    "delivered.signed",
    "delivered.neighbor",
    "delivered.picked_up",
    "exception.customs_hold",
    "exception.held_for_payment",
    "exception.address_issue",
    "exception.refused",
    "exception.damaged",
    "exception.lost",
    "exception.delayed_weather",
    "exception.returning_to_sender",
    "exception.returned_to_sender",
    "exception.cancelled",
]


def test_main_statuses_are_those_of_the_design_in_lifecycle_order():
    assert [s.value for s in Status] == [
        "pending",
        "info_received",
        "in_transit",
        "out_for_delivery",
        "available_for_pickup",
        "failed_attempt",
        "delivered",
        "exception",
        "expired",
    ]
    assert STATUS_RANK["in_transit"] < STATUS_RANK["out_for_delivery"] < STATUS_RANK["delivered"]


def test_every_reason_named_in_the_design_exists_under_its_status():
    for code in DESIGN_SUBSTATUSES:
        assert code in SUBSTATUSES, code
        assert SUBSTATUSES[code].status == code.split(".")[0]


def test_every_status_has_a_default_reason_of_its_own():
    for status in Status:
        assert SUBSTATUSES[DEFAULT_SUBSTATUS[status]].status == status


def test_reasons_needing_the_shopper_carry_action_required():
    assert action_required("exception.held_for_payment")
    assert action_required("failed_attempt.recipient_unavailable")
    assert action_required("available_for_pickup.locker")
    assert not action_required("in_transit.in_transit")
    assert not action_required("no.such")


def test_normalize_substatus_keeps_valid_reasons_and_defaults_the_rest():
    assert normalize_substatus("delivered", "delivered.neighbor") == "delivered.neighbor"
    assert normalize_substatus("delivered", "exception.lost") == "delivered.delivered"
    assert normalize_substatus("delivered", None) == "delivered.delivered"
