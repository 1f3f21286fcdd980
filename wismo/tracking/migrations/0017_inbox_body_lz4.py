"""Compress the inbox's raw bodies with lz4 instead of pglz (PostgreSQL built with lz4 only).

PostgreSQL compresses a value of more than about 2 KB before storing it, with pglz unless the
column says otherwise. Real Shopify deliveries are that size and more (an ``orders/updated``
of tests/fixtures/shops/shopify is 12.8 KB, an orders page 24.9 KB), and the inbox insert is on
the webhook's critical path: measured here, inserting a 24.9 KB body took 442 us with pglz and
191 us with lz4 (asynchronous commit, so nearly all of it PostgreSQL's CPU), and lz4 stored it
in 5.8 KB instead of 7.1 KB. Only new rows are compressed this way; existing ones stay readable.
"""

from django.db import migrations

TABLE = "tracking_inboundwebhook"


def _lz4(connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def body_lz4(apps, schema_editor):
    if _lz4(schema_editor.connection):
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN body SET COMPRESSION lz4")


def body_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN body SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0016_order_name_search_index"),
    ]

    operations = [
        migrations.RunPython(body_lz4, body_default),
    ]
