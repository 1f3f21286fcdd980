"""The inbox compresses large raw bodies with lz4 on PostgreSQL (migration 0017), byte for byte."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.scoping import all_tenants
from tests.test_shop_webhooks import body_of, shopify_post
from wismo.tracking.models import InboundWebhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def lz4(postgres_only):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL was built without lz4")


def test_the_inbox_body_column_compresses_with_lz4(lz4):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = "
            "'tracking_inboundwebhook'::regclass AND attname = 'body'"
        )
        assert cursor.fetchone()[0] == "l"


def test_a_real_size_delivery_is_stored_lz4_compressed_and_read_back_whole(lz4, shop, enqueued):
    body = body_of("shopify/real_order_updated_fulfillments.json")
    assert len(body) > 8000  # well over the ~2 KB at which PostgreSQL compresses
    response = shopify_post(shop, body, topic="orders/updated", webhook_id="wh-big")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    with all_tenants():
        webhook = InboundWebhook.objects.get(pk=response.json()["id"])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_column_compression(body), pg_column_size(body), octet_length(body) "
                "FROM tracking_inboundwebhook WHERE id = %s",
                [webhook.pk],
            )
            method, stored, length = cursor.fetchone()
    assert webhook.body.encode() == body
    assert method == "lz4" and stored < length == len(body)


def test_a_small_delivery_is_stored_as_it_is(lz4, shop, enqueued):
    body = body_of("shopify/fulfillment_update.json")
    response = shopify_post(shop, body, topic="fulfillments/create", webhook_id="wh-small")
    assert response.status_code == 200
    with all_tenants(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(body), body FROM tracking_inboundwebhook WHERE id = %s",
            [response.json()["id"]],
        )
        method, stored = cursor.fetchone()
    assert method is None and stored.encode() == body
