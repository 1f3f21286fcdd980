"""What every shop-platform importer produces: plain DTOs, no database.

A platform client (Shopify, WooCommerce, ...) reads the platform's API or webhook bodies and
returns ``OrderDTO``s; ``services.imports`` persists them idempotently. Importers never touch
models, so they are tested by replaying the platform's documented payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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


@dataclass(slots=True)
class Page:
    """One page of a sync: orders, and the cursor to resume from (None when done)."""

    orders: list[OrderDTO]
    next_cursor: str | None = None
