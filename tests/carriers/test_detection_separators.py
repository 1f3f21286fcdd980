"""Separators in tracking numbers: what people paste is what is stored and searched."""

import pytest

from carriers.detection import compact, normalize
from wismo.tracking.services.shipments import normalize_tracking_number


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("99.60.123456.12345678", "996012345612345678"),  # Swiss Post's printed form
        ("1z 999-aa1 0123456784", "1Z999AA10123456784"),
        ("JD014600006281230704\u2013", "JD014600006281230704"),  # an en dash pasted from a doc
        ("\t00340434161094042557\n", "00340434161094042557"),
    ],
)
def test_separators_are_dropped_and_letters_upper_cased(typed, stored):
    assert compact(typed) == stored
    assert normalize_tracking_number(typed) == stored
    assert normalize(typed) == stored


def test_compact_does_not_validate_what_is_left():
    # Validation is the caller's (shipment_create refuses anything but 1-64 ASCII letters and
    # digits); compact only drops separators.
    assert compact("ab/c\u00e9") == "AB/C\u00c9"
    assert normalize("ab/c\u00e9") == ""
