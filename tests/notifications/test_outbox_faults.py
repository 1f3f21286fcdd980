"""The outbox against a real Celery worker (a subprocess) and a fake Postmark API on 127.0.0.1,
while the worker is killed, the provider fails or stalls, or the broker is down.

The worker sends through anymail's real Postmark backend, pointed at ``FakePostmark`` by the
settings a deployment would use (``EMAIL_BACKEND`` and ``ANYMAIL_POSTMARK_*`` variables), and
runs the beat tasks the test enqueues on a queue of its own (other test runs may share Redis).

What each fault leaves, by the product's documented rule (notifications/services/outbox.py):

- the provider refused (500) or throttled (429): it accepted nothing, the row is retried, and
  exactly one email is accepted in the end;
- the provider accepted but the worker never recorded it (the worker killed between send and
  record, or the answer lost to a client timeout): the row can only be resolved by sending
  again, with the SAME ``Message-ID`` (at least once to the provider, deduplicable by
  Message-ID). The provider sees two submissions of one message; the row ends ``sent`` once
  and nothing is due after it;
- the broker was down when the status change committed: the change waits undispatched, the
  relay (``relay_status_changes``) owes the email later and it is sent once.

Time is moved, never waited for, where the product waits minutes: an expired lease or a retry
backoff is set to now in the database, as the clock would have it later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from notifications import tasks
from notifications.models import Notification
from notifications.services import outbox
from notifications.services.dispatch import RELAY_AFTER, changes_dispatch, changes_undispatched
from tenants.scoping import all_tenants
from tests.fakes.postmark_server import FakePostmark
from tests.notifications.conftest import recent
from wismo.tracking.models import ShipmentStatusChange
from wismo.tracking.services.timeline import record_events

ROOT = Path(__file__).resolve().parent.parent.parent
# The worker's HTTP timeout towards the provider; a stalled answer outlasts it.
CLIENT_TIMEOUT = 2

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout_sensitive]


class Worker:
    """``celery worker`` in its own process group, consuming one queue of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.queue = f"notify-faults-{uuid.uuid4().hex[:10]}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "wismo",
                    "worker",
                    "-Q",
                    self.queue,
                    "--concurrency",
                    "1",
                    "--prefetch-multiplier",
                    "1",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def enqueue(self, task) -> None:
        task.apply_async(queue=self.queue)

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool child): no cleanup of any kind."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _process_env(postmark: FakePostmark, settings_dir: Path) -> dict[str, str]:
    """A deployment's environment, pointed at the test database and the fake Postmark."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "REDIS_URL", "CELERY_BROKER_URL")
    }
    db = connection.settings_dict
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_VISIBILITY_TIMEOUT="3",  # a killed worker's task comes back after 3 s
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL_POSTMARK_SERVER_TOKEN=postmark.token,
        ANYMAIL_POSTMARK_API_URL=postmark.url,
        DEFAULT_FROM_EMAIL="Alpha <updates@mail.wismo.test>",
        WISMO_BASE_URL="https://track.wismo.test",
        WISMO_NOTIFY_SWEEP_SECONDS="5",
        ANYMAIL_REQUESTS_TIMEOUT=str(CLIENT_TIMEOUT),
        DJANGO_SETTINGS_MODULE="wismo.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="module")
def postmark():
    with FakePostmark() as server:
        yield server


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, postmark, tmp_path_factory):
    """One worker for the module (restarted by the test that kills it)."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
            pytest.skip("needs PostgreSQL and the Redis broker")
        folder = tmp_path_factory.mktemp("fault-worker")
        process = Worker(_process_env(postmark, folder), folder / "worker.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def provider(postmark, worker):
    postmark.reset()
    yield postmark
    postmark.release.set()


def _wait(condition, seconds: float, worker: Worker, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{worker.tail()}")


def _row(pk: int) -> Notification:
    with all_tenants():
        return Notification.objects.get(pk=pk)


def owe(shipment) -> Notification:
    """An "out for delivery" email owed for ``shipment`` and due now."""
    record_events(shipment=shipment, events=[recent(1, "out_for_delivery")])
    changes_dispatch(change_ids=list(ShipmentStatusChange.objects.values_list("pk", flat=True)))
    [row] = Notification.objects.all()
    Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
    return row


# --- the faults -----------------------------------------------------------------------------------


def test_a_worker_killed_between_send_and_record_resends_once_with_the_same_message_id(
    provider, worker, parcel, no_nudge
):
    row = owe(parcel)
    provider.hold_next()  # the provider accepts the message and keeps its answer

    worker.enqueue(tasks.send_due_notifications)
    assert provider.held.wait(30), f"the worker never sent; log:\n{worker.tail()}"
    worker.kill()  # after the send, before the record
    provider.release.set()

    killed = _row(row.pk)
    assert (killed.state, killed.attempts, killed.provider_message_id) == ("sending", 1, "")
    assert provider.accepted_ids() == [killed.message_id]
    assert outbox.claim_due() == {}  # leased: no sender takes it yet
    # Five minutes later the lease has run out; a restarted worker's sweep finds the row.
    Notification.objects.filter(pk=row.pk).update(claimed_until=timezone.now())
    worker.start()
    worker.enqueue(tasks.send_due_notifications)
    _wait(lambda: _row(row.pk).state == "sent", 40, worker, "the resend")

    sent = _row(row.pk)
    # At least once to the provider: the same message twice, one Message-ID to drop the copy by.
    assert provider.accepted_ids() == [killed.message_id, killed.message_id]
    assert sent.message_id == killed.message_id and sent.attempts == 2
    assert sent.provider_message_id == provider.accepted[-1]["provider_id"]
    assert outbox.claim_due() == {}  # and nothing is owed any more


def test_a_provider_error_500_is_retried_and_one_email_is_accepted(
    provider, worker, parcel, no_nudge
):
    row = owe(parcel)
    provider.fail_next(500)

    worker.enqueue(tasks.send_due_notifications)
    _wait(
        lambda: _row(row.pk).attempts == 1 and _row(row.pk).state == "scheduled",
        30,
        worker,
        "the 500",
    )
    retried = _row(row.pk)
    assert "500" in retried.last_error
    assert retried.send_after > timezone.now() + timedelta(seconds=30)  # backoff
    # The backoff passes; the next sweep sends it.
    Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
    worker.enqueue(tasks.send_due_notifications)
    _wait(lambda: _row(row.pk).state == "sent", 30, worker, "the retry")

    sent = _row(row.pk)
    assert provider.requests == [(sent.message_id, 500), (sent.message_id, 200)]
    assert provider.accepted_ids() == [sent.message_id]
    assert sent.attempts == 2 and sent.provider_message_id == provider.accepted[0]["provider_id"]


def test_a_provider_429_is_retried_after_the_time_it_asked_and_one_email_is_accepted(
    provider, worker, parcel, no_nudge
):
    row = owe(parcel)
    provider.fail_next(429, {"Retry-After": "2"})

    asked_at = timezone.now()
    worker.enqueue(tasks.send_due_notifications)
    _wait(
        lambda: _row(row.pk).attempts == 1 and _row(row.pk).state == "scheduled",
        30,
        worker,
        "the 429",
    )
    throttled = _row(row.pk)
    assert throttled.send_after <= asked_at + timedelta(seconds=2 + 5)  # what the provider asked
    # No time is moved: the sweep after the asked 2 s sends it.
    time.sleep(max(0.0, (throttled.send_after - timezone.now()).total_seconds()))
    worker.enqueue(tasks.send_due_notifications)
    _wait(lambda: _row(row.pk).state == "sent", 30, worker, "the retry")

    sent = _row(row.pk)
    assert provider.requests == [(sent.message_id, 429), (sent.message_id, 200)]
    assert provider.accepted_ids() == [sent.message_id]


def test_a_timeout_after_the_provider_accepted_resends_with_the_same_message_id(
    provider, worker, parcel, no_nudge
):
    row = owe(parcel)
    provider.stall_next(CLIENT_TIMEOUT + 1.5)  # accepted, then answers after the client gave up

    worker.enqueue(tasks.send_due_notifications)
    _wait(
        lambda: _row(row.pk).attempts == 1 and _row(row.pk).state == "scheduled",
        30,
        worker,
        "the timeout",
    )
    timed_out = _row(row.pk)
    assert "timed out" in timed_out.last_error.lower()
    Notification.objects.filter(pk=row.pk).update(send_after=timezone.now())
    worker.enqueue(tasks.send_due_notifications)
    _wait(lambda: _row(row.pk).state == "sent", 30, worker, "the retry")

    sent = _row(row.pk)
    # The provider holds two copies of one message: one Message-ID, kept across the retry.
    assert provider.accepted_ids() == [timed_out.message_id, timed_out.message_id]
    assert sent.message_id == timed_out.message_id and sent.attempts == 2
    assert outbox.claim_due() == {}


def test_a_status_change_committed_while_the_broker_is_down_is_sent_once_later(
    provider, worker, parcel, tenant_a
):
    # The producing side (a poll, a webhook) runs with a broker nobody listens on.
    env = dict(worker.env, CELERY_BROKER_URL=f"redis://127.0.0.1:{_free_port()}/0")
    code = (
        "import django; django.setup()\n"
        "from tenants.scoping import tenant_scope\n"
        "from tests.notifications.conftest import recent\n"
        "from wismo.tracking.models import Shipment\n"
        "from wismo.tracking.services.timeline import record_events\n"
        f"with tenant_scope({tenant_a.pk}):\n"
        f"    shipment = Shipment.objects.get(pk={parcel.pk})\n"
        "    record_events(shipment=shipment, events=[recent(1, 'out_for_delivery')])\n"
        "print('recorded')\n"
    )
    producer = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert producer.returncode == 0, producer.stdout + producer.stderr
    assert "could not enqueue the dispatch" in producer.stderr  # the nudge was lost
    [change] = ShipmentStatusChange.objects.all()
    assert change.dispatched_at is None and not Notification.objects.exists()
    # The relay takes changes left undispatched for RELAY_AFTER; that much time passes.
    ShipmentStatusChange.objects.filter(pk=change.pk).update(
        created_at=timezone.now() - RELAY_AFTER - timedelta(seconds=1)
    )
    worker.enqueue(tasks.relay_status_changes)
    _wait(lambda: Notification.objects.exists(), 30, worker, "the relay")
    worker.enqueue(tasks.send_due_notifications)
    _wait(lambda: Notification.objects.filter(state="sent").exists(), 30, worker, "the send")

    [row] = Notification.objects.all()
    assert provider.accepted_ids() == [row.message_id]
    assert provider.accepted[0]["to"] == "ana@example.com"
    assert changes_undispatched() == [] and outbox.claim_due() == {}
