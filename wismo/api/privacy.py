"""Shoppers' privacy requests made by the merchant (admin keys only), for any store or none.

- ``POST /api/v1/privacy/exports/`` ``{"email": ..., "order_ids": [...]}``: everything wismo holds
  about the shopper in this tenant (orders, parcels, timelines, notifications, problem reports,
  agents' lookups and notes), returned and kept encrypted on the request row.
- ``POST /api/v1/privacy/erasures/``: erases it (see ``wismo.tracking.services.privacy``).

Shopify's compliance webhooks run the same services for one store; these cover every platform
and orders pushed without a store.
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from wismo.api.permissions import AdminKeyOnly
from wismo.api.views import TenantScopedMixin
from wismo.tracking.services import privacy


class ShopperSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False, default="")
    order_ids = serializers.ListField(
        child=serializers.CharField(max_length=100),
        max_length=100,
        required=False,
        default=list,
        help_text="The orders' external ids (the shop's order ids).",
    )

    def validate(self, attrs: dict) -> dict:
        if not (attrs.get("email") or attrs.get("order_ids")):
            raise serializers.ValidationError("Give the shopper's email, order_ids, or both.")
        return attrs


class PrivacyResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The privacy request's id (kept for the audit).")
    kind = serializers.CharField()
    summary = serializers.DictField()
    export = serializers.DictField(required=False)


@extend_schema(tags=["privacy"])
class ShopperExportView(TenantScopedMixin, APIView):
    permission_classes = [AdminKeyOnly]

    @extend_schema(
        operation_id="privacy_export",
        request=ShopperSerializer,
        responses={201: PrivacyResultSerializer, 400: OpenApiResponse(description="Invalid.")},
        description="Everything wismo holds about one shopper of this tenant.",
    )
    def post(self, request):
        shopper = ShopperSerializer(data=request.data)
        shopper.is_valid(raise_exception=True)
        with transaction.atomic():
            made = privacy.customer_data_export(
                tenant=self.tenant,
                email=shopper.validated_data["email"],
                order_ids=shopper.validated_data["order_ids"],
            )
        return Response(
            {"id": made.pk, "kind": made.kind, "summary": made.summary, "export": made.export},
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["privacy"])
class ShopperErasureView(TenantScopedMixin, APIView):
    permission_classes = [AdminKeyOnly]

    @extend_schema(
        operation_id="privacy_erase",
        request=ShopperSerializer,
        responses={201: PrivacyResultSerializer, 400: OpenApiResponse(description="Invalid.")},
        description="Erase one shopper's personal data in this tenant: names, emails, "
        "postcodes, their words in problem reports, agents' lookups and notes, stored webhook "
        "bodies and earlier exports. Parcels and timelines stay, without personal data.",
    )
    def post(self, request):
        shopper = ShopperSerializer(data=request.data)
        shopper.is_valid(raise_exception=True)
        made = privacy.customer_redact(
            tenant=self.tenant,
            email=shopper.validated_data["email"],
            order_ids=shopper.validated_data["order_ids"],
        )
        return Response(
            {"id": made.pk, "kind": made.kind, "summary": made.summary},
            status=status.HTTP_201_CREATED,
        )
