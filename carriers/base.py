"""Plain data shared by every carrier adapter, and the adapter base class.

Adapters are pure: ``parse`` turns one raw carrier response into these dataclasses, ``track`` asks
the carrier (through an injected ``HttpClient``) and parses the answer. They know nothing of the
database; the kernel (wismo.tracking) persists results through ``record_events``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from carriers.statuses import normalize_substatus
from carriers.timeline import derive_state

if TYPE_CHECKING:
    from carriers.http import HttpClient


class NotThisFormat(ValueError):
    """The body is not a response of this carrier's tracking endpoint (one-line reason)."""


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """One scan on a parcel's journey, normalized, with the carrier's raw code and words kept.

    ``unmapped`` marks an event whose raw code no table knows: its status came from the keyword
    fallback, and the code is counted so that it can be added to the table.
    """

    occurred_at: datetime
    status: str
    substatus: str = ""
    code: str = ""
    description: str = ""
    location: str = ""
    unmapped: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError("CarrierEvent.occurred_at must be timezone-aware")
        object.__setattr__(self, "substatus", normalize_substatus(self.status, self.substatus))
        # A carrier's words are text for people: no NUL (no database text column can hold it).
        for name in ("code", "description", "location"):
            value = getattr(self, name)
            if not isinstance(value, str):
                value = "" if value is None else str(value)
            if "\x00" in value:
                value = value.replace("\x00", "")
            object.__setattr__(self, name, value)


@dataclass(slots=True)
class TrackingResult:
    """Everything one carrier response said about one tracking number.

    ``status``/``substatus`` are the carrier's own summary, used only when it sent no events;
    otherwise the state is derived from the events like the kernel does (``state``).
    """

    tracking_number: str
    events: list[CarrierEvent] = field(default_factory=list)
    status: str | None = None
    substatus: str | None = None
    estimated_delivery: date | None = None
    estimated_delivery_earliest: date | None = None
    estimated_delivery_latest: date | None = None
    delivered_at: datetime | None = None
    service: str = ""
    signed_by: str = ""
    carrier_hint: str = ""  # an aggregator's name for the real carrier

    def state(self) -> tuple[str, str, datetime | None]:
        """(status, substatus, delivered_at) of this result."""
        derived = derive_state((e.occurred_at, e.status, e.substatus) for e in self.events)
        if derived is not None:
            return derived.status, derived.substatus, derived.delivered_at or self.delivered_at
        status = self.status or "pending"
        return status, normalize_substatus(status, self.substatus), self.delivered_at


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

    def extend(self, other: TrackingBatch) -> None:
        self.results.extend(other.results)
        self.errors.extend(other.errors)


_SPACES = re.compile(r"[\s-]+")


def answers_for(parsed: TrackingBatch, numbers: list[str], missing: str) -> TrackingBatch:
    """The parsed answer kept to the numbers asked, once each, errors under the number as asked;
    a number the carrier said nothing about becomes a ``not_found`` error with ``missing``."""
    wanted = {clean_number(number): number for number in numbers}
    seen: set[str] = set()
    batch = TrackingBatch()
    for result in parsed.results:
        if result.tracking_number in wanted and result.tracking_number not in seen:
            seen.add(result.tracking_number)
            batch.results.append(result)
    for error in parsed.errors:
        if error.tracking_number in wanted and error.tracking_number not in seen:
            seen.add(error.tracking_number)
            batch.errors.append(
                TrackingError(
                    wanted[error.tracking_number], error.code, error.message, error.transient
                )
            )
    for cleaned, number in wanted.items():
        if cleaned not in seen:
            batch.errors.append(TrackingError(number, "not_found", missing))
    return batch


def clean_number(value: str) -> str:
    """A tracking number without spaces or dashes, upper case (how carriers compare them)."""
    return _SPACES.sub("", value).upper()


class CarrierAdapter:
    """One carrier. Subclasses set the class attributes and implement ``parse`` and ``track``.

    - ``parse(body)`` reads one raw response body of the carrier's tracking endpoint, exactly as
      sent, and raises ``NotThisFormat`` for anything else;
    - ``track(numbers, credentials=..., http=...)`` asks the carrier about up to
      ``max_batch_size`` numbers. ``credentials`` may carry ``base_url`` to aim at a sandbox (or
      a local fake in tests). HTTP failures raise ``carriers.http`` errors, which the poller turns
      into retries (transient) or recorded errors (terminal);
    - ``match(number)`` says how likely a number is this carrier's (0..1) for detection.
    """

    slug: ClassVar[str] = ""
    name: ClassVar[str] = ""
    # Polled carriers are asked for news on a schedule; others only receive events (manual, push).
    pollable: ClassVar[bool] = True
    # Simulated carriers are labelled in the UI and never chosen by detection.
    simulated: ClassVar[bool] = False
    max_batch_size: ClassVar[int] = 1
    # How often an active shipment is asked about; None means the platform default.
    poll_interval: ClassVar[timedelta | None] = None
    # Requests per second the carrier allows one account, shared by all workers.
    rate_per_second: ClassVar[float] = 2.0
    base_url: ClassVar[str] = ""
    tracking_url_template: ClassVar[str] = ""
    # The credential fields a merchant fills in for this carrier (shown in settings forms).
    credential_fields: ClassVar[tuple[str, ...]] = ()

    def parse(self, body: bytes | str) -> TrackingBatch:
        raise NotImplementedError

    def track(
        self,
        tracking_numbers: list[str],
        *,
        credentials: dict | None = None,
        http: HttpClient | None = None,
        now: datetime | None = None,
    ) -> TrackingBatch:
        raise NotImplementedError

    # Carriers that push updates to /hooks/carriers/<slug>/<account id>/ implement these two.
    accepts_push: ClassVar[bool] = False

    def verify_push(self, body: bytes, headers: dict[str, str], credentials: dict) -> None:
        """Check a pushed request is the carrier's (signature or shared token); PermissionError if not.

        ``headers`` have lower-case names.
        """
        raise PermissionError(f"{self.name} does not push updates")

    def parse_push(self, body: bytes) -> TrackingBatch:
        """The updates in a verified push body (NotThisFormat for anything else)."""
        raise NotThisFormat(f"{self.name} does not push updates")

    def match(self, tracking_number: str) -> float:
        """How likely ``tracking_number`` is this carrier's (0..1), from carriers/detection.py."""
        from carriers.detection import confidence

        return confidence(self.slug, tracking_number)

    def tracking_url(self, tracking_number: str) -> str:
        if not self.tracking_url_template:
            return ""
        return self.tracking_url_template.format(number=tracking_number)

    def endpoint(self, credentials: dict | None) -> str:
        """The API base URL: the carrier's production one unless the account names another."""
        return ((credentials or {}).get("base_url") or self.base_url).rstrip("/")
