"""PostgreSQL row-level security: the database's own wall between tenants, behind the scopes.

Every table with a ``tenant`` foreign key gets row-level security, forced (the table's owner
obeys it too), with one policy: a row is visible and writable only when its ``tenant_id`` is
among the ids in the setting ``wismo.tenant_ids``, or when that setting is ``*``. A session
that never set it (a console, a leaked connection, a query that went around the application)
sees nothing.

The application sets it for every statement, in the statement's own transaction
(``set_config(..., true)`` sent in the same round trip, just before it): inside
``tenant_scope(t)`` to ``t``'s id, inside ``tenants_scope`` to those ids, and elsewhere (platform
work that is unscoped on purpose: beat sweeps, API key lookup, webhook intake before the
tenant is known, ``all_tenants``) to ``*``. Being transaction-local, a value can never outlive
its statement's transaction: a pooled connection carries nothing from one request or task to
the next, and a rollback cannot leave a stale one behind.

The wall only stands when the application's role is not a superuser, has no BYPASSRLS and does
not own the tables (owners obey too, since the security is forced): ``manage.py db_app_role``
creates such a role. ``ensure_row_security`` runs after every ``migrate`` so that a new tenant
table is covered without anyone remembering to; a test checks that every one is.
"""

from __future__ import annotations

import logging

from django.apps import apps
from django.conf import settings

from tenants.scoping import active_tenant_ids

log = logging.getLogger(__name__)

SETTING = "wismo.tenant_ids"
POLICY = "wismo_tenant_isolation"
# Statements that read or write rows. Everything else (DDL, SET, transaction control, PREPARE,
# whose plan is checked again at EXECUTE) goes as it is.
_ROW_STATEMENTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "EXECUTE", "EXPLAIN", "VALUES")

# Each side is a scalar subquery so that PostgreSQL computes it once per statement (an
# InitPlan), not once per row.
_USING = (
    f"(SELECT current_setting('{SETTING}', true)) = '*' OR tenant_id = ANY((SELECT "
    f"string_to_array(NULLIF(current_setting('{SETTING}', true), '*'), ',')::bigint[])::bigint[])"
)


def setting_value() -> str:
    """What ``wismo.tenant_ids`` must hold for the code running now."""
    ids = active_tenant_ids()
    if ids is None:
        return "*"
    return ",".join(str(int(pk)) for pk in ids)  # ints only: safe to write into the SQL


def execute_wrapper(execute, sql, params, many, context):
    """Django execute wrapper: sets the tenant for each row statement, in its transaction."""
    value = setting_value()
    raw = getattr(context["cursor"], "cursor", None)
    if getattr(raw, "name", None):
        # A server-side cursor's DECLARE takes no prefix. In a transaction its rows are fetched
        # until the transaction ends: a transaction-local value covers them. In autocommit
        # (WITH HOLD) the rows are computed when the DECLARE commits: a session value covers
        # that, and is cleared as soon as it has.
        django_connection = context["connection"]
        in_transaction = not django_connection.get_autocommit()
        with django_connection.connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, %s, %s)", [SETTING, value, in_transaction])
            try:
                return execute(sql, params, many, context)
            finally:
                if not in_transaction:
                    cursor.execute("SELECT set_config(%s, '', false)", [SETTING])
    return execute(scoped(sql, value), params, many, context)


def scoped(sql: str, value: str | None = None) -> str:
    """``sql`` as sent: a row statement goes after the setting for the code running now
    (``value``, when the caller already has it), in the same round trip and transaction."""
    if sql.lstrip()[:7].upper().startswith(_ROW_STATEMENTS):
        if value is None:
            value = setting_value()
        return f"SELECT set_config('{SETTING}', '{value}', true); {sql}"
    return sql


# All the wrapper does to a plain cursor's statement: wismo.db.fetch_prepared, which sends its
# statement on psycopg2's cursor, applies it instead of taking the ordinary path.
execute_wrapper.rewrite = scoped


def install(connection, **kwargs) -> None:
    """``connection_created`` receiver: wrap every PostgreSQL connection's statements."""
    if connection.vendor != "postgresql" or not getattr(settings, "WISMO_DB_ROW_SECURITY", True):
        return
    if execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_wrapper)


def tenant_tables() -> list[str]:
    """Every table with a ``tenant`` foreign key to ``tenants.Tenant``."""
    tenant_model = apps.get_model("tenants", "Tenant")
    tables = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        field = next((f for f in model._meta.concrete_fields if f.name == "tenant"), None)
        if field is not None and field.is_relation and field.related_model is tenant_model:
            tables.append(model._meta.db_table)
    return sorted(set(tables))


def ensure_row_security(using: str = "default", **kwargs) -> list[str]:
    """Enable and force row-level security with the tenant policy on every tenant table that
    lacks it (idempotent; a ``post_migrate`` receiver). Returns the tables it changed."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    changed = []
    with connection.cursor() as cursor:
        for table in tenant_tables():
            cursor.execute(
                "SELECT c.relrowsecurity AND c.relforcerowsecurity, EXISTS (SELECT 1 FROM "
                "pg_policies p WHERE p.tablename = c.relname AND p.policyname = %s) "
                "FROM pg_class c WHERE c.relname = %s AND c.relkind = 'r'",
                [POLICY, table],
            )
            row = cursor.fetchone()
            if row is None or (row[0] and row[1]):
                continue
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY")
            if not row[1]:
                cursor.execute(
                    f"CREATE POLICY {POLICY} ON {quoted} USING ({_USING}) WITH CHECK ({_USING})"
                )
            changed.append(table)
    if changed:
        log.info("row-level security enabled on %s", ", ".join(changed))
    return changed
