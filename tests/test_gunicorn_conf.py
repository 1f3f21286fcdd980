"""The web server's worker pinning (wismo/gunicorn_conf.py): which CPU a new worker gets, and
a real gunicorn started as bin/run starts it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.smtp_server import free_port
from wismo import gunicorn_conf
from wismo.gunicorn_conf import worker_cpu

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("mode", "workers", "allowed", "taken", "expected"),
    [
        # auto: pinned where the workers cover every CPU the server may use
        ("auto", 2, {0, 1}, [], 0),
        ("auto", 2, {0, 1}, [0], 1),
        ("auto", 2, {2, 3}, [2], 3),
        ("auto", 4, {0, 1}, [0, 1, 0], 1),  # the CPU with the fewest workers
        ("auto", 2, {0, 1}, [1], 0),  # a restarted worker takes its predecessor's CPU
        ("auto", 2, set(range(8)), [], None),  # a share of a bigger machine: left alone
        ("auto", 1, {0, 1}, [], None),
        ("on", 2, set(range(8)), [0], 1),
        ("off", 2, {0, 1}, [], None),
        ("", 2, {0, 1}, [], 0),  # empty: auto
    ],
)
def test_the_cpu_a_new_worker_gets(monkeypatch, mode, workers, allowed, taken, expected):
    monkeypatch.setenv("WISMO_WORKER_CPU_AFFINITY", mode)
    assert worker_cpu(workers, allowed, taken) == expected


def test_an_unknown_mode_is_auto_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv("WISMO_WORKER_CPU_AFFINITY", "always")
    assert worker_cpu(2, {0, 1}, []) == 0
    assert worker_cpu(2, set(range(4)), []) is None
    assert "WISMO_WORKER_CPU_AFFINITY" in caplog.text


def test_the_hooks_pass_the_choice_from_the_arbiter_to_the_worker(monkeypatch):
    class Worker:
        pass

    class Arbiter:
        num_workers = 2
        WORKERS: dict = {}
        log = None

    monkeypatch.setenv("WISMO_WORKER_CPU_AFFINITY", "on")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {4, 5})
    pinned = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: pinned.append(cpus))
    arbiter = Arbiter()
    for pid in (101, 102):
        worker = Worker()
        gunicorn_conf.pre_fork(arbiter, worker)
        arbiter.WORKERS[pid] = worker
        gunicorn_conf.post_fork(arbiter, worker)
    assert pinned == [{4}, {5}]
    monkeypatch.setenv("WISMO_WORKER_CPU_AFFINITY", "off")
    unpinned = Worker()
    gunicorn_conf.pre_fork(arbiter, unpinned)
    gunicorn_conf.post_fork(arbiter, unpinned)
    assert unpinned.wismo_cpu is None and pinned == [{4}, {5}]


def test_a_worker_the_system_will_not_pin_serves_unpinned(monkeypatch):
    class Log:
        def __init__(self):
            self.warnings = []

        def warning(self, message, *args):
            self.warnings.append(message % args)

    class Worker:
        wismo_cpu = 3

    class Arbiter:
        log = Log()

    def refuse(pid, cpus):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    worker, arbiter = Worker(), Arbiter()
    gunicorn_conf.post_fork(arbiter, worker)
    assert worker.wismo_cpu is None
    assert "not pinned to CPU 3" in arbiter.log.warnings[0]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux CPU affinity")
def test_gunicorn_started_as_bin_run_starts_it_pins_each_worker(tmp_path):
    allowed = sorted(os.sched_getaffinity(0))
    port = free_port()
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(WISMO_VAR_DIR=str(tmp_path), WISMO_WORKER_CPU_AFFINITY="on")
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "wismo.wsgi:application",
            "-c",
            "python:wismo.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        pinned: list[set[int]] = []
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    pass
            except urllib.error.HTTPError:
                pass  # answered: the app is up (its checks are not this test's business)
            except OSError:
                time.sleep(0.2)
                continue
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
            workers = [int(pid) for pid in children.split()]
            # A worker pins itself right after its fork: both have once both are booted.
            pinned = [os.sched_getaffinity(pid) for pid in workers]
            if len(workers) == 2 and all(len(cpus) == 1 for cpus in pinned):
                break
            time.sleep(0.2)
        assert len(workers) == 2
        assert all(len(cpus) == 1 for cpus in pinned), pinned
        assert sorted(next(iter(cpus)) for cpus in pinned) == (
            allowed[:2] if len(allowed) >= 2 else allowed * 2
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
