"""API representations. Serializers validate and shape data; services do the work."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from carriers import registry
from carriers.statuses import SUBSTATUSES, Status
from wismo.tracking.models import Order, Shipment, ShopConnection, TrackingEvent
from wismo.tracking.selectors import LIST_FIELDS

LOCALES = [code for code, _ in settings.LANGUAGES]


def tracking_url(shipment: Shipment) -> str:
    return f"{settings.WISMO_BASE_URL}/t/{shipment.tenant.slug}/{shipment.public_token}/"


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrackingEvent
        fields = ["occurred_at", "status", "substatus", "code", "description", "location", "source"]


class DeliveryRangeSerializer(serializers.Serializer):
    earliest = serializers.DateField()
    latest = serializers.DateField()
    source = serializers.ChoiceField(choices=["carrier", "predicted"])
    confidence = serializers.FloatField(allow_null=True)


class ShipmentSerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.order_number", default=None, read_only=True)
    estimated_delivery_range = serializers.SerializerMethodField()
    tracking_url = serializers.SerializerMethodField()
    carrier_name = serializers.SerializerMethodField()

    class Meta:
        model = Shipment
        fields = [
            "id",
            "tracking_number",
            "carrier",
            "carrier_name",
            "status",
            "substatus",
            "action_required",
            "estimated_delivery",
            "estimated_delivery_range",
            "tracking_url",
            "order_number",
            "destination_country",
            "destination_postcode",
            "shipped_at",
            "delivered_at",
            "last_event_at",
            "last_checked_at",
            "is_active",
            "last_error_code",
            "last_error",
            "replaces",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DeliveryRangeSerializer(allow_null=True))
    def get_estimated_delivery_range(self, shipment: Shipment) -> dict | None:
        if not (shipment.estimated_delivery_earliest and shipment.estimated_delivery_latest):
            return None
        return {
            "earliest": shipment.estimated_delivery_earliest.isoformat(),
            "latest": shipment.estimated_delivery_latest.isoformat(),
            "source": shipment.estimated_delivery_source or "predicted",
            "confidence": shipment.estimated_delivery_confidence,
        }

    def get_tracking_url(self, shipment: Shipment) -> str:
        return tracking_url(shipment)

    def get_carrier_name(self, shipment: Shipment) -> str:
        try:
            return registry.get_adapter(shipment.carrier).name
        except registry.UnknownCarrier:
            return shipment.carrier

    def to_representation(self, shipment: Shipment) -> dict:
        """The fields above, written out: DRF's generic per-field walk cost ~0.4 ms a row, most
        of a list page's time. ``tests/test_api_shipments.py`` checks the output is exactly what
        the generic walk gives; fields a subclass adds go through the generic walk."""
        row = {name: getattr(shipment, name) for name in _MODEL_ATTRS}
        order = shipment.order
        row["order__order_number"] = order.order_number if order is not None else None
        data = shipment_row(row, tenant_slug=shipment.tenant.slug)
        if type(self).Meta.fields is ShipmentSerializer.Meta.fields:
            return data  # no extra fields: never build DRF's field objects (~1.7 ms a request)
        extra = self.__dict__.get("_extra_fields")
        if extra is None:
            extra = [f for f in self._readable_fields if f.field_name not in _SHIPMENT_FIELDS]
            self.__dict__["_extra_fields"] = extra
        for field in extra:
            attribute = field.get_attribute(shipment)
            data[field.field_name] = (
                None if attribute is None else field.to_representation(attribute)
            )
        return data


_SHIPMENT_FIELDS = frozenset(ShipmentSerializer.Meta.fields)

# What ``shipment_row`` reads: the names of a ``Shipment.objects.values(*SHIPMENT_ROW_FIELDS)``
# row, which is how the list reads a page (no model instances: building 50 shipments and their
# orders was a third of the request).
_MODEL_ATTRS = tuple(
    name for name in LIST_FIELDS if "__" not in name and name not in ("tenant_id", "order_id")
)
SHIPMENT_ROW_FIELDS = (*_MODEL_ATTRS, "order__order_number")
_carrier_names: dict[str, str] = {}


def _carrier_name(slug: str) -> str:
    name = _carrier_names.get(slug)
    if name is None:
        try:
            name = registry.get_adapter(slug).name
        except registry.UnknownCarrier:
            return slug
        _carrier_names[slug] = name
    return name


def shipment_row(row, *, tenant_slug: str) -> dict:
    """``ShipmentSerializer``'s representation of one row (a mapping of SHIPMENT_ROW_FIELDS)."""
    return shipment_rows([row], tenant_slug=tenant_slug)[0]


def shipment_rows(rows, *, tenant_slug: str) -> list[dict]:
    """``shipment_row`` for a page of rows: what is the same for every row (the time zone, the
    tracking link's prefix) is looked up once, not 50 times."""
    zone = timezone.get_current_timezone()
    link = f"{settings.WISMO_BASE_URL}/t/{tenant_slug}/"

    def dt(value):
        # DRF's DateTimeField in ISO 8601: in the current zone, "Z" for UTC.
        if not value:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    out = []
    for row in rows:
        est = row["estimated_delivery"]
        earliest, latest = row["estimated_delivery_earliest"], row["estimated_delivery_latest"]
        out.append(
            {
                "id": row["id"],
                "tracking_number": row["tracking_number"],
                "carrier": row["carrier"],
                "carrier_name": _carrier_name(row["carrier"]),
                "status": row["status"],
                "substatus": row["substatus"],
                "action_required": row["action_required"],
                "estimated_delivery": est.isoformat() if est else None,
                "estimated_delivery_range": {
                    "earliest": earliest.isoformat(),
                    "latest": latest.isoformat(),
                    "source": row["estimated_delivery_source"] or "predicted",
                    "confidence": row["estimated_delivery_confidence"],
                }
                if earliest and latest
                else None,
                "tracking_url": f"{link}{row['public_token']}/",
                "order_number": row["order__order_number"],
                "destination_country": row["destination_country"],
                "destination_postcode": row["destination_postcode"],
                "shipped_at": dt(row["shipped_at"]),
                "delivered_at": dt(row["delivered_at"]),
                "last_event_at": dt(row["last_event_at"]),
                "last_checked_at": dt(row["last_checked_at"]),
                "is_active": row["is_active"],
                "last_error_code": row["last_error_code"],
                "last_error": row["last_error"],
                "replaces": row["replaces_id"],
                "created_at": dt(row["created_at"]),
                "updated_at": dt(row["updated_at"]),
            }
        )
    return out


class ShipmentDetailSerializer(ShipmentSerializer):
    events = EventSerializer(many=True, read_only=True)

    class Meta(ShipmentSerializer.Meta):
        fields = [*ShipmentSerializer.Meta.fields, "events"]
        read_only_fields = fields


class ShipmentCreateSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(max_length=100)
    carrier = serializers.CharField(max_length=40, required=False, allow_blank=True)
    order_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    customer_email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    customer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.ChoiceField(choices=LOCALES, required=False, allow_blank=True)
    destination_country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    destination_postcode = serializers.CharField(max_length=20, required=False, allow_blank=True)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_carrier(self, value: str) -> str:
        if value:
            try:
                registry.get_adapter(value)
            except registry.UnknownCarrier:
                raise serializers.ValidationError(f"Unknown carrier {value!r}.") from None
        return value


class ManualEventSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=[s.value for s in Status if s != Status.EXPIRED])
    substatus = serializers.CharField(max_length=64, required=False, allow_blank=True)
    description = serializers.CharField(max_length=1000)
    location = serializers.CharField(max_length=255, required=False, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        substatus = attrs.get("substatus")
        if substatus and (
            substatus not in SUBSTATUSES or SUBSTATUSES[substatus].status != attrs["status"]
        ):
            raise serializers.ValidationError(
                {"substatus": f"{substatus!r} is not a reason of {attrs['status']!r}."}
            )
        if attrs["occurred_at"] > timezone.now() + timezone.timedelta(minutes=10):
            raise serializers.ValidationError(
                {"occurred_at": "An event cannot happen in the future."}
            )
        return attrs


class LineItemSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    sku = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True
    )


class OrderShipmentSerializer(serializers.Serializer):
    tracking_number = serializers.CharField(max_length=100)
    carrier = serializers.CharField(max_length=40, required=False, allow_blank=True)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True)


class OrderCreateSerializer(serializers.Serializer):
    order_number = serializers.CharField(max_length=100)
    external_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    customer_email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    customer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.ChoiceField(choices=LOCALES, required=False, allow_blank=True)
    shipping_country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    shipping_postcode = serializers.CharField(max_length=20, required=False, allow_blank=True)
    cancelled = serializers.BooleanField(required=False, default=False)
    line_items = LineItemSerializer(many=True, required=False)
    shipments = OrderShipmentSerializer(many=True, required=False)

    def validate_shipments(self, value: list) -> list:
        if len(value) > 50:
            raise serializers.ValidationError("At most 50 shipments per order.")
        return value

    def validate_line_items(self, value: list) -> list:
        if len(value) > 500:
            raise serializers.ValidationError("At most 500 line items per order.")
        return value


class OrderSerializer(serializers.ModelSerializer):
    shipments = ShipmentSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "external_id",
            "order_number",
            "customer_email",
            "customer_name",
            "locale",
            "shipping_country",
            "shipping_postcode",
            "line_items",
            "placed_at",
            "cancelled_at",
            "shipments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class StoreSerializer(serializers.ModelSerializer):
    """A store: its platform and connection fields; credentials and secret are write-only."""

    credentials = serializers.DictField(write_only=True, required=False)
    webhook_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500
    )
    has_credentials = serializers.SerializerMethodField()
    has_webhook_secret = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = ShopConnection
        fields = [
            "id",
            "platform",
            "name",
            "shop_url",
            "is_active",
            "credentials",
            "webhook_secret",
            "has_credentials",
            "has_webhook_secret",
            "webhook_url",
            "write_back",
            "last_synced_at",
            "sync_attempted_at",
            "sync_error",
            "write_back_error",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "last_synced_at",
            "sync_attempted_at",
            "sync_error",
            "write_back_error",
            "created_at",
        ]

    # The rules are the kernel's (shop_setup), shared with the dashboard's store settings.
    def validate_credentials(self, value: dict) -> dict:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from wismo.tracking.services.shop_setup import credentials_clean

        try:
            return credentials_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def validate_shop_url(self, value: str) -> str:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from wismo.tracking.services.shop_setup import shop_url_clean

        try:
            return shop_url_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def get_has_credentials(self, store: ShopConnection) -> bool:
        return bool(store.credentials)

    def get_has_webhook_secret(self, store: ShopConnection) -> bool:
        return bool(store.webhook_secret)

    def get_webhook_url(self, store: ShopConnection) -> str | None:
        if store.platform not in ("shopify", "woocommerce"):
            return None
        return f"{settings.WISMO_BASE_URL}/hooks/{store.platform}/{store.pk}/"
