"""Group commit: request threads of one process that write at the same moment share a statement.

A webhook is answered only once its row is committed, and one row's commit (a round trip, a WAL
flush, a statement to parse and plan) costs the database more than the row. So the first thread
to arrive writes its row at once, on its own connection; threads that arrive while it is in the
database queue up, and when it is done the first of them writes the whole queue in one statement.
Nothing waits for a timer: a thread alone writes a batch of one (a sync worker always does).

Every thread gets its result only after the statement holding its row has returned, committed.
When a batch of several fails, nobody learns anything from it: each thread is told to write
alone, so that its error (or success) is its own, as if there had been no batching. A batch of
one raises the write's error to its thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Ticket:
    """One thread's row in the queue: woken when its result is in, or when it is to write next."""

    __slots__ = ("item", "lead", "result", "wake")

    def __init__(self, item) -> None:
        self.item = item
        self.result = None
        self.lead = False
        self.wake: threading.Lock | None = None


class GroupCommit(Generic[Item, Result]):
    """Share ``write(items) -> [result or None per item]`` between the threads calling ``submit``.

    ``write`` runs in the thread whose turn it is, on that thread's own database connection, and
    must commit before it returns. A None result tells that item's thread to write it alone.
    """

    def __init__(self, write: Callable[[Sequence[Item]], list[Result | None]], max_batch: int = 50):
        self._write = write
        self._max_batch = max_batch
        self._reset()
        # A forked child (a gunicorn worker) starts with no writer and an empty queue.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._writing = False

    def submit(self, item: Item) -> Result | None:
        """``item``'s result once its statement is committed; None: write it alone."""
        ticket = _Ticket(item)
        with self._lock:
            if self._writing:
                ticket.wake = threading.Lock()
                ticket.wake.acquire()
                self._queue.append(ticket)
            else:
                self._writing = True
        if ticket.wake is not None:
            ticket.wake.acquire()  # released by the writer: the result is in, or it is our turn
            if not ticket.lead:
                return ticket.result
            with self._lock:
                batch = [ticket, *self._queue[: self._max_batch - 1]]
                del self._queue[: self._max_batch - 1]
        else:
            batch = [ticket]
        self._lead(batch)
        return ticket.result

    def _lead(self, batch: list[_Ticket]) -> None:
        try:
            results = self._write([ticket.item for ticket in batch])
            for ticket, result in zip(batch, results, strict=True):
                ticket.result = result
        except Exception:
            if len(batch) == 1:
                raise
            # Nothing of the batch is known to be stored: each thread writes its row alone.
            logger.info("a group commit of %s rows failed; each is written alone", len(batch))
            for ticket in batch:
                ticket.result = None
        finally:
            # Whatever happened, the queue moves on: the next writer, then this batch's threads.
            with self._lock:
                following = self._queue.pop(0) if self._queue else None
                if following is None:
                    self._writing = False
                else:
                    following.lead = True
            if following is not None:
                following.wake.release()
            for ticket in batch[1:]:  # the first is this thread's own
                ticket.wake.release()
