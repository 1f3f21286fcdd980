"""Dashboard fixtures: people of tenant A in each role, signed-in clients, and a browser."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.test import Client

from tenants.models import Role
from tenants.scoping import tenant_scope
from tenants.services import membership_add
from tests.factories import OrderFactory, ShipmentFactory

PASSWORD = "correct-horse-battery-9"
CHROMIUM = os.environ.get("WISMO_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "dashboard"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def member(tenant, role: str, email: str | None = None):
    """A user with ``role`` in ``tenant`` (created), password ``PASSWORD``."""
    email = email or f"{role}@{tenant.slug}.example"
    return membership_add(tenant=tenant, email=email, role=role, password=PASSWORD).user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_a(tenant_a):
    return member(tenant_a, Role.OWNER)


@pytest.fixture
def admin_a(tenant_a):
    return member(tenant_a, Role.ADMIN)


@pytest.fixture
def agent_a(tenant_a):
    return member(tenant_a, Role.AGENT)


@pytest.fixture
def owner_b(tenant_b):
    return member(tenant_b, Role.OWNER)


@pytest.fixture
def owner_client(owner_a) -> Client:
    return signed_in(owner_a)


@pytest.fixture
def admin_client(admin_a) -> Client:
    return signed_in(admin_a)


@pytest.fixture
def agent_client(agent_a) -> Client:
    return signed_in(agent_a)


@pytest.fixture
def client_b(owner_b) -> Client:
    """Tenant B's owner: must never see tenant A's objects."""
    return signed_in(owner_b)


@pytest.fixture
def shipment_a(tenant_a):
    """One in-transit parcel of tenant A, with its order (#1001, ada@example.com)."""
    with tenant_scope(tenant_a):
        order = OrderFactory(
            tenant=tenant_a,
            order_number="1001",
            customer_email="ada@example.com",
            customer_name="Ada Lovelace",
        )
        return ShipmentFactory(
            tenant=tenant_a, order=order, status="in_transit", substatus="in_transit.on_the_way"
        )


@pytest.fixture
def shipment_b(tenant_b):
    with tenant_scope(tenant_b):
        order = OrderFactory(tenant=tenant_b, order_number="2001", customer_email="bo@example.com")
        return ShipmentFactory(tenant=tenant_b, order=order)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright; skips (saying why) when either is missing."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the live server has its own.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        launched = playwright.chromium.launch(
            executable_path=executable, args=LAUNCH_ARGS, headless=True
        )
        yield launched
        launched.close()


def browser_login(page, live_server_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server_url}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_url}/dashboard/**")
