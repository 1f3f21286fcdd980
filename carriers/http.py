"""HTTP for carrier adapters: timeouts everywhere, failures sorted into transient and terminal.

``HttpClient`` wraps one ``requests.Session`` (connection reuse) and raises:

- ``TransientError`` for timeouts, connection failures, 429 and 5xx, with ``retry_after``
  seconds when the carrier said (``Retry-After`` as seconds or as an HTTP date);
- ``TerminalError`` for refused credentials (401, 403): retrying cannot help until the merchant
  fixes them.

Any other status (including 404, which some carriers use for "unknown number") is returned for
the adapter to read. ``TokenCache`` keeps OAuth tokens until shortly before they expire.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, TypeVar

import requests

T = TypeVar("T")
DEFAULT_TIMEOUT = (5.0, 20.0)  # (connect, read) seconds
USER_AGENT = "wismo-tracking/1.0 (+https://github.com/wismo)"


class CarrierHTTPError(Exception):
    transient: bool = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientError(CarrierHTTPError):
    """Worth retrying later: the carrier is slow, overloaded, rate-limiting or briefly down."""

    transient = True


class TerminalError(CarrierHTTPError):
    """Retrying will not help (refused credentials); shown to the merchant."""

    transient = False


class MalformedResponse(TransientError):
    """The carrier answered 2xx with a body that is not its format (often a proxy error page)."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:  # delta-seconds; Shopify sends decimals ("2.0")
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Throttle(Protocol):
    """A rate limit shared by everyone calling one carrier account (see the kernel's throttle)."""

    def acquire(self) -> None:
        """Wait for a request slot, or raise TransientError when the wait would be too long."""

    def penalize(self, seconds: float) -> None:
        """The carrier said "not before ``seconds``": nobody asks it again before then."""


class HttpClient:
    def __init__(
        self,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        throttle: Throttle | None = None,
    ):
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.timeout = timeout
        self.throttle = throttle

    def with_throttle(self, throttle: Throttle | None) -> HttpClient:
        """The same connections, rate-limited by ``throttle``."""
        return HttpClient(self.session, self.timeout, throttle)

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if self.throttle is not None:
            self.throttle.acquire()
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise TransientError(f"timeout after {kwargs['timeout']} s: {url}") from exc
        except requests.RequestException as exc:
            raise TransientError(f"connection failed: {exc.__class__.__name__}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429 and self.throttle is not None:
                self.throttle.penalize(retry_after if retry_after is not None else 1.0)
            reason = "rate limited" if status == 429 else "carrier error"
            raise TransientError(
                f"{reason} (HTTP {status})", status=status, retry_after=retry_after
            )
        if status in (401, 403):
            raise TerminalError(f"credentials refused (HTTP {status})", status=status)
        return response

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.request("POST", url, **kwargs)


def json_body(response: requests.Response) -> object:
    """The response's JSON, or ``MalformedResponse`` when a 2xx body is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise MalformedResponse(
            f"not JSON (HTTP {response.status_code})", status=response.status_code
        ) from exc


def oauth_token(
    response: requests.Response, carrier: str, *, default_expiry: float = 0.0
) -> tuple[str, float]:
    """(access_token, expires_in seconds) of an OAuth client-credentials answer.

    A 4xx means the merchant's client id or secret is refused (terminal); a 2xx without a
    token is a malformed answer (transient).
    """
    if response.status_code >= 400:
        raise TerminalError(
            f"{carrier} refused the OAuth client (HTTP {response.status_code})",
            status=response.status_code,
        )
    document = json_body(response)
    token = document.get("access_token") if isinstance(document, dict) else None
    if not token:
        raise MalformedResponse(f"{carrier} token response without access_token")
    try:
        expires_in = float(document.get("expires_in") or default_expiry)
    except (TypeError, ValueError):
        expires_in = default_expiry
    return str(token), expires_in


class TokenCache:
    """OAuth access tokens by key (carrier + account), kept until a minute before they expire."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key: str, fetch: Callable[[], tuple[str, float]]) -> str:
        """The cached token for ``key``, or a new one from ``fetch() -> (token, expires_in_s)``."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > self._clock():
                return cached[0]
        token, expires_in = fetch()
        with self._lock:
            self._tokens[key] = (token, self._clock() + max(0.0, float(expires_in) - 60))
        return token

    def call_with(
        self, key: str, fetch: Callable[[], tuple[str, float]], call: Callable[[str], T]
    ) -> T:
        """``call(token)`` with the cached token; when a cached token is refused (401), forget it
        and try once more with a new one (tokens can expire or be revoked before their time)."""
        fresh = False

        def fetch_fresh() -> tuple[str, float]:
            nonlocal fresh
            fresh = True
            return fetch()

        try:
            return call(self.get(key, fetch_fresh))
        except TerminalError as exc:
            if exc.status != 401 or fresh:
                raise
            self.forget(key)
            return call(self.get(key, fetch_fresh))

    def forget(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)


# One per process: tokens are shared by every poll in a worker.
tokens = TokenCache()
