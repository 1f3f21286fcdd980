"""REST API v1: each API key has its own requests-per-minute budget (Redis, one round trip)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiKey
from tenants.services import api_key_create
from wismo.api import throttling
from wismo.api.throttling import ApiKeyRateThrottle, api_key_rate_limit

pytestmark = pytest.mark.django_db


def client_with_key(tenant, role="admin", limit=None) -> tuple[APIClient, ApiKey]:
    key, raw = api_key_create(tenant=tenant, role=role)
    if limit is not None:
        ApiKey.unscoped.filter(pk=key.pk).update(rate_limit_per_minute=limit)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, key


def test_a_key_over_its_limit_gets_429_with_retry_after(tenant_a):
    client, _ = client_with_key(tenant_a, limit=3)

    statuses = [client.get("/api/v1/shipments/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/shipments/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "throttled"


def test_writes_count_against_the_same_budget(tenant_a):
    client, _ = client_with_key(tenant_a, limit=1)
    client.get("/api/v1/shipments/")

    response = client.post(
        "/api/v1/shipments/", {"tracking_number": "X1", "carrier": "manual"}, format="json"
    )

    assert response.status_code == 429


def test_another_key_is_not_affected(tenant_a, tenant_b):
    limited, _ = client_with_key(tenant_a, limit=1)
    same_tenant, _ = client_with_key(tenant_a, limit=1)
    other_tenant, _ = client_with_key(tenant_b, limit=1)
    limited.get("/api/v1/shipments/")
    assert limited.get("/api/v1/shipments/").status_code == 429

    assert same_tenant.get("/api/v1/shipments/").status_code == 200
    assert other_tenant.get("/api/v1/shipments/").status_code == 200


def test_the_default_limit_comes_from_settings(tenant_a, settings):
    settings.WISMO_API_RATE_LIMIT_PER_MINUTE = 2
    client, key = client_with_key(tenant_a)

    statuses = [client.get("/api/v1/orders/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert api_key_rate_limit(key=key) == 2
    key.rate_limit_per_minute = 50
    assert api_key_rate_limit(key=key) == 50


def test_the_budget_comes_back_when_the_window_ends(tenant_a, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "window_seconds", 1)
    client, _ = client_with_key(tenant_a, limit=1)
    assert client.get("/api/v1/shipments/").status_code == 200
    refused = client.get("/api/v1/shipments/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"

    time.sleep(1.1)

    assert client.get("/api/v1/shipments/").status_code == 200


def test_without_redis_the_cache_counts(tenant_a, settings):
    settings.REDIS_URL = ""
    client, _ = client_with_key(tenant_a, limit=2)

    statuses = [client.get("/api/v1/shipments/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_redis_trouble_lets_requests_through(tenant_a, monkeypatch, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (without it the limit is counted in Django's cache)")
    from tenants import services

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(services, "_redis_script", lambda name, source: down)
    monkeypatch.setattr(throttling, "_hit_redis", down)
    client, _ = client_with_key(tenant_a, limit=1)

    assert [client.get("/api/v1/shipments/").status_code for _ in range(3)] == [200, 200, 200]


def test_a_request_costs_one_redis_round_trip_in_all(tenant_a, settings, monkeypatch):
    """Once a process knows a key, a request's key check and rate count are one EVALSHA: no
    cache GET, no second script."""
    from redis.connection import AbstractConnection

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    client, _ = client_with_key(tenant_a, limit=10)
    calls = []
    send = AbstractConnection.send_command

    def recorded(self, *command, **kw):
        calls.append(command[0])
        return send(self, *command, **kw)

    monkeypatch.setattr(AbstractConnection, "send_command", recorded)
    client.get("/api/v1/shipments/")  # scripts load, the key is read and remembered
    calls.clear()
    assert client.get("/api/v1/shipments/").status_code == 200

    assert calls == ["EVALSHA"]


def test_a_refused_secret_does_not_spend_the_owners_budget(tenant_a):
    client, key = client_with_key(tenant_a, limit=2)
    intruder = APIClient()
    intruder.credentials(HTTP_AUTHORIZATION=f"Bearer {key.prefix}_not-the-secret")
    assert [intruder.get("/api/v1/shipments/").status_code for _ in range(5)] == [401] * 5

    assert [client.get("/api/v1/shipments/").status_code for _ in range(3)] == [200, 200, 429]


def test_a_revocation_reaches_a_process_that_remembers_the_key(tenant_a):
    """Another web process revoked the key: this one's copy must not outlive the next request.
    (The other process is simulated by bumping the generation without touching this one.)"""
    from tenants import services

    client, key = client_with_key(tenant_a)
    assert client.get("/api/v1/shipments/").status_code == 200
    ApiKey.unscoped.filter(pk=key.pk).update(revoked_at=timezone.now())
    local = dict(services._local_keys)
    services.api_key_forget(prefix=key.prefix)  # the other process's forget ...
    services._local_keys.update(local)  # ... leaves this process's copy in place

    assert client.get("/api/v1/shipments/").status_code == 401
