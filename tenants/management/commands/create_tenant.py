from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a merchant), optionally with an owner login."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email")
        parser.add_argument("--owner-password")
        parser.add_argument("--language", default="en")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, slug, name, owner_email, owner_password, language, timezone, **options):
        if owner_password and not owner_email:
            raise CommandError("--owner-password needs --owner-email")
        try:
            tenant = tenant_create(
                slug=slug,
                name=name,
                default_language=language,
                timezone_name=timezone,
                owner_email=owner_email,
                owner_password=owner_password,
            )
        except ValidationError as exc:
            messages = "; ".join(
                f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items()
            )
            raise CommandError(messages) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}).")
        if owner_email:
            self.stdout.write(f"Owner: {owner_email}")
