"""Real Celery workers on the real broker against the fake carrier, killed mid-batch.

A worker's pool child and then the worker itself are killed with SIGKILL while polls are in
flight; after a restart every due shipment is polled, no event is lost and none is stored twice
(acks_late + reject_on_worker_lost redeliver the task; record_events is idempotent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tenants.scoping import all_tenants, tenant_scope
from tests.factories import CarrierAccountFactory, ShipmentFactory, TenantFactory
from tests.fakes.carrier_server import Reply, fixture_text
from wismo.tracking import tasks
from wismo.tracking.models import Shipment, TrackingEvent

ROOT = Path(__file__).resolve().parent.parent
SHIPMENTS = 24

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout_sensitive]


def _worker_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "REDIS_URL", "CELERY_BROKER_URL")
    }
    db = connection.settings_dict
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_VISIBILITY_TIMEOUT="3",  # a killed worker's task comes back after 3 s
        WISMO_REDIS_PREFIX=settings.WISMO_REDIS_PREFIX,
        WISMO_TRACKING_WINDOW_DAYS="3650",
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "wismo",
            "worker",
            "-Q",
            "poll",
            "--concurrency",
            "2",
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [int(p) for p in out.split()]


def _polled() -> int:
    with all_tenants():
        return Shipment.objects.filter(last_checked_at__isnull=False).count()


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def broker_required():
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs PostgreSQL and the Redis broker")


def test_killed_workers_lose_no_poll_and_store_no_event_twice(
    broker_required, carrier_server, settings
):
    settings.WISMO_TRACKING_WINDOW_DAYS = 3650
    body = fixture_text("dhl/transit.json")
    carrier_server.latency = 0.4
    carrier_server.route(
        "GET",
        r"^/track/shipments$",
        lambda request: Reply(body=body.replace("1234567890", request.query["trackingNumber"][0])),
    )
    tenant = TenantFactory(slug="killed")
    with tenant_scope(tenant):
        account = CarrierAccountFactory(
            tenant=tenant,
            carrier="dhl",
            credentials={"api_key": "k", "base_url": carrier_server.url, "rate_per_second": 500},
        )
        for i in range(SHIPMENTS):
            ShipmentFactory(
                tenant=tenant, carrier="dhl", carrier_account=account, tracking_number=f"77{i:08d}"
            )

    settings.WISMO_POLL_CONCURRENCY = 2  # small groups: several tasks to kill in the middle of
    assert tasks.poll_due_shipments() >= 3
    worker = _start_worker()
    try:
        assert _wait(lambda: len(carrier_server.requests) >= 2, 60), (
            "the worker never asked the carrier"
        )
        children = _children(worker.pid)
        assert children, "no pool child to kill"
        os.kill(children[0], signal.SIGKILL)  # a pool child dies mid-request
        time.sleep(0.5)
        os.killpg(worker.pid, signal.SIGKILL)  # then the whole worker
        worker.wait(timeout=10)
        worker = _start_worker()
        assert _wait(lambda: _polled() == SHIPMENTS, 90), f"only {_polled()} of {SHIPMENTS} polled"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    with tenant_scope(tenant):
        for shipment in Shipment.objects.all():
            assert TrackingEvent.objects.filter(shipment=shipment).count() == 3, (
                shipment.tracking_number
            )
            assert shipment.status == "out_for_delivery"
