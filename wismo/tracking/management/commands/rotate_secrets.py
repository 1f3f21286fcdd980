"""Re-encrypt every stored secret with the newest key in WISMO_ENCRYPTION_KEYS.

Rotation: put a new key first in WISMO_ENCRYPTION_KEYS (keep the old ones after it), run this,
then remove the old keys. Reading decrypts with any listed key; saving encrypts with the first.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from tenants.scoping import all_tenants
from wismo.tracking.models import CarrierAccount, ShopConnection

SECRET_FIELDS = (
    (CarrierAccount, ["credentials"]),
    (ShopConnection, ["credentials", "webhook_secret"]),
)


class Command(BaseCommand):
    help = "Re-encrypt stored credentials and webhook secrets with the newest encryption key."

    def handle(self, *args, **options):
        count = 0
        # Platform-wide on purpose: rotation covers every tenant's secrets.
        with all_tenants(), transaction.atomic():
            for model, fields in SECRET_FIELDS:
                for obj in model.objects.select_for_update().iterator(chunk_size=500):
                    obj.save(update_fields=fields)
                    count += 1
        self.stdout.write(f"Re-encrypted the secrets of {count} rows with the newest key.")
