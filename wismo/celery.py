"""The Celery app. Settings come from Django's (``CELERY_*``); tasks are found in each app."""

from __future__ import annotations

import os
from contextvars import Token
from pathlib import Path

from celery import Celery
from celery.signals import task_postrun, task_prerun

from wismo.logging import request_id_var

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wismo.settings")

app = Celery("wismo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs) -> None:
    # kombu's filesystem transport needs its folders to exist before the first message.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


# A task's log lines carry its id where a request's carry the request id (wismo.logging); the
# previous value comes back afterwards (an eager task runs inside a request).
_request_id_tokens: dict[str, Token] = {}


@task_prerun.connect
def _task_request_id(task_id=None, **kwargs) -> None:
    if task_id:
        _request_id_tokens[task_id] = request_id_var.set(str(task_id))


@task_postrun.connect
def _task_request_id_clear(task_id=None, **kwargs) -> None:
    token = _request_id_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (a pool thread): just clear it
            request_id_var.set("")
