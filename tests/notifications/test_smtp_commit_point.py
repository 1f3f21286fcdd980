"""The SMTP backend records a notification as sent just before the message's final dot, so a
sender that dies anywhere in a send never makes the shopper get the email twice."""

from __future__ import annotations

import smtplib
import time
from datetime import timedelta

import pytest
from django.core.mail import EmailMessage, get_connection
from django.db import OperationalError
from django.utils import timezone

from notifications.models import Notification
from notifications.services import outbox
from tests.notifications.conftest import recent
from tests.notifications.test_outbox import owe

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """The worker process dying: nothing after it runs (BaseException passes every handler)."""


def wait_for_messages(smtp, count: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def expire_leases() -> None:
    Notification.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))


def test_the_row_is_recorded_sent_while_the_server_has_not_taken_the_message(
    smtp, parcel, monkeypatch
):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    seen_by_server_at_record: list[int] = []
    real_finish = outbox._finish

    def finish(rows, **fields):
        if fields.get("state") == Notification.State.SENT:
            seen_by_server_at_record.append(len(smtp.messages))
        real_finish(rows, **fields)

    monkeypatch.setattr(outbox, "_finish", finish)

    assert outbox.outbox_drain().sent == 1

    row.refresh_from_db()
    assert seen_by_server_at_record == [0]  # recorded once, before the dot
    assert row.state == "sent" and row.sent_at is not None and len(smtp.messages) == 1


def test_a_sender_killed_after_the_dot_does_not_send_again(smtp, parcel, monkeypatch):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    real_send = smtplib.SMTP.send
    dead: list[smtplib.SMTP] = []

    def send(self, data):
        real_send(self, data)
        if data == b".\r\n":
            dead.append(self)
            raise Killed

    monkeypatch.setattr(smtplib.SMTP, "send", send)
    with pytest.raises(Killed):
        outbox.outbox_drain()
    monkeypatch.undo()
    wait_for_messages(smtp, 1)  # the server took the message; its reply is never read
    dead[0].close()  # (the kernel closes a killed process's sockets)

    expire_leases()  # the dead worker's lease runs out: is anything owed again?
    assert outbox.outbox_drain().sent == 0
    row.refresh_from_db()
    assert row.state == "sent" and len(smtp.messages) == 1


def test_a_record_that_fails_leaves_nothing_at_the_server_and_the_row_owed(
    smtp, parcel, monkeypatch
):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    real_finish = outbox._finish
    failures = []

    def finish(rows, **fields):
        if fields.get("state") == Notification.State.SENT and not failures:
            failures.append(1)
            raise OperationalError("the database went away")
        real_finish(rows, **fields)

    monkeypatch.setattr(outbox, "_finish", finish)
    with pytest.raises(OperationalError):
        outbox.outbox_drain()
    time.sleep(0.3)  # time for the server to have (wrongly) accepted a message
    row.refresh_from_db()
    assert row.state == "sending" and smtp.messages == []

    expire_leases()
    assert outbox.outbox_drain().sent == 1
    row.refresh_from_db()
    assert row.state == "sent" and len(smtp.messages) == 1


def test_a_refusal_after_the_dot_undoes_the_record(smtp, parcel):
    [row] = owe(parcel, recent(1, "out_for_delivery"))
    smtp.fail_next("452 4.3.1 Insufficient system storage")

    assert outbox.outbox_drain().retried == 1

    row.refresh_from_db()
    assert row.state == "scheduled" and row.sent_at is None
    assert "452" in row.last_error and smtp.messages == []


def test_the_body_arrives_intact_dots_included_and_the_backend_reconnects(smtp, settings):
    body = ".a line that starts with a dot\n.\n..two dots\nend without a newline"
    backend = get_connection("notifications.smtp.EmailBackend")
    backend.open()
    try:
        broken = EmailMessage("one", body, "shop@wismo.test", ["ana@example.com"])

        def refuse() -> None:
            raise RuntimeError("no record, no dot")

        broken.commit_point = refuse
        with pytest.raises(RuntimeError):
            backend.send_messages([broken])
        assert backend.connection is None  # dropped before the dot

        recorded: list[int] = []
        message = EmailMessage("two", body, "shop@wismo.test", ["ana@example.com"])
        message.commit_point = lambda: recorded.append(len(smtp.messages))
        assert backend.send_messages([message]) == 1
    finally:
        backend.close()
    wait_for_messages(smtp, 1)
    [received] = smtp.messages
    assert recorded == [0] and received["Subject"] == "two"
    assert received.get_content().replace("\r\n", "\n").rstrip("\n") == body


def test_a_message_without_a_commit_point_goes_through_djangos_path(smtp):
    backend = get_connection("notifications.smtp.EmailBackend")
    sent = backend.send_messages([EmailMessage("plain", "hi", "s@wismo.test", ["a@b.test"])])
    wait_for_messages(smtp, 1)
    assert sent == 1 and smtp.messages[0]["Subject"] == "plain"
