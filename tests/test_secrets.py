"""Carrier and shop credentials are encrypted at rest, rotate with the key list, never shown again."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from tests.factories import CarrierAccountFactory, ShopConnectionFactory
from wismo.tracking import crypto
from wismo.tracking.models import CarrierAccount, ShopConnection

pytestmark = pytest.mark.django_db


def raw_column(model, pk, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_credentials_and_webhook_secrets_are_encrypted_at_rest(scope_a):
    account = CarrierAccountFactory(
        tenant=scope_a, credentials={"client_secret": "very-secret-value"}
    )
    store = ShopConnectionFactory(tenant=scope_a, webhook_secret="whsec-plaintext")

    stored = raw_column(CarrierAccount, account.pk, "credentials")
    assert "very-secret-value" not in stored and stored.startswith("gAAAA")
    assert "whsec-plaintext" not in raw_column(ShopConnection, store.pk, "webhook_secret")
    assert CarrierAccount.objects.get(pk=account.pk).credentials == {
        "client_secret": "very-secret-value"
    }
    assert ShopConnection.objects.get(pk=store.pk).webhook_secret == "whsec-plaintext"


def test_key_rotation_reads_old_values_and_writes_with_the_newest_key(scope_a, settings):
    old_key = Fernet.generate_key().decode()
    settings.WISMO_ENCRYPTION_KEYS = [old_key]
    account = CarrierAccountFactory(tenant=scope_a, credentials={"token": "t-1"})

    new_key = Fernet.generate_key().decode()
    settings.WISMO_ENCRYPTION_KEYS = [new_key, old_key]
    assert CarrierAccount.objects.get(pk=account.pk).credentials == {"token": "t-1"}
    account.save()  # re-encrypts with the newest key

    settings.WISMO_ENCRYPTION_KEYS = [new_key]
    assert CarrierAccount.objects.get(pk=account.pk).credentials == {"token": "t-1"}


def test_a_value_no_key_can_read_fails_loudly(scope_a, settings):
    account = CarrierAccountFactory(tenant=scope_a)
    settings.WISMO_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="WISMO_ENCRYPTION_KEYS"):
        CarrierAccount.objects.get(pk=account.pk)


def test_serialized_dumps_never_carry_secrets(scope_a):
    from django.core import serializers

    account = CarrierAccountFactory(
        tenant=scope_a, credentials={"client_secret": "very-secret-value"}
    )
    dumped = serializers.serialize("json", [account])
    assert "very-secret-value" not in dumped


def test_rotate_reencrypts_with_the_newest_key(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WISMO_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("x")
    settings.WISMO_ENCRYPTION_KEYS = [new, old]
    rotated = crypto.rotate(token)
    settings.WISMO_ENCRYPTION_KEYS = [new]
    assert crypto.decrypt(rotated) == "x"


def test_rotate_secrets_command_moves_every_tenants_secrets_to_the_newest_key(
    tenant_a, tenant_b, settings
):
    import io

    from django.core.management import call_command

    from tenants.scoping import tenant_scope

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WISMO_ENCRYPTION_KEYS = [old]
    with tenant_scope(tenant_a):
        a = CarrierAccountFactory(tenant=tenant_a, credentials={"k": "a"})
    with tenant_scope(tenant_b):
        b = ShopConnectionFactory(tenant=tenant_b, webhook_secret="wb")

    settings.WISMO_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets", stdout=io.StringIO())
    settings.WISMO_ENCRYPTION_KEYS = [new]

    with tenant_scope(tenant_a):
        assert CarrierAccount.objects.get(pk=a.pk).credentials == {"k": "a"}
    with tenant_scope(tenant_b):
        assert ShopConnection.objects.get(pk=b.pk).webhook_secret == "wb"


def test_rotate_secrets_finds_every_encrypted_field_of_every_app(tenant_a, settings):
    """Authenticator keys, outgoing webhook secrets and shopper exports rotate too: after the old
    key is gone every one still reads."""
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from dashboard.models import TwoFactorDevice
    from notifications.models import WebhookEndpoint
    from tenants.scoping import tenant_scope
    from wismo.tracking.management.commands.rotate_secrets import secret_fields

    labels = {model._meta.label for model, _ in secret_fields()}
    assert {
        "tracking.CarrierAccount",
        "tracking.ShopConnection",
        "tracking.PrivacyRequest",
        "notifications.WebhookEndpoint",
        "dashboard.TwoFactorDevice",
    } <= labels

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WISMO_ENCRYPTION_KEYS = [old]
    user = get_user_model().objects.create_user("totp@example.com", "totp@example.com", "x")
    device = TwoFactorDevice.objects.create(user=user, secret="JBSWY3DPEHPK3PXP")
    with tenant_scope(tenant_a):
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant_a, url="https://a.example/hooks", secret="hook-secret"
        )
    settings.WISMO_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_secrets", stdout=io.StringIO())
    settings.WISMO_ENCRYPTION_KEYS = [new]
    assert TwoFactorDevice.objects.get(pk=device.pk).secret == "JBSWY3DPEHPK3PXP"
    with tenant_scope(tenant_a):
        assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == "hook-secret"
