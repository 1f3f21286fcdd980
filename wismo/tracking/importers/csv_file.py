"""CSV import of orders and tracking numbers: one row per parcel, rows of one order grouped.

Columns (header names, any order, case-insensitive; only the first two are required):

    order_number, tracking_number, email, name, locale, carrier, shipped_at,
    destination_country, destination_postcode

A bad row is reported with its line number and reason and skipped; the good rows are imported.
Commas or semicolons, UTF-8 with or without BOM. Pure: returns DTOs and a report, no database.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wismo.tracking.importers.base import FulfillmentDTO, NotThisPayload, OrderDTO

REQUIRED = ("order_number", "tracking_number")
KNOWN = (
    *REQUIRED,
    "email",
    "name",
    "locale",
    "carrier",
    "shipped_at",
    "destination_country",
    "destination_postcode",
)
LOCALES = ("en", "it", "es", "de", "fr")
MAX_BYTES = 20 * 1024 * 1024
MAX_FIELD = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]{0,80}$")


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


@dataclass(slots=True)
class CsvBatch:
    orders: list[OrderDTO] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def _when(value: str) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if not reader.fieldnames:
        raise NotThisPayload("the file is empty")
    headers = [(h or "").strip().lower() for h in reader.fieldnames]
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise NotThisPayload(
            f"missing column(s): {', '.join(missing)} (see the documented columns)"
        )
    reader.fieldnames = headers
    for row in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}


def parse_csv(data: bytes) -> CsvBatch:
    """Orders from a CSV file's bytes; raises NotThisPayload when the file itself is unusable."""
    if len(data) > MAX_BYTES:
        raise NotThisPayload(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotThisPayload("the file is not UTF-8 text") from None
    if "\x00" in text:
        raise NotThisPayload("the file is not a text CSV")
    batch = CsvBatch()
    grouped: dict[str, dict] = {}
    try:
        rows = list(_rows(text))
    except csv.Error as exc:
        raise NotThisPayload(f"not a readable CSV: {exc}") from None
    for line, row in rows:
        batch.rows += 1
        problem = _check(row)
        if problem:
            batch.errors.append(RowError(line, problem))
            continue
        order = grouped.setdefault(row["order_number"], {"row": row, "fulfillments": []})
        number = row["tracking_number"]
        order["fulfillments"].append(
            FulfillmentDTO(
                external_id=f"csv:{number.replace(' ', '').replace('-', '').upper()}",
                tracking_numbers=(number,),
                carrier_name=row.get("carrier", ""),
                shipped_at=_when(row.get("shipped_at", "")),
            )
        )
    for order_number, item in grouped.items():
        row = item["row"]
        batch.orders.append(
            OrderDTO(
                external_id=f"csv:{order_number}",
                order_number=order_number,
                customer_email=row.get("email", ""),
                customer_name=row.get("name", ""),
                locale=row.get("locale", "").lower(),
                shipping_country=row.get("destination_country", "").upper(),
                shipping_postcode=row.get("destination_postcode", ""),
                fulfillments=tuple(item["fulfillments"]),
            )
        )
    return batch


def _check(row: dict[str, str]) -> str | None:
    """Why the row cannot be imported, or None."""
    for column in REQUIRED:
        if not row.get(column):
            return f"{column} is empty"
    for column in KNOWN:
        if len(row.get(column, "")) > MAX_FIELD:
            return f"{column} is longer than {MAX_FIELD} characters"
    if not _NUMBER.match(row["tracking_number"]):
        return "tracking_number must be letters and digits"
    if row.get("email") and not _EMAIL.match(row["email"]):
        return f"email {row['email']!r} is not an email address"
    if row.get("locale") and row["locale"].lower() not in LOCALES:
        return f"locale must be one of {', '.join(LOCALES)}"
    country = row.get("destination_country", "")
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        return "destination_country must be a two-letter ISO code"
    try:
        _when(row.get("shipped_at", ""))
    except ValueError:
        return (
            "shipped_at must be an ISO 8601 date or time (2026-11-20 or 2026-11-20T10:00:00+01:00)"
        )
    return None
