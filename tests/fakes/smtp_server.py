"""A real SMTP server on 127.0.0.1 (aiosmtpd) for email tests: it keeps what it receives, and
can be told to answer the next messages with an error (a provider's 4xx/5xx)."""

from __future__ import annotations

import email
import email.policy
import socket
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_DATA(self, _server, _session, envelope):
        if self.server.replies:
            return self.server.replies.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.server.messages.append(message)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.replies: list[str] = []
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def fail_next(self, reply: str, times: int = 1) -> None:
        self.replies.extend([reply] * times)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
