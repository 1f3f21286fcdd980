"""GET /api/v1/analytics/: the same figures as the dashboard, per API key's tenant, agent keys
included; bad periods answer 400 in the API's error shape; the OpenAPI schema describes it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.dashboard.test_analytics import build_dataset

pytestmark = pytest.mark.django_db
URL = "/api/v1/analytics/"


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"analytics-api-{uuid.uuid4().hex}",
        }
    }


def _week() -> dict:
    today = timezone.now().date()
    return {"from": (today - timedelta(days=6)).isoformat(), "to": today.isoformat()}


def test_agent_key_reads_the_figures(agent_api_a, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    response = agent_api_a.get(URL, _week())

    assert response.status_code == 200
    body = response.json()
    assert body["period"]["days"] == 7 and body["period"]["bucket"] == "day"
    assert body["period"]["timezone"] == "UTC"
    totals = body["totals"]
    assert (totals["shipments"], totals["delivered"], totals["exceptions"]) == (5, 3, 2)
    assert (totals["on_time_rate"], totals["wismo_rate"]) == (0.5, 80.0)
    assert totals["avg_transit_days"] == 2.0
    carriers = {row["key"]: row for row in body["by_carrier"]}
    assert carriers["dhl"]["wismo_rate"] == 66.67
    assert carriers["ups"]["exception_rate"] == 0.5
    assert {r["key"]: r["rate"] for r in body["wismo_by_notified"]} == {
        "notified": 100.0,
        "not_notified": 66.67,
    }
    assert {r["key"]: r["contacts"] for r in body["wismo_by_status"]} == {
        "in_transit": 1,
        "delivered": 1,
        "exception": 2,
    }
    assert body["emails"]["sent"] == 2 and body["page_views"]["views"] == 5
    assert len(body["status_series"]) == 7
    assert body["status_series"][-1]["counts"]["delivered"] == 3
    assert body["accuracy"]["range_hit_rate"] == 0.5 and body["accuracy"]["backtest"] is None


def test_without_dates_the_last_30_days(api_a, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    body = api_a.get(URL).json()

    assert body["period"]["days"] == 30
    assert body["period"]["end"] == timezone.now().date().isoformat()
    assert body["totals"]["shipments"] == 5


def test_each_key_sees_its_own_tenant(api_a, api_b, tenant_a, tenant_b):
    build_dataset(tenant_a, tenant_b)

    a = api_a.get(URL, _week()).json()["totals"]
    b = api_b.get(URL, _week()).json()["totals"]

    assert (a["shipments"], a["wismo_contacts"], a["page_views"]) == (5, 4, 5)
    assert (b["shipments"], b["wismo_contacts"], b["page_views"]) == (1, 3, 40)


def test_an_empty_tenant_has_null_rates(api_a):
    body = api_a.get(URL).json()

    assert body["totals"]["shipments"] == 0
    assert body["totals"]["on_time_rate"] is None
    assert body["totals"]["wismo_rate"] is None
    assert body["by_carrier"] == [] and body["emails"]["open_rate"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "yesterday", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01", "to": "03/02/2026"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "non_field_errors"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "non_field_errors"),
        ({"from": "2026-03-02"}, "non_field_errors"),
    ],
)
def test_bad_periods_are_400_in_the_error_shape(api_a, query, field):
    response = api_a.get(URL, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


def test_a_full_leap_year_is_allowed(api_a):
    response = api_a.get(URL, {"from": "2024-01-01", "to": "2024-12-31"})

    assert response.status_code == 200
    assert response.json()["period"]["bucket"] == "week"


def test_no_key_is_refused(db):
    response = APIClient().get(URL)

    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_writing_is_not_allowed(api_a):
    assert api_a.post(URL, {}, format="json").status_code == 405


def test_the_schema_describes_the_endpoint(client):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/analytics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"period", "totals", "by_carrier", "wismo_by_notified", "accuracy"} <= set(
        component["properties"]
    )
    assert "400" in operation["responses"]


def test_backtest_figures_are_passed_through(agent_api_a, tenant_a):
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import EddModel

    with tenant_scope(tenant_a):
        EddModel.objects.create(
            tenant=tenant_a,
            accuracy={
                "overall": {"n": 40, "range_hit_rate": 0.875, "mae_days": 0.6, "extra": 1},
                "carriers": {"dhl": {"n": 40, "range_hit_rate": 0.875}},
            },
            backtested_at=timezone.now(),
        )

    accuracy = agent_api_a.get(URL).json()["accuracy"]

    assert accuracy["backtest"]["overall"]["range_hit_rate"] == 0.875
    assert accuracy["backtest"]["overall"]["exact_day_hit_rate"] is None
    assert "extra" not in accuracy["backtest"]["overall"]
    assert accuracy["backtest"]["carriers"]["dhl"]["n"] == 40
