"""A trigram index for the agents' name search (PostgreSQL only)."""

import logging

from django.db import migrations, transaction

log = logging.getLogger(__name__)

# The agents' search box matches names with ``customer_name__icontains``, i.e.
# ``UPPER(customer_name::text) LIKE UPPER('%term%')``: without a trigram index PostgreSQL reads
# every order of the tenant (500 ms at 1,000,000 orders). The expression matches Django's SQL.
TRIGRAM_INDEX = (
    "CREATE INDEX IF NOT EXISTS order_name_trgm_idx ON tracking_order "
    "USING gin (UPPER(customer_name::text) gin_trgm_ops)"
)


def name_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may install it.
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception:  # no privilege: search still works, only slower
        log.warning("pg_trgm could not be installed: name search will scan the orders")
        return
    schema_editor.execute(TRIGRAM_INDEX)


def drop_name_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS order_name_trgm_idx")


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0015_shipment_list_indexes"),
    ]

    operations = [
        migrations.RunPython(name_search_index, drop_name_search_index),
    ]
