"""Carrier detection from tracking-number formats and check digits.

``confidence(slug, number)`` says how likely a number is that carrier's (0..1). The patterns and
check-digit algorithms live here, one entry per carrier, so that they can be read against the
carriers' published formats.
"""

from __future__ import annotations

from collections.abc import Callable

from carriers.base import clean_number

# slug -> function(number) -> confidence; filled in per carrier.
RULES: dict[str, Callable[[str], float]] = {}


def confidence(slug: str, tracking_number: str) -> float:
    rule = RULES.get(slug)
    if rule is None:
        return 0.0
    return rule(clean_number(tracking_number))
