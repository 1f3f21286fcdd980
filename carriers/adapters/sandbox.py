"""The sandbox carrier: realistic simulated journeys for the demo, tests and benchmarks.

A journey is planned deterministically from the tracking number and the time the parcel was
handed over, so that every poll of the same number tells a consistent story: ``track`` reveals the
events whose time has come. Scenarios cover every status: on-time and late deliveries, pickup
points, failed attempts, customs holds, address problems, losses, returns and labels that are
never scanned. It is labelled as simulated and never chosen by detection.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from carriers.base import (
    CarrierAdapter,
    CarrierEvent,
    NotThisFormat,
    TrackingBatch,
    TrackingError,
    TrackingResult,
)

HUBS = [
    ("Milano", "IT"),
    ("Bologna", "IT"),
    ("Roma", "IT"),
    ("Verona", "IT"),
    ("München", "DE"),
    ("Frankfurt", "DE"),
    ("Leipzig", "DE"),
    ("Paris", "FR"),
    ("Lyon", "FR"),
    ("Madrid", "ES"),
    ("Barcelona", "ES"),
    ("Amsterdam", "NL"),
    ("Bruxelles", "BE"),
    ("Wien", "AT"),
]

# (weight, scenario name)
SCENARIOS = [
    (40, "delivered"),
    (8, "delivered_late"),
    (6, "delivered_neighbor"),
    (8, "pickup_point"),
    (6, "failed_then_delivered"),
    (5, "customs_hold"),
    (4, "address_issue"),
    (4, "stalled"),
    (3, "lost"),
    (4, "returned"),
    (5, "never_scanned"),
    (3, "refused"),
]


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    offset: timedelta
    status: str
    substatus: str
    code: str
    description: str
    location: str


def _check_digit(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def sandbox_tracking_number(handed_over: datetime, seq: int) -> str:
    """A sandbox number that carries its own hand-over time, so the simulation needs no state.

    ``SBX`` + the hand-over minute since the epoch (8 digits) + a 4-digit sequence + a check digit.
    """
    minutes = int(handed_over.timestamp() // 60)
    body = f"{minutes:08d}{seq % 10_000:04d}"
    return f"SBX{body}{_check_digit(body)}"


def handed_over_at(tracking_number: str) -> datetime | None:
    """The hand-over time a sandbox number carries, or None if it is not a valid sandbox number."""
    number = tracking_number.strip().upper()
    if len(number) != 16 or not number.startswith("SBX") or not number[3:].isdigit():
        return None
    body, check = number[3:15], number[15]
    if _check_digit(body) != check:
        return None
    return datetime.fromtimestamp(int(body[:8]) * 60, tz=UTC)


def _rng(tracking_number: str) -> random.Random:
    seed = int.from_bytes(hashlib.sha256(tracking_number.encode()).digest()[:8], "big")
    return random.Random(seed)


def scenario_for(tracking_number: str) -> str:
    rng = _rng(tracking_number)
    total = sum(weight for weight, _ in SCENARIOS)
    pick = rng.uniform(0, total)
    for weight, name in SCENARIOS:
        pick -= weight
        if pick <= 0:
            return name
    return SCENARIOS[0][1]


def plan_journey(tracking_number: str) -> list[PlannedEvent]:
    """The whole journey of a sandbox parcel, as offsets from the hand-over time."""
    rng = _rng(tracking_number + ":journey")
    scenario = scenario_for(tracking_number)
    origin, destination = rng.sample(HUBS, 2)
    loc = lambda hub: f"{hub[0]}, {hub[1]}"  # noqa: E731
    h = lambda hours: timedelta(hours=hours + rng.uniform(0, 1.5))  # noqa: E731

    events = [
        PlannedEvent(
            h(-6),
            "info_received",
            "info_received.label_created",
            "LBL",
            "Shipping label created",
            loc(origin),
        )
    ]
    if scenario == "never_scanned":
        return events
    t = 2.0
    events.append(
        PlannedEvent(
            h(t), "in_transit", "in_transit.picked_up", "PU", "Parcel picked up", loc(origin)
        )
    )
    t += rng.uniform(3, 8)
    events.append(
        PlannedEvent(
            h(t),
            "in_transit",
            "in_transit.departed_facility",
            "DEP",
            "Departed sorting centre",
            loc(origin),
        )
    )
    if scenario == "stalled":
        return events
    international = origin[1] != destination[1]
    t += rng.uniform(10, 30) + (24 if scenario == "delivered_late" else 0)
    if international:
        events.append(
            PlannedEvent(
                h(t),
                "in_transit",
                "in_transit.arrived_destination_country",
                "ADC",
                "Arrived in destination country",
                loc(destination),
            )
        )
        t += rng.uniform(2, 8)
        if scenario == "customs_hold":
            events.append(
                PlannedEvent(
                    h(t),
                    "exception",
                    "exception.customs_hold",
                    "CUS-H",
                    "Held by customs: documents required",
                    loc(destination),
                )
            )
            return events
        events.append(
            PlannedEvent(
                h(t),
                "in_transit",
                "in_transit.customs_released",
                "CUS-R",
                "Released by customs",
                loc(destination),
            )
        )
        t += rng.uniform(4, 12)
    events.append(
        PlannedEvent(
            h(t),
            "in_transit",
            "in_transit.arrived_at_facility",
            "ARR",
            "Arrived at delivery depot",
            loc(destination),
        )
    )
    if scenario == "lost":
        t += 24 * 6
        events.append(
            PlannedEvent(
                h(t),
                "exception",
                "exception.lost",
                "LOST",
                "Parcel could not be located",
                loc(destination),
            )
        )
        return events
    t += rng.uniform(8, 20) + (48 if scenario == "delivered_late" else 0)
    events.append(
        PlannedEvent(
            h(t),
            "out_for_delivery",
            "out_for_delivery.out_for_delivery",
            "OFD",
            "Out for delivery",
            loc(destination),
        )
    )
    t += rng.uniform(2, 7)
    if scenario == "address_issue":
        events.append(
            PlannedEvent(
                h(t),
                "exception",
                "exception.address_issue",
                "ADDR",
                "Address incomplete, please contact us",
                loc(destination),
            )
        )
        return events
    if scenario == "refused":
        events.append(
            PlannedEvent(
                h(t),
                "exception",
                "exception.refused",
                "REF",
                "Refused by recipient",
                loc(destination),
            )
        )
        t += 24
        events.append(
            PlannedEvent(
                h(t),
                "exception",
                "exception.returning_to_sender",
                "RTS",
                "Returning to sender",
                loc(destination),
            )
        )
        return events
    if scenario in ("failed_then_delivered", "returned", "pickup_point"):
        events.append(
            PlannedEvent(
                h(t),
                "failed_attempt",
                "failed_attempt.recipient_unavailable",
                "NH",
                "Recipient not at home, notice left",
                loc(destination),
            )
        )
        t += rng.uniform(2, 5)
        if scenario == "failed_then_delivered":
            t += 18
            events.append(
                PlannedEvent(
                    h(t),
                    "out_for_delivery",
                    "out_for_delivery.out_for_delivery",
                    "OFD",
                    "Out for delivery (second attempt)",
                    loc(destination),
                )
            )
            t += rng.uniform(2, 6)
            events.append(
                PlannedEvent(
                    h(t),
                    "delivered",
                    "delivered.signed",
                    "DLV-S",
                    "Delivered, signed by recipient",
                    loc(destination),
                )
            )
            return events
        events.append(
            PlannedEvent(
                h(t),
                "available_for_pickup",
                "available_for_pickup.pickup_point",
                "PUP",
                f"Available at pickup point Via Roma 1, {destination[0]}",
                loc(destination),
            )
        )
        if scenario == "returned":
            t += 24 * 8
            events.append(
                PlannedEvent(
                    h(t),
                    "exception",
                    "exception.returning_to_sender",
                    "RTS",
                    "Not collected, returning to sender",
                    loc(destination),
                )
            )
            t += 24 * 3
            events.append(
                PlannedEvent(
                    h(t),
                    "exception",
                    "exception.returned_to_sender",
                    "RTD",
                    "Returned to sender",
                    loc(origin),
                )
            )
            return events
        t += rng.uniform(6, 60)
        events.append(
            PlannedEvent(
                h(t),
                "delivered",
                "delivered.picked_up",
                "DLV-P",
                "Collected at pickup point",
                loc(destination),
            )
        )
        return events
    substatus, code, text = {
        "delivered_neighbor": ("delivered.neighbor", "DLV-N", "Delivered to neighbour"),
    }.get(scenario, ("delivered.delivered", "DLV", "Delivered"))
    events.append(PlannedEvent(h(t), "delivered", substatus, code, text, loc(destination)))
    return events


class SandboxAdapter(CarrierAdapter):
    slug = "sandbox"
    name = "Sandbox (simulated carrier)"
    simulated = True
    max_batch_size = 100
    # The simulation costs nothing to ask, so the demo's parcels move while you watch.
    poll_interval = timedelta(minutes=2)

    def track(
        self,
        tracking_numbers: list[str],
        *,
        credentials: dict | None = None,
        http: object | None = None,
        now: datetime | None = None,
    ) -> TrackingBatch:
        """Reveal each parcel's events that have happened by ``now``.

        A number that is not a valid sandbox number answers ``not_found``, like a real carrier.
        """
        now = now or datetime.now(UTC)
        batch = TrackingBatch()
        for number in tracking_numbers:
            start = handed_over_at(number)
            if start is None:
                batch.errors.append(TrackingError(number, "not_found", "Unknown tracking number"))
                continue
            batch.results.append(
                TrackingResult(number, events=journey_events(number, start, until=now))
            )
        return batch

    def parse(self, body: bytes | str) -> TrackingBatch:
        raise NotThisFormat("the sandbox carrier is simulated and has no wire format")


def journey_events(
    tracking_number: str, handed_over: datetime, *, until: datetime | None = None
) -> list[CarrierEvent]:
    """The journey's events that have happened by ``until`` (all of them when None)."""
    events = []
    for planned in plan_journey(tracking_number):
        occurred_at = (handed_over + planned.offset).replace(microsecond=0)
        if until is not None and occurred_at > until:
            break
        events.append(
            CarrierEvent(
                occurred_at,
                planned.status,
                planned.substatus,
                planned.code,
                planned.description,
                planned.location,
            )
        )
    return events


ADAPTER = SandboxAdapter()
