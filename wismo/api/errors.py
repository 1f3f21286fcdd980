"""One error shape for every API failure:

``{"error": {"code": "...", "message": "...", "fields": {...}}}`` with the matching 4xx status.

DRF's exceptions go through ``exception_handler``; what happens before or outside DRF (an unknown
route, Django's own 400s, a crash) through the ``handler400/404/500`` views below. The OpenAPI
postprocessing hooks at the end document these errors on every operation (and fix two format
mismatches between DRF's output and JSON Schema), so schema-driven clients and tests know them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tenants.scoping import ScopeError


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return body


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        fields = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404 | ScopeError):
        # A missing object and another tenant's object look the same.
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("invalid", "The request is not valid.", detail)
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = "error"
        body = error_body(code, _flatten(getattr(exc, "detail", str(exc))))
    response.data = body
    return response


def json_error(request, code: str, message: str, http_status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=http_status)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error(request, "not_found", "Not found.", status.HTTP_404_NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django's own 400s (too many fields, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host)
    happen before DRF sees the request."""
    if request.path.startswith("/api/"):
        from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent

        if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
            return json_error(
                request, "too_large", "The request is too large.", status.HTTP_400_BAD_REQUEST
            )
        return json_error(request, "bad_request", "Bad request.", status.HTTP_400_BAD_REQUEST)
    from django.views.defaults import bad_request as default

    return default(request, exception)


# How long a client should wait before retrying when the database does not answer.
DATABASE_RETRY_SECONDS = 5


def _database_unavailable() -> bool:
    """Is the exception being handled the database not answering (down, restarting, gone)?"""
    import sys

    from django.db import InterfaceError, OperationalError

    return isinstance(sys.exc_info()[1], (OperationalError, InterfaceError))


def server_error(request):
    # Django calls this while it handles the exception, so sys.exc_info() names it. A database
    # that is down or restarting is a 503 with Retry-After (clients and platforms retry, load
    # balancers back off), not a 500 page; the connection is dropped so the next request
    # reconnects.
    if _database_unavailable():
        from django.db import connections

        for conn in connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()
        if request.path.startswith(("/api/", "/hooks/")):
            response = json_error(
                request,
                "unavailable",
                "The service is briefly unavailable: retry shortly.",
                status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        else:
            from django.http import HttpResponse

            response = HttpResponse(
                "<!doctype html><title>Back in a moment</title>"
                "<h1>Back in a moment</h1><p>This page is briefly unavailable. "
                "Please try again in a few seconds.</p>",
                status=503,
                content_type="text/html; charset=utf-8",
            )
        response["Retry-After"] = str(DATABASE_RETRY_SECONDS)
        return response
    if request.path.startswith("/api/"):
        return json_error(
            request, "server_error", "Internal error.", status.HTTP_500_INTERNAL_SERVER_ERROR
        )
    from django.views.defaults import server_error as default

    return default(request)


_ERROR_SCHEMA = {
    "type": "object",
    "description": "Every API failure has this shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable: invalid, parse_error, not_authenticated, "
                    "authentication_failed, permission_denied, not_found, method_not_allowed, "
                    "not_acceptable, unsupported_media_type, throttled, too_large, "
                    "bad_request, unavailable, server_error.",
                },
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "description": "For invalid input: the messages per field.",
                    "additionalProperties": {},
                },
            },
        }
    },
}
_ERROR_DESCRIPTIONS = {
    "400": "Invalid input (code `invalid` with `fields`, or `parse_error`).",
    "401": "No API key, or an invalid or revoked one.",
    "403": "The key's role may not do this (agent keys read; settings need an admin key).",
    "404": "No such object (another tenant's objects are not found either).",
    "406": "Only application/json responses are offered.",
    "415": "Send application/json.",
    "429": "Over the API key's rate limit; retry after `Retry-After` seconds.",
}
_METHODS = ("get", "post", "put", "patch", "delete")


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the errors it can answer,
    all in the one ``Error`` shape (so clients and schema-based tests know them)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            codes = ["401", "403", "406", "429"]
            parameters = {p.get("name") for p in operation.get("parameters", [])}
            if "{" in path or "cursor" in parameters:  # DRF answers a bad cursor with 404
                codes.append("404")
            if operation.get("parameters") or operation.get("requestBody"):
                codes.append("400")
            if operation.get("requestBody"):
                codes.append("415")
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                documented = {"description": _ERROR_DESCRIPTIONS[code], "content": content}
                if code == "429":
                    documented["headers"] = {
                        "Retry-After": {
                            "schema": {"type": "integer"},
                            "description": "Seconds until the key may call again.",
                        }
                    }
                responses.setdefault(code, documented)
    return result


_LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


def _local_times(node) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "time":
            # JSON Schema's "time" needs a UTC offset; ours are wall-clock times without one.
            del node["format"]
            node["pattern"] = _LOCAL_TIME
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def document_local_times(result, generator, request, public):
    """drf-spectacular postprocessing hook: times of day (quiet hours) are ``HH:MM[:SS]`` local
    wall-clock times, not RFC 3339 ``full-time`` (which requires an offset)."""
    _local_times(result.get("components", {}))
    _local_times(result.get("paths", {}))
    return result


def document_blank_strings(result, generator, request, public):
    """drf-spectacular postprocessing hook: a response field that may be blank (an order without
    email, a policy without reply-to) answers ``""``, which no ``format`` (email, uri...) accepts:
    say so, per field, from the serializer that produced the component."""
    schemas = result.get("components", {}).get("schemas", {})
    for component in generator.registry._components.values():
        if component.type != "schemas" or component.name.endswith("Request"):
            continue
        fields = getattr(component.object, "fields", None)
        properties = schemas.get(component.name, {}).get("properties", {})
        if fields is None or not hasattr(fields, "items") or not properties:
            continue
        model = getattr(getattr(component.object, "Meta", None), "model", None)
        for name, field in fields.items():
            prop = properties.get(name)
            if prop and "format" in prop and _may_be_blank(field, model):
                prop["anyOf"] = [{"format": prop.pop("format")}, {"maxLength": 0}]
    return result


def _may_be_blank(field, model) -> bool:
    if getattr(field, "allow_blank", False):
        return True
    # DRF drops allow_blank from read-only model fields: ask the model field itself.
    if model is None or not getattr(field, "read_only", False):
        return False
    try:
        model_field = model._meta.get_field(field.source)
    except Exception:
        return False
    return bool(getattr(model_field, "blank", False)) and not model_field.null


__all__ = [
    "Response",
    "document_blank_strings",
    "document_errors",
    "document_local_times",
    "error_body",
    "exception_handler",
]
