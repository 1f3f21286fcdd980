"""REST API v1: the OpenAPI document is exact (valid OpenAPI 3, no generator warnings) and complete
(every route, every error it can answer, in the one error shape)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.test_route_isolation import all_routes

UNDOCUMENTED = {"api-schema", "api-docs"}


@pytest.fixture(scope="module")
def schema() -> dict:
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache) | dict(GENERATOR_STATS._error_cache)
    GENERATOR_STATS.reset()
    return {"document": generated, "warnings": warnings}


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_the_schema_is_valid_openapi_3(schema):
    validate_schema(schema["document"])  # raises on any violation

    assert schema["document"]["openapi"].startswith("3.")


def test_the_schema_generates_without_warnings(schema):
    """The equivalent of ``manage.py spectacular --validate --fail-on-warn``."""
    assert not schema["warnings"], "\n".join(schema["warnings"])


def test_the_served_schema_is_public_and_valid(db):
    response = APIClient().get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    validate_schema(response.json())


def test_every_api_route_is_documented(schema):
    documented = [
        re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1/"))
        for path in schema["document"]["paths"]
    ]
    missing = []
    for route in all_routes():
        if not route.is_api or route.name in UNDOCUMENTED:
            continue
        pattern = route.pattern.removeprefix("api/v1/")
        shape = re.sub(r"\(\?P<[^>]+>.*?\)(?=/|$)|<[^>]+>", "{}", pattern)
        if shape not in documented:
            missing.append(f"{route.name} ({route.pattern})")

    assert not missing, f"API routes missing from the schema: {missing}"


def test_every_operation_documents_its_errors_in_one_shape(schema):
    document = schema["document"]
    assert "Error" in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        for code in ("401", "403", "429"):
            assert code in responses, f"{method} {path} does not document {code}"
        if "{" in path:
            assert "404" in responses, f"{method} {path} does not document 404"
        if operation.get("requestBody"):
            assert {"400", "415"} <= set(responses), f"{method} {path}: 400/415"
        assert "Retry-After" in responses["429"]["headers"]


def test_every_operation_needs_the_api_key(schema):
    document = schema["document"]
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path, method, operation in _operations(document):
        assert {"ApiKey": []} in operation.get("security", []), f"{method} {path}"
