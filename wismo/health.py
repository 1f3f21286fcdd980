"""Health probes: ``/healthz`` says the process is up; ``/readyz`` that it can do its work."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# Seconds a readiness check may wait for a dependency before calling it unavailable.
PROBE_TIMEOUT = 2


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    # The broker is read from settings at call time (not from the Celery app's configuration,
    # frozen at first use), so the probe checks what the settings say. One attempt, with socket
    # timeouts, keeps a probe against a dead or black-holed broker to about PROBE_TIMEOUT seconds.
    from wismo.celery import app

    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "socket_connect_timeout": PROBE_TIMEOUT,
        "socket_timeout": PROBE_TIMEOUT,
    }
    with app.connection_for_write(
        settings.CELERY_BROKER_URL, connect_timeout=PROBE_TIMEOUT, transport_options=options
    ) as conn:
        conn.ensure_connection(max_retries=0, timeout=PROBE_TIMEOUT)


@never_cache
@require_GET
def readyz(request):
    checks = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", whatever raised it
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
