"""The API shipment list takes the dashboard list's filters (one shared FilterSet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenants.scoping import tenant_scope
from tests.factories import OrderFactory, ShipmentFactory, ShopConnectionFactory

URL = "/api/v1/shipments/"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def parcels(tenant_a):
    with tenant_scope(tenant_a):
        store = ShopConnectionFactory(tenant=tenant_a)
        base = {"tenant": tenant_a, "carrier": "manual", "status": "in_transit"}
        out = {
            "plain": ShipmentFactory(**base, created_at=T0),
            "dhl": ShipmentFactory(**{**base, "carrier": "dhl"}, created_at=T0 + timedelta(1)),
            "customs": ShipmentFactory(
                **{**base, "status": "exception"},
                substatus="exception.customs_hold",
                action_required=True,
                created_at=T0 + timedelta(2),
            ),
            "delayed": ShipmentFactory(**base, is_delayed=True, created_at=T0 + timedelta(3)),
            "stalled": ShipmentFactory(**base, is_stalled=True, created_at=T0 + timedelta(4)),
            "store": ShipmentFactory(**base, store=store, created_at=T0 + timedelta(5)),
            "fr": ShipmentFactory(**base, destination_country="FR", created_at=T0 + timedelta(6)),
            "shipped": ShipmentFactory(
                **base,
                shipped_at=datetime(2026, 10, 1, 12, tzinfo=UTC),
                created_at=T0 + timedelta(7),
            ),
        }
        out["store_id"] = store.pk
        return out


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("carrier=dhl", "dhl"),
        ("status=exception", "customs"),
        ("substatus=exception.customs_hold", "customs"),
        ("exception=true", "customs"),
        ("action_required=true", "customs"),
        ("delayed=true", "delayed"),
        ("stalled=true", "stalled"),
        ("destination_country=FR", "fr"),
        ("shipped_from=2026-10-01&shipped_to=2026-10-02", "shipped"),
        ("created_from=2026-11-04&created_to=2026-11-04", "customs"),
    ],
)
def test_api_list_takes_the_dashboard_filters(api_a, parcels, query, key):
    assert ids(api_a.get(f"{URL}?{query}")) == [parcels[key].pk]


def test_api_store_filter(api_a, parcels):
    assert ids(api_a.get(f"{URL}?store={parcels['store_id']}")) == [parcels["store"].pk]


def test_api_filters_combine(api_a, parcels):
    assert ids(api_a.get(f"{URL}?status=in_transit&delayed=true")) == [parcels["delayed"].pk]
    assert ids(api_a.get(f"{URL}?status=in_transit&carrier=dhl&created_from=2026-11-04")) == []


def test_existing_params_still_work(api_a, tenant_a):
    with tenant_scope(tenant_a):
        order = OrderFactory(tenant=tenant_a, order_number="5005", customer_email="cy@example.com")
        mine = ShipmentFactory(tenant=tenant_a, carrier="manual", order=order)
        ShipmentFactory(tenant=tenant_a, carrier="manual")
    assert ids(api_a.get(f"{URL}?q=cy@example.com")) == [mine.pk]
    assert ids(api_a.get(f"{URL}?q=5005&carrier=manual")) == [mine.pk]
    assert len(ids(api_a.get(f"{URL}?updated_since=2000-01-01T00:00:00Z"))) == 2


def test_api_filters_never_cross_tenants(api_b, parcels):
    assert ids(api_b.get(f"{URL}?carrier=dhl")) == []
    assert ids(api_b.get(f"{URL}?store={parcels['store_id']}")) == []


@pytest.mark.parametrize(
    "query", ["created_from=yesterday", "store=abc", "status=teleported", "shipped_to=2026-02-30"]
)
def test_api_bad_filter_is_400(api_a, parcels, query):
    response = api_a.get(f"{URL}?{query}")
    assert response.status_code == 400


def test_api_filtered_cursor_pages_have_no_gaps(api_a, tenant_a):
    with tenant_scope(tenant_a):
        made = [ShipmentFactory(tenant=tenant_a, carrier="dhl") for _ in range(7)]
        ShipmentFactory(tenant=tenant_a, carrier="manual")
    seen, url = [], f"{URL}?carrier=dhl&page_size=3"
    while url:
        body = api_a.get(url).json()
        seen.extend(row["id"] for row in body["results"])
        url = body["next"]
        assert url is None or "carrier=dhl" in url
    assert sorted(seen) == sorted(s.pk for s in made)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "cursor", ["garbage", "bm90LWEtY3Vyc29y", "cD0yMDI2LTAyLTMwJm89MA==", "cD16enombz0wJnI9MQ=="]
)
def test_api_forged_cursor_is_refused_or_ignored_never_500(api_a, parcels, cursor):
    response = api_a.get(f"{URL}?carrier=dhl&cursor={cursor}")
    assert response.status_code in (200, 400, 404)


def test_agent_keys_may_filter(agent_api_a, parcels):
    assert ids(agent_api_a.get(f"{URL}?delayed=true")) == [parcels["delayed"].pk]


def test_openapi_schema_describes_the_filters(client, db):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    text = schema.content.decode()
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        import yaml

        doc = yaml.safe_load(text)
    params = {p["name"] for p in doc["paths"]["/api/v1/shipments/"]["get"]["parameters"]}
    assert {
        "status",
        "carrier",
        "q",
        "updated_since",
        "substatus",
        "store",
        "destination_country",
        "created_from",
        "created_to",
        "shipped_from",
        "shipped_to",
        "delayed",
        "stalled",
        "exception",
        "action_required",
        "cursor",
        "page_size",
    } <= params
