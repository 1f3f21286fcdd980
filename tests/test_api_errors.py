"""REST API v1: every failure under /api/v1/ answers the same JSON shape with a stable code.

``{"error": {"code": "...", "message": "...", "fields": {...}}}`` (``fields`` only for invalid
input), served as application/json, whatever raised it: DRF, Django's URL resolver or a crash.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.scoping import tenant_scope
from tests.factories import ShipmentFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_invalid_input_names_the_fields(api_a):
    response = api_a.post("/api/v1/shipments/", {"carrier": "manual"}, format="json")

    error = assert_error(response, 400, "invalid")
    assert "tracking_number" in error["fields"]


def test_invalid_query_parameters_are_invalid_input(api_a):
    response = api_a.get("/api/v1/shipments/", {"status": "teleported"})

    error = assert_error(response, 400, "invalid")
    assert "status" in error["fields"]


def test_malformed_json_is_a_parse_error(api_a):
    response = api_a.post(
        "/api/v1/shipments/", data='{"tracking_number": ', content_type="application/json"
    )

    assert_error(response, 400, "parse_error")


def test_pathologically_nested_json_is_a_parse_error(api_a):
    response = api_a.post(
        "/api/v1/orders/", data="[" * 100_000 + "]" * 100_000, content_type="application/json"
    )

    assert_error(response, 400, "parse_error")


def test_no_key_is_not_authenticated_and_says_how(db):
    response = APIClient().get("/api/v1/shipments/")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wk_nope_nope", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"]
)
def test_a_wrong_key_is_refused_with_the_same_shape(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/shipments/")

    assert_error(response, 401, "authentication_failed")


def test_agent_key_writing_is_permission_denied(agent_api_a):
    response = agent_api_a.post(
        "/api/v1/shipments/", {"tracking_number": "X1", "carrier": "manual"}, format="json"
    )

    assert_error(response, 403, "permission_denied")


def test_unknown_object_is_not_found(api_a):
    assert_error(api_a.get("/api/v1/shipments/999999/"), 404, "not_found")
    assert_error(api_a.get("/api/v1/shipments/not-a-number/"), 404, "not_found")


def test_another_tenants_object_is_not_found_like_a_missing_one(api_b, tenant_a):
    with tenant_scope(tenant_a):
        shipment = ShipmentFactory(tenant=tenant_a)

    assert_error(api_b.get(f"/api/v1/shipments/{shipment.pk}/"), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/v1/nothing-here/", "/api/v1/shipments/1/nothing/", "/api/v1/x/y/z/"]
)
def test_unknown_route_under_the_api_is_json_not_found(api_a, path):
    assert_error(api_a.get(path), 404, "not_found")
    assert_error(APIClient().post(path, {}, format="json"), 404, "not_found")


def test_method_not_allowed(api_a):
    assert_error(api_a.put("/api/v1/shipments/", {}, format="json"), 405, "method_not_allowed")
    assert_error(api_a.delete("/api/v1/orders/"), 405, "method_not_allowed")


def test_unacceptable_media_type(api_a):
    response = api_a.get("/api/v1/shipments/", HTTP_ACCEPT="application/xml")

    assert_error(response, 406, "not_acceptable")


def test_unsupported_media_type(api_a):
    response = api_a.post(
        "/api/v1/shipments/", data="tracking_number=X1", content_type="text/plain"
    )

    assert_error(response, 415, "unsupported_media_type")


def test_throttled(api_a, settings):
    settings.WISMO_API_RATE_LIMIT_PER_MINUTE = 1
    api_a.get("/api/v1/shipments/")

    response = api_a.get("/api/v1/shipments/")

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_a_crash_is_a_json_server_error_without_details(api_a, monkeypatch):
    from wismo.tracking import selectors

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "shipment_rows", explode)
    api_a.raise_request_exception = False

    response = api_a.get("/api/v1/shipments/")

    error = assert_error(response, 500, "server_error")
    assert "secret" not in response.content.decode()
    assert error["message"] == "Internal error."


def test_the_scope_of_a_crashed_request_is_closed(api_a, monkeypatch):
    from tenants.scoping import ScopeError
    from wismo.tracking import selectors
    from wismo.tracking.models import Shipment

    monkeypatch.setattr(selectors, "shipment_rows", lambda **kw: 1 / 0)
    api_a.raise_request_exception = False
    api_a.get("/api/v1/shipments/")

    with pytest.raises(ScopeError):
        list(Shipment.objects.all())


def test_pages_outside_the_api_keep_their_html_404(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/shipments/{big}/",
        "/api/v1/orders/{big}/",
        "/api/v1/stores/{big}/",
        "/api/v1/notifications/{big}/",
        "/api/v1/webhook-endpoints/{big}/",
        "/api/v1/notification-settings/?store={big}",
    ],
)
def test_ids_beyond_any_integer_are_not_found(api_a, path):
    api_a.raise_request_exception = False

    response = api_a.get(path.format(big="9" * 30))

    assert_error(response, 404, "not_found")


def test_a_bad_page_cursor_is_not_found(api_a):
    assert_error(api_a.get("/api/v1/shipments/", {"cursor": "nonsense"}), 404, "not_found")


def test_too_many_query_fields_is_a_json_error(api_a):
    api_a.raise_request_exception = False
    query = "&".join(f"f{i}=1" for i in range(1100))

    response = api_a.get(f"/api/v1/shipments/?{query}")

    assert_error(response, 400, "too_large")


def test_a_body_over_the_upload_limit_is_a_json_error(api_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api_a.raise_request_exception = False

    response = api_a.post("/api/v1/shipments/", data="x" * 5000, content_type="application/json")

    assert_error(response, 400, "too_large")


def test_an_unknown_host_is_a_json_error(api_a):
    api_a.raise_request_exception = False

    response = api_a.get("/api/v1/shipments/", HTTP_HOST="evil.example")

    assert_error(response, 400, "bad_request")


def test_an_odd_but_valid_utc_offset_is_not_a_crash(api_a):
    api_a.raise_request_exception = False

    response = api_a.get("/api/v1/shipments/", {"updated_since": "2026-11-20T10:00:00+23:02"})

    assert response.status_code == 200
    for edge in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert api_a.get("/api/v1/shipments/", {"updated_since": edge}).status_code in (200, 400)
