"""``manage.py carriers list | parse SLUG FILE | detect NUMBER [NUMBER ...]`` (DESIGN.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from carriers import registry
from carriers.base import NotThisFormat
from carriers.services import batch_document


class Command(BaseCommand):
    help = "Carrier tools: list the carriers, parse a captured response, detect a number's carrier."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="The carriers wismo knows.")
        parse = sub.add_parser(
            "parse", help="Normalize one raw response body of a carrier's tracking endpoint."
        )
        parse.add_argument("slug")
        parse.add_argument("file")
        detect = sub.add_parser("detect", help="Rank the carriers a tracking number may belong to.")
        detect.add_argument("numbers", nargs="+")
        detect.add_argument(
            "--priority", default="", help="Comma-separated carrier slugs that win ties."
        )

    def handle(self, *args, action: str, **options):
        getattr(self, f"_{action}")(**options)

    def _list(self, **options) -> None:
        for adapter in registry.all_adapters():
            flags = []
            if adapter.simulated:
                flags.append("simulated")
            if not adapter.pollable:
                flags.append("not polled")
            suffix = f"  ({', '.join(flags)})" if flags else ""
            self.stdout.write(f"{adapter.slug:<16} {adapter.name}{suffix}")

    def _parse(self, slug: str, file: str, **options) -> None:
        try:
            adapter = registry.get_adapter(slug)
        except registry.UnknownCarrier:
            raise CommandError(
                f"unknown carrier {slug!r} (see 'carriers list')", returncode=2
            ) from None
        try:
            body = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}", returncode=2) from None
        try:
            batch = adapter.parse(body)
        except NotThisFormat as exc:
            reason = " ".join(str(exc).split()) or "not this carrier's format"
            raise CommandError(f"not a {slug} tracking response: {reason}", returncode=2) from None
        self.stdout.write(json.dumps(batch_document(batch), ensure_ascii=False, indent=2))

    def _detect(self, numbers: list[str], priority: str = "", **options) -> None:
        order = [slug.strip() for slug in priority.split(",") if slug.strip()]
        for number in numbers:
            candidates = registry.detect(number, priority=order)
            line = {
                "number": number,
                "candidates": [{"carrier": c, "confidence": p} for c, p in candidates],
            }
            self.stdout.write(json.dumps(line, ensure_ascii=False))
