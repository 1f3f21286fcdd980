"""Indexes of the shipment list (dashboard and API, issue #7): filtered by status and carrier
newest first, and sorted by expected date or by last scan (NULLs last)."""

from django.db import migrations, models


class AddIndexExceptSQLite(migrations.AddIndex):
    """SQLite cannot put NULLS LAST in an index; the embedded mode sorts without it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0014_inbox_lean_writes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "status", "carrier", "-created_at", "-id"],
                name="ship_list_status_carrier_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="shipment",
            index=models.Index(
                fields=["tenant", "estimated_delivery", "id"], name="ship_list_expected_idx"
            ),
        ),
        AddIndexExceptSQLite(
            model_name="shipment",
            index=models.Index(
                models.F("tenant"),
                models.OrderBy(models.F("last_event_at"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                name="ship_list_last_scan_idx",
            ),
        ),
    ]
