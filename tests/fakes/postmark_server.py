"""A fake Postmark (``POST /email``) on 127.0.0.1, as anymail's Postmark backend calls it: for
the notification fault tests and bench/notify.py. A fixture, never the product's backend."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _PostmarkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the bench opens many connections at once


class _PostmarkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as anymail's requests session expects
    fake: FakePostmark

    def log_message(self, *args) -> None:
        pass

    def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        with contextlib.suppress(OSError):  # the client may have given up (a timeout, a kill)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_stats":  # for a fake running in another process (bench/notify.py)
            with self.fake.lock:
                self._reply(200, {"accepted": [m["message_id"] for m in self.fake.accepted]})
        else:
            self._reply(404, {"ErrorCode": 404, "Message": "Not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_reset":
            self.fake.reset()
            self._reply(200, {})
            return
        if self.path != "/email":
            self._reply(404, {"ErrorCode": 404, "Message": "Not found"})
            return
        if self.headers.get("X-Postmark-Server-Token") != self.fake.token:
            self._reply(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token"})
            return
        self.fake.handle(self, json.loads(body))


class FakePostmark:
    """Postmark's ``POST /email`` on 127.0.0.1, as anymail's Postmark backend calls it.

    Every request waits ``latency`` seconds, then takes the next scripted behaviour:
    accept (the default: record the message, answer ``{"MessageID": ..., "ErrorCode": 0}``),
    answer an error status without accepting (``fail_next``), accept then hold the answer until
    ``release`` is set (``hold_next``: a worker killed between send and record), or accept and
    answer only after ``seconds`` (``stall_next``: a timeout after accepting). Many requests are
    served at once (a thread each), as a real provider would.
    """

    token = "fake-server-token"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.lock = threading.Lock()
        self.requests: list[tuple[str, int]] = []  # (Message-ID, status answered), in order
        self.accepted: list[dict] = []  # {"message_id", "to", "subject", "provider_id"}
        self.held = threading.Event()
        self.release = threading.Event()
        self._script: list[tuple] = []
        self._server = _PostmarkServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def _handler_class(self) -> type[_PostmarkHandler]:
        return type("Handler", (_PostmarkHandler,), {"fake": self})

    def fail_next(self, status: int, headers: dict | None = None) -> None:
        self._script.append(("fail", status, headers or {}))

    def hold_next(self) -> None:
        self._script.append(("hold",))

    def stall_next(self, seconds: float) -> None:
        self._script.append(("stall", seconds))

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.accepted.clear()
            self._script.clear()
        self.held.clear()
        self.release.clear()

    def handle(self, request: _PostmarkHandler, data: dict) -> None:
        message_id = next(
            (h["Value"] for h in data.get("Headers", []) if h["Name"].lower() == "message-id"), ""
        )
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            action = self._script.pop(0) if self._script else ("accept",)
            if action[0] == "fail":
                self.requests.append((message_id, action[1]))
            else:
                provider_id = str(uuid.uuid4())
                self.requests.append((message_id, 200))
                self.accepted.append(
                    {
                        "message_id": message_id,
                        "to": data.get("To", ""),
                        "subject": data.get("Subject", ""),
                        "provider_id": provider_id,
                    }
                )
        if action[0] == "fail":
            request._reply(action[1], {"ErrorCode": 100, "Message": f"HTTP {action[1]}"}, action[2])
            return
        if action[0] == "hold":
            self.held.set()
            self.release.wait(60)
        elif action[0] == "stall":
            time.sleep(action[1])
        request._reply(
            200,
            {
                "To": data.get("To", ""),
                "SubmittedAt": datetime.now(UTC).isoformat(),
                "MessageID": provider_id,
                "ErrorCode": 0,
                "Message": "OK",
            },
        )

    def accepted_ids(self) -> list[str]:
        with self.lock:
            return [m["message_id"] for m in self.accepted]

    def __enter__(self) -> FakePostmark:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


# --- a real worker --------------------------------------------------------------------------------
