"""Plain data shared by every carrier adapter: what a carrier said, normalized, and its errors.

Adapters are pure: they turn raw carrier payloads into these dataclasses and know nothing of the
database. The kernel (wismo.tracking) persists them through ``record_events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from carriers.statuses import normalize_substatus


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One scan on a parcel's journey, normalized, with the carrier's raw code and words kept."""

    occurred_at: datetime
    status: str
    substatus: str = ""
    code: str = ""
    description: str = ""
    location: str = ""

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("CarrierEvent.occurred_at must be timezone-aware")
        object.__setattr__(self, "substatus", normalize_substatus(self.status, self.substatus))


@dataclass(slots=True)
class TrackingResult:
    """Everything one carrier response said about one tracking number."""

    tracking_number: str
    events: list[CarrierEvent] = field(default_factory=list)
    estimated_delivery: date | None = None
    estimated_delivery_latest: date | None = None


@dataclass(frozen=True, slots=True)
class TrackingError:
    """A carrier's refusal for one number: ``transient`` errors are retried, others recorded."""

    tracking_number: str
    code: str
    message: str
    transient: bool = False


@dataclass(slots=True)
class TrackingBatch:
    results: list[TrackingResult] = field(default_factory=list)
    errors: list[TrackingError] = field(default_factory=list)


class CarrierAdapter:
    """Base class of one carrier's adapter. Subclasses set the class attributes and ``track``."""

    slug: str = ""
    name: str = ""
    # Polled carriers are asked for news on a schedule; others only receive events (manual, push).
    pollable: bool = True
    # Simulated carriers are labelled in the UI and never chosen by detection.
    simulated: bool = False
    max_batch_size: int = 1
    # How often an active shipment is asked about; None means the platform default.
    poll_interval: timedelta | None = None
    tracking_url_template: str = ""

    def track(
        self,
        tracking_numbers: list[str],
        *,
        credentials: dict | None = None,
        now: datetime | None = None,
    ) -> TrackingBatch:
        raise NotImplementedError

    def tracking_url(self, tracking_number: str) -> str:
        if not self.tracking_url_template:
            return ""
        return self.tracking_url_template.format(number=tracking_number)
