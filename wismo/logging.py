"""Structured logs: one JSON object a line, with the request (or task) id and the tenant.

- ``request_id_var``: the id of the request or Celery task being handled, a context variable
  (set by ``wismo.middleware.RequestIdMiddleware`` and by Celery's task signals in
  ``wismo.celery``), so threads and tasks never mix theirs up.
- ``ContextFilter``: adds ``request_id`` and ``tenant`` to every record. The tenant is the one
  whose scope is active (django-scopes keeps it in a context variable too), so a log line from
  a tenant's task or request says whose it is without the caller passing it.
- ``JsonFormatter``: ``timestamp``, ``level``, ``logger``, ``message`` and whatever of
  ``request_id``, ``tenant``, ``path``, ``method``, ``status``, ``duration_ms`` the record has,
  plus the exception's traceback. Enabled by ``WISMO_LOG_FORMAT=json`` (the default with DEBUG
  off); plain text otherwise.

What is logged is the caller's choice; the access log (``wismo.access``) writes the method,
path (no query string: it may carry an email or a token), status and time, never a body or a
header.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("wismo_request_id", default="")

# Record attributes copied into the JSON object when a caller passed them in ``extra``.
EXTRA_FIELDS = ("request_id", "tenant", "path", "method", "status", "duration_ms", "task")


def _active_tenant() -> int | str | None:
    try:
        from django_scopes import get_scope
    except ImportError:  # pragma: no cover - installed with the project
        return None
    try:
        current = get_scope()
    except Exception:  # logging never fails because of the scope
        return None
    if not current.get("_enabled", True):
        return None
    value = current.get("tenant")
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else None
    return value


# A path segment that looks like a token (long, random): a tracking page's or an invitation's.
_TOKEN_SEGMENT = re.compile(r"^(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}$")
# Django's own request loggers put the raw path in their messages ("Not Found: /t/<token>/").
_PATH_LOGGERS = {"django.request", "django.security.csrf", "django.server"}


def redact_path(path: str) -> str:
    """``path`` with every token-like segment replaced by ``<redacted>``."""
    return "/".join(
        "<redacted>" if _TOKEN_SEGMENT.match(part) else part for part in str(path).split("/")
    )


class ContextFilter(logging.Filter):
    """Adds the current request (or task) id and the active tenant to every record, and takes
    tokens out of the paths Django's request loggers write."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _PATH_LOGGERS and isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        if getattr(record, "tenant", None) is None:
            record.tenant = _active_tenant()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value not in (None, ""):
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """The development format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", "")
        return f"{text} [{request_id}]" if request_id else text


def logging_config(*, json_format: bool, level: str) -> dict:
    """The ``LOGGING`` setting: console only, JSON or plain, with the context filter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "wismo.logging.ContextFilter"}},
        "formatters": {
            "json": {"()": "wismo.logging.JsonFormatter"},
            "plain": {"()": "wismo.logging.PlainFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_format else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


# --- Sentry -----------------------------------------------------------------------------------
# Headers whose values are credentials or signatures: never sent to Sentry.
SCRUBBED_HEADERS = {
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-csrftoken",
    "x-api-key",
    "x-shopify-hmac-sha256",
    "x-shopify-access-token",
    "x-wc-webhook-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-signature",
    "x-webhook-signature",
}
_SCRUBBED = "[Filtered]"


def sentry_before_send(event: dict, hint: dict | None = None) -> dict:
    """Remove credentials, cookies, bodies and query strings from an event's request."""
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: (_SCRUBBED if name.lower() in SCRUBBED_HEADERS else value)
                for name, value in headers.items()
            }
        elif isinstance(headers, list):  # [[name, value], ...]
            request["headers"] = [
                [pair[0], _SCRUBBED if str(pair[0]).lower() in SCRUBBED_HEADERS else pair[1]]
                for pair in headers
                if isinstance(pair, list | tuple) and len(pair) == 2
            ]
        for key in ("cookies", "data"):
            if request.get(key):
                request[key] = _SCRUBBED
        if request.get("query_string"):  # may carry an email or a token
            request["query_string"] = _SCRUBBED
    event.pop("user", None)
    return event


def _sentry_knows(option: str) -> bool:
    try:
        from sentry_sdk.consts import ClientConstructor

        return option in inspect.signature(ClientConstructor.__init__).parameters
    except (ImportError, TypeError, ValueError):
        return False


def sentry_init(*, dsn: str, environment: str = "", release: str = "") -> bool:
    """Start Sentry's SDK with the Django and Celery integrations; False when not installed."""
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        logging.getLogger(__name__).warning("SENTRY_DSN is set but sentry-sdk is not installed")
        return False
    options: dict[str, object] = {}
    if not _sentry_knows("data_collection"):
        # Older SDKs: say it outright. Newer ones deprecate the flag, and leaving it unset is
        # "no personal data" there too (user, cookies and bodies stay out; the scrubber runs).
        options["send_default_pii"] = False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        max_request_body_size="never",  # webhook bodies carry shoppers' data
        include_local_variables=False,  # frames' locals may hold keys and addresses
        before_send=sentry_before_send,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=0.0,
        **options,
    )
    return True
