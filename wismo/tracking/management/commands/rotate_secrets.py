"""Re-encrypt every stored secret with the newest key in WISMO_ENCRYPTION_KEYS.

Rotation: put a new key first in WISMO_ENCRYPTION_KEYS (keep the old ones after it), run this,
then remove the old keys. Reading decrypts with any listed key; saving encrypts with the first.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.scoping import all_tenants
from wismo.tracking.crypto import EncryptedJSONField, EncryptedTextField


def secret_fields() -> list[tuple[type, list[str]]]:
    """Every model with an encrypted field, found in the app registry: a secret added by any app
    (carrier and shop credentials, webhook secrets, authenticator keys, shopper exports) is
    rotated without this command having to know about it."""
    found = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, EncryptedJSONField | EncryptedTextField)
        ]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field (credentials, secrets) with the newest key."

    def handle(self, *args, **options):
        count = 0
        # Platform-wide on purpose: rotation covers every tenant's secrets.
        with all_tenants(), transaction.atomic():
            for model, fields in secret_fields():
                rows = model._base_manager.select_for_update().iterator(chunk_size=500)
                for obj in rows:
                    obj.save(update_fields=fields)
                    count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} rows with the newest key.")
