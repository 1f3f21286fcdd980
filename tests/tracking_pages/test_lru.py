"""The in-process map behind both page caches: entries expire, the least recently used go past
the weight budget, a hit counts as a use, and threads sharing it keep its weight exact."""

from __future__ import annotations

import threading

from tracking_pages import lru
from tracking_pages.lru import ExpiringLRU


def test_an_entry_expires_after_its_own_seconds(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(lru.time, "monotonic", lambda: now[0])
    kept = ExpiringLRU(10)
    kept.put("short", 1, 5)
    kept.put("long", 2, 60)

    now[0] += 5.1
    assert kept.get("short") is None and kept.get("long") == 2
    now[0] += 55
    assert kept.get("long") is None


def test_by_default_each_entry_weighs_one():
    kept = ExpiringLRU(2)
    for key in "abc":
        assert kept.put(key, key.upper(), 60)
    assert [kept.get(key) for key in "abc"] == [None, "B", "C"] and len(kept) == 2


def test_the_least_recently_used_go_first_and_a_hit_is_a_use():
    kept = ExpiringLRU(250, weight=len)
    for name in "abc":
        kept.put(name, name.encode() * 100, 60)  # 100 bytes each: c pushes a out

    assert kept.get("a") is None
    assert kept.get("b") is not None  # b is now the most recently used
    kept.put("d", b"d" * 100, 60)

    assert kept.get("c") is None
    assert kept.get("b") == b"b" * 100 and kept.get("d") == b"d" * 100
    assert kept.weight == 200


def test_nothing_is_kept_without_time_or_beyond_the_whole_budget():
    kept = ExpiringLRU(10, weight=len)
    assert not kept.put("none", "x", 0)
    assert not kept.put("huge", "x" * 11, 60)
    assert kept.put("fits", "x" * 10, 60)
    assert kept.get("none") is None and kept.get("huge") is None and kept.weight == 10


def test_a_new_value_replaces_the_old_one_and_its_weight():
    kept = ExpiringLRU(100, weight=len)
    kept.put("k", "x" * 40, 60)
    kept.put("k", "y" * 10, 60)
    assert kept.get("k") == "y" * 10 and kept.weight == 10 and len(kept) == 1


def test_drop_where_and_clear():
    kept = ExpiringLRU(100, weight=len)
    for key in ("order:7", "order:70", "shipment:7"):
        kept.put(key, "abc", 60)

    assert kept.drop_where(lambda key: key in {"order:7", "shipment:7"}) == 2
    assert [key for key in ("order:7", "order:70", "shipment:7") if kept.get(key)] == ["order:70"]
    assert kept.weight == 3
    kept.clear()
    assert len(kept) == 0 and kept.weight == 0


def test_threads_storing_at_once_keep_the_weight_exact():
    kept = ExpiringLRU(64 * 1000, weight=len)

    def store(n):
        for i in range(500):
            kept.put(f"k:{n}:{i % 50}", bytes(100 + i % 7), 60)
            kept.get(f"k:{(n + 1) % 4}:{i % 50}")

    threads = [threading.Thread(target=store, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert kept.weight == sum(len(value) for _, value, _ in kept._entries.values())
    assert kept.weight <= kept.max_weight
