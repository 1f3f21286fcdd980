"""Seed the demo tenant: an owner login, two stores, carrier accounts and ~300 shipments.

Shipments use the sandbox carrier, whose simulated journeys cover every status; their timelines
are recorded up to now through the same ``record_events`` path carriers use, and polling then
moves them along while the demo runs. Running it again leaves an existing demo alone.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from carriers.adapters.sandbox import handed_over_at, journey_events, sandbox_tracking_number
from carriers.base import CarrierEvent
from tenants.models import Role, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_create, tenant_create
from wismo.tracking.models import CarrierAccount, EventSource, Platform, ShopConnection
from wismo.tracking.services.shipments import OrderData, order_upsert, shipment_create
from wismo.tracking.services.timeline import record_events_batch

DEMO_SLUG = "demo"
OWNER_EMAIL = "owner@demo.wismo.test"
OWNER_PASSWORD = "wismo-demo-2026"  # noqa: S105 - a published demo login, seeded only by this command

FIRST = [
    "Giulia",
    "Marco",
    "Sofia",
    "Luca",
    "Emma",
    "Noah",
    "Lena",
    "Paul",
    "Chloé",
    "Hugo",
    "Lucía",
    "Mateo",
    "Olivia",
    "Jack",
]
LAST = [
    "Rossi",
    "Bianchi",
    "Müller",
    "Schmidt",
    "Martin",
    "Bernard",
    "García",
    "López",
    "Smith",
    "Brown",
    "Ferrari",
    "Weber",
]
COUNTRIES = [
    ("IT", "it", "20121"),
    ("DE", "de", "80331"),
    ("FR", "fr", "75011"),
    ("ES", "es", "28013"),
    ("GB", "en", "SW1A 1AA"),
    ("NL", "en", "1012"),
]
PRODUCTS = [
    ("Trail backpack 30L", 8900),
    ("Merino hoodie", 7900),
    ("Hiking boots", 15900),
    ("Water bottle", 1900),
    ("Rain jacket", 12900),
    ("Headlamp", 3400),
]


class Command(BaseCommand):
    help = "Seed a demo tenant with stores, carrier accounts and ~300 shipments on the sandbox carrier."

    def add_arguments(self, parser):
        parser.add_argument("--shipments", type=int, default=300)
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, shipments: int, seed: int, **options):
        if Tenant.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write(f"Demo tenant '{DEMO_SLUG}' exists already; leaving it as it is.")
            return
        rng = random.Random(seed)
        with transaction.atomic():
            tenant = tenant_create(
                slug=DEMO_SLUG,
                name="Alpine Outfitters (demo)",
                default_language="en",
                timezone_name="Europe/Rome",
                owner_email=OWNER_EMAIL,
                owner_password=OWNER_PASSWORD,
            )
            self._make_owner_staff(tenant)
        with tenant_scope(tenant):
            count, events = self._seed(tenant, rng, shipments)
            _, raw_key = api_key_create(tenant=tenant, name="demo")
        self.stdout.write(f"Seeded tenant '{DEMO_SLUG}': {count} shipments, {events} events.")
        self.stdout.write(f"Owner login: {OWNER_EMAIL} / {OWNER_PASSWORD}")
        self.stdout.write(f"API key (shown once): {raw_key}")

    def _make_owner_staff(self, tenant: Tenant) -> None:
        membership = tenant.memberships.model.unscoped.get(tenant=tenant, role=Role.OWNER)
        user = membership.user
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label__in=["tracking", "tenants"])
        )

    def _seed(self, tenant: Tenant, rng: random.Random, total: int) -> tuple[int, int]:
        shopify = ShopConnection.objects.create(
            tenant=tenant,
            platform=Platform.SHOPIFY,
            name="Alpine Outfitters",
            shop_url="https://alpine-outfitters.myshopify.com",
            credentials={"access_token": "demo-token"},
            webhook_secret="demo-webhook-secret",
        )
        woo = ShopConnection.objects.create(
            tenant=tenant,
            platform=Platform.WOOCOMMERCE,
            name="Alpine Outlet",
            shop_url="https://outlet.alpine.example",
            credentials={"consumer_key": "ck_demo", "consumer_secret": "cs_demo"},
        )
        express = CarrierAccount.objects.create(
            tenant=tenant, carrier="sandbox", name="Sandbox Express"
        )
        economy = CarrierAccount.objects.create(
            tenant=tenant, carrier="sandbox", name="Sandbox Economy"
        )
        fleet = CarrierAccount.objects.create(
            tenant=tenant, carrier="manual", name="Own fleet (Milano)"
        )
        now = timezone.now()
        items = []
        for i in range(total):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            country, locale, postcode = rng.choice(COUNTRIES)
            store = shopify if i % 3 else woo
            # Hand-over times spread over the last three weeks and the next hours, so that the
            # demo holds parcels at every stage and some are still to be scanned while it runs.
            handed_over = now - timedelta(hours=rng.uniform(-3, 24 * 21))
            placed_at = handed_over - timedelta(hours=rng.uniform(4, 48))
            product, cents = rng.choice(PRODUCTS)
            order, _ = order_upsert(
                tenant=tenant,
                store=store,
                data=OrderData(
                    external_id=str(5_100_000 + i),
                    order_number=str(1001 + i),
                    customer_email=f"{first}.{last}.{i}@example.com".lower()
                    .replace("é", "e")
                    .replace("ü", "u")
                    .replace("í", "i"),
                    customer_name=f"{first} {last}",
                    locale=locale,
                    shipping_country=country,
                    shipping_postcode=postcode,
                    placed_at=placed_at,
                    line_items=[
                        {
                            "title": product,
                            "quantity": 1,
                            "price": f"{cents / 100:.2f}",
                            "currency": "EUR",
                        }
                    ],
                ),
            )
            account = express if i % 4 else economy
            number = sandbox_tracking_number(handed_over, i)
            shipment, _ = shipment_create(
                tenant=tenant,
                tracking_number=number,
                carrier="sandbox",
                order=order,
                carrier_account=account,
                shipped_at=handed_over,
            )
            promised = (handed_over + timedelta(days=3 if account is express else 5)).date()
            shipment.estimated_delivery = promised
            shipment.estimated_delivery_earliest = promised - timedelta(days=1)
            shipment.estimated_delivery_latest = promised
            shipment.estimated_delivery_source = "carrier"
            shipment.save(
                update_fields=[
                    "estimated_delivery",
                    "estimated_delivery_earliest",
                    "estimated_delivery_latest",
                    "estimated_delivery_source",
                ]
            )
            # The number carries its hand-over minute: replay from exactly that, as the carrier will.
            items.append((shipment.pk, journey_events(number, handed_over_at(number), until=now)))
        # A few parcels on the merchant's own fleet, with events posted by hand.
        for j in range(5):
            order, _ = order_upsert(
                tenant=tenant,
                store=shopify,
                data=OrderData(
                    external_id=f"fleet-{j}",
                    order_number=f"F-{200 + j}",
                    customer_email=f"local{j}@example.com",
                    customer_name=f"Local Customer {j}",
                    locale="it",
                    shipping_country="IT",
                    shipping_postcode="20121",
                ),
            )
            shipment, _ = shipment_create(
                tenant=tenant,
                tracking_number=f"FLEET{1000 + j}",
                carrier="manual",
                order=order,
                carrier_account=fleet,
                shipped_at=now - timedelta(days=1),
            )
            start = now - timedelta(hours=20 + j)
            timeline = [
                CarrierEvent(
                    start, "info_received", "", "", "Packed in our Milano warehouse", "Milano, IT"
                ),
                CarrierEvent(
                    start + timedelta(hours=10),
                    "out_for_delivery",
                    "",
                    "",
                    "With our driver",
                    "Milano, IT",
                ),
            ]
            if j < 3:
                timeline.append(
                    CarrierEvent(
                        start + timedelta(hours=13),
                        "delivered",
                        "delivered.signed",
                        "",
                        "Handed over",
                        "Milano, IT",
                    )
                )
            items.append((shipment.pk, timeline))
        results = record_events_batch(items=items, source=EventSource.POLL)
        return len(items), sum(r.created for r in results.values())


__all__ = ["DEMO_SLUG", "OWNER_EMAIL", "OWNER_PASSWORD", "Command"]
