"""``manage.py retention [--dry-run]``: erase personal data and raw payloads past retention.

The same run as the daily task (``wismo.tracking.services.retention``), platform-wide; prints
what it erased, or with ``--dry-run`` what it would erase.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from wismo.tracking.services.retention import retention_run


class Command(BaseCommand):
    help = "Erase shoppers' personal data and raw webhook payloads past their retention period."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")
        parser.add_argument("--personal-days", type=int, default=None)
        parser.add_argument("--raw-days", type=int, default=None)

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        try:
            report = retention_run(
                dry_run=dry_run,
                personal_days=options.get("personal_days"),
                raw_days=options.get("raw_days"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would erase" if dry_run else "Erased"
        counts = report.as_dict()
        self.stdout.write(
            f"{verb} personal data of {counts['orders']} orders and {counts['shipments']} "
            f"parcels, {counts['exports']} shopper exports and the raw payloads of "
            f"{counts['webhooks']} webhooks in {counts['tenants']} tenants."
        )
        for name, count in counts.items():
            self.stdout.write(f"  {name}: {count}")
