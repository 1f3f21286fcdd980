"""The ``manual`` carrier: a merchant's own fleet or a local courier with no API.

It is never polled; its events come in through the API and the dashboard and then flow like any
carrier's.
"""

from __future__ import annotations

from datetime import datetime

from carriers.base import CarrierAdapter, NotThisFormat, TrackingBatch


class ManualAdapter(CarrierAdapter):
    slug = "manual"
    name = "Own delivery (manual updates)"
    pollable = False

    def track(
        self,
        tracking_numbers: list[str],
        *,
        credentials: dict | None = None,
        http: object | None = None,
        now: datetime | None = None,
    ) -> TrackingBatch:
        return TrackingBatch()

    def parse(self, body: bytes | str) -> TrackingBatch:
        raise NotThisFormat("the manual carrier has no API: its events are posted to wismo")


ADAPTER = ManualAdapter()
