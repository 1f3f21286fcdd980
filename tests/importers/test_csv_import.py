"""CSV import: good rows in, bad rows reported by line, the same file twice changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.scoping import all_tenants, tenant_scope
from tests.factories import ShopConnectionFactory
from wismo.tracking.importers.base import NotThisPayload
from wismo.tracking.importers.csv_file import parse_csv
from wismo.tracking.models import Order, Shipment

pytestmark = pytest.mark.django_db

GOOD = """order_number,tracking_number,email,name,locale,carrier,shipped_at,destination_country,destination_postcode
1001,1Z5R89390357567127,ada@example.com,Ada Lovelace,it,UPS,2026-11-20,it,20121
1001,SBX2991965300077,ada@example.com,Ada Lovelace,it,sandbox,2026-11-20T10:00:00+01:00,IT,20121
1002,OWN-55,bob@example.com,Bob,en,manual,,GB,SW1A 1AA
1003,,no-number@example.com,,,,,,
1004,ABC123,not-an-email,,,,,,
1005,ABC124,x@example.com,,xx,,,,
1006,ABC125,x@example.com,,,,yesterday,,
"""


@pytest.fixture
def store(scope_a):
    return ShopConnectionFactory(tenant=scope_a, platform="csv", name="CSV")


def run_import(store, content: str) -> str:
    path = io.BytesIO(content.encode())
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as handle:
        handle.write(path.getvalue())
    out = io.StringIO()
    call_command(
        "shops", "import-csv", str(store.pk), handle.name, stdout=out, stderr=io.StringIO()
    )
    return out.getvalue()


def test_good_rows_are_imported_and_bad_rows_reported_by_line(store):
    output = run_import(store, GOOD)

    assert "skipped line 5: tracking_number is empty" in output
    assert "skipped line 6: email 'not-an-email' is not an email address" in output
    assert "skipped line 7: locale must be one of" in output
    assert "skipped line 8: shipped_at must be an ISO 8601" in output
    assert "7 rows: 2 orders created, 0 updated, 3 parcels created, 4 skipped, 0 failed" in output
    order = Order.objects.get(order_number="1001")
    assert (order.customer_email, order.locale, order.shipping_country) == (
        "ada@example.com",
        "it",
        "IT",
    )
    assert sorted(order.shipments.values_list("carrier", "tracking_number")) == [
        ("sandbox", "SBX2991965300077"),
        ("ups", "1Z5R89390357567127"),
    ]
    assert Shipment.objects.get(tracking_number="OWN55").carrier == "manual"


def test_the_same_file_twice_changes_nothing(store):
    run_import(store, GOOD)
    before = sorted(Shipment.objects.values_list("id", "tracking_number", "updated_at"))
    output = run_import(store, GOOD)
    assert "0 orders created, 2 updated, 0 parcels created" in output
    assert sorted(Shipment.objects.values_list("id", "tracking_number", "updated_at")) == before


def test_a_changed_number_relinks_the_parcel(store):
    run_import(store, "order_number,tracking_number,carrier\n2001,AAA111,sandbox\n")
    old = Shipment.objects.get(tracking_number="AAA111")
    # Same order; the CSV has one parcel per row, so a new number is a new parcel here.
    run_import(store, "order_number,tracking_number,carrier\n2001,BBB222,sandbox\n")
    assert Shipment.objects.filter(order=old.order).count() == 2


def test_semicolons_and_a_bom_are_read(store):
    output = run_import(store, "\ufefforder_number;tracking_number;carrier\n3001;CCC333;manual\n")
    assert "1 orders created" in output


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "empty"), ("tracking_number\nX1\n", "missing column"), ("a,b\n1,2\n", "missing column")],
)
def test_an_unusable_file_is_refused_whole(store, content, reason):
    with pytest.raises(CommandError, match=reason):
        run_import(store, content)
    assert not Order.objects.exists()


def test_binary_and_non_utf8_files_are_refused():
    for data in (b"\x00\x01\x02", "order_number,tracking_number\n1,\xe9\n".encode("latin-1")):
        with pytest.raises(NotThisPayload):
            parse_csv(data)


def test_an_unknown_store_is_an_error(scope_a):
    with pytest.raises(CommandError, match="No store"):
        call_command("shops", "import-csv", "999999", "/dev/null", stdout=io.StringIO())


def test_a_store_of_another_tenant_imports_into_that_tenant_only(store, tenant_b):
    run_import(store, "order_number,tracking_number,carrier\n4001,DDD444,manual\n")
    with tenant_scope(tenant_b):
        assert not Order.objects.exists()
    with all_tenants():
        assert Order.objects.get(order_number="4001").tenant_id == store.tenant_id


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_any_bytes_either_parse_or_are_refused_cleanly(data):
    try:
        batch = parse_csv(b"order_number,tracking_number,email\n" + data)
    except NotThisPayload:
        return
    for order in batch.orders:
        assert order.order_number and all(f.tracking_numbers[0] for f in order.fulfillments)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.text(max_size=12), st.text(max_size=20), st.text(max_size=15)), max_size=6
    )
)
def test_generated_files_never_half_import_an_order(store, rows):
    import csv as csvlib

    buffer = io.StringIO()
    writer = csvlib.writer(buffer)
    writer.writerow(["order_number", "tracking_number", "carrier"])
    writer.writerows(rows)
    try:
        batch = parse_csv(buffer.getvalue().encode())
    except NotThisPayload:
        return
    from wismo.tracking.services.imports import order_import

    for dto in batch.orders:
        before = Order.objects.filter(external_id=dto.external_id).count()
        try:
            order_import(store=store, dto=dto)
        except Exception:
            # Refused whole: nothing of this order may have been written.
            assert Order.objects.filter(external_id=dto.external_id).count() == before
