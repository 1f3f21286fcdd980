"""The kernel's data: stores, carrier accounts, orders, shipments and their timelines.

Models are thin: behaviour lives in ``services`` (writes) and ``selectors`` (reads). Every model
here is tenant-owned and queried through the fail-closed ``TenantManager``.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from carriers.statuses import STATUS_LABELS, Status
from tenants.models import Tenant
from tenants.scoping import TenantManager
from wismo.tracking.crypto import EncryptedJSONField, EncryptedTextField

STATUS_CHOICES = [(status.value, STATUS_LABELS[status]) for status in Status]


def new_public_token() -> str:
    """An unguessable token for public pages: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


class TenantOwned(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantManager()

    class Meta:
        abstract = True


class Platform(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    WOOCOMMERCE = "woocommerce", "WooCommerce"
    MAGENTO = "magento", "Magento 2 / Adobe Commerce"
    PRESTASHOP = "prestashop", "PrestaShop"
    CSV = "csv", "CSV import"
    API = "api", "REST API"


class ShopConnection(TenantOwned):
    """A merchant's store on a shop platform."""

    platform = models.CharField(max_length=20, choices=Platform.choices)
    name = models.CharField(max_length=200)
    shop_url = models.URLField(max_length=500, blank=True)
    credentials = EncryptedJSONField(default=dict, blank=True)
    webhook_secret = EncryptedTextField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(
        null=True, blank=True, help_text="The newest order change a completed sync has seen."
    )
    # A sync in progress: where to resume after a crash, and the window it started with.
    sync_cursor = models.CharField(max_length=2000, blank=True)
    sync_since = models.DateTimeField(null=True, blank=True)
    # Scheduled syncs: a lease so that two workers never sync one store at once, when the
    # last one ran, and why it failed (shown to the merchant; empty when it worked).
    sync_started_at = models.DateTimeField(null=True, blank=True)
    sync_attempted_at = models.DateTimeField(null=True, blank=True)
    sync_error = models.TextField(blank=True)
    # Write-back (off by default): tell the shop platform what the carrier said. The cursor is
    # the last ShipmentStatusChange id pushed.
    write_back = models.BooleanField(
        default=False,
        help_text="Shopify: add fulfillment events (in transit, delivered...). "
        "WooCommerce: mark the order completed once every parcel is delivered.",
    )
    write_back_cursor = models.BigIntegerField(default=0)
    write_back_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["tenant", "platform"], name="store_tenant_platform_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"


class CarrierAccount(TenantOwned):
    """A merchant's credentials with one carrier (encrypted at rest, never shown again)."""

    carrier = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    credentials = EncryptedJSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["carrier", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "carrier", "name"], name="carrier_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.carrier})"


class Order(TenantOwned):
    store = models.ForeignKey(
        ShopConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    external_id = models.CharField(max_length=255)
    order_number = models.CharField(max_length=100)
    customer_email = models.EmailField(max_length=254, blank=True)
    customer_name = models.CharField(max_length=200, blank=True)
    locale = models.CharField(max_length=16, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    shipping_postcode = models.CharField(max_length=20, blank=True)
    line_items = models.JSONField(default=list, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    public_token = models.CharField(
        max_length=64, unique=True, default=new_public_token, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One order per external id per store; orders pushed without a store share one space.
            models.UniqueConstraint(
                fields=["tenant", "store", "external_id"],
                condition=Q(store__isnull=False),
                name="order_external_id_per_store",
            ),
            models.UniqueConstraint(
                fields=["tenant", "external_id"],
                condition=Q(store__isnull=True),
                name="order_external_id_no_store",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "order_number"], name="order_tenant_number_idx"),
            models.Index(fields=["tenant", "customer_email"], name="order_tenant_email_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.order_number}"


class Shipment(TenantOwned):
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="shipments"
    )
    store = models.ForeignKey(
        ShopConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="shipments"
    )
    carrier_account = models.ForeignKey(
        CarrierAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="shipments"
    )
    carrier = models.CharField(max_length=40)
    tracking_number = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=STATUS_CHOICES, default=Status.PENDING)
    substatus = models.CharField(max_length=64, default="pending.awaiting_carrier")
    action_required = models.BooleanField(default=False)
    destination_country = models.CharField(max_length=2, blank=True)
    destination_postcode = models.CharField(max_length=20, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    estimated_delivery = models.DateField(null=True, blank=True)
    estimated_delivery_earliest = models.DateField(null=True, blank=True)
    estimated_delivery_latest = models.DateField(null=True, blank=True)
    estimated_delivery_source = models.CharField(
        max_length=10, blank=True, choices=[("carrier", "Carrier"), ("predicted", "Predicted")]
    )
    estimated_delivery_confidence = models.FloatField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    poll_failures = models.PositiveIntegerField(default=0)
    # Polls in a row that brought nothing new: the interval backs off while the carrier is quiet.
    unchanged_polls = models.PositiveIntegerField(default=0)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Still tracked with the carrier.")
    public_token = models.CharField(
        max_length=64, unique=True, default=new_public_token, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # The shop's fulfillment this parcel belongs to (several parcels may share one).
    external_fulfillment_id = models.CharField(max_length=255, blank=True)
    # A shop changed this parcel's tracking number: the old shipment stops, its history stays linked.
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    # Delivery-date prediction (services/edd.py): what groups this parcel's history, what the
    # shopper was first promised, and the flags of the dashboard's attention queue.
    service = models.CharField(max_length=64, blank=True, help_text="The carrier's service level.")
    origin_country = models.CharField(max_length=2, blank=True)
    promised_delivery = models.DateField(
        null=True, blank=True, help_text="The last day of the first range the shopper was given."
    )
    delay_notified_for = models.DateField(
        null=True, blank=True, help_text="The last day of the range the last delay notice gave."
    )
    is_delayed = models.BooleanField(default=False)
    is_stalled = models.BooleanField(default=False)
    never_scanned = models.BooleanField(default=False)
    flagged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the oldest of the current flags was raised."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "carrier", "tracking_number"], name="shipment_unique_tracking"
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "status", "updated_at"], name="ship_tenant_status_upd_idx"
            ),
            models.Index(fields=["tenant", "carrier"], name="ship_tenant_carrier_idx"),
            models.Index(fields=["tenant", "tracking_number"], name="ship_tenant_tracking_idx"),
            models.Index(fields=["tenant", "-created_at", "-id"], name="ship_tenant_created_idx"),
            # The dashboard/API list filtered by status and carrier, newest first (keyset pages),
            # and the list's two other sorts (expected date, last scan; NULLs last).
            models.Index(
                fields=["tenant", "status", "carrier", "-created_at", "-id"],
                name="ship_list_status_carrier_idx",
            ),
            models.Index(
                fields=["tenant", "estimated_delivery", "id"], name="ship_list_expected_idx"
            ),
            models.Index(
                F("tenant"),
                F("last_event_at").desc(nulls_last=True),
                F("id").desc(),
                name="ship_list_last_scan_idx",
            ),
            # The attention queue: small partial indexes, one per flag.
            models.Index(
                fields=["tenant", "flagged_at"],
                condition=Q(is_delayed=True),
                name="ship_delayed_idx",
            ),
            models.Index(
                fields=["tenant", "flagged_at"],
                condition=Q(is_stalled=True),
                name="ship_stalled_idx",
            ),
            models.Index(
                fields=["tenant", "flagged_at"],
                condition=Q(never_scanned=True),
                name="ship_never_scanned_idx",
            ),
            # The flag sweep: tracked parcels quiet for a while, and those never scanned at all.
            models.Index(
                fields=["last_event_at"], condition=Q(is_active=True), name="ship_active_quiet_idx"
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(is_active=True, last_event_at__isnull=True),
                name="ship_active_unscanned_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier}:{self.tracking_number}"


class PollQueue(TenantOwned):
    """The scheduler's queue: one narrow row per actively tracked shipment, due at ``due_at``.

    Kept apart from the wide, many-indexed shipments table so that claiming due work (which
    rewrites ``due_at`` as a lease) touches two small indexes whatever the number of shipments.
    ``Shipment.next_poll_at`` mirrors the planned time for display; this row is what is claimed.
    """

    shipment = models.OneToOneField(
        Shipment, primary_key=True, on_delete=models.CASCADE, related_name="poll_queue"
    )
    carrier = models.CharField(max_length=40)
    carrier_account_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="pollqueue_due_idx")]

    def __str__(self) -> str:
        return f"{self.shipment_id} due {self.due_at:%Y-%m-%d %H:%M}"


class EventSource(models.TextChoices):
    POLL = "poll", "Carrier poll"
    PUSH = "push", "Carrier push"
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"


class TrackingEvent(TenantOwned):
    """One scan on a shipment's timeline: normalized values beside the carrier's raw ones."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    substatus = models.CharField(max_length=64)
    code = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=EventSource.choices, default=EventSource.POLL)
    dedupe_key = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "dedupe_key"], name="event_unique_per_shipment"
            )
        ]
        indexes = [models.Index(fields=["shipment", "occurred_at"], name="event_shipment_time_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.substatus}"


class ShipmentStatusChange(TenantOwned):
    """A status change, written in the same transaction as the events that caused it.

    It is the durable record notifications work from: the after-commit signal is only a nudge, and
    a relay re-sends changes whose ``dispatched_at`` is still empty, so no change is ever missed.
    """

    class Kind(models.TextChoices):
        STATUS = "status", "Status changed"
        NUMBER = "number", "Tracking number changed"
        DELAY = "delay", "Expected delivery slipped"
        QUIET = "quiet", "Carrier quiet, delivery date holds"

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="status_changes")
    # "number": the parcel got a new tracking number; ``shipment`` is the new one (its
    # ``replaces`` the old), ``from_*`` the old one's status when it was replaced.
    # "delay": the expected delivery slipped or the parcel stopped moving (``detail`` says
    # which and the new date); "quiet": the carrier is quiet but the date still holds.
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.STATUS)
    detail = models.JSONField(default=dict, blank=True)
    from_status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    from_substatus = models.CharField(max_length=64)
    to_status = models.CharField(max_length=24, choices=STATUS_CHOICES)
    to_substatus = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(help_text="When the event that caused the change happened.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="change_undispatched_idx",
            ),
            models.Index(fields=["shipment", "created_at"], name="change_shipment_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.from_status} -> {self.to_status}"


class UnmappedCarrierCode(models.Model):
    """A raw carrier code no table knows, counted so that it can be added to the carrier's table.

    Platform-wide (carrier vocabulary, not tenant data): the description is a sample of the
    carrier's wording for the code, kept to help whoever maps it.
    """

    carrier = models.CharField(max_length=40)
    code = models.CharField(max_length=64)
    sample_description = models.CharField(max_length=255, blank=True)
    mapped_to = models.CharField(max_length=64, help_text="The substatus the fallback chose.")
    count = models.PositiveBigIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-count"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "code"], name="unmapped_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.carrier}:{self.code} x{self.count}"


class InboundWebhook(TenantOwned):
    """A webhook as it arrived (carrier push, shop platform), stored before anything is done with it.

    Stored raw first and answered fast; a task processes it. The unique digest makes a redelivered
    webhook a no-op, and a failed one stays here with its error to be replayed.
    """

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    # Every delivery writes a row here while the platform waits for our answer, so the table
    # keeps only the indexes it reads by: (tenant, digest) for duplicates, the pending index for
    # the relay. Its foreign keys have no index of their own (the unique key leads with the
    # tenant; rows are found by account or store only when one is deleted, which is rare) and
    # no database constraint: a constraint check share-locks the tenant's and the store's row
    # on every insert, which serializes a burst of deliveries. Deletions cascade in Django.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    source = models.CharField(max_length=40, help_text="carrier:<slug> or shop:<platform>")
    carrier_account = models.ForeignKey(
        CarrierAccount,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhooks",
        db_index=False,
        db_constraint=False,
    )
    store = models.ForeignKey(
        ShopConnection,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhooks",
        db_index=False,
        db_constraint=False,
    )
    topic = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of source and body")
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "digest"], name="webhook_unique_digest")
        ]
        indexes = [
            models.Index(
                fields=["received_at"], condition=~Q(state="processed"), name="webhook_pending_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.received_at:%Y-%m-%d %H:%M} {self.state}"


class PrivacyRequest(TenantOwned):
    """A shopper's privacy request from a shop platform (GDPR/CCPA), and what wismo did about it.

    Shopify sends ``customers/data_request`` (the merchant must hand the shopper what we hold:
    ``export`` keeps it, encrypted, for the merchant to download), ``customers/redact`` (erase
    one shopper's personal data) and ``shop/redact`` (erase everything of an uninstalled shop).
    The row itself holds no personal data except the export and the email it concerns, which
    a redaction of that shopper clears too.
    """

    class Kind(models.TextChoices):
        DATA_REQUEST = "data_request", "Shopper data export"
        CUSTOMER_REDACT = "customer_redact", "Shopper data erasure"
        SHOP_REDACT = "shop_redact", "Store data erasure"

    store = models.ForeignKey(
        ShopConnection,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="privacy_requests",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    external_id = models.CharField(
        max_length=100, blank=True, help_text="The platform's request id, when it sends one."
    )
    customer_email = EncryptedTextField(blank=True, default="")
    order_external_ids = models.JSONField(default=list, blank=True)
    export = EncryptedJSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What was found or erased.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d}"


class EddModel(TenantOwned):
    """A tenant's fitted delivery-date model (``wismo.tracking.edd.Model`` as JSON), one per tenant.

    ``version`` grows with every refit: predictors are cached per version. ``accuracy`` is the
    last backtest's report (``edd backtest``), which the dashboard shows.
    """

    version = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    samples = models.PositiveIntegerField(default=0)
    fitted_at = models.DateTimeField(null=True, blank=True)
    fit_seconds = models.FloatField(null=True, blank=True)
    accuracy = models.JSONField(default=dict, blank=True)
    backtested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="edd_model_per_tenant")]

    def __str__(self) -> str:
        return f"EDD model v{self.version} ({self.samples} parcels)"


class EddPrior(models.Model):
    """The platform-wide prior for tenants without enough history of their own. One row.

    Built from tenants' fitted models, never from their shipments, and holding only coarse
    shares that several tenants agree on (``wismo.tracking.edd.model.build_prior``): no tenant
    field, no counts, nothing that could be read back as one merchant's data.
    """

    version = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    tenants = models.PositiveIntegerField(default=0, help_text="Tenants whose models were read.")
    fitted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"EDD prior v{self.version} ({self.tenants} tenants)"
