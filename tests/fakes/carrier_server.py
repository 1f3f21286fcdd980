"""A local fake of carrier APIs on 127.0.0.1, for adapters' tests (never the product's backend).

Routes answer like the carrier does, from recorded bodies; faults are scripted per test:

    with FakeCarrierServer() as server:
        server.route("GET", r"/track/shipments", json_file("dhl/transit.json"))
        server.route("POST", r"/oauth/token", {"access_token": "t", "expires_in": 3600})
        server.fail_next(429, headers={"Retry-After": "7"})      # next request only
        server.latency = 0.2                                       # every request
        server.blackhole_next()                                    # never answers (timeout)
        server.malformed_next()                                    # 200 with a broken body
        adapter.track([...], credentials={"base_url": server.url, ...}, http=HttpClient())
        server.requests  # what was asked: method, path, query, headers, body

A route's answer is a dict/list (sent as JSON), a ``Reply``, or a callable taking the
``Request`` and returning one of those.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "carriers"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Answer = dict | list | Reply | Callable[[Request], "dict | list | Reply"]


def fixture_text(relative: str) -> str:
    return (FIXTURES / relative).read_text()


def json_file(relative: str) -> Reply:
    return Reply(body=fixture_text(relative))


def xml_file(relative: str, content_type: str = "application/xml") -> Reply:
    return Reply(body=fixture_text(relative), content_type=content_type)


class FakeCarrierServer:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Answer]] = []
        self.requests: list[Request] = []
        self.latency = 0.0
        self.blackhole_seconds = 30.0
        self._faults: list[Callable[[Request], Reply | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK add ~40 ms to every answer, which no real carrier does.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = server._answer(request)
                if reply is None:  # black hole: hold the connection, answer nothing
                    server._stop.wait(server.blackhole_seconds)
                    self.close_connection = True
                    return
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                # The client may be gone (a killed worker): then there is nobody to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- scripting --------------------------------------------------------------------------
    def route(self, method: str, path_pattern: str, answer: Answer) -> None:
        """Answer requests whose path matches ``path_pattern`` (a regex searched in the path)."""
        with self._lock:
            self.routes.insert(0, (method.upper(), re.compile(path_pattern), answer))

    def fail_next(
        self, status: int, *, body: str = "", headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        for _ in range(times):
            self._faults.append(
                lambda _request: Reply(status=status, body=body, headers=headers or {})
            )

    def blackhole_next(self, times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(lambda _request: None)

    def malformed_next(self, body: str = "<html>502 Bad Gateway</html>", times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(
                lambda _request: Reply(status=200, body=body, content_type="text/html")
            )

    # -- serving ----------------------------------------------------------------------------
    def _answer(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            fault = self._faults.pop(0) if self._faults else None
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            return fault(request)
        for method, pattern, answer in self.routes:
            if method == request.method and pattern.search(request.path):
                result = answer(request) if callable(answer) else answer
                if isinstance(result, Reply):
                    return result
                return Reply(body=json.dumps(result))
        return Reply(status=404, body=json.dumps({"error": "no fake route", "path": request.path}))

    def __enter__(self) -> FakeCarrierServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
