from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


def _forget_key(sender, instance, **kwargs) -> None:
    from tenants.services import api_key_forget

    api_key_forget(prefix=instance.prefix)


def _forget_tenant_keys(sender, instance, **kwargs) -> None:
    from tenants.models import ApiKey
    from tenants.services import api_key_forget

    for prefix in ApiKey.unscoped.filter(tenant_id=instance.pk).values_list("prefix", flat=True):
        api_key_forget(prefix=prefix)


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        # API keys are cached for authentication (tenants.services): a saved or deleted key, or
        # a changed tenant (deactivated, say), must not authenticate from a stale copy.
        from tenants.models import ApiKey, Tenant

        post_save.connect(_forget_key, sender=ApiKey, dispatch_uid="wismo-forget-key")
        post_delete.connect(_forget_key, sender=ApiKey, dispatch_uid="wismo-forget-key-del")
        post_save.connect(_forget_tenant_keys, sender=Tenant, dispatch_uid="wismo-forget-tenant")
