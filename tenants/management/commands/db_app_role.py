"""``manage.py db_app_role NAME [--password-env VAR]``: the role the application should run as.

Row-level security (``tenants.rls``) binds only a role that is not a superuser, cannot bypass
it and owns no table. This creates that role (or fixes one that exists) with the rights the
application needs on today's tables and on the ones later migrations create: rows and
sequences, nothing else. Run it as the owner that runs the migrations; then point the web,
worker and beat processes' ``DATABASE_URL`` at this role and keep the owner's URL for
``migrate``.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tenants.rls import ensure_row_security


class Command(BaseCommand):
    help = "Create or fix the PostgreSQL role the application runs as (row-level security)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the role's name, e.g. wismo_app")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="set the role's password from this environment variable (never an argument)",
        )

    def handle(self, *args, name: str, password_env: str | None, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Row-level security needs PostgreSQL.")
        if not name.replace("_", "").isalnum() or len(name) > 63:
            raise CommandError("The role name takes letters, digits and underscores.")
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"{password_env} is empty.")
        quote = connection.ops.quote_name
        role, database = quote(name), quote(connection.settings_dict["NAME"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
            )
            if password is not None:
                cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
            cursor.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            )
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
            cursor.execute(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
            )
            cursor.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
            )
        changed = ensure_row_security()
        self.stdout.write(
            f"role {name}: {verb.lower()}d; not a superuser, no BYPASSRLS, owns nothing; "
            f"row-level security newly enabled on {len(changed)} tables."
        )
