"""No plaintext credential in a database dump, the logs, the cache or the broker's task bodies.

Every kind of secret wismo holds is planted with a unique value and then used the way the
product uses it: carrier and shop credentials saved through the API and sent to a (fake)
carrier, a webhook signed with the store's secret, an outbound webhook secret, an authenticator
enrolled, an API key, a mistyped password. Then a real ``pg_dump`` of the database, every key
of the Redis database (cache and broker queues), every task published and every log record at
DEBUG level are searched for each value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client, TestCase
from django.utils import timezone

from tenants import rls
from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory
from tests.fakes.carrier_server import json_file
from wismo.tracking.models import CarrierAccount, ShopConnection
from wismo.tracking.services import polling

pytestmark = [pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def published():
    """Every task body and header the product publishes, as text."""
    seen: list[str] = []

    def record(sender=None, body=None, headers=None, **_):
        seen.append(json.dumps([sender, body, headers], default=repr))

    before_task_publish.connect(record, weak=False)
    yield seen
    before_task_publish.disconnect(record)


def _redis_text() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            parts.append(client.get(key) or b"")
        elif kind == b"list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                parts += [field, value]
        elif kind in (b"set", b"zset"):
            parts.extend(client.smembers(key) if kind == b"set" else client.zrange(key, 0, -1))
        parts.append(key)
    return b"\n".join(parts).decode("utf-8", "replace")


def _dump_text() -> str:
    db = connection.settings_dict
    command = [
        shutil.which("pg_dump") or "pg_dump",
        "--data-only",
        "--no-owner",
        # Tenant tables have row-level security: dump every tenant's rows, as a backup would.
        "--enable-row-security",
        "-h",
        db["HOST"] or "127.0.0.1",
        "-p",
        str(db["PORT"] or 5432),
        "-U",
        db["USER"] or "postgres",
        db["NAME"],
    ]
    env = {**os.environ, "PGOPTIONS": f"-c {rls.SETTING}=*"}
    done = subprocess.run(command, capture_output=True, timeout=120, check=True, env=env)
    return done.stdout.decode("utf-8", "replace")


def test_no_plaintext_secret_in_dump_logs_cache_or_broker(
    api_a, tenant_a, carrier_server, published, caplog
):
    if connection.vendor != "postgresql" or not shutil.which("pg_dump"):
        pytest.skip("needs PostgreSQL and pg_dump")
    if not getattr(settings, "REDIS_URL", ""):
        pytest.skip("needs Redis")
    settings.WISMO_TRACKING_WINDOW_DAYS = 3650  # the recorded carrier answer is from 2025
    caplog.set_level(logging.DEBUG)
    tag = uuid.uuid4().hex
    secrets = {
        "carrier api key": f"carrier-key-{tag}",
        "shop access token": f"shpat_{tag}",
        "shop webhook secret": f"whsec_{tag}",
        "outbound webhook secret": f"outbound-{tag}",
        "typed password": f"typed-password-{tag}",
    }

    # Carrier credentials through the API, then used against the carrier.
    response = api_a.post(
        "/api/v1/carrier-accounts/",
        {
            "carrier": "dhl",
            "name": "DHL",
            "credentials": {"api_key": secrets["carrier api key"]},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    carrier_server.route("GET", r"^/track/shipments$", json_file("dhl/transit.json"))
    with tenant_scope(tenant_a):
        account = CarrierAccount.objects.get(pk=response.json()["id"])
        # The API takes https base URLs only: the fake carrier is plain http on 127.0.0.1.
        account.credentials = {**account.credentials, "base_url": carrier_server.url}
        account.save()
        shipment = ShipmentFactory(
            tenant=tenant_a,
            carrier="dhl",
            carrier_account=account,
            tracking_number="1234567890",
            next_poll_at=timezone.now() - timedelta(minutes=1),
        )
    with tenant_scope(tenant_a), TestCase.captureOnCommitCallbacks(execute=True):
        assert polling.poll_shipments(shipment_ids=[shipment.pk])["events"] > 0
    assert carrier_server.requests[0].headers["dhl-api-key"] == secrets["carrier api key"]

    # A store's token and webhook secret through the API; a delivery signed with the secret.
    response = api_a.post(
        "/api/v1/stores/",
        {
            "platform": "shopify",
            "name": "Leaky",
            "shop_url": "https://leaky.myshopify.com",
            "credentials": {"access_token": secrets["shop access token"]},
            "webhook_secret": secrets["shop webhook secret"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    store_id = response.json()["id"]
    body = (FIXTURES / "shops" / "shopify" / "order_two_fulfillments.json").read_bytes()
    signature = base64.b64encode(
        hmac.new(secrets["shop webhook secret"].encode(), body, hashlib.sha256).digest()
    ).decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = Client().post(
            f"/hooks/shopify/{store_id}/",
            body,
            content_type="application/json",
            HTTP_X_SHOPIFY_HMAC_SHA256=signature,
            HTTP_X_SHOPIFY_TOPIC="orders/create",
            HTTP_X_SHOPIFY_WEBHOOK_ID=f"wh-{tag}",
        )
    assert response.status_code == 200, response.content

    # An outbound webhook's signing secret.
    response = api_a.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://hooks.example.com/wismo", "secret": secrets["outbound webhook secret"]},
        format="json",
    )
    assert response.status_code == 201, response.content

    # An authenticator enrolled, a new API key, a password typed wrong at the sign-in page.
    import pyotp
    from django.contrib.auth import get_user_model

    from dashboard.services.accounts import totp_begin, totp_confirm
    from tenants.services import api_key_create

    user = get_user_model().objects.create_user(
        f"leak-{tag}@example.com", f"leak-{tag}@example.com", f"real-password-{tag}"
    )
    device = totp_begin(user=user)
    secrets["authenticator secret"] = device.secret
    totp_confirm(user=user, code=pyotp.TOTP(device.secret).now())
    _, raw_key = api_key_create(tenant=tenant_a, role="agent", name="leak")
    secrets["api key"] = raw_key
    secrets["real password"] = f"real-password-{tag}"
    response = Client().post(
        "/accounts/login/", {"username": user.username, "password": secrets["typed password"]}
    )
    assert response.status_code in (200, 429)

    # Key rotation re-encrypts everything: nothing is written out in clear on the way.
    call_command("rotate_secrets", stdout=io.StringIO())

    with tenant_scope(tenant_a):  # the values are really stored (encrypted), not dropped
        assert (
            CarrierAccount.objects.get(pk=account.pk).credentials["api_key"]
            == secrets["carrier api key"]
        )
        assert (
            ShopConnection.objects.get(pk=store_id).webhook_secret == secrets["shop webhook secret"]
        )

    places = {
        "database dump": _dump_text(),
        "cache and broker keys": _redis_text(),
        "published tasks": "\n".join(published),
        "logs": caplog.text + "\n".join(repr(r.args) for r in caplog.records),
    }
    # Each place really holds what the flows wrote (a search of an empty place proves nothing).
    assert "Leaky" in places["database dump"] and "1234567890" in places["database dump"]
    assert published, "the flows published no task: the broker was not exercised"
    task_ids = [json.loads(p)[2].get("id") for p in published]
    assert any(task_id and task_id in places["cache and broker keys"] for task_id in task_ids)
    assert "/api/v1/stores/" in places["logs"]
    leaks = [
        f"{what} in the {place}"
        for place, text in places.items()
        for what, value in secrets.items()
        if value in text
    ]
    assert not leaks
