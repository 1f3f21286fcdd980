"""``/api/v1/carrier-accounts/``: the tenant's carrier accounts (admin keys only).

``credentials`` are write-only: accepted on create and update, never returned; the answer says
which of the carrier's credential keys are set. The rules are the kernel's
(``wismo.tracking.services.carrier_setup``), shared with the dashboard.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from wismo.api.permissions import AdminKeyOnly
from wismo.api.views import TenantScopedMixin
from wismo.tracking.models import CarrierAccount
from wismo.tracking.services import carrier_setup


class CarrierAccountSerializer(serializers.ModelSerializer):
    """A carrier account; ``credentials`` are write-only (never shown again)."""

    credentials = serializers.DictField(write_only=True, required=False)
    credentials_set = serializers.SerializerMethodField(
        help_text="Which of the carrier's credential keys are stored (values are never shown)."
    )

    class Meta:
        model = CarrierAccount
        fields = [
            "id",
            "carrier",
            "name",
            "is_active",
            "credentials",
            "credentials_set",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_carrier(self, value: str) -> str:
        if self.instance is not None and value != self.instance.carrier:
            raise serializers.ValidationError("The carrier of an account cannot change.")
        try:
            return carrier_setup.carrier_clean(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def get_credentials_set(self, account: CarrierAccount) -> dict[str, bool]:
        stored = account.credentials or {}
        try:
            keys = carrier_setup.carrier_fields(account.carrier)
        except LookupError:
            keys = ()
        return {key: bool(stored.get(key)) for key in keys}


@extend_schema(tags=["carrier-accounts"])
class CarrierAccountViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """The tenant's carrier accounts. Credentials are write-only: never shown again."""

    serializer_class = CarrierAccountSerializer
    permission_classes = [AdminKeyOnly]
    queryset = CarrierAccount.objects.none()
    http_method_names = ["get", "post", "patch", "put", "delete"]

    def get_queryset(self):
        return CarrierAccount.objects.order_by("carrier", "name", "id")

    def get_object(self) -> CarrierAccount:
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (CarrierAccount.DoesNotExist, TypeError, ValueError):
            raise NotFound() from None

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = self._save(
            carrier=data["carrier"],
            name=data["name"],
            credentials=data.get("credentials", {}),
            is_active=data.get("is_active", True),
        )
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        account = self.get_object()
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(account, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = self._save(
            account=account,
            name=data.get("name"),
            credentials=data.get("credentials"),
            is_active=data.get("is_active"),
        )
        return Response(self.get_serializer(account).data)

    def _save(self, **fields) -> CarrierAccount:
        try:
            return carrier_setup.carrier_account_save(tenant=self.tenant, **fields)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"non_field_errors": exc.messages}) from None
