"""The fake providers of the fault scenarios, each in a process of its own (so that a scenario's
own work never slows their answers), built on the test fakes of tests/fakes/.

    python bench/faults/_fakes.py postmark [--latency S]
    python bench/faults/_fakes.py smtp [--latency S]
    python bench/faults/_fakes.py dhl|royal_mail|fedex [--latency S]

prints its base URL on the first line of stdout, then serves until killed. Besides the fake's
own API it answers ``GET /_log``: everything it accepted or answered, with times, as JSON.
The SMTP server (aiosmtpd, a real SMTP implementation) answers the final dot of each message
after ``--latency`` (a mail server writing its queue file) and, like Postfix, keeps a message
whose final dot it read even if the client hangs up before the reply; its base URL is that of
its log, whose JSON also carries ``smtp_port``.

The carriers answer every tracking request with a recorded in-transit body (the asked number
put in), after ``--latency``, unless a fault script says otherwise: ``POST /_script`` with
``{"start": epoch, "faults": [...]}`` where each fault is, in seconds from ``start``:

- ``{"kind": "spike", "from": a, "to": b, "every": n, "seconds": s}``: every n-th request in
  the window answers after s seconds;
- ``{"kind": "blackhole", "from": a, "to": b}``: requests in the window are accepted and never
  answered (the connection is held for ``blackhole_seconds``, then dropped);
- ``{"kind": "429", "at": a, "retry_after": "6"}`` or ``{"kind": "429", "at": a,
  "http_date_in": 8}``: the first request from ``a`` on is answered 429 with that
  ``Retry-After`` (seconds, or an HTTP date that many whole seconds ahead); its deadline is
  logged.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.carrier_server import (  # noqa: E402
    FakeCarrierServer,
    Reply,
    Request,
    fixture_text,
    json_file,
)
from tests.fakes.postmark_server import FakePostmark, _PostmarkHandler  # noqa: E402


class _LoggingPostmarkHandler(_PostmarkHandler):
    def do_GET(self) -> None:
        if self.path == "/_log":
            with self.fake.lock:
                self._reply(
                    200,
                    {"accepted": list(self.fake.accepted), "requests": list(self.fake.requests)},
                )
        else:
            super().do_GET()


class LoggingPostmark(FakePostmark):
    """``FakePostmark`` whose ``/_log`` lists every accepted message (id, recipient, time)."""

    def _handler_class(self):
        return type("Handler", (_LoggingPostmarkHandler,), {"fake": self})

    def handle(self, request, data: dict) -> None:
        before = len(self.accepted)
        super().handle(request, data)
        with self.lock:
            for message in self.accepted[before:]:
                message.setdefault("at", time.time())


class ScriptedCarrier(FakeCarrierServer):
    """A ``FakeCarrierServer`` that logs each request's arrival and follows a fault script."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.base_latency = latency
        self.script: dict = {"start": 0.0, "faults": []}
        self.fired: set[int] = set()
        self.counter = 0
        self.log: list[dict] = []
        self.blackhole_seconds = 30.0
        # The client port of each request being answered (``GET /_inflight``): with ``ss`` the
        # bench finds which process is waiting on the carrier right now.
        self.in_flight: dict[int, int] = {}
        self._client = threading.local()
        handler = self._httpd.RequestHandlerClass
        serve = handler._handle

        def handle_with_port(request_handler) -> None:
            self._client.port = request_handler.client_address[1]
            serve(request_handler)

        handler._handle = handler.do_GET = handler.do_POST = handle_with_port

    def _control(self, request: Request) -> Reply:
        if request.path == "/_script":
            with self._lock:
                self.script = request.json()
                self.fired.clear()
            return Reply(body="{}")
        with self._lock:
            if request.path == "/_inflight":
                return Reply(
                    body=json.dumps({"ports": [p for p, n in self.in_flight.items() if n]})
                )
            return Reply(body=json.dumps({"log": self.log}))

    def _answer(self, request: Request) -> Reply | None:
        if request.path.startswith("/_"):
            return self._control(request)
        now = time.time()
        with self._lock:
            self.counter += 1
            count = self.counter
            start, faults = self.script["start"], self.script["faults"]
            entry = {"t": now, "path": request.path, "outcome": "ok"}
            self.log.append(entry)
            action = None
            for n, fault in enumerate(faults if start else ()):
                at = now - start
                if fault["kind"] == "429" and at >= fault["at"] and n not in self.fired:
                    self.fired.add(n)
                    action = fault
                    break
                in_window = fault.get("from", 0) <= at < fault.get("to", 0)
                if in_window and (fault["kind"] == "blackhole" or count % fault["every"] == 0):
                    action = fault
                    break
            if action is not None:
                entry["outcome"] = action["kind"]
            if action is not None and action["kind"] == "429":
                if "http_date_in" in action:
                    deadline = math.ceil(now) + action["http_date_in"]
                    value = formatdate(deadline, usegmt=True)
                else:
                    deadline = now + float(action["retry_after"])
                    value = action["retry_after"]
                entry.update(retry_after=value, deadline=deadline)
        port = getattr(self._client, "port", 0)
        with self._lock:
            self.in_flight[port] = self.in_flight.get(port, 0) + 1
        try:
            if action is None:
                time.sleep(self.base_latency)
            elif action["kind"] == "blackhole":
                return None
            elif action["kind"] == "spike":
                time.sleep(action["seconds"])
            elif action["kind"] == "429":
                return Reply(status=429, body="{}", headers={"Retry-After": value})
            return super()._answer(request)
        finally:
            with self._lock:
                self.in_flight[port] -= 1


def serve_carrier(kind: str, latency: float) -> None:
    server = ScriptedCarrier(latency)
    if kind == "dhl":
        body = fixture_text("dhl/transit.json")
        server.route(
            "GET",
            r"^/track/shipments$",
            lambda request: Reply(
                body=body.replace("1234567890", request.query["trackingNumber"][0])
            ),
        )
    elif kind == "royal_mail":
        server.route(
            "GET", r"^/mailpieces/v2/[^/]+/events$", json_file("royal_mail/events_transit.json")
        )
    else:
        # Picked up and in transit two and one hours before the fake started: fresh news (the
        # shopper is emailed) that stays the same on every ask (a replay is a no-op).
        started = datetime.now(UTC).replace(microsecond=0)
        scans = [
            (started - timedelta(hours=1), "AR", "At local FedEx facility", "IT"),
            (started - timedelta(hours=2), "PU", "Picked up", "PU"),
        ]

        def fedex(request: Request) -> dict:
            numbers = [
                item["trackingNumberInfo"]["trackingNumber"]
                for item in request.json()["trackingInfo"]
            ]
            return {
                "transactionId": "faults",
                "output": {
                    "completeTrackResults": [
                        {
                            "trackingNumber": number,
                            "trackResults": [
                                {
                                    "trackingNumberInfo": {
                                        "trackingNumber": number,
                                        "carrierCode": "FDXE",
                                    },
                                    "latestStatusDetail": {
                                        "code": "IT",
                                        "derivedCode": "IT",
                                        "description": "In transit",
                                    },
                                    "scanEvents": [
                                        {
                                            "date": when.isoformat(),
                                            "eventType": code,
                                            "eventDescription": text,
                                            "derivedStatusCode": derived,
                                            "scanLocation": {
                                                "city": "FRESNO",
                                                "countryCode": "US",
                                                "stateOrProvinceCode": "CA",
                                            },
                                        }
                                        for when, code, text, derived in scans
                                    ],
                                }
                            ],
                        }
                        for number in numbers
                    ]
                },
            }

        server.route(
            "POST",
            r"/oauth/token$",
            {"access_token": "faults", "token_type": "bearer", "expires_in": 3600},
        )
        server.route("POST", r"/track/v1/trackingnumbers$", fedex)
    with server:
        print(server.url, flush=True)
        threading.Event().wait()


def serve_postmark(latency: float) -> None:
    with LoggingPostmark(latency=latency) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()


def serve_smtp(latency: float) -> None:
    import asyncio
    import email
    import email.policy
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller

    from tests.fakes.smtp_server import free_port

    accepted: list[dict] = []
    lock = threading.Lock()

    async def queue(envelope) -> None:
        await asyncio.sleep(latency)  # writing the queue file
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with lock:
            for to in envelope.rcpt_tos:
                accepted.append({"message_id": message["Message-ID"], "to": to, "at": time.time()})

    class Handler:
        async def handle_DATA(self, _server, _session, envelope):
            # A mail server that has read the final dot queues the message even when the client
            # hangs up before the reply (Postfix logs "lost connection after END-OF-MESSAGE"
            # and delivers it), so the write is shielded from aiosmtpd's cancel on disconnect.
            await asyncio.shield(queue(envelope))
            return "250 2.0.0 Ok: queued"

    class LogHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                body = json.dumps({"accepted": accepted, "smtp_port": controller.port}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), LogHandler)
    print(f"http://127.0.0.1:{http.server_port}/", flush=True)
    http.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["postmark", "smtp", "dhl", "royal_mail", "fedex"])
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    if args.kind == "postmark":
        serve_postmark(args.latency)
    elif args.kind == "smtp":
        serve_smtp(args.latency)
    else:
        serve_carrier(args.kind, args.latency)


if __name__ == "__main__":
    main()
