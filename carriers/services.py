"""Plain-data views of adapter output, as the ``carriers`` command and the API print them."""

from __future__ import annotations

from carriers.base import CarrierEvent, TrackingBatch, TrackingResult


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def event_document(event: CarrierEvent) -> dict:
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "status": event.status,
        "substatus": event.substatus,
        "code": event.code,
        "description": event.description,
        "location": event.location,
    }


def result_document(result: TrackingResult) -> dict:
    status, substatus, delivered_at = result.state()
    estimated = result.estimated_delivery or result.estimated_delivery_latest
    return {
        "tracking_number": result.tracking_number,
        "status": status,
        "substatus": substatus,
        "estimated_delivery": _iso(estimated),
        "delivered_at": _iso(delivered_at),
        "events": [
            event_document(e)
            for e in sorted(result.events, key=lambda e: e.occurred_at, reverse=True)
        ],
    }


def batch_document(batch: TrackingBatch) -> dict:
    """``{"shipments": [...], "errors": [...]}`` exactly as DESIGN.md §4 promises."""
    return {
        "shipments": [result_document(r) for r in batch.results],
        "errors": [
            {"tracking_number": e.tracking_number, "code": e.code, "message": e.message}
            for e in batch.errors
        ],
    }
