from django.core.management.base import BaseCommand, CommandError

from tenants.models import Role, Tenant
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--role", choices=[Role.ADMIN, Role.AGENT], default=Role.ADMIN)
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, role, name, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {slug!r}.")
        key, raw = api_key_create(tenant=tenant, role=role, name=name)
        self.stderr.write(
            f"{role} key {key.prefix}… for {tenant.slug}; store it now, it is not shown again:"
        )
        self.stdout.write(raw)
