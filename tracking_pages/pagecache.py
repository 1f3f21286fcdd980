"""Rendered tracking pages, kept in this process and keyed by everything they show.

A page's key (``views._page``) holds its version (a hash of all the page shows, from
``selectors.page_load``), language, proof state, branding version, time zone, address and
minute: data or branding that changes gives a new key, so nothing is ever invalidated by hand,
and an entry serves at most the rest of its minute (the "checked 8 minutes ago" stays honest).

Why in this process and not in Redis, shared by every process (as until 2026-12-07): an entry
lives a minute at most, so a rendering is shared only when two processes serve the same version
of a page within that minute, and a hit saved just the render (~0.2 ms of CPU), while every miss
paid a GET round trip and a write for it. Measured on the uncached page (``bench/tracking_page.py``,
alternating runs): 1,280 pages/s with the shared cache, 1,505/s without; a never-seen page went
from 0.76 to 0.63 ms of CPU in one process. A process still reuses its own renderings (the
same page version asked again past the few seconds of ``local_pages``, or by a proven shopper).

Entries are bounded (``MAX_BYTES`` of page bodies, least recently used out first,
``tracking_pages.lru``) and expire after ``seconds``; a proven
shopper's page (name, address) is dropped from this process by ``forget_pages`` when the shopper
is erased, and is never served to anybody else anyway: its key carries the order's version,
which the erasure changes.
"""

from __future__ import annotations

from tracking_pages.lru import ExpiringLRU

MAX_BYTES = 32 * 1024 * 1024  # ~2,000 pages of 15 kB; the least recently used go first

pages: ExpiringLRU[str, bytes] = ExpiringLRU(MAX_BYTES, weight=len)


def get(key: str) -> bytes | None:
    """The page body stored under ``key``, if it has not expired."""
    return pages.get(key)


def put(key: str, body: bytes, seconds: float) -> None:
    """Keep ``body`` under ``key`` for ``seconds``."""
    pages.put(key, body, seconds)


def forget_pages(*, orders: list[int], shipments: list[int]) -> int:
    """Drop this process's renderings of these pages (a shopper's data was erased). Keys name
    their page as ``...:tp:page:<kind>:<id>:...``. Other processes' copies are never served
    again (the erasure changed the order's version) and expire within their minute."""
    wanted = {f"order:{pk}" for pk in orders} | {f"shipment:{pk}" for pk in shipments}
    if not wanted:
        return 0
    return pages.drop_where(lambda key: _page_of(key) in wanted)


def _page_of(key: str) -> str:
    _, _, rest = key.partition(":tp:page:")
    kind, _, rest = rest.partition(":")
    return f"{kind}:{rest.partition(':')[0]}"


def clear() -> None:
    pages.clear()
