from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_delete, post_migrate, post_save


def _forget_key(sender, instance, **kwargs) -> None:
    from tenants.services import api_key_forget

    api_key_forget(prefix=instance.prefix)


def _forget_tenant_keys(sender, instance, **kwargs) -> None:
    from tenants.models import ApiKey
    from tenants.services import api_key_forget

    for prefix in ApiKey.unscoped.filter(tenant_id=instance.pk).values_list("prefix", flat=True):
        api_key_forget(prefix=prefix)


def _ensure_row_security(sender, using="default", **kwargs) -> None:
    from tenants.rls import ensure_row_security

    ensure_row_security(using=using)


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        # PostgreSQL row-level security (tenants.rls): every statement carries its tenant, and
        # every tenant table gets the policy after each migrate.
        from tenants import rls

        connection_created.connect(rls.install, dispatch_uid="wismo-rls-install")
        post_migrate.connect(
            _ensure_row_security, sender=self, dispatch_uid="wismo-rls-ensure", weak=False
        )

        # API keys are cached for authentication (tenants.services): a saved or deleted key, or
        # a changed tenant (deactivated, say), must not authenticate from a stale copy.
        from tenants.models import ApiKey, Tenant

        post_save.connect(_forget_key, sender=ApiKey, dispatch_uid="wismo-forget-key")
        post_delete.connect(_forget_key, sender=ApiKey, dispatch_uid="wismo-forget-key-del")
        post_save.connect(_forget_tenant_keys, sender=Tenant, dispatch_uid="wismo-forget-tenant")
