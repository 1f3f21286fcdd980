"""Lookups for support tools: ``GET /api/v1/lookup/?q=`` (the dashboard's one-box search) and
``GET /api/v1/helpdesk/lookup/?email=|order_number=`` (helpdesk sidebar apps: Zendesk, Gorgias,
Freshdesk), which adds each shipment's ready reply in the shopper's language.

Both are read-only for the caller (agent keys allowed), run inside the key's tenant scope, and
count one "where is my order?" contact for the best match (channel ``api`` or ``helpdesk``; a
repeat within half an hour is not counted again).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.models import ContactChannel
from dashboard.replies import ready_reply
from dashboard.selectors import agent as agent_selectors
from dashboard.services import agent as agent_services
from wismo.api.serializers import ShipmentSerializer
from wismo.api.views import TenantScopedMixin
from wismo.tracking.models import Shipment


class LookupQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=agent_selectors.MAX_QUERY_LENGTH)


class HelpdeskQuerySerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False)
    order_number = serializers.CharField(max_length=100, required=False)

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("email") or attrs.get("order_number")):
            raise serializers.ValidationError("Give an email, an order_number, or both.")
        return attrs


class LookupResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = ShipmentSerializer(many=True)


class ReplySerializer(serializers.Serializer):
    language = serializers.CharField()
    text = serializers.CharField()
    tracking_url = serializers.URLField()


class HelpdeskShipmentSerializer(ShipmentSerializer):
    reply = serializers.SerializerMethodField()

    class Meta(ShipmentSerializer.Meta):
        fields = [*ShipmentSerializer.Meta.fields, "reply"]
        read_only_fields = fields

    @extend_schema_field(ReplySerializer)
    def get_reply(self, shipment: Shipment) -> dict:
        reply = ready_reply(shipment=shipment)
        return {"language": reply.language, "text": reply.text, "tracking_url": reply.tracking_url}


class HelpdeskResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = HelpdeskShipmentSerializer(many=True)


class LookupErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class LookupErrorSerializer(serializers.Serializer):
    error = LookupErrorBodySerializer()


ERROR = OpenApiResponse(
    LookupErrorSerializer, description="A missing, malformed or too long parameter."
)
UNAUTHORIZED = OpenApiResponse(LookupErrorSerializer, description="No valid API key.")


@extend_schema(tags=["lookup"])
class LookupView(TenantScopedMixin, APIView):
    @extend_schema(
        operation_id="lookup",
        parameters=[
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                required=True,
                description="Order number, tracking number, email or customer name "
                "(at most 200 characters). Exact matches come first.",
            )
        ],
        responses={200: LookupResultSerializer, 400: ERROR, 401: UNAUTHORIZED},
        description="The dashboard's search: shipments matching `q`, best first, at most "
        f"{agent_selectors.MAX_RESULTS}.",
    )
    def get(self, request):
        query = LookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data["q"]
        shipments = [h.shipment for h in agent_selectors.search(q=q) if h.shipment is not None]
        if shipments:
            agent_services.contact_log(
                shipment=shipments[0], channel=ContactChannel.API, query=q, user=None
            )
        return Response(
            {"count": len(shipments), "results": ShipmentSerializer(shipments, many=True).data}
        )


@extend_schema(tags=["lookup"])
class HelpdeskLookupView(TenantScopedMixin, APIView):
    @extend_schema(
        operation_id="helpdesk_lookup",
        parameters=[
            OpenApiParameter("email", OpenApiTypes.EMAIL, description="The shopper's email."),
            OpenApiParameter("order_number", OpenApiTypes.STR, description="The order number."),
        ],
        responses={200: HelpdeskResultSerializer, 400: ERROR, 401: UNAUTHORIZED},
        description="For helpdesk sidebar apps: the shipments of the orders with this email "
        "and/or order number (both must match when both are given), newest first, each with a "
        "ready reply in the shopper's language and its tracking page link.",
    )
    def get(self, request):
        query = HelpdeskQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        email = query.validated_data.get("email", "")
        order_number = query.validated_data.get("order_number", "")
        shipments = agent_selectors.helpdesk_lookup(email=email, order_number=order_number)
        if shipments:
            agent_services.contact_log(
                shipment=shipments[0],
                channel=ContactChannel.HELPDESK,
                query=order_number or email,
                user=None,
            )
        return Response(
            {
                "count": len(shipments),
                "results": HelpdeskShipmentSerializer(shipments, many=True).data,
            }
        )
