"""The carriers wismo knows, by slug."""

from __future__ import annotations

from carriers.base import CarrierAdapter
from carriers.manual import ManualAdapter
from carriers.sandbox import SandboxAdapter

_ADAPTERS: dict[str, CarrierAdapter] = {
    adapter.slug: adapter for adapter in (ManualAdapter(), SandboxAdapter())
}


class UnknownCarrier(LookupError):
    pass


def get_adapter(slug: str) -> CarrierAdapter:
    try:
        return _ADAPTERS[slug]
    except KeyError:
        raise UnknownCarrier(slug) from None


def all_adapters() -> list[CarrierAdapter]:
    return sorted(_ADAPTERS.values(), key=lambda adapter: adapter.slug)


def carrier_choices() -> list[tuple[str, str]]:
    return [(adapter.slug, adapter.name) for adapter in all_adapters()]


def detect(tracking_number: str) -> list[tuple[str, float]]:
    """Carriers that could own ``tracking_number``, best first, with a 0..1 confidence.

    Simulated carriers are never candidates. Real carriers register their patterns as they are
    added; until then nothing matches and the caller must name the carrier.
    """
    candidates: list[tuple[str, float]] = []
    for adapter in all_adapters():
        if adapter.simulated:
            continue
        confidence = getattr(adapter, "match", lambda _number: 0.0)(tracking_number)
        if confidence > 0:
            candidates.append((adapter.slug, confidence))
    return sorted(candidates, key=lambda item: -item[1])
