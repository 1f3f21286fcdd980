from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from wismo.api.analytics import AnalyticsView
from wismo.api.carrier_accounts import CarrierAccountViewSet
from wismo.api.lookup import HelpdeskLookupView, LookupView
from wismo.api.notifications import (
    EmailTemplateViewSet,
    NotificationSettingsView,
    NotificationViewSet,
    WebhookEndpointViewSet,
)
from wismo.api.privacy import ShopperErasureView, ShopperExportView
from wismo.api.views import OrderViewSet, ShipmentViewSet, StoreViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("shipments", ShipmentViewSet, basename="shipment")
router.register("orders", OrderViewSet, basename="order")
router.register("stores", StoreViewSet, basename="store")
router.register("carrier-accounts", CarrierAccountViewSet, basename="carrier-account")
router.register("notifications", NotificationViewSet, basename="notification")
router.register("email-templates", EmailTemplateViewSet, basename="email-template")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = [
    path("analytics/", AnalyticsView.as_view(), name="analytics"),
    path("lookup/", LookupView.as_view(), name="lookup"),
    path("helpdesk/lookup/", HelpdeskLookupView.as_view(), name="helpdesk-lookup"),
    path(
        "notification-settings/",
        NotificationSettingsView.as_view(),
        name="notification-settings",
    ),
    path("privacy/exports/", ShopperExportView.as_view(), name="privacy-export"),
    path("privacy/erasures/", ShopperErasureView.as_view(), name="privacy-erase"),
    path("", include(router.urls)),
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
]
