"""A map kept in this process whose entries expire and whose total weight is bounded.

The tracking pages keep two: rendered page bodies (``pagecache``: weighed in bytes, kept up to a
minute) and whole anonymous answers (``views.local_pages``: one each, kept a few seconds). Past
the budget the least recently used go first; a hit counts as a use. Reads take no lock when they
miss; writes and a hit's reordering take one, so threads of one process can share the map.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _one(_value: object) -> int:
    return 1


class ExpiringLRU(Generic[K, V]):
    """At most ``max_weight`` of values (``weight(value)`` each, 1 by default), each until its
    own expiry."""

    def __init__(self, max_weight: int, *, weight: Callable[[V], int] = _one) -> None:
        self.max_weight = max_weight
        self._weigh = weight
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V, int]] = OrderedDict()
        self.weight = 0  # of every entry kept, expired ones included until they go

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept under ``key``, if it has not expired."""
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        return found[1]

    def put(self, key: K, value: V, seconds: float) -> bool:
        """Keep ``value`` under ``key`` for ``seconds``, dropping the least recently used past the
        budget. False when nothing is kept: no time to keep it, or heavier than the whole budget."""
        weight = self._weigh(value)
        if seconds <= 0 or weight > self.max_weight:
            return False
        expires = time.monotonic() + seconds
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.weight -= old[2]
            self._entries[key] = (expires, value, weight)
            self.weight += weight
            while self.weight > self.max_weight:
                _, (_, _, dropped) = self._entries.popitem(last=False)
                self.weight -= dropped
        return True

    def drop_where(self, doomed: Callable[[K], bool]) -> int:
        """Drop every entry whose key ``doomed`` picks; how many went."""
        with self._lock:
            keys = [key for key in self._entries if doomed(key)]
            for key in keys:
                self.weight -= self._entries.pop(key)[2]
        return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.weight = 0
