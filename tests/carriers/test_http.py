"""The carrier HTTP layer against the local fake: timeouts, 429, 5xx, bad credentials, bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from carriers.http import (
    HttpClient,
    MalformedResponse,
    TerminalError,
    TokenCache,
    TransientError,
    json_body,
    parse_retry_after,
)
from tests.fakes.carrier_server import Reply


def test_retry_after_in_seconds_and_as_an_http_date():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90.0
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_a_429_is_transient_and_carries_retry_after(carrier_server):
    carrier_server.route("GET", "/ok", {"fine": True})
    carrier_server.fail_next(429, headers={"Retry-After": "12"})
    client = HttpClient()

    with pytest.raises(TransientError) as caught:
        client.get(carrier_server.url + "/ok")

    assert (caught.value.status, caught.value.retry_after) == (429, 12.0)
    assert client.get(carrier_server.url + "/ok").json() == {"fine": True}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(carrier_server, status):
    carrier_server.fail_next(status)
    with pytest.raises(TransientError):
        HttpClient().get(carrier_server.url + "/x")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_terminal(carrier_server, status):
    carrier_server.fail_next(status)
    with pytest.raises(TerminalError):
        HttpClient().get(carrier_server.url + "/x")


def test_a_black_hole_times_out_as_transient(carrier_server):
    carrier_server.blackhole_next()
    with pytest.raises(TransientError, match="timeout"):
        HttpClient(timeout=(1, 0.5)).get(carrier_server.url + "/x")


def test_a_refused_connection_is_transient():
    with pytest.raises(TransientError, match="connection failed"):
        HttpClient(timeout=(0.5, 0.5)).get("http://127.0.0.1:9/nothing")


def test_a_2xx_body_that_is_not_json_is_malformed(carrier_server):
    carrier_server.malformed_next()
    response = HttpClient().get(carrier_server.url + "/x")
    with pytest.raises(MalformedResponse):
        json_body(response)


def test_other_client_errors_are_left_to_the_adapter(carrier_server):
    carrier_server.route(
        "GET", "/missing", Reply(status=404, body='{"title": "No shipment found"}')
    )
    assert HttpClient().get(carrier_server.url + "/missing").status_code == 404


def test_tokens_are_cached_until_shortly_before_they_expire():
    clock = [0.0]
    cache = TokenCache(clock=lambda: clock[0])
    fetched = []

    def fetch():
        fetched.append(1)
        return f"token-{len(fetched)}", 3600

    assert cache.get("ups:1", fetch) == "token-1"
    clock[0] = 3500
    assert cache.get("ups:1", fetch) == "token-1"
    clock[0] = 3541  # within the last minute of its life
    assert cache.get("ups:1", fetch) == "token-2"
    cache.forget("ups:1")
    assert cache.get("ups:1", fetch) == "token-3"


def test_retry_after_may_carry_decimals_like_shopifys():
    assert parse_retry_after("2.0") == 2.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("nan") is None
