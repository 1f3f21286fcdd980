from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tenants.scoping import tenant_scope
from tenants.services import api_key_create
from tests.factories import TenantFactory


@pytest.fixture
def tenant_a(db):
    return TenantFactory(slug="alpha", name="Alpha Shop")


@pytest.fixture
def tenant_b(db):
    return TenantFactory(slug="bravo", name="Bravo Shop")


@pytest.fixture
def scope_a(tenant_a):
    with tenant_scope(tenant_a):
        yield tenant_a


def _client_for(tenant, role="admin") -> APIClient:
    _, raw = api_key_create(tenant=tenant, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api_a(tenant_a) -> APIClient:
    return _client_for(tenant_a)


@pytest.fixture
def api_b(tenant_b) -> APIClient:
    return _client_for(tenant_b)


@pytest.fixture
def agent_api_a(tenant_a) -> APIClient:
    return _client_for(tenant_a, role="agent")


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


@pytest.fixture
def terminate_backend():
    """Terminate a raw PostgreSQL connection's server process from another connection, as a
    database restart or an idle timeout would: ``terminate_backend(connection.connection)``."""
    import psycopg2

    def terminate(raw) -> None:
        killer = psycopg2.connect(**connection.get_connection_params())
        try:
            killer.autocommit = True
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [raw.get_backend_pid()])
        finally:
            killer.close()

    return terminate


@pytest.fixture
def carrier_server():
    """A fake carrier API on 127.0.0.1 (see tests/fakes/carrier_server.py)."""
    from tests.fakes.carrier_server import FakeCarrierServer

    with FakeCarrierServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated_shared_state(settings):
    """Each test gets its own Redis namespace and a fresh in-process throttle state."""
    import uuid

    from wismo.tracking.services.throttle import reset_local_state

    settings.WISMO_REDIS_PREFIX = f"wismo-test-{uuid.uuid4().hex[:12]}"
    # Passwords are hashed with PBKDF2 at a million rounds in the product; the tests sign
    # hundreds of people in and would spend minutes hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests post a delivery and process it at once: no in-process debounce, no settle wait.
    settings.WISMO_INBOX_DEBOUNCE_SECONDS = 0
    reset_local_state()
    # The shopper pages keep per-process maps (tenant slugs, brands, rendered pages): a test's
    # rolled-back tenant must not be found by the next test under the same slug.
    from tracking_pages import pagecache
    from tracking_pages import selectors as page_selectors
    from tracking_pages import views as page_views

    page_selectors.forget_tenants()
    page_views._brands.clear()
    page_views._brand_of.clear()
    page_views.local_pages.clear()
    pagecache.clear()
    yield


@pytest.fixture
def enqueued(monkeypatch):
    """Inbox processing tasks recorded instead of sent to a broker; run them with .apply()."""
    from wismo.tracking import tasks

    sent = []
    monkeypatch.setattr(
        tasks.process_inbound_webhook, "apply_async", lambda kwargs: sent.append(kwargs)
    )
    return sent


@pytest.fixture
def shop(tenant_a):
    """Tenant A's Shopify store, its webhook secret ``shpss_secret``."""
    from tests.factories import ShopConnectionFactory

    with tenant_scope(tenant_a):
        return ShopConnectionFactory(
            tenant=tenant_a, platform="shopify", webhook_secret="shpss_secret"
        )
