"""REST API v1 against its own OpenAPI document: schemathesis generates requests for every
operation (tenant A's admin key) and checks that none is a 5xx and that every answer is documented:
status code, content type, headers and body schema.

The schema is generated in-process (drf-spectacular) and the requests go straight to Django's
WSGI handler, inside the test's database transaction. Nothing leaves the machine: email goes to
the locmem backend, tasks enqueued on commit never run (the transaction is rolled back), and any
socket to another host than 127.0.0.1 fails the test.
"""

from __future__ import annotations

import socket

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tenants.scoping import tenant_scope
from tenants.services import api_key_create
from tests.factories import ShipmentFactory, ShopConnectionFactory, TenantFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
# Bounded: 10 generated requests per operation (the exhaustive "coverage" phase takes minutes).
schema.config.phases.coverage.enabled = False


@pytest.fixture
def no_network(monkeypatch):
    connect = socket.socket.connect

    def local_only(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "localhost", "::1")
            and not (host.startswith("/"))
        ):
            raise AssertionError(f"the API tried to reach {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)


@pytest.fixture
def in_transaction_wsgi():
    """Django's handler closes "stale" connections around each request, which would end the
    test's transaction; the test client switches this off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(db, settings, no_network, in_transaction_wsgi) -> str:
    settings.WISMO_API_RATE_LIMIT_PER_MINUTE = 100_000
    settings.ALLOWED_HOSTS = ["*"]
    tenant = TenantFactory(slug="alpha", name="Alpha Shop")
    with tenant_scope(tenant):
        ShipmentFactory(tenant=tenant, carrier="manual", tracking_number="OWN1")
        ShopConnectionFactory(tenant=tenant, name="Alpha store")
    _, raw = api_key_create(tenant=tenant, role="admin")
    return raw


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_answers_as_documented(case, admin_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_key}"}, checks=CHECKS)
