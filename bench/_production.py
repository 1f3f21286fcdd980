"""The environment of a production process (DEBUG off) for benchmarks, with throwaway secrets.

wismo refuses to start with DEBUG off on its development secrets (wismo/settings.py), so every
run makes its own: a random ``SECRET_KEY``, a fresh Fernet key for ``WISMO_ENCRYPTION_KEYS``,
``ALLOWED_HOSTS`` of the loopback address and a placeholder ``WISMO_BASE_URL``. The benchmark's
own process must run on the same values as the servers and commands it starts, since store
secrets it writes are encrypted with that Fernet key.
"""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path


def production_env(*, database_url: str, broker_url: str, var_dir: Path) -> dict[str, str]:
    """Variables for a DEBUG-off wismo process on 127.0.0.1 (merge them into ``os.environ``)."""
    from cryptography.fernet import Fernet

    # whitenoise warns about a missing static root at every start; nothing is served from it.
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "WISMO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "WISMO_BASE_URL": "https://bench.wismo.invalid",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,
        "WISMO_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
    }


def machine_busy(seconds: float = 2.0) -> float:
    """Share of the machine's CPU time busy over ``seconds`` (from /proc/stat): other work on a
    shared machine skews a benchmark, so each reports what was running before it started."""
    before = cpu_jiffies()
    time.sleep(seconds)
    after = cpu_jiffies()
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
