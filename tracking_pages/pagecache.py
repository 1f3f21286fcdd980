"""The shared cache of rendered pages: Redis when ``REDIS_URL`` is set, else Django's cache.

Django's Redis cache builds a new client object and pickles the value on every call, which costs
more than the round trip itself on the page's hot path. Pages are plain text, so they go to Redis
as UTF-8 bytes over one connection per thread (no pool, no retry wrapper), and a write does not
wait for its reply. Without Redis (the embedded runtime) Django's local-memory cache does. Keys
carry ``WISMO_REDIS_PREFIX`` and expire on their own; an unreachable cache only makes pages
slower.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

_lock = threading.Lock()
_clients: dict[str, object] = {}


def _redis():
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        with _lock:
            client = _clients.get(url) or redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=2
            )
            _clients[url] = client
    return client


class _Line(threading.local):
    """This thread's own connection to the page cache, outside redis-py's pool: the pool polls the
    socket before each command and the client wraps it in retries, as much work as the command."""

    client: object = None
    conn: object = None
    pid: int = 0
    # Whether the server honours CLIENT REPLY SKIP (asked once per connection object).
    skip_replies: bool | None = None


_line = _Line()
_SKIP = b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
_PING = b"*1\r\n$4\r\nPING\r\n"


def _connection(client):
    line = _line
    if line.client is not client or line.pid != os.getpid():
        # A new client (settings changed) or a forked worker: never share a parent's socket.
        pool = client.connection_pool
        line.conn = pool.connection_class(**pool.connection_kwargs)
        line.client, line.pid, line.skip_replies = client, os.getpid(), None
    return line.conn


def _skips(conn) -> bool:
    """Whether writes can go without waiting for their reply. SKIP, PING, PING: a server that
    honours it answers only the second PING; one that refuses it (an error) or a proxy that only
    says OK answers all three, and those must then be read."""
    if _line.skip_replies is None:
        from redis.exceptions import ResponseError

        conn.send_packed_command([_SKIP + _PING + _PING], check_health=False)
        try:
            first = conn.read_response()
        except ResponseError:
            first = None
        _line.skip_replies = first == b"PONG"
        if not _line.skip_replies:
            conn.read_response()
            conn.read_response()
    return _line.skip_replies


def _command(*parts: bytes) -> bytes:
    """A command in Redis's wire protocol (RESP): an array of bulk strings, in one buffer.
    redis-py's ``pack_command`` does the same with more care (any argument type) and more work."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%b\r\n" % (len(part), part))
    return b"".join(out)


def _broken(conn) -> None:
    with contextlib.suppress(Exception):  # already broken; the next call connects again
        conn.disconnect()


def get(key: str) -> str | None:
    try:
        client = _redis()
        if client is None:
            return cache.get(key)
        conn = _connection(client)
        conn.send_packed_command([_command(b"GET", key.encode())], check_health=False)
        value = conn.read_response(disable_decoding=True)
    except Exception:  # a cache outage makes pages slower, not broken
        if _line.conn is not None:
            _broken(_line.conn)
        log.warning("page cache unavailable", exc_info=True)
        return None
    return value.decode() if value is not None else None


def put(key: str, html: str | bytes, seconds: int) -> None:
    """Store a page: its text, or the UTF-8 bytes of it when the caller has them already. The
    write goes without waiting for its reply (``CLIENT REPLY SKIP``) where the server allows: a
    lost write costs a render later, never a wrong page."""
    try:
        client = _redis()
        if client is None:
            cache.set(key, html.decode() if isinstance(html, bytes) else html, timeout=seconds)
            return
        conn = _connection(client)
        value = html if isinstance(html, bytes) else html.encode()
        # One buffer, one send: redis-py sends a large value's pieces one system call each.
        command = _command(b"SET", key.encode(), value, b"EX", b"%d" % seconds)
        if _skips(conn):
            conn.send_packed_command([_SKIP + command], check_health=False)
        else:
            conn.send_packed_command([command], check_health=False)
            conn.read_response()
    except Exception:
        if _line.conn is not None:
            _broken(_line.conn)
        log.warning("page cache unavailable", exc_info=True)


def forget_pages(*, orders: list[int], shipments: list[int]) -> int:
    """Delete every cached rendering of these pages (a shopper's data was erased): one SCAN of
    the page keys. Without Redis the local cache's copies expire on their own within
    ``WISMO_PAGE_CACHE_SECONDS``; this process's own copies are dropped by the caller."""
    wanted = {f"order:{pk}" for pk in orders} | {f"shipment:{pk}" for pk in shipments}
    if not wanted:
        return 0
    client = _redis()
    if client is None:
        return 0
    prefix = f"{settings.WISMO_REDIS_PREFIX}:tp:page:"
    doomed = []
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            kind, pk = key.decode()[len(prefix) :].split(":", 2)[:2]
            if f"{kind}:{pk}" in wanted:
                doomed.append(key)
        for start in range(0, len(doomed), 500):
            client.delete(*doomed[start : start + 500])
    except Exception:
        log.warning("cached pages could not be forgotten", exc_info=True)
    return len(doomed)
