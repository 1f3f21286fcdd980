"""Health probes: /healthz answers without dependencies; /readyz says 503, never 500, when the
database or the Celery broker is down, and says so within a couple of seconds."""

from __future__ import annotations

import socket
import time

import pytest
from django.db import OperationalError

from wismo import health

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # port 1: nothing listens, the connect is refused


@pytest.fixture
def silent_broker():
    """A TCP port that accepts connections (the kernel queues them) but never answers a byte."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    server.close()


class _DeadConnection:
    """Stands in for django.db.connection when the database server is gone."""

    def cursor(self):
        raise OperationalError("could not connect to server: Connection refused")


def test_healthz_answers_ok_without_touching_dependencies(client, settings):
    # given a broker that is down (liveness must not depend on it)
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_is_unreachable(client, settings):
    # given the broker's port refuses connections
    settings.CELERY_BROKER_URL = UNREACHABLE_BROKER

    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unavailable"},
    }
    assert elapsed < health.PROBE_TIMEOUT + 1


@pytest.mark.django_db
def test_readyz_gives_up_on_a_broker_that_never_answers(client, settings, silent_broker):
    # given a broker that accepts the connection and then stays silent
    settings.CELERY_BROKER_URL = silent_broker

    started = time.monotonic()
    response = client.get("/readyz")
    elapsed = time.monotonic() - started

    # then the probe is bounded by its timeout instead of hanging the web worker
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    assert elapsed < health.PROBE_TIMEOUT + 2


def test_readyz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    monkeypatch.setattr(health, "connection", _DeadConnection())

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "unavailable", "broker": "ok"},
    }


def test_readyz_only_answers_get(client):
    assert client.post("/readyz").status_code == 405
