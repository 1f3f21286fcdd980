"""REST API for notifications: settings, email templates (validate, preview, test send), the
emails sent (helpdesk read), and outbound webhook endpoints with their deliveries.

Settings, templates and webhooks are for admin keys; the list of emails is readable by agents.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import rendering
from notifications.models import (
    Notification,
    NotificationPolicy,
    Trigger,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.serializers import PolicySerializer  # shared with the dashboard
from notifications.services import templates as template_services
from notifications.services.webhooks_out import delivery_replay
from tenants.models import Membership
from wismo.api.parsers import SafeJSONParser
from wismo.api.permissions import AdminKeyOnly, HasTenantApiKey
from wismo.api.views import TenantScopedMixin
from wismo.tracking import labels
from wismo.tracking.models import ShopConnection


def _django_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    )


# -- settings --------------------------------------------------------------------------------


class NotificationSettingsView(TenantScopedMixin, APIView):
    """The tenant's notification settings (``?store=<id>`` for one store's own settings)."""

    permission_classes = [AdminKeyOnly]
    serializer_class = PolicySerializer
    parser_classes = [SafeJSONParser]  # lists and dicts: form encoding would blank them silently

    def _policy(self, request) -> NotificationPolicy:
        store_id = request.query_params.get("store")
        store = None
        if store_id:
            try:
                store = ShopConnection.objects.get(pk=int(store_id))
            except (ShopConnection.DoesNotExist, ValueError):
                raise NotFound() from None
        policy = NotificationPolicy.objects.filter(tenant=self.tenant, store=store).first()
        return policy or NotificationPolicy(tenant=self.tenant, store=store)

    def get(self, request):
        return Response(PolicySerializer(self._policy(request)).data)

    def patch(self, request):
        policy = self._policy(request)
        serializer = PolicySerializer(policy, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save(tenant=self.tenant, store=policy.store)
        return Response(serializer.data)


# -- templates -------------------------------------------------------------------------------


class TemplateSourcesSerializer(serializers.Serializer):
    subject = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    html = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    text = serializers.CharField(required=False, allow_blank=True, max_length=100_000)


class TestSendSerializer(serializers.Serializer):
    to = serializers.EmailField()


def _rendered(email: rendering.RenderedEmail) -> dict:
    return {"subject": email.subject, "html": email.html, "text": email.text}


class EmailTemplateViewSet(TenantScopedMixin, viewsets.ViewSet):
    """Email templates per trigger and language: ``GET`` the parts in effect, ``PUT`` your own
    (validated: errors name the part and line), ``DELETE`` to go back to ours, ``preview`` and
    ``test`` to see it."""

    permission_classes = [AdminKeyOnly]
    parser_classes = [SafeJSONParser]
    lookup_value_regex = r"[a-z_]+/[a-z]{2}"
    serializer_class = TemplateSourcesSerializer

    def _key(self, pk: str) -> tuple[str, str]:
        trigger, _, language = (pk or "").partition("/")
        if trigger not in Trigger.values or language not in labels.LANGUAGES:
            raise NotFound()
        return trigger, language

    def list(self, request):
        return Response(
            [
                {
                    "trigger": trigger,
                    "language": language,
                    **{
                        k: v
                        for k, v in template_services.template_sources(
                            tenant=self.tenant, trigger=trigger, language=language
                        ).items()
                        if k.endswith("_customized")
                    },
                }
                for trigger in Trigger.values
                for language in labels.LANGUAGES
            ]
        )

    def retrieve(self, request, pk=None):
        trigger, language = self._key(pk)
        sources = template_services.template_sources(
            tenant=self.tenant, trigger=trigger, language=language
        )
        return Response({"trigger": trigger, "language": language, **sources})

    def update(self, request, pk=None):
        trigger, language = self._key(pk)
        serializer = TemplateSourcesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            _template, warnings = template_services.template_save(
                tenant=self.tenant, trigger=trigger, language=language, sources=serializer.data
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        sources = template_services.template_sources(
            tenant=self.tenant, trigger=trigger, language=language
        )
        return Response({"trigger": trigger, "language": language, **sources, "warnings": warnings})

    def destroy(self, request, pk=None):
        trigger, language = self._key(pk)
        template_services.template_save(
            tenant=self.tenant, trigger=trigger, language=language, sources={}
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        trigger, language = self._key(pk)
        serializer = TemplateSourcesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            email = template_services.template_preview(
                tenant=self.tenant, trigger=trigger, language=language, sources=serializer.data
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        return Response(_rendered(email))

    @action(detail=True, methods=["post"], serializer_class=TestSendSerializer)
    def test(self, request, pk=None):
        trigger, language = self._key(pk)
        serializer = TestSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        allowed = set(
            Membership.objects.filter(tenant=self.tenant).values_list("user__email", flat=True)
        )
        policy = NotificationPolicy.objects.filter(tenant=self.tenant, store=None).first()
        if policy and policy.reply_to:
            allowed.add(policy.reply_to)
        try:
            sent_to = template_services.template_test_send(
                tenant=self.tenant,
                trigger=trigger,
                language=language,
                to=serializer.validated_data["to"],
                allowed=allowed,
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        return Response({"sent_to": sent_to}, status=status.HTTP_202_ACCEPTED)


# -- emails sent -----------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "shipment",
            "order",
            "trigger",
            "recipient",
            "language",
            "state",
            "skipped_reason",
            "send_after",
            "sent_at",
            "attempts",
            "last_error",
            "opened_at",
            "clicked_at",
            "bounced_at",
            "created_at",
        ]


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class NotificationViewSet(
    TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Emails owed, sent or skipped (``?shipment=``, ``?order=``, ``?state=``, ``?trigger=``)."""

    permission_classes = [HasTenantApiKey]
    serializer_class = NotificationSerializer
    pagination_class = NewestFirst
    queryset = Notification.objects.none()

    def get_queryset(self):
        rows = Notification.objects.filter(tenant=self.tenant)
        params = self.request.query_params
        for name in ("shipment", "order"):
            if params.get(name):
                if not params[name].isdigit():
                    raise serializers.ValidationError({name: "An id."})
                rows = rows.filter(**{f"{name}_id": int(params[name])})
        if params.get("state"):
            rows = rows.filter(state=params["state"])
        if params.get("trigger"):
            rows = rows.filter(trigger=params["trigger"])
        return rows

    def get_object(self) -> Notification:
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (Notification.DoesNotExist, ValueError):
            raise NotFound() from None


# -- outbound webhooks -----------------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(write_only=True, min_length=16, max_length=200)
    events = serializers.ListField(
        child=serializers.ChoiceField(
            choices=[
                "shipment.status_changed",
                "shipment.tracking_number_changed",
                "shipment.delayed",
                "shipment.still_on_track",
            ]
        ),
        required=False,
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "secret",
            "events",
            "is_active",
            "consecutive_failures",
            "disabled_reason",
            "created_at",
        ]
        read_only_fields = ["id", "consecutive_failures", "disabled_reason", "created_at"]

    def validate_url(self, value: str) -> str:
        if not value.startswith("https://"):
            raise serializers.ValidationError("Use an https:// address.")
        return value

    def update(self, instance, validated_data):
        if validated_data.get("is_active"):
            validated_data.update(consecutive_failures=0, disabled_reason="")
        return super().update(instance, validated_data)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "event_id",
            "payload",
            "state",
            "attempts",
            "response_status",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]


class WebhookEndpointViewSet(TenantScopedMixin, viewsets.ModelViewSet):
    """Where status changes are POSTed, signed with the endpoint's secret (write-only)."""

    permission_classes = [AdminKeyOnly]
    serializer_class = WebhookEndpointSerializer
    queryset = WebhookEndpoint.objects.none()
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return WebhookEndpoint.objects.filter(tenant=self.tenant).order_by("id")

    def get_object(self) -> WebhookEndpoint:
        try:
            return self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (WebhookEndpoint.DoesNotExist, ValueError):
            raise NotFound() from None

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant)

    @action(detail=True, methods=["get"], serializer_class=WebhookDeliverySerializer)
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        rows = endpoint.deliveries.order_by("-created_at", "-id")[:100]
        return Response(WebhookDeliverySerializer(rows, many=True).data)

    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>\d+)/replay",
        serializer_class=WebhookDeliverySerializer,
    )
    def replay(self, request, pk=None, delivery_id=None):
        endpoint = self.get_object()
        delivery = endpoint.deliveries.filter(pk=int(delivery_id)).first()
        if delivery is None:
            raise NotFound()
        delivery_replay(delivery=delivery)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
