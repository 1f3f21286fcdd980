"""Structured logs: JSON lines carrying the request (or task) id and the tenant; every response
echoes its request id; the access log holds no body, no query string and no token."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from django.test import Client

from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory
from tests.test_settings import ROOT, production_env
from wismo.logging import ContextFilter, JsonFormatter, request_id_var
from wismo.middleware import request_id_from
from wismo.tracking import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """Every record of the ``wismo`` and ``django`` loggers, as the JSON handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    loggers = [logging.getLogger(name) for name in ("wismo", "django", "notifications")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield read
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_record_becomes_one_json_object_with_its_context(json_lines, tenant_a):
    token = request_id_var.set("req-123")
    try:
        with tenant_scope(tenant_a):
            logging.getLogger("wismo.test").warning("hello %s", "world")
    finally:
        request_id_var.reset(token)

    [entry] = json_lines()
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING" and entry["logger"] == "wismo.test"
    assert entry["request_id"] == "req-123"
    assert entry["tenant"] == tenant_a.pk
    assert entry["timestamp"].endswith("+00:00")


def test_an_exception_is_kept_in_the_json_object(json_lines):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("wismo.test").exception("failed")
    [entry] = json_lines()
    assert "ValueError: boom" in entry["exception"]


def test_every_response_carries_a_request_id_and_keeps_a_safe_one_it_was_given():
    fresh = Client().get("/healthz")
    given = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42")

    assert len(fresh["X-Request-ID"]) == 32
    assert given["X-Request-ID"] == "lb-7f3a.42"


@pytest.mark.parametrize(
    "unsafe", ["x" * 65, "a\nforged log line", "<script>", "id with spaces", "", "-leading"]
)
def test_an_unsafe_request_id_is_replaced(unsafe):
    replaced = request_id_from(unsafe)
    assert replaced != unsafe and len(replaced) == 32


def test_the_access_log_has_method_path_status_time_and_no_query_or_token(json_lines, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)
    Client().get("/healthz?email=ana@example.com", HTTP_X_REQUEST_ID="trace-1")
    Client().get(f"/t/{shipment.public_token}/")

    access = [e for e in json_lines() if e["logger"] == "wismo.access"]
    health, page = access[0], access[-1]
    assert health["method"] == "GET" and health["path"] == "/healthz"
    assert health["status"] == 200 and health["duration_ms"] >= 0
    assert health["request_id"] == "trace-1"
    raw = json.dumps(access)
    assert "ana@example.com" not in raw
    assert shipment.public_token not in raw  # a tracking page's token is a credential
    assert page["path"] in ("/t/<token>/", "/t/<redacted>/")


def test_djangos_not_found_warning_loses_the_token_too(json_lines):
    token = "Xk3v9QpL2mN8rT5wZ1yB4cD7"
    Client().get(f"/t/{token}/")
    assert token not in json.dumps(json_lines())


def test_the_access_log_names_the_dashboard_tenant(json_lines, tenant_a):
    from tests.dashboard.conftest import member, signed_in

    client = signed_in(member(tenant_a, "owner"))
    client.get("/dashboard/")

    [line] = [e for e in json_lines() if e["logger"] == "wismo.access"]
    assert line["tenant"] == tenant_a.pk


def test_a_task_logs_under_its_task_id(json_lines, tenant_a, monkeypatch):
    def work(*, shipment_ids):
        logging.getLogger("wismo.tracking.services.polling").info("polling %s", shipment_ids)
        return {}

    monkeypatch.setattr(tasks.polling, "poll_shipments", work)
    result = tasks.poll_shipments.apply(kwargs={"tenant_id": tenant_a.pk, "shipment_ids": [1]})

    [line] = [e for e in json_lines() if e["message"] == "polling [1]"]
    assert line["request_id"] == result.id
    assert line["tenant"] == tenant_a.pk
    assert request_id_var.get() == ""  # put back after the task


SHOW_LOGGING = """
import json
from django.conf import settings as s
h = s.LOGGING["handlers"]["console"]
print(json.dumps({"formatter": h["formatter"], "filters": h["filters"]}))
"""


def _logging_of(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SHOW_LOGGING],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_production_logs_json_and_development_plain_text(tmp_path):
    base = {"WISMO_VAR_DIR": str(tmp_path)}
    assert _logging_of({**base, **production_env()})["formatter"] == "json"
    assert _logging_of(base)["formatter"] == "plain"
    assert _logging_of({**base, "WISMO_LOG_FORMAT": "json"}) == {
        "formatter": "json",
        "filters": ["context"],
    }


def test_the_access_log_names_the_api_keys_tenant(json_lines, api_a, tenant_a):
    api_a.get("/api/v1/shipments/")

    [line] = [e for e in json_lines() if e["logger"] == "wismo.access"]
    assert line["tenant"] == tenant_a.pk and line["status"] == 200
