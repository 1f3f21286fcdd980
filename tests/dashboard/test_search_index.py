"""The agents' name search has its trigram index on PostgreSQL, matching the SQL Django sends."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.scoping import tenant_scope
from tests.factories import OrderFactory
from wismo.tracking.models import Order

pytestmark = pytest.mark.django_db


def test_the_name_search_index_exists_and_matches_the_search_sql(postgres_only, tenant_a):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'order_name_trgm_idx'")
        row = cursor.fetchone()
    assert row is not None and "gin_trgm_ops" in row[0] and "upper" in row[0].lower()
    with tenant_scope(tenant_a):
        OrderFactory(tenant=tenant_a, customer_name="Maria Rossi")
        query = Order.objects.filter(customer_name__icontains="ria ros")
        sql, _ = query.query.sql_with_params()
        assert 'UPPER("tracking_order"."customer_name"::text) LIKE UPPER(' in sql
        with connection.cursor() as cursor:  # the planner can use it for that expression
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(
                'EXPLAIN SELECT id FROM tracking_order WHERE UPPER("tracking_order".'
                '"customer_name"::text) LIKE UPPER(%s)',
                ["%ria ros%"],
            )
            plan = "\n".join(r[0] for r in cursor.fetchall())
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            superuser = cursor.fetchone()[0]
        if superuser:
            # A role that row-level security binds cannot use it: LIKE is not leakproof, so
            # PostgreSQL applies it only after the tenant policy (see README, Performance).
            assert "order_name_trgm_idx" in plan
        assert [o.customer_name for o in query] == ["Maria Rossi"]
