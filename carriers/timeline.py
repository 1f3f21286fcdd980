"""Deriving a parcel's state from its timeline: pure logic shared by adapters and the kernel."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from carriers.statuses import STATUS_RANK, Status

# Once delivered, later scans only count when they are a new delivery or an exception (a return,
# a loss claim): a late "in transit" scan is stale news and never undoes a delivery.
_AFTER_DELIVERY = frozenset({Status.DELIVERED, Status.EXCEPTION})


@dataclass(frozen=True, slots=True)
class TimelineState:
    status: str
    substatus: str
    last_event_at: datetime | None
    delivered_at: datetime | None


def _order_key(item: tuple[datetime, str, str]) -> tuple:
    occurred_at, status, substatus = item
    return (occurred_at, STATUS_RANK.get(status, 0), substatus)


def derive_state(events: Iterable[tuple[datetime, str, str]]) -> TimelineState | None:
    """The state from a whole timeline of (occurred_at, status, substatus).

    The latest event by occurrence time wins; ties are broken by the status order, never by the
    order events arrived in. A delivery is terminal against stale scans (see ``_AFTER_DELIVERY``).
    Returns None for an empty timeline.
    """
    timeline = sorted(events, key=_order_key)
    if not timeline:
        return None
    first_delivery = next((e for e in timeline if e[1] == Status.DELIVERED), None)
    if first_delivery is None:
        latest = timeline[-1]
        delivered_at = None
    else:
        latest = next(
            e for e in reversed(timeline) if e[0] <= first_delivery[0] or e[1] in _AFTER_DELIVERY
        )
        delivered_at = first_delivery[0] if latest[1] == Status.DELIVERED else None
    return TimelineState(
        status=latest[1],
        substatus=latest[2],
        last_event_at=timeline[-1][0],
        delivered_at=delivered_at,
    )
