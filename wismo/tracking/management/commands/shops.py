"""``manage.py shops import-csv STORE FILE``: import orders and tracking numbers into a store.

STORE is the store's id. Prints a progress bar and a summary: orders created and updated,
parcels created, rows skipped (with line number and reason) and orders that failed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tenants.scoping import all_tenants, tenant_scope
from wismo.tracking.importers.base import NotThisPayload
from wismo.tracking.importers.csv_file import parse_csv
from wismo.tracking.models import ShopConnection
from wismo.tracking.services.imports import orders_import

CHUNK = 500  # orders imported per batch: a few statements each


class Command(BaseCommand):
    help = "Shop imports: import-csv STORE FILE, sync STORE [--since DATE]."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        csv_parser = sub.add_parser(
            "import-csv", help="Import orders and tracking numbers from a CSV file."
        )
        csv_parser.add_argument("store", type=int, help="the store's id")
        csv_parser.add_argument("file")
        sync_parser = sub.add_parser("sync", help="Import orders changed on the shop's platform.")
        sync_parser.add_argument("store", type=int, help="the store's id")
        sync_parser.add_argument("--since", help="ISO date or time (default: since the last sync)")

    def handle(self, *args, action: str, **options):
        if action == "import-csv":
            self._import_csv(options["store"], options["file"])
        elif action == "sync":
            self._sync(options["store"], options.get("since"))

    def _sync(self, store_id: int, since_text: str | None) -> None:
        from datetime import UTC, datetime

        from django.core.exceptions import ValidationError

        from carriers.http import CarrierHTTPError
        from wismo.tracking.services.sync import store_sync

        store = self._store(store_id)
        since = None
        if since_text:
            try:
                since = datetime.fromisoformat(since_text)
            except ValueError:
                raise CommandError("--since must be an ISO date or time") from None
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
        bar = tqdm(desc="pages", unit="page", disable=None, file=self.stderr._out)
        with tenant_scope(store.tenant):
            try:
                report = store_sync(store=store, since=since, on_page=lambda _report: bar.update(1))
            except (CarrierHTTPError, ValidationError, ValueError) as exc:
                bar.close()
                message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                raise CommandError(f"sync stopped: {message} (run it again to resume)") from None
        bar.close()
        for failure in report.failed:
            self.stdout.write(f"failed {failure}")
        self.stdout.write(
            f"{report.pages} pages: {report.created} orders created, {report.updated} updated, "
            f"{report.parcels} parcels created, {report.skipped} skipped, {len(report.failed)} failed"
        )

    def _store(self, store_id: int) -> ShopConnection:
        # The command names the store before any tenant is known: a spelled-out, one-row lookup.
        with all_tenants():
            store = ShopConnection.objects.select_related("tenant").filter(pk=store_id).first()
        if store is None:
            raise CommandError(f"No store with id {store_id}.")
        return store

    def _import_csv(self, store_id: int, file: str) -> None:
        store = self._store(store_id)
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            batch = parse_csv(data)
        except NotThisPayload as exc:
            raise CommandError(f"{file}: {exc}") from None
        created = updated = parcels = 0
        failed: list[str] = []
        problems: list[str] = []
        bar = tqdm(
            total=len(batch.orders),
            desc="orders",
            unit="order",
            disable=None,
            file=self.stderr._out,
        )
        with tenant_scope(store.tenant):
            for start in range(0, len(batch.orders), CHUNK):
                chunk = batch.orders[start : start + CHUNK]
                for dto, outcome in zip(chunk, orders_import(store=store, dtos=chunk), strict=True):
                    if outcome.failed:  # one order's failure never stops the rest
                        failed.append(f"order {dto.order_number}: {outcome.failed}")
                        continue
                    created += outcome.order_created
                    updated += not outcome.order_created
                    parcels += outcome.shipments_created
                    problems += [f"order {dto.order_number}: {p}" for p in outcome.problems]
                bar.update(len(chunk))
        bar.close()
        for error in batch.errors:
            self.stdout.write(f"skipped line {error.line}: {error.reason}")
        for problem in problems:
            self.stdout.write(f"skipped parcel of {problem}")
        for failure in failed:
            self.stdout.write(f"failed {failure}")
        self.stdout.write(
            f"{batch.rows} rows: {created} orders created, {updated} updated, {parcels} parcels created, "
            f"{len(batch.errors) + len(problems)} skipped, {len(failed)} failed"
        )
