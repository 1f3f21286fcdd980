"""Error reporting: with a DSN, an unhandled error reaches Sentry (here a local server speaking
its envelope endpoint) without credentials, cookies, signatures or the request's body."""

from __future__ import annotations

import gzip
import secrets
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from django.urls import path

from wismo.logging import SCRUBBED_HEADERS, sentry_before_send, sentry_init

sentry_sdk = pytest.importorskip("sentry_sdk")

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_sentry")]

# Made at run time: the SDK sends source lines around the frames, and a literal here would be one.
SECRETS = (
    f"Bearer sk_live_{secrets.token_hex(8)}",
    f"sessionid={secrets.token_hex(8)}",
    f"hmac-{secrets.token_hex(8)}",
)


def boom(request):
    raise RuntimeError("boom-for-sentry")


urlpatterns = [path("boom/", boom)]


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_server():
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sentry(sentry_server):
    port = sentry_server.server_address[1]
    assert sentry_init(dsn=f"http://publickey@127.0.0.1:{port}/1", environment="test")
    yield _Collector.received
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.init()  # no DSN: the SDK is off again for the other tests


def test_an_unhandled_error_reaches_sentry_without_secrets(sentry):
    client = Client(raise_request_exception=False)
    response = client.post(
        "/boom/?email=ana@example.com",
        data='{"customer": {"email": "ana@example.com"}}',
        content_type="application/json",
        HTTP_AUTHORIZATION=SECRETS[0],
        HTTP_COOKIE=SECRETS[1],
        HTTP_X_SHOPIFY_HMAC_SHA256=SECRETS[2],
    )
    sentry_sdk.flush(timeout=5)

    assert response.status_code == 500
    envelopes = b"\n".join(sentry)
    assert b"boom-for-sentry" in envelopes
    for secret in SECRETS:
        at = envelopes.find(secret.encode())
        assert at == -1, envelopes[max(0, at - 300) : at + 100]
    assert b"ana@example.com" not in envelopes


def test_before_send_scrubs_headers_cookies_body_and_user():
    event = {
        "request": {
            "headers": {
                "Authorization": "Bearer x",
                "X-Shopify-Hmac-Sha256": "sig",
                "User-Agent": "curl",
            },
            "cookies": {"sessionid": "s"},
            "data": {"email": "ana@example.com"},
            "query_string": "email=ana@example.com",
        },
        "user": {"email": "ana@example.com"},
    }

    scrubbed = sentry_before_send(event, {})

    headers = scrubbed["request"]["headers"]
    assert headers["Authorization"] == headers["X-Shopify-Hmac-Sha256"] == "[Filtered]"
    assert headers["User-Agent"] == "curl"
    assert scrubbed["request"]["cookies"] == scrubbed["request"]["data"] == "[Filtered]"
    assert "ana@example.com" not in str(scrubbed)
    assert {"authorization", "cookie", "x-shopify-hmac-sha256"} <= SCRUBBED_HEADERS
