"""Django's SMTP backend with a commit point just before the end of the message.

An SMTP server takes responsibility for a message when it reads the final ``.`` line of DATA;
a connection that drops before it makes the server discard the transaction (RFC 5321, 4.1.1.4
and 3.8). The outbox records a notification as sent in its own database; if the sender dies
between the server's acceptance and that record, the row comes back and the shopper would get
the email twice. So the record is written *before* the final dot: the message (headers, body)
is already with the server, ``commit_point()`` commits the "sent" row, and only then is the dot
sent. A death before the dot leaves a committed row and a discarded message only in the
instant between the commit returning and one ``send()``; a death at any other point is
resolved correctly (before the commit: the row is retried and the server has nothing; after
the dot: both agree). A refusal after the dot is reported as usual, and the outbox puts the row
back as it does for any failure.

A message without a ``commit_point`` attribute goes through Django's own code path unchanged.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
from collections.abc import Callable

from django.conf import settings
from django.core.mail.backends import smtp
from django.core.mail.message import EmailMessage, sanitize_address

CRLF = b"\r\n"


class EmailBackend(smtp.EmailBackend):
    """A drop-in for ``django.core.mail.backends.smtp.EmailBackend`` (same settings)."""

    def _send(self, email_message: EmailMessage) -> bool:
        commit_point = getattr(email_message, "commit_point", None)
        if commit_point is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        from_email = sanitize_address(email_message.from_email, encoding)
        recipients = [sanitize_address(a, encoding) for a in email_message.recipients()]
        payload = email_message.message().as_bytes(linesep="\r\n")
        try:
            sendmail_committing(self.connection, from_email, recipients, payload, commit_point)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        finally:
            if getattr(self.connection, "sock", None) is None:
                # Dropped (by us before the dot, or by the server): the next message of this
                # backend connects again instead of failing on a dead socket.
                self.connection = None
        return True


def sendmail_committing(
    connection: smtplib.SMTP,
    from_addr: str,
    to_addrs: list[str],
    payload: bytes,
    commit_point: Callable[[], None],
) -> None:
    """``smtplib.SMTP.sendmail`` with ``commit_point()`` called before the final dot.

    When ``commit_point`` raises, the dot is never sent: the connection is dropped (the server
    discards the half-sent message) and the exception propagates.
    """
    connection.ehlo_or_helo_if_needed()
    options = []
    if connection.does_esmtp and connection.has_extn("size"):
        options.append(f"size={len(payload)}")
    code, response = connection.mail(from_addr, options)
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPSenderRefused(code, response, from_addr)
    refused = {}
    for address in to_addrs:
        code, response = connection.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, response)
    if len(refused) == len(to_addrs):
        _reset(connection)
        raise smtplib.SMTPRecipientsRefused(refused)
    connection.putcmd("data")
    code, response = connection.getreply()
    if code != 354:
        _reset(connection)
        raise smtplib.SMTPDataError(code, response)
    body = _dot_stuffed(payload)
    connection.send(body)
    try:
        commit_point()
    except BaseException:
        # Anything but the dot now would become part of the message: drop the connection.
        connection.close()
        raise
    connection.send(b"." + CRLF)
    code, response = connection.getreply()
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPDataError(code, response)


def _dot_stuffed(payload: bytes) -> bytes:
    """The DATA body: a dot that starts a line doubled, ending in CRLF (RFC 5321 4.5.2), as
    smtplib prepares bytes (Django already wrote CRLF line ends)."""
    body = re.sub(rb"(?m)^\.", b"..", payload)
    return body if body.endswith(CRLF) else body + CRLF


def _reset(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()
