"""Background work started from a request: published after the commit, never a 500 after it.

The request's changes are committed by the time a task is published. If the broker refuses
then, raising would turn a saved change into an error page (and a retry into a duplicate);
instead it is logged, and the scheduled sweeps do the work (a retracked parcel is due now, a
store's sync runs on its schedule, the inbox relay finds unprocessed deliveries).
"""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_after_commit(task, *, kwargs: dict, what: str) -> None:
    """Publish ``task`` with ``kwargs`` once the current transaction commits."""

    def send() -> None:
        try:
            task.apply_async(kwargs=kwargs)
        except Exception:  # the broker is down: the scheduled sweep picks the work up
            logger.warning("could not enqueue %s; the scheduled sweep will run it", what)

    transaction.on_commit(send)
