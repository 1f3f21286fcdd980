"""The carriers wismo knows, by slug: every module in ``carriers.adapters`` that defines ``ADAPTER``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from carriers import adapters as _package
from carriers.base import CarrierAdapter


class UnknownCarrier(LookupError):
    pass


@cache
def _adapters() -> dict[str, CarrierAdapter]:
    found: dict[str, CarrierAdapter] = {}
    for module_info in pkgutil.iter_modules(_package.__path__):
        module = importlib.import_module(f"{_package.__name__}.{module_info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if isinstance(adapter, CarrierAdapter):
            if adapter.slug in found:
                raise RuntimeError(f"two carrier adapters claim the slug {adapter.slug!r}")
            found[adapter.slug] = adapter
    return found


def get_adapter(slug: str) -> CarrierAdapter:
    try:
        return _adapters()[slug]
    except KeyError:
        raise UnknownCarrier(slug) from None


def all_adapters() -> list[CarrierAdapter]:
    return sorted(_adapters().values(), key=lambda adapter: adapter.slug)


def carrier_choices() -> list[tuple[str, str]]:
    return [(adapter.slug, adapter.name) for adapter in all_adapters()]


def detect(tracking_number: str, *, priority: list[str] | None = None) -> list[tuple[str, float]]:
    """Carriers that could own ``tracking_number``, best first, with a 0..1 confidence.

    Simulated carriers are never candidates. ``priority`` (a merchant's carrier list) breaks ties
    between equally confident candidates.
    """
    rank = {slug: i for i, slug in enumerate(priority or [])}
    candidates: list[tuple[str, float]] = []
    for adapter in all_adapters():
        if adapter.simulated:
            continue
        confidence = adapter.match(tracking_number)
        if confidence > 0:
            candidates.append((adapter.slug, round(min(confidence, 1.0), 3)))
    return sorted(candidates, key=lambda item: (-item[1], rank.get(item[0], len(rank)), item[0]))
