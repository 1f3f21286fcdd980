"""What every fault scenario shares: its own database, Redis namespace, processes and verdict.

A scenario runs everything on 127.0.0.1 and owns what it starts:

- a PostgreSQL database ``wismo_faults_<name>`` made fresh (migrated) and dropped at the end;
- Redis db 10 (``FAULTS_REDIS_URL``) for the broker, and a ``WISMO_REDIS_PREFIX`` of its own
  for rate limits and breakers; the broker's keys of that db are removed at the start and end;
- every process it starts runs in a process group of its own and is killed at the end (also
  on an error or Ctrl-C), by process group id, never by name;
- a production environment (DEBUG off, throwaway secrets: ``bench/_production.py``) shared by
  this process and its children, so that what one encrypts the others can read.

The verdict is one line ``PASS|FAIL <scenario>: figures`` and the figures as JSON; the exit
status is 0 on a pass, 2 on a missed criterion, 1 on an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))
from _common import ROOT, migrate, setup_django  # noqa: E402
from _production import machine_busy, production_env  # noqa: E402

PYTHON = sys.executable
FAULTS_REDIS_URL = os.environ.get("FAULTS_REDIS_URL", "redis://127.0.0.1:6379/10")
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
# The broker's keys in the scenarios' Redis db (kombu's Redis transport): queues, unacked
# bookkeeping, bindings. Removed before and after a run so nothing leaks between runs.
BROKER_KEYS = ("poll", "notify", "default", "import", "unacked", "unacked_index", "unacked_mutex")


LOCK_KEY = "wismo-faults:running"


class Missed(Exception):
    """A pass criterion was not met (exit 2); an exception of any other kind is an error."""


def _admin_connection():
    import psycopg2

    admin = psycopg2.connect(PG_ADMIN, connect_timeout=5)
    admin.autocommit = True
    return admin


def database_recreate(name: str) -> str:
    """Drop and create ``name`` (ours only: ``wismo_faults_*``); its URL."""
    assert name.startswith("wismo_faults_"), name
    admin = _admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def database_drop(name: str) -> None:
    assert name.startswith("wismo_faults_"), name
    admin = _admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def redis_clean(prefix: str) -> int:
    """Remove the broker's keys and our prefix's keys from the scenarios' Redis db."""
    import redis

    client = redis.Redis.from_url(FAULTS_REDIS_URL)
    keys = [k for k in BROKER_KEYS if client.exists(k)]
    # Rate limits and breakers (``<prefix>:``), the cache (``:1:<prefix>:``), kombu's bindings.
    for pattern in (f"*{prefix}:*", "_kombu.binding*"):
        keys += list(client.scan_iter(match=pattern, count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


class Processes:
    """Child processes, each in its own process group, killed (group) at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        log = (self.log_dir / f"{name}.log").open("a")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            argv,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        process.name = name  # type: ignore[attr-defined]
        self.started.append(process)
        return process

    def celery(self, name: str, *args: str, env: dict[str, str] | None = None):
        return self.start(name, [PYTHON, "-m", "celery", "-A", "wismo", *args], env)

    def worker(self, name: str, queues: str, concurrency: int, env: dict[str, str] | None = None):
        return self.celery(
            name,
            "worker",
            "-Q",
            queues,
            "--concurrency",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
            "-n",
            f"{name}-{os.getpid()}@%h",
            env=env,
        )

    def beat(self, name: str = "beat", env: dict[str, str] | None = None):
        schedule = self.log_dir / f"{name}-schedule"
        return self.celery(
            name, "beat", "--loglevel", "WARNING", "--schedule", str(schedule), env=env
        )

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)

    def stop(self, process: subprocess.Popen) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL if it lingers."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(process)
        # A killed main process may leave pool children behind in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            self.stop(process)

    def fake(self, name: str, *args: str, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
        """Start one of ``_fakes.py``'s servers; (process, its base URL)."""
        process = self.start(name, [PYTHON, str(Path(__file__).parent / "_fakes.py"), *args])
        log = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = log.read_text().split("\n", 1)[0] if log.exists() else ""
            if first.startswith("http"):
                return process, first.strip()
            if process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"fake {name} did not start:\n{self.tail(name)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text()[-chars:] if path.exists() else ""


def children(pid: int) -> list[int]:
    command = ["ps", "-o", "pid=", "--ppid", str(pid)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    return [int(p) for p in out.stdout.split()]


def pids_on_ports(ports: set[int]) -> set[int]:
    """Processes owning the local TCP ports ``ports`` (established connections, from ``ss``)."""
    command = ["ss", "-tnpH", "state", "established"]
    out = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    pids = set()
    for line in out.stdout.splitlines():
        fields = line.split()  # Recv-Q Send-Q Local Peer users:((...pid=N...))
        local = fields[2].rsplit(":", 1)[-1] if len(fields) >= 5 else ""
        if local.isdigit() and int(local) in ports:
            pids.update(int(p) for p in re.findall(r"pid=(\d+)", line))
    return pids


def wait_for(condition: Callable[[], object], seconds: float, step: float = 0.5):
    """The first truthy value of ``condition()`` within ``seconds``, else its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(step)
    return condition()


class Scenario:
    """One run: environment, database, Redis namespace and processes, cleaned up on exit."""

    def __init__(self, name: str, *, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.db_name = f"wismo_faults_{name}"
        self.prefix = f"wismo-faults-{name}-{os.getpid()}"
        self.tmp = Path()
        self.busy_before = 0.0
        self.url = ""
        self.env: dict[str, str] = {}
        self.processes: Processes | None = None

    def __enter__(self) -> Scenario:
        import redis

        # Scenarios share the broker's queues in their Redis db (and clean them): one at a time.
        self._redis = redis.Redis.from_url(FAULTS_REDIS_URL)
        if not self._redis.set(LOCK_KEY, f"{self.name} pid {os.getpid()}", nx=True, ex=900):
            held = self._redis.get(LOCK_KEY)
            raise RuntimeError(f"another fault scenario is running ({held!r}); one at a time")
        try:
            return self._prepare()
        except BaseException:
            self.__exit__()
            raise

    def _prepare(self) -> Scenario:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"wismo-faults-{self.name}-"))
        self.busy_before = machine_busy(1.0)
        self.url = database_recreate(self.db_name)
        redis_clean(self.prefix)
        env = production_env(
            database_url=self.url, broker_url=FAULTS_REDIS_URL, var_dir=self.tmp / "var"
        )
        env.update(
            WISMO_REDIS_PREFIX=self.prefix,
            DJANGO_SETTINGS_MODULE="wismo.settings",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
        )
        os.environ.update(env)
        # Children get this environment and no other setting from the caller's shell.
        self.env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        self.env.update(env)
        self.processes = Processes(self.env, self.tmp)
        # A SIGTERM (e.g. from run_all's time limit) unwinds through __exit__ like Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        setup_django(self.url)
        migrate()
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.processes:
                self.processes.stop_all()
            from django.db import connections

            connections.close_all()
            redis_clean(self.prefix)
            if not self.keep:
                database_drop(self.db_name)
        finally:
            self._redis.delete(LOCK_KEY)


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


def run(name: str, body: Callable[[Scenario, dict], None], *, keep: bool = False) -> int:
    """Run ``body(scenario, figures)`` in a scenario and print the verdict; the exit status.

    ``body`` fills ``figures`` as it goes (so a missed criterion still shows them) and raises
    ``Missed`` (see ``check``) when a criterion is not met."""
    started = time.monotonic()
    figures: dict = {}
    verdict, reason, status = "ERROR", "", 1
    try:
        with Scenario(name, keep=keep) as scenario:
            figures["machine_busy_before"] = round(scenario.busy_before, 2)
            try:
                body(scenario, figures)
                verdict, status = "PASS", 0
            except Missed as missed:
                verdict, reason, status = "FAIL", str(missed), 2
            finally:
                figures.setdefault("logs", str(scenario.tmp))
    except KeyboardInterrupt:
        reason = "interrupted"
    except Exception as exc:  # the harness or the product broke: an error, not a verdict
        traceback.print_exc()
        reason = f"{exc.__class__.__name__}: {exc}"
    figures["wall_s"] = round(time.monotonic() - started, 1)
    if reason:
        figures["reason"] = reason
    summary = figures.get("summary", "")
    first = reason.splitlines()[0] if reason else ""
    print(f"{verdict} faults/{name}: {summary}{' -- ' + first if first else ''}")
    print(json.dumps(figures, indent=2, default=str))
    if status == 0 and not keep:  # the logs are kept only when something needs reading
        shutil.rmtree(figures["logs"], ignore_errors=True)
    return status


def check(criteria: dict[str, bool]) -> None:
    """Raise ``Missed`` naming every criterion that failed."""
    failed = [name for name, ok in criteria.items() if not ok]
    if failed:
        raise Missed("missed: " + ", ".join(failed))


@dataclass(frozen=True)
class Emails:
    """The outbox's email rows against the messages the provider accepted."""

    rows: int
    sent_ids: frozenset[str]
    provider_ids: tuple[str, ...]
    ids_per_recipient: dict[str, set[str]]

    @classmethod
    def compare(cls, rows: Iterable[tuple[str, str]], accepted: list[dict]) -> Emails:
        """``rows``: (state, Message-ID) per row; ``accepted``: the provider's log."""
        rows = list(rows)
        per_recipient: dict[str, set[str]] = {}
        for message in accepted:
            per_recipient.setdefault(message["to"], set()).add(message["message_id"])
        return cls(
            rows=len(rows),
            sent_ids=frozenset(m for state, m in rows if state == "sent"),
            provider_ids=tuple(m["message_id"] for m in accepted),
            ids_per_recipient=per_recipient,
        )

    @property
    def duplicates(self) -> int:
        """Shoppers' second (third...) different emails."""
        return sum(len(ids) - 1 for ids in self.ids_per_recipient.values())

    @property
    def resubmitted(self) -> int:
        """Messages the provider took again under a Message-ID it had already taken."""
        return len(self.provider_ids) - len(set(self.provider_ids))

    def figures(self) -> dict:
        return {
            "email_rows": self.rows,
            "email_rows_sent": len(self.sent_ids),
            "provider_submissions": len(self.provider_ids),
            "distinct_message_ids": len(set(self.provider_ids)),
            "resubmitted_same_message_id": self.resubmitted,
            "distinct_recipients": len(self.ids_per_recipient),
            "duplicate_emails": self.duplicates,
        }

    def checks(self, expected: int) -> dict[str, bool]:
        """One email per shopper, sent, and the provider holding exactly those."""
        return {
            "one email row per shopper, all sent": self.rows == len(self.sent_ids) == expected,
            "the provider has exactly the sent rows' Message-IDs": set(self.provider_ids)
            == self.sent_ids,
            "no shopper got two different emails": self.duplicates == 0
            and len(self.ids_per_recipient) == expected,
        }


def main_with(name: str, body: Callable[[Scenario, dict], None], args, *, redis=None) -> int:
    """A scenario's ``main``: ``body`` sees ``args`` as ``scenario.args``; ``redis`` (a
    private redis-server) runs for the scenario's length."""

    def with_args(scenario: Scenario, figures: dict) -> None:
        scenario.args = args
        body(scenario, figures)

    if redis is None:
        return run(name, with_args, keep=args.keep)
    try:
        redis.start()
        return run(name, with_args, keep=args.keep)
    finally:
        redis.remove()
