"""factory_boy factories. Tenant-owned rows are created inside the owning tenant's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory

from carriers.base import CarrierEvent
from tenants.models import Tenant
from wismo.tracking.models import CarrierAccount, Order, Shipment, ShopConnection


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"shop-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class ShopConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShopConnection

    platform = "shopify"
    name = factory.Sequence(lambda n: f"Store {n}")
    credentials = factory.LazyFunction(lambda: {"access_token": "shpat_secret_token"})
    webhook_secret = "whsec-123"


class CarrierAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CarrierAccount

    carrier = "sandbox"
    name = factory.Sequence(lambda n: f"Account {n}")
    credentials = factory.LazyFunction(lambda: {"api_key": "carrier-secret-key"})


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    external_id = factory.Sequence(lambda n: f"ext-{n}")
    order_number = factory.Sequence(lambda n: f"{1000 + n}")
    customer_email = factory.Sequence(lambda n: f"shopper{n}@example.com")
    customer_name = "Ada Shopper"
    locale = "en"
    shipping_country = "IT"
    shipping_postcode = "20121"


class ShipmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shipment
        skip_postgeneration_save = True

    carrier = "manual"
    tracking_number = factory.Sequence(lambda n: f"TRK{n:08d}")
    order = factory.SubFactory(OrderFactory, tenant=factory.SelfAttribute("..tenant"))

    @factory.post_generation
    def queued(obj, create, extracted, **kwargs):
        """Queue it for polling, as ``shipment_create`` does for carriers that are polled."""
        from carriers import registry
        from wismo.tracking.services.polling import poll_queue_sync

        if create and registry.get_adapter(obj.carrier).pollable:
            poll_queue_sync([obj])


T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def ev(
    hours: float,
    status: str,
    substatus: str = "",
    code: str = "",
    description: str = "",
    location: str = "Milano, IT",
) -> CarrierEvent:
    """A carrier event ``hours`` after T0."""
    return CarrierEvent(
        T0 + timedelta(hours=hours), status, substatus, code, description or status, location
    )
