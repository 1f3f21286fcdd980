"""The embedded runtime for real: SQLite and kombu's filesystem broker, a Celery worker and beat.

No server of any kind: beat's sweep enqueues polls through files under var/, a worker picks them
up and records the sandbox carrier's news, as `bin/run` does.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(var_dir: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(WISMO_VAR_DIR=str(var_dir), WISMO_POLL_SWEEP_SECONDS="2", PYTHONUNBUFFERED="1")
    return env


def _manage(env, *args) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _polled(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(*) FROM tracking_shipment WHERE last_checked_at IS NOT NULL"
        ).fetchone()[0]


@pytest.mark.timeout_sensitive
def test_worker_and_beat_poll_the_demo_through_the_filesystem_broker(tmp_path):
    env = _env(tmp_path)
    _manage(env, "migrate", "--no-input", "-v0")
    _manage(env, "demo", "--shipments", "30")
    db = tmp_path / "wismo.sqlite3"
    assert _polled(db) == 0

    celery = [sys.executable, "-m", "celery", "-A", "wismo"]
    processes = [
        subprocess.Popen(
            [
                *celery,
                "worker",
                "-Q",
                "default,poll,import,notify",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
        subprocess.Popen(
            [*celery, "beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat-schedule")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _polled(db) == 0:
            time.sleep(1)
        polled = _polled(db)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        logs = [process.communicate(timeout=30)[0] for process in processes]
    assert polled > 0, "\n".join(logs)[-4000:]
    assert not (ROOT / "control").exists(), "broker files stay under var/"
    assert (tmp_path / "broker").is_dir()
