"""gunicorn hooks wismo's web server runs with (``-c python:wismo.gunicorn_conf``).

**One CPU per worker** (``WISMO_WORKER_CPU_AFFINITY``). A worker runs Python on one CPU at a
time anyway (the GIL), but left to the scheduler its threads hop between CPUs: a thread woken
by another (a webhook answered once its batch's commit is in, a request handed from gunicorn's
poller to a pool thread) lands on whichever CPU is free, with cold caches, and in a virtual
machine waking a thread on another vCPU is an exit to the hypervisor. Pinned, a worker's
threads wake each other on their own CPU. Measured on 2 vCPUs (bench/webhooks.py, 2 gthread
workers, alternating runs): the trivial view 4,650-4,720 -> 4,990-5,030 req/s, the webhooks
1,960-2,200 -> 2,350/s, and the machine 94% busy during the webhooks instead of 81-89%.

Pinning is only safe where this server has the CPUs to itself: ``auto`` (the default) pins
when there are at least as many workers as CPUs this process may run on, each worker to the
CPU with the fewest workers (a restarted worker takes its predecessor's); a container limited by
a CPU quota but allowed on every CPU of a large host is left alone. ``on`` always pins, ``off``
never does.
"""

from __future__ import annotations

import logging
import os
from collections import Counter

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")


def _mode() -> str:
    mode = os.environ.get("WISMO_WORKER_CPU_AFFINITY", "auto").strip().lower() or "auto"
    if mode not in MODES:
        log.warning("WISMO_WORKER_CPU_AFFINITY=%r is not one of %s: using auto", mode, MODES)
        return "auto"
    return mode


def worker_cpu(workers: int, allowed: set[int], taken: list[int | None]) -> int | None:
    """The CPU a new worker is pinned to (None: not pinned), given how many workers the server
    runs, the CPUs it may use and the CPUs of its live workers."""
    mode = _mode()
    if mode == "off" or not allowed or (mode == "auto" and workers < len(allowed)):
        return None
    used = Counter(cpu for cpu in taken if cpu is not None)
    return min(sorted(allowed), key=lambda cpu: used[cpu])


def pre_fork(server, worker) -> None:
    """In the arbiter, before the fork: choose the new worker's CPU."""
    worker.wismo_cpu = None
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return
    try:
        allowed = os.sched_getaffinity(0)
    except OSError:
        return
    worker.wismo_cpu = worker_cpu(
        server.num_workers,
        allowed,
        [getattr(live, "wismo_cpu", None) for live in server.WORKERS.values()],
    )


def post_fork(server, worker) -> None:
    """In the worker, before it starts its threads (they inherit the affinity)."""
    cpu = getattr(worker, "wismo_cpu", None)
    if cpu is None:
        return
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:  # a sandbox that forbids it, a CPU gone offline: serve unpinned
        server.log.warning("worker %s not pinned to CPU %s: %s", os.getpid(), cpu, exc)
        worker.wismo_cpu = None
