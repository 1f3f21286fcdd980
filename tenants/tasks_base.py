"""The Celery task base class that opens the tenant scope, so tasks run inside one tenant."""

from __future__ import annotations

from celery import Task

from tenants.scoping import tenant_scope


class TenantTask(Task):
    """A task whose first keyword argument ``tenant_id`` names the tenant to work in.

    Tasks take ids, not objects; the scope is opened here so that the services they call see that
    tenant's rows and nothing else.
    """

    abstract = True

    def __call__(self, *args, **kwargs):
        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} needs a tenant_id keyword argument")
        with tenant_scope(int(tenant_id)):
            return super().__call__(*args, **kwargs)
