"""REST API v1 views: validate input, open the caller's tenant scope, call one service or selector."""

from __future__ import annotations

import zoneinfo
from contextlib import ExitStack

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from carriers.base import CarrierEvent
from carriers.statuses import Status
from tenants.scoping import tenant_scope
from wismo.api.authentication import ApiPrincipal
from wismo.api.permissions import AdminKeyOnly
from wismo.api.serializers import (
    SHIPMENT_ROW_FIELDS,
    EventSerializer,
    ManualEventSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    ShipmentCreateSerializer,
    ShipmentDetailSerializer,
    ShipmentSerializer,
    StoreSerializer,
    shipment_rows,
)
from wismo.tracking import selectors
from wismo.tracking.filters import ShipmentFilter
from wismo.tracking.importers.base import FulfillmentDTO, LineItemDTO, OrderDTO
from wismo.tracking.models import Order, Shipment, ShopConnection
from wismo.tracking.services import polling
from wismo.tracking.services.background import enqueue_after_commit
from wismo.tracking.services.imports import api_store, order_import
from wismo.tracking.services.shipments import (
    OrderData,
    order_upsert,
    shipment_add_manual_event,
    shipment_create,
)
from wismo.tracking.tasks import poll_shipments


class TenantScopedMixin:
    """Opens the API key's tenant scope (and time zone) for the rest of the request."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        principal = request.user
        if isinstance(principal, ApiPrincipal):
            self._scope = ExitStack()
            self._scope.enter_context(tenant_scope(principal.tenant))
            timezone.activate(zoneinfo.ZoneInfo(principal.tenant.timezone))
            self._scope.callback(timezone.deactivate)

    def finalize_response(self, request, response, *args, **kwargs):
        self._close_scope()
        return super().finalize_response(request, response, *args, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # An exception DRF does not handle skips finalize_response: the scope must not
            # outlive the request (the next request on this thread would inherit it).
            self._close_scope()

    def _close_scope(self) -> None:
        scope = getattr(self, "_scope", None)
        if scope is not None:
            self._scope = None
            scope.close()

    @property
    def tenant(self):
        return self.request.user.tenant


class NewestFirst(CursorPagination):
    """Keyset pagination: stable under inserts, fast at any depth."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["shipments"])
class ShipmentViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    pagination_class = NewestFirst
    queryset = Shipment.objects.none()
    # The list takes the dashboard list's filters too (one FilterSet, described in the schema).
    filter_backends = [DjangoFilterBackend]
    filterset_class = ShipmentFilter

    def get_serializer_class(self):
        if self.action == "create":
            return ShipmentCreateSerializer
        if self.action == "retrieve":
            return ShipmentDetailSerializer
        if self.action == "events":
            return ManualEventSerializer if self.request.method == "POST" else EventSerializer
        return ShipmentSerializer

    def get_queryset(self):
        # The list's filters (status, carrier, q, updated_since and the dashboard's) are the
        # FilterSet's: it validates them (400 on a bad value) and narrows this queryset.
        return selectors.shipment_list()

    def get_object(self) -> Shipment:
        try:
            shipment_id = int(self.kwargs["pk"])
        except (TypeError, ValueError):
            shipment_id = -1
        try:
            return selectors.shipment_detail(shipment_id=shipment_id)
        except Shipment.DoesNotExist:
            from rest_framework.exceptions import NotFound

            raise NotFound() from None

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=[s.value for s in Status]),
            OpenApiParameter("carrier", OpenApiTypes.STR),
            OpenApiParameter(
                "q", OpenApiTypes.STR, description="Tracking number, order number or email."
            ),
            OpenApiParameter("updated_since", OpenApiTypes.DATETIME),
        ]
    )
    def list(self, request, *args, **kwargs):
        # A page is read as value rows and written by the serializer's row function: the same
        # JSON as ShipmentSerializer gives, without building a model (and its order) per row.
        queryset = self.filter_queryset(selectors.shipment_rows(fields=SHIPMENT_ROW_FIELDS))
        page = self.paginator.paginate_queryset(queryset, request, view=self)
        slug = self.tenant.slug
        return self.get_paginated_response(shipment_rows(page, tenant_slug=slug))

    @extend_schema(
        request=ShipmentCreateSerializer,
        responses={201: ShipmentDetailSerializer, 200: ShipmentDetailSerializer},
        description="Start tracking a parcel. Creating the same carrier + tracking number again "
        "returns the existing shipment with 200.",
    )
    def create(self, request, *args, **kwargs):
        serializer = ShipmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = self.tenant
        try:
            # All or nothing: an order made for a number that then cannot be tracked must go.
            with transaction.atomic():
                shipment, created = self._create(tenant, data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        shipment = selectors.shipment_detail(shipment_id=shipment.pk)
        return Response(
            ShipmentDetailSerializer(shipment).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def _create(self, tenant, data) -> tuple[Shipment, bool]:
        order = None
        if data.get("order_number") or data.get("customer_email"):
            number = data.get("order_number") or data["tracking_number"]
            order, _ = order_upsert(
                tenant=tenant,
                data=OrderData(
                    external_id=number,
                    order_number=number,
                    customer_email=data.get("customer_email", ""),
                    customer_name=data.get("customer_name", ""),
                    locale=data.get("locale", ""),
                    shipping_country=data.get("destination_country", ""),
                    shipping_postcode=data.get("destination_postcode", ""),
                ),
            )
        return shipment_create(
            tenant=tenant,
            tracking_number=data["tracking_number"],
            carrier=data.get("carrier") or None,
            priority=tenant.carrier_priority,
            order=order,
            destination_country=data.get("destination_country", ""),
            destination_postcode=data.get("destination_postcode", ""),
            shipped_at=data.get("shipped_at"),
        )

    @extend_schema(
        methods=["GET"],
        responses=EventSerializer(many=True),
        description="The shipment's timeline.",
    )
    @extend_schema(
        methods=["POST"],
        request=ManualEventSerializer,
        responses={201: ShipmentDetailSerializer},
        description="Post an event for a shipment of the `manual` carrier (own fleet, local courier).",
    )
    @action(detail=True, methods=["get", "post"])
    def events(self, request, pk=None):
        shipment = self.get_object()
        if request.method == "GET":
            return Response(EventSerializer(shipment.events.all(), many=True).data)
        serializer = ManualEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        event = CarrierEvent(
            occurred_at=data["occurred_at"],
            status=data["status"],
            substatus=data.get("substatus", ""),
            description=data["description"],
            location=data.get("location", ""),
        )
        try:
            shipment_add_manual_event(shipment=shipment, event=event)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"non_field_errors": exc.messages}) from None
        shipment = selectors.shipment_detail(shipment_id=shipment.pk)
        return Response(ShipmentDetailSerializer(shipment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={202: ShipmentDetailSerializer},
        description="Ask the carrier again now (also restarts tracking of a stopped shipment).",
    )
    @action(detail=True, methods=["post"])
    def retrack(self, request, pk=None):
        shipment = self.get_object()
        try:
            polling.shipment_retrack(shipment=shipment)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"non_field_errors": exc.messages}) from None
        enqueue_after_commit(
            poll_shipments,
            kwargs={"tenant_id": shipment.tenant_id, "shipment_ids": [shipment.pk]},
            what=f"a re-track of shipment {shipment.pk}",
        )
        shipment = selectors.shipment_detail(shipment_id=shipment.pk)
        return Response(ShipmentDetailSerializer(shipment).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["orders"])
class OrderViewSet(
    TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Orders of custom shops, pushed with their parcels; idempotent by external id."""

    pagination_class = NewestFirst
    queryset = Order.objects.none()
    serializer_class = OrderSerializer

    def get_queryset(self):
        return selectors.order_list()

    def get_object(self) -> Order:
        from rest_framework.exceptions import NotFound

        try:
            return selectors.order_list().get(pk=int(self.kwargs["pk"]))
        except (Order.DoesNotExist, TypeError, ValueError):
            raise NotFound() from None

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        description="Create or update an order and its parcels. The order is identified by "
        "`external_id` (else the `Idempotency-Key` header, else `order_number`): sending it again "
        "updates it and returns 200.",
    )
    def create(self, request, *args, **kwargs):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        external_id = (
            data.get("external_id")
            or request.headers.get("Idempotency-Key", "")[:255]
            or data["order_number"]
        )
        dto = OrderDTO(
            external_id=external_id,
            order_number=data["order_number"],
            customer_email=data.get("customer_email", ""),
            customer_name=data.get("customer_name", ""),
            locale=data.get("locale", ""),
            shipping_country=data.get("shipping_country", "").upper(),
            shipping_postcode=data.get("shipping_postcode", ""),
            cancelled=data.get("cancelled", False),
            line_items=tuple(
                LineItemDTO(
                    i["title"],
                    i["quantity"],
                    i.get("sku", ""),
                    str(i["price"]) if i.get("price") is not None else "",
                )
                for i in data.get("line_items", [])
            ),
            fulfillments=tuple(
                FulfillmentDTO(
                    external_id=f"api:{s['tracking_number']}",
                    tracking_numbers=(s["tracking_number"],),
                    carrier_name=s.get("carrier", ""),
                    shipped_at=s.get("shipped_at"),
                )
                for s in data.get("shipments", [])
            ),
        )
        outcome = order_import(store=api_store(tenant=self.tenant), dto=dto)
        order = selectors.order_list().get(store__platform="api", external_id=external_id)
        body = OrderSerializer(order).data
        if outcome.problems:
            body = {**body, "problems": outcome.problems}
        return Response(
            body, status=status.HTTP_201_CREATED if outcome.order_created else status.HTTP_200_OK
        )


@extend_schema(tags=["stores"])
class StoreViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """The tenant's stores. Credentials and webhook secrets are write-only: never shown again."""

    serializer_class = StoreSerializer
    permission_classes = [AdminKeyOnly]
    queryset = ShopConnection.objects.none()
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return ShopConnection.objects.order_by("name", "id")

    def get_object(self) -> ShopConnection:
        from rest_framework.exceptions import NotFound

        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (ShopConnection.DoesNotExist, TypeError, ValueError):
            raise NotFound() from None

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant)
