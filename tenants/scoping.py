"""Fail-closed tenant scoping.

Tenant-owned models use ``TenantManager``: querying them with no active tenant scope raises
``ScopeError``. Only the edges open a scope (middleware, API authentication, public pages, the
Celery task base class, management commands), with ``tenant_scope``. Code that must see every
tenant (an operator's admin, a platform-wide sweep) says so with ``all_tenants``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import models
from django_scopes import ScopedManager, get_scope, scope, scopes_disabled
from django_scopes.exceptions import ScopeError
from django_scopes.manager import DisabledQuerySet

__all__ = [
    "ScopeError",
    "SystemManager",
    "TenantManager",
    "active_tenant_ids",
    "all_tenants",
    "tenant_scope",
]


class _FailClosedQuerySet(DisabledQuerySet):
    """The queryset of a tenant model when no scope is active: every way of reading raises.

    django-scopes leaves ``exists()`` (and evaluation through ``_fetch_all``, e.g. ``async for``)
    open, which would answer across all tenants instead of raising.
    """

    exists = DisabledQuerySet.error
    explain = DisabledQuerySet.error
    _fetch_all = DisabledQuerySet.error


def TenantManager(queryset_class: type[models.QuerySet] | None = None):
    """A manager that filters by the active tenant scope and raises without one."""
    base = models.Manager.from_queryset(queryset_class) if queryset_class else models.Manager
    scoped = type(ScopedManager(_manager_class=base, tenant="tenant"))

    class Manager(scoped):
        def get_queryset(self):
            queryset = super().get_queryset()
            if type(queryset) is DisabledQuerySet:
                queryset.__class__ = _FailClosedQuerySet
            return queryset

    return Manager()


class _SystemQuerySet(models.QuerySet):
    """Reads and writes meant to cross tenants (finding a key, an invitation or a user's
    tenants, possibly from inside another tenant's scope): their statements run unscoped, so
    that PostgreSQL's row-level security (tenants.rls) treats them as platform work too."""

    def _fetch_all(self):
        with scopes_disabled():
            super()._fetch_all()

    def count(self):
        with scopes_disabled():
            return super().count()

    def exists(self):
        with scopes_disabled():
            return super().exists()

    def aggregate(self, *args, **kwargs):
        with scopes_disabled():
            return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        with scopes_disabled():
            return super().update(**kwargs)

    def delete(self):
        with scopes_disabled():
            return super().delete()

    def iterator(self, chunk_size=None):
        with scopes_disabled():
            yield from super().iterator(chunk_size=chunk_size)


def SystemManager() -> models.Manager:
    """The spelled-out unscoped manager of a tenant model (``unscoped``), for the few lookups
    that must find a row before or across tenant scopes."""
    return models.Manager.from_queryset(_SystemQuerySet)()


def _tenant_id(tenant) -> int:
    value = getattr(tenant, "pk", tenant)
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        # django-scopes treats None as "no filter": refuse it, so a missing tenant never widens.
        raise ScopeError(f"tenant_scope needs a saved tenant or its id, got {tenant!r}")
    return value


@contextmanager
def tenant_scope(tenant) -> Iterator[None]:
    """Open the scope of one tenant (a Tenant or its id) for the block."""
    with scope(tenant=_tenant_id(tenant)):
        yield


@contextmanager
def tenants_scope(tenants: Iterable) -> Iterator[None]:
    """Open a scope over several tenants at once (a staff user of several tenants in the admin)."""
    ids = [_tenant_id(t) for t in tenants]
    with scope(tenant=ids):
        yield


@contextmanager
def all_tenants() -> Iterator[None]:
    """Spelled-out unscoped access: platform-wide work that must see every tenant."""
    with scopes_disabled():
        yield


def active_tenant_ids() -> list[int] | None:
    """The tenant ids of the active scope, or None when scoping is disabled or absent."""
    current = get_scope()
    if not current.get("_enabled", True) or "tenant" not in current:
        return None
    value = current["tenant"]
    return list(value) if isinstance(value, list | tuple) else [value]
