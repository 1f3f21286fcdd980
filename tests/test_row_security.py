"""PostgreSQL row-level security, the second wall between tenants (tenants.rls).

- every tenant table has row-level security enabled and forced, with the tenant policy;
- the application's role (``manage.py db_app_role``) is no superuser, cannot bypass it and owns
  nothing; through it, a session that set no tenant sees nothing, a tenant's session sees only
  its rows and cannot move a row to another tenant;
- every statement the application sends carries the tenant of the scope it runs in, in its own
  transaction: nothing carries over to the next statement, request or task on the connection.
"""

from __future__ import annotations

import io
import uuid

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction

from tenants import rls
from tenants.scoping import all_tenants, tenant_scope, tenants_scope
from tests.factories import ShipmentFactory


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT current_setting('{rls.SETTING}', true)")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_every_tenant_table_has_row_security_forced_with_the_policy(postgres_only):
    tables = rls.tenant_tables()
    # The discovery finds the tables that matter (a broken discovery must not pass vacuously).
    assert {
        "tracking_shipment",
        "tracking_order",
        "tracking_trackingevent",
        "tracking_inboundwebhook",
        "tenants_apikey",
        "tenants_membership",
        "notifications_notification",
        "tracking_pages_problemreport",
        "dashboard_auditentry",
    } <= set(tables)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relname = ANY(%s) AND c.relrowsecurity "
            "AND c.relforcerowsecurity AND EXISTS (SELECT 1 FROM pg_policies p WHERE "
            "p.tablename = c.relname AND p.policyname = %s)",
            [tables, rls.POLICY],
        )
        protected = {row[0] for row in cursor.fetchall()}
    assert sorted(set(tables) - protected) == []


@pytest.mark.django_db
def test_each_statement_carries_its_scope_and_nothing_carries_over(
    postgres_only, tenant_a, tenant_b
):
    assert _setting() == "*"  # unscoped platform work sees every tenant
    with tenant_scope(tenant_a):
        assert _setting() == str(tenant_a.pk)
        with tenant_scope(tenant_b):
            assert _setting() == str(tenant_b.pk)
        assert _setting() == str(tenant_a.pk)
        with all_tenants():
            assert _setting() == "*"
    with tenants_scope([tenant_a, tenant_b]):
        assert _setting() == f"{tenant_a.pk},{tenant_b.pk}"
    with tenants_scope([]):
        assert _setting() == ""  # a scope over no tenant sees nothing
    assert _setting() == "*"
    with transaction.atomic():
        with tenant_scope(tenant_a):
            assert _setting() == str(tenant_a.pk)
        assert _setting() == "*"  # the value set for the last statement did not stay


@pytest.fixture
def app_role():
    """A role made by ``manage.py db_app_role`` (needs a database user that may create roles)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("the test database user may not create roles")
    name = f"wismo_app_{uuid.uuid4().hex[:8]}"
    call_command("db_app_role", name, stdout=io.StringIO())
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP OWNED BY "{name}"')
        cursor.execute(f'DROP ROLE "{name}"')


@pytest.mark.django_db(transaction=True)
def test_through_the_app_role_each_tenant_sees_only_its_rows(
    postgres_only, app_role, tenant_a, tenant_b
):
    with tenant_scope(tenant_a):
        ShipmentFactory.create_batch(3, tenant=tenant_a)
    with tenant_scope(tenant_b):
        ShipmentFactory.create_batch(2, tenant=tenant_b)
    db = connection.settings_dict
    app = psycopg2.connect(
        dbname=db["NAME"], user=app_role, host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432
    )
    app.autocommit = True
    try:
        with app.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolbypassrls, (SELECT count(*) FROM pg_tables WHERE "
                "tableowner = current_user) FROM pg_roles WHERE rolname = current_user"
            )
            assert cursor.fetchone() == (False, False, 0)

            def visible() -> list[int]:
                cursor.execute("SELECT tenant_id FROM tracking_shipment ORDER BY tenant_id")
                return [row[0] for row in cursor.fetchall()]

            assert visible() == []  # no tenant set: nothing
            cursor.execute("SELECT set_config(%s, %s, false)", [rls.SETTING, str(tenant_a.pk)])
            assert visible() == [tenant_a.pk] * 3
            cursor.execute(
                "UPDATE tracking_shipment SET carrier = 'x' WHERE tenant_id = %s", [tenant_b.pk]
            )
            assert cursor.rowcount == 0  # another tenant's rows cannot be touched
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute("UPDATE tracking_shipment SET tenant_id = %s", [tenant_b.pk])
            cursor.execute("SELECT set_config(%s, %s, false)", [rls.SETTING, "*"])
            assert visible() == [tenant_a.pk] * 3 + [tenant_b.pk] * 2
            # What the application sends for a statement in tenant B's scope:
            cursor.execute(
                f"SELECT set_config('{rls.SETTING}', '{tenant_b.pk}', true); "
                "SELECT tenant_id FROM tracking_shipment"
            )
            assert [row[0] for row in cursor.fetchall()] == [tenant_b.pk] * 2
    finally:
        app.close()

    # The application's own statements through that role: plain and server-side cursors, in
    # autocommit and in a transaction.
    base = connections["default"]
    wrapper = type(base)({**base.settings_dict, "USER": app_role}, alias="app")
    try:
        for autocommit in (True, False):
            wrapper.ensure_connection()
            wrapper.set_autocommit(autocommit)
            for make in (wrapper.cursor, wrapper.chunked_cursor):
                with tenant_scope(tenant_a), make() as cursor:
                    cursor.execute("SELECT tenant_id FROM tracking_shipment")
                    assert [row[0] for row in cursor.fetchall()] == [tenant_a.pk] * 3
                with make() as cursor:  # unscoped platform work
                    cursor.execute("SELECT count(*) FROM tracking_shipment")
                    assert cursor.fetchone()[0] == 5
            if not autocommit:
                wrapper.rollback()
            with wrapper.connection.cursor() as raw:  # nothing left on the connection
                raw.execute(f"SELECT current_setting('{rls.SETTING}', true)")
                assert raw.fetchone()[0] in (None, "")
    finally:
        wrapper.close()
