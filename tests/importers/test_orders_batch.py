"""orders_import: a page of orders in a few statements, with the same result as one by one."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.scoping import tenant_scope
from tests.factories import ShopConnectionFactory
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, OrderDTO
from wismo.tracking.models import Order, PollQueue, Shipment
from wismo.tracking.services.imports import order_import, orders_import

pytestmark = pytest.mark.django_db


def dto(n: int, *fulfillments: FulfillmentDTO, **changes) -> OrderDTO:
    base = OrderDTO(
        external_id=f"ext-{n}",
        order_number=str(1000 + n),
        customer_email=f"s{n}@example.com",
        customer_name=f"Shopper {n}",
        locale="it",
        shipping_country="it",
        shipping_postcode="20121",
        currency="EUR",
        line_items=(LineItemDTO("Cups", 2, "C-2", "9.50"),),
        fulfillments=fulfillments
        or (FulfillmentDTO(f"f{n}", (f"SBX{2991965300000 + n * 7}",), "sandbox"),),
    )
    return replace(base, **changes)


def page() -> list[OrderDTO]:
    return [
        dto(1),
        dto(2, FulfillmentDTO("f2a", ("1Z5R89390357567127",), "UPS"), FulfillmentDTO("f2b", ())),
        dto(3, FulfillmentDTO("f3", ("not a number!",), "")),  # a bad number: skipped, reported
        dto(4, cancelled=True),
        dto(5, FulfillmentDTO("f5", ("OWN5",), "manual")),
        dto(1),  # listed twice in one page
    ]


def snapshot(store) -> list[tuple]:
    orders = sorted(
        Order.objects.filter(store=store).values_list(
            "external_id",
            "order_number",
            "customer_email",
            "customer_name",
            "locale",
            "shipping_country",
            "shipping_postcode",
            "line_items",
            "cancelled_at",
        ),
        key=str,
    )
    # When it was cancelled is the moment of the import: only whether it was is compared.
    orders = [(*row[:-1], row[-1] is not None) for row in orders]
    parcels = sorted(
        Shipment.objects.filter(store=store).values_list(
            "order__external_id",
            "carrier",
            "tracking_number",
            "external_fulfillment_id",
            "destination_country",
            "destination_postcode",
            "is_active",
        )
    )
    queued = PollQueue.objects.filter(shipment__store=store).count()
    return [*orders, *parcels, queued]


def test_a_page_gives_exactly_what_importing_each_order_gives(tenant_a, tenant_b):
    # Numbers are unique per tenant: compare two tenants, one importing order by order.
    with tenant_scope(tenant_a):
        one_by_one = ShopConnectionFactory(tenant=tenant_a)
        for item in page():
            order_import(store=one_by_one, dto=item)
        expected = snapshot(one_by_one)
    with tenant_scope(tenant_b):
        batched = ShopConnectionFactory(tenant=tenant_b)
        outcomes = orders_import(store=batched, dtos=page())
        result = snapshot(batched)

    assert len(expected) > 8 and result == expected
    orders = [row for row in result if isinstance(row, tuple) and len(row) == 9]
    assert [row[0] for row in orders if row[-1] is True] == ["ext-4"]  # the cancelled one
    assert [o.order_created for o in outcomes] == [True, True, True, True, True, True]
    assert outcomes[2].problems and outcomes[0].shipments_created == 1


def test_numbers_tracked_elsewhere_take_the_exact_path(scope_a):
    first, second = (ShopConnectionFactory(tenant=scope_a) for _ in range(2))
    orders_import(store=first, dtos=[dto(1)])

    outcomes = orders_import(store=second, dtos=[dto(1), dto(7)])

    assert [o.order_created for o in outcomes] == [True, True]
    # ext-1's number is already the first store's parcel: linked there, never tracked twice.
    assert list(
        Shipment.objects.filter(tracking_number="SBX2991965300007").values_list("store", flat=True)
    ) == [first.pk]
    assert Shipment.objects.filter(tracking_number="SBX2991965300049", store=second).exists()


def test_a_page_of_new_orders_costs_a_fixed_number_of_queries(scope_a, postgres_only):
    # PostgreSQL only: SQLite's 999-parameter limit splits every bulk insert into batches.
    store = ShopConnectionFactory(tenant=scope_a)
    orders = [dto(n) for n in range(250)]

    with CaptureQueriesContext(connection) as queries:
        outcomes = orders_import(store=store, dtos=orders)

    assert sum(o.shipments_created for o in outcomes) == 250
    assert len(queries) <= 12, [q["sql"][:80] for q in queries]


def test_an_idle_resync_of_a_page_writes_nothing(scope_a):
    store = ShopConnectionFactory(tenant=scope_a)
    orders = [dto(n) for n in range(100)]
    orders_import(store=store, dtos=orders)

    with CaptureQueriesContext(connection) as queries:
        outcomes = orders_import(store=store, dtos=orders)

    assert not any(o.order_created or o.shipments_created for o in outcomes)
    assert len(queries) <= 3
    assert not any(q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) for q in queries)


def test_a_changed_order_in_a_page_is_updated_by_the_exact_path(scope_a):
    store = ShopConnectionFactory(tenant=scope_a)
    orders_import(store=store, dtos=[dto(1), dto(2)])

    changed = dto(
        2,
        FulfillmentDTO("f2", ("SBX2991965300014", "SBX2991965300021"), "sandbox"),
        customer_name="Renamed",
    )
    outcomes = orders_import(store=store, dtos=[dto(1), changed, replace(dto(3), cancelled=True)])

    assert Order.objects.get(external_id="ext-2").customer_name == "Renamed"
    assert outcomes[1].shipments_created == 1 and not outcomes[1].order_created
    assert Shipment.objects.filter(order__external_id="ext-2").count() == 2


def test_an_order_that_does_not_fit_fails_alone(scope_a, postgres_only):
    # PostgreSQL only: SQLite does not enforce column lengths, so nothing "does not fit" there.
    store = ShopConnectionFactory(tenant=scope_a)
    too_long = dto(2, order_number="9" * 500)

    outcomes = orders_import(store=store, dtos=[dto(1), too_long, dto(3)])

    assert [bool(o.failed) for o in outcomes] == [False, True, False]
    assert Order.objects.filter(store=store).count() == 2
