"""Database helpers for the few statements that run on every request of the hottest endpoints.

**Prepared statements.** PostgreSQL parses and plans each statement it is sent; for the
hottest ones (a tracking page's read, a webhook's insert) that costs more than running them.
``execute_prepared`` prepares a statement once per database connection under a fixed name and
executes it by that name after. Connections are persistent (``CONN_MAX_AGE``): a new one
prepares again, the first time it needs to.

A transaction-pooling proxy (PgBouncer in transaction mode) hands each transaction a different
server connection, where a statement prepared on another does not exist: behind one, turn this off
with ``WISMO_DB_PREPARED=false`` (the statements are then sent whole, as any other). Elsewhere than
on PostgreSQL they always are.

**The first statement as the health check.** With ``CONN_HEALTH_CHECKS`` Django sends a
``SELECT 1`` before a request's first statement on a persistent connection: a round trip, and
PostgreSQL's work, that cost as much as a page's read or a webhook's insert.
``checking_connection`` runs such work first instead, and when it fails on a dead connection (a
database restart, an idle timeout), replaces the connection and runs it again, once: for work
that is safe to repeat.

**The lean write.** ``fetch_prepared`` sends the webhook inbox's group commit on psycopg2's own
cursor: Django's cursor wrapper (proxies, thread-local lookups, wrapper chain) cost ~50 us of
Python per statement, a third of that statement's cost in the web process. It keeps what the
wrapper is for: errors come out as Django's (and mark the connection for the end-of-request
check), the connection's execute wrappers still rewrite the statement when all they do is
rewrite it (they say so with a ``rewrite`` attribute: row security's setting goes first,
``tenants.rls.scoped``), and whenever anything is watching or unusual (queries being logged, any
other execute wrapper, a transaction, a health check still due) it goes the ordinary way. An
APM that hooks Django's cursor class (Sentry's query spans) does not see this one statement.
"""

from __future__ import annotations

import functools
import logging
import re
import weakref
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections

log = logging.getLogger(__name__)
T = TypeVar("T")

# The raw connection (psycopg2's) -> the names prepared on it. Weak: a closed connection's set goes
# with it, and a new connection starts with none.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile("%s")


def enabled(db=connection) -> bool:
    """Whether statements are prepared on ``db`` (the default connection)."""
    return db.vendor == "postgresql" and settings.WISMO_DB_PREPARED


def execute_prepared(cursor, name: str, sql: str, params: list) -> None:
    """Run ``sql`` (with ``%s`` placeholders, one per item of ``params``) as the prepared
    statement ``name`` of ``cursor``'s connection (the default one). ``name`` must always stand
    for the same ``sql``: the statement is prepared the first time only."""
    if not enabled():
        cursor.execute(sql, params)
        return
    _prepare_once(cursor, connection.connection, name, sql, len(params))
    cursor.execute(_execute_sql(name, len(params)), params)


def _prepare_once(cursor, raw, name: str, sql: str, count: int) -> None:
    names = _prepared.get(raw)
    if names is None:
        names = _prepared[raw] = set()
    if name not in names:
        numbered = iter(range(1, count + 1))
        # Sent without parameters, so the text goes as it is: ``sql`` holds no literal "%".
        cursor.execute(
            f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _m: f"${next(numbered)}", sql)
        )
        names.add(name)


@functools.cache
def _execute_sql(name: str, count: int) -> str:
    return f"EXECUTE {name}({', '.join(['%s'] * count)})"


def fetch_prepared(name: str, sql: str, params: list) -> list[tuple]:
    """``execute_prepared`` on the default connection, then its rows: for a statement that
    commits on its own (autocommit), on psycopg2's cursor when nothing needs Django's."""
    db = connections[DEFAULT_DB_ALIAS]
    rewrites = [getattr(wrapper, "rewrite", None) for wrapper in db.execute_wrappers]
    if (
        db.connection is None
        or not enabled(db)
        or db.in_atomic_block
        or not db.autocommit
        or db.queries_logged
        or (db.health_check_enabled and not db.health_check_done)
        or None in rewrites
    ):
        with db.cursor() as cursor:
            execute_prepared(cursor, name, sql, params)
            return cursor.fetchall()
    raw = db.connection
    statement = _execute_sql(name, len(params))
    for rewrite in rewrites:  # in Django's order: the first wrapper sees the statement first
        statement = rewrite(statement)
    with db.wrap_database_errors, raw.cursor() as cursor:
        _prepare_once(cursor, raw, name, sql, len(params))
        cursor.execute(statement, params)
        return cursor.fetchall()


def checking_connection(work: Callable[[], T], *, what: str) -> T:
    """``work()``, its statements standing in for Django's health check of this request's
    connection. ``work`` must be safe to run twice: outside a transaction, its writes idempotent
    (a write committed just before the connection died is found again, not made twice)."""
    db = connections[DEFAULT_DB_ALIAS]
    if (
        db.connection is None
        or not db.health_check_enabled
        or db.health_check_done
        or db.in_atomic_block
    ):
        return work()
    db.health_check_done = True
    try:
        return work()
    except (OperationalError, InterfaceError):
        # What Django's health check would have found: a persistent connection that died. A new
        # connection answers instead (and if the database is down, the error of that one).
        log.warning("%s: reconnecting after a dead database connection", what, exc_info=True)
        db.close()
        return work()
