"""What every shop-platform importer produces: plain DTOs, no database.

A platform client (Shopify, WooCommerce, ...) reads the platform's API or webhook bodies and
returns ``OrderDTO``s; ``services.imports`` persists them idempotently. Importers never touch
models, so they are tested by replaying the platform's documented payloads.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit


class NotThisPayload(ValueError):
    """The body is not this platform's order/fulfillment payload (one-line reason)."""


class SignatureMismatch(PermissionError):
    """A webhook whose signature does not verify."""


@dataclass(frozen=True, slots=True)
class LineItemDTO:
    title: str
    quantity: int = 1
    sku: str = ""
    price: str = ""  # decimal as text, in the order's currency
    image_url: str = ""


@dataclass(frozen=True, slots=True)
class FulfillmentDTO:
    """One fulfillment (a box leaving the warehouse): it may carry several tracking numbers."""

    external_id: str
    tracking_numbers: tuple[str, ...]
    carrier_name: str = ""  # the platform's carrier name, mapped by carriers.names
    tracking_urls: tuple[str, ...] = ()
    shipped_at: datetime | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class OrderDTO:
    external_id: str
    order_number: str
    customer_email: str = ""
    customer_name: str = ""
    locale: str = ""
    shipping_country: str = ""
    shipping_postcode: str = ""
    currency: str = ""
    placed_at: datetime | None = None
    updated_at: datetime | None = None
    cancelled: bool = False
    line_items: tuple[LineItemDTO, ...] = ()
    fulfillments: tuple[FulfillmentDTO, ...] = field(default_factory=tuple)
    # An unfinished checkout the platform keeps as an order (WooCommerce's block checkout
    # "checkout-draft"): not an order yet, so imports skip it until it is placed.
    draft: bool = False


@dataclass(slots=True)
class Page:
    """One page of a sync: orders, and the cursor to resume from (None when done)."""

    orders: list[OrderDTO]
    next_cursor: str | None = None


# -- helpers the platform readers share ---------------------------------------------------------

CENTS = Decimal("0.01")


def text(value: object) -> str:
    """Any scalar as stripped text; None, containers and booleans as ""."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def decimal_text(value: object) -> str:
    """A price as text ("24.90"): JSON numbers lose trailing zeros, so cents are shown; finer
    precision is kept as sent; anything that is not a finite number is ""."""
    raw = text(value)
    if not raw:
        return ""
    try:
        number = Decimal(raw)
    except InvalidOperation:
        return ""
    if not number.is_finite():
        return ""
    if number.as_tuple().exponent >= -2:
        number = number.quantize(CENTS)
    return format(number, "f")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https(url: str, what: str) -> str:
    """``url`` without a trailing slash; ``ValueError`` unless https (or http to this machine).

    Platform credentials travel with every request (a Bearer token, Basic auth): never over
    plain HTTP to another machine.
    """
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and _is_loopback(parts.hostname or "")
    ):
        raise ValueError(f"the {what} URL must be https://")
    return base
