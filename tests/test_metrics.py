"""Prometheus metrics: counted where the work happens, queue gauges read at scrape time, summed
across processes, and readable only by who may."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client import REGISTRY

from notifications.models import Notification, Suppression
from notifications.services import outbox
from tenants.scoping import tenant_scope
from tests.factories import CarrierAccountFactory, OrderFactory, ShipmentFactory
from tests.notifications.conftest import recent
from tests.notifications.test_outbox import owe
from wismo import metrics
from wismo.tracking.models import InboundWebhook, PollQueue, ShipmentStatusChange
from wismo.tracking.services import polling

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: Client | None = None, **extra) -> tuple[int, str]:
    response = (client or Client()).get("/metrics", **extra)
    return response.status_code, response.content.decode()


def value_of(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the scrape")


# --- access -------------------------------------------------------------------------------------


def test_without_a_token_the_machine_itself_may_scrape():
    status, text = scrape(REMOTE_ADDR="127.0.0.1")
    assert status == 200
    assert "wismo_poll_queue_due" in text and "wismo_metrics_database_up 1.0" in text


def test_without_a_token_a_public_address_is_refused():
    assert scrape(REMOTE_ADDR="8.8.8.8")[0] == 403


def test_without_a_token_a_proxied_request_is_refused_even_from_a_private_address():
    assert scrape(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="8.8.8.8")[0] == 403


@override_settings(WISMO_METRICS_TOKEN="m3trics-t0ken")
def test_with_a_token_only_the_bearer_may_scrape():
    assert scrape(REMOTE_ADDR="127.0.0.1")[0] == 401
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong")[0] == 401
    status, _ = scrape(REMOTE_ADDR="8.8.8.8", HTTP_AUTHORIZATION="Bearer m3trics-t0ken")
    assert status == 200


def test_metrics_answer_only_get():
    assert Client(REMOTE_ADDR="127.0.0.1").post("/metrics").status_code == 405


# --- queue gauges -------------------------------------------------------------------------------


def test_queue_gauges_count_every_tenant_from_the_database(tenant_a, tenant_b):
    now = timezone.now()
    for tenant in (tenant_a, tenant_b):
        with tenant_scope(tenant):
            shipment = ShipmentFactory(tenant=tenant)
            PollQueue.objects.update_or_create(
                shipment=shipment,
                defaults={"tenant": tenant, "carrier": shipment.carrier, "due_at": now},
            )
            InboundWebhook.objects.create(
                tenant=tenant, source="carrier:dhl", body="{}", digest=f"d{tenant.pk}"
            )
            ShipmentStatusChange.objects.create(
                tenant=tenant,
                shipment=shipment,
                from_status="pending",
                from_substatus="pending.awaiting_carrier",
                to_status="in_transit",
                to_substatus="in_transit.on_the_way",
                occurred_at=now,
                created_at=now - timedelta(minutes=10),
            )

    status, text = scrape(REMOTE_ADDR="127.0.0.1")

    assert status == 200
    assert value_of(text, "wismo_poll_queue_due") == 2
    assert value_of(text, "wismo_inbox_unprocessed") == 2
    assert 590 <= value_of(text, "wismo_status_change_lag_seconds") < 700
    assert value_of(text, "wismo_notifications_pending") == 0
    assert value_of(text, "wismo_notification_lag_seconds") == 0


def test_a_scrape_during_a_database_outage_still_answers(monkeypatch):
    def down(now=None):
        raise RuntimeError("database is down")

    monkeypatch.setattr(metrics, "queue_depths", down)
    status, text = scrape(REMOTE_ADDR="127.0.0.1")
    assert status == 200 and "wismo_metrics_database_up 0.0" in text


# --- counters at the call sites -----------------------------------------------------------------


def test_a_poll_counts_its_outcomes_and_latency_per_carrier(scope_a):
    shipment = ShipmentFactory(
        tenant=scope_a, carrier="sandbox", tracking_number="SBX0000000000001"
    )  # a bad check digit: the carrier says "not found"
    before = sample("wismo_poll_shipments_total", carrier="sandbox", outcome="not_found")
    timed = sample("wismo_poll_duration_seconds_count", carrier="sandbox")

    polling.poll_shipments(shipment_ids=[shipment.pk])

    after = sample("wismo_poll_shipments_total", carrier="sandbox", outcome="not_found")
    assert after == before + 1
    assert sample("wismo_poll_duration_seconds_count", carrier="sandbox") == timed + 1


def test_webhook_intake_is_counted_per_source_and_outcome(tenant_a):
    with tenant_scope(tenant_a):
        account = CarrierAccountFactory(
            tenant=tenant_a,
            carrier="dhl",
            credentials={"push_header": "X-Wismo-Token", "push_token": "s3cret"},
        )
    refused = sample("wismo_webhook_intake_total", source="carrier:dhl", outcome="unauthorized")
    missing = sample("wismo_webhook_intake_total", source="carrier:other", outcome="not_found")

    Client().post(
        f"/hooks/carriers/dhl/{account.pk}/", b"{}", content_type="application/json"
    )  # no token
    Client().post(f"/hooks/carriers/no-such-carrier-{'x' * 20}/1/", b"{}", "application/json")

    assert (
        sample("wismo_webhook_intake_total", source="carrier:dhl", outcome="unauthorized")
        == refused + 1
    )
    # An unknown slug does not become a label of its own: the series cannot be grown from outside.
    assert (
        sample("wismo_webhook_intake_total", source="carrier:other", outcome="not_found")
        == missing + 1
    )


def test_email_outcomes_are_counted(scope_a):
    order = OrderFactory(tenant=scope_a, customer_email="ana@example.com", order_number="77")
    parcel = ShipmentFactory(tenant=scope_a, order=order, tracking_number="TRK77")
    sent = sample("wismo_emails_total", outcome="sent")
    skipped = sample("wismo_emails_total", outcome="skipped")

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        owe(parcel, recent(1, "out_for_delivery"))
        report = outbox.outbox_drain()
        Suppression.objects.create(tenant=scope_a, email="ana@example.com", reason="unsubscribed")
        owe(parcel, recent(0.5, "delivered"))
        report_skipped = outbox.outbox_drain()

    assert report.sent >= 1 and report_skipped.skipped >= 1
    assert sample("wismo_emails_total", outcome="sent") == sent + report.sent
    assert sample("wismo_emails_total", outcome="skipped") == skipped + report_skipped.skipped
    assert not Notification.objects.filter(state="scheduled", send_after__lte=timezone.now())


def test_a_failing_metric_never_breaks_the_work(monkeypatch):
    def broken(**labels):
        raise RuntimeError("no metrics today")

    monkeypatch.setattr(metrics.EMAILS, "labels", broken)
    monkeypatch.setattr(metrics.POLL_REQUESTS, "labels", broken)
    monkeypatch.setattr(metrics.WEBHOOK_INTAKE, "labels", broken)

    metrics.emails_observed(outbox.SendReport(sent=1))
    metrics.poll_observed(carrier="dhl", started=metrics.clock(), ok=1)
    metrics.poll_skipped(carrier="dhl", count=3)
    metrics.webhook_observed(source="shop:shopify", outcome="accepted")


def test_labels_come_from_short_fixed_lists():
    assert metrics._label("DROP TABLE", metrics.POLL_OUTCOMES) == "other"
    assert metrics._carrier("made-up-carrier") == "other"
    assert metrics._carrier("dhl") == "dhl"


# --- several processes --------------------------------------------------------------------------

_COUNT = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "wismo.settings"
django.setup()
from wismo import metrics
metrics.emails_observed(type("R", (), {"sent": %d, "failed": 1})())
"""

_SCRAPE = """
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "wismo.settings"
django.setup()
from prometheus_client import generate_latest
from wismo import metrics
print(generate_latest(metrics.registry_for_scrape()).decode())
"""


def test_counters_of_several_processes_add_up_in_multiprocess_mode(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for sent in (3, 4):  # two worker processes, each counting its own emails
        subprocess.run([sys.executable, "-c", _COUNT % sent], env=env, cwd=ROOT, check=True)

    scraped = subprocess.run(
        [sys.executable, "-c", _SCRAPE],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    assert 'wismo_emails_total{outcome="sent"} 7.0' in scraped
    assert 'wismo_emails_total{outcome="failed"} 2.0' in scraped


def test_without_the_folder_the_scrape_reads_this_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics.EMAILS.labels(outcome="retried").inc()
    text = metrics.generate_latest(metrics.registry_for_scrape()).decode()
    assert 'wismo_emails_total{outcome="retried"}' in text
