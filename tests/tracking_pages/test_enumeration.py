"""Enumeration (hardening, issue #9): 1,000 lookups from one address, then from 20 addresses,
against one tenant. The limits stop the guessing, the database is asked only while under them,
and a refused guess looks the same whether the order exists or not."""

from __future__ import annotations

import pytest

from tracking_pages import services

pytestmark = pytest.mark.django_db

ATTEMPTS = 1000
# Windows of an hour: a slow machine must not see a one-minute window roll over mid-test.


@pytest.fixture
def verified(monkeypatch):
    """Counts the lookups that reached the database."""
    calls = []
    real = services.order_verify

    def counting(**kwargs):
        calls.append(kwargs["order_number"])
        return real(**kwargs)

    monkeypatch.setattr(services, "order_verify", counting)
    return calls


def guess(client, tenant, n: int, ip: str):
    return client.post(
        f"/t/{tenant.slug}/",
        {"lang": "en", "order_number": str(100000 + n), "email": "eve@example.com"},
        REMOTE_ADDR=ip,
    )


def test_a_thousand_guesses_from_one_address_stop_at_the_ip_limit(
    client, tenant_a, order_a, settings, verified
):
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (10, 3600)
    settings.WISMO_PAGES_LOOKUP_TENANT_LIMIT = (300, 3600)
    statuses = [guess(client, tenant_a, n, "203.0.113.7").status_code for n in range(ATTEMPTS)]

    assert statuses[:10] == [400] * 10
    assert set(statuses[10:]) == {429}
    assert len(verified) == 10  # past the limit nothing is looked up
    refused = guess(client, tenant_a, 0, "203.0.113.7")
    assert int(refused["Retry-After"]) > 0
    # The real order number, guessed past the limit, is refused exactly like a wrong one.
    real = client.post(
        f"/t/{tenant_a.slug}/",
        {"lang": "en", "order_number": "1001", "email": "ada@example.com"},
        REMOTE_ADDR="203.0.113.7",
    )
    assert real.status_code == 429
    # Only what the shopper typed is echoed back in the form.
    echoed = real.content.replace(b"1001", b"100000").replace(b"ada@", b"eve@")
    assert echoed == refused.content


def test_a_thousand_guesses_from_twenty_addresses_hit_the_tenant_limit(
    client, tenant_a, order_a, settings, verified
):
    settings.WISMO_PAGES_LOOKUP_IP_LIMIT = (10, 3600)
    settings.WISMO_PAGES_LOOKUP_TENANT_LIMIT = (300, 3600)
    statuses = [
        guess(client, tenant_a, n, f"198.51.100.{n % 20 + 1}").status_code for n in range(ATTEMPTS)
    ]

    assert statuses.count(400) <= 20 * 10
    assert statuses.count(429) >= ATTEMPTS - 200
    assert len(verified) == statuses.count(400)
    # The tenant as a whole is now shut to guessing: a fresh address is refused too.
    assert guess(client, tenant_a, 0, "192.0.2.200").status_code == 429
