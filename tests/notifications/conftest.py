from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from carriers.base import CarrierEvent
from tests.factories import OrderFactory, ShipmentFactory, ShopConnectionFactory
from tests.fakes.smtp_server import SmtpServer


def recent(
    hours_ago: float, status: str, substatus: str = "", description: str = ""
) -> CarrierEvent:
    """A carrier event ``hours_ago`` hours before now (notifications ignore old news)."""
    return CarrierEvent(
        timezone.now() - timedelta(hours=hours_ago),
        status,
        substatus,
        "",
        description or status,
        "Milano, IT",
    )


@pytest.fixture
def store_a(scope_a):
    return ShopConnectionFactory(tenant=scope_a, platform="api", name="Alpha Store")


@pytest.fixture
def parcel(scope_a, store_a):
    """A parcel of an order with a shopper's email, in tenant A's scope."""
    order = OrderFactory(
        tenant=scope_a,
        store=store_a,
        order_number="1042",
        customer_email="ana@example.com",
        customer_name="Ana Rossi",
        locale="it",
        line_items=[{"title": "Espresso cups", "quantity": 2}],
    )
    return ShipmentFactory(tenant=scope_a, order=order, store=store_a, tracking_number="TRK1042A")


@pytest.fixture
def no_nudge(monkeypatch):
    """The after-commit nudge is recorded, not sent to a broker; tests dispatch themselves."""
    from notifications import tasks

    sent = []
    monkeypatch.setattr(
        tasks.dispatch_status_changes, "apply_async", lambda kwargs: sent.append(kwargs)
    )
    return sent


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1, and the product's SMTP backend pointed at it."""
    with (
        SmtpServer() as server,
        override_settings(
            EMAIL_BACKEND="notifications.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=server.port,
            EMAIL_USE_TLS=False,
            EMAIL_TIMEOUT=5,
            DEFAULT_FROM_EMAIL="wismo <updates@mail.wismo.test>",
            WISMO_BASE_URL="https://track.wismo.test",
        ),
    ):
        yield server
