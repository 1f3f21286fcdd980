"""The dashboard's routes, one module per area (each module's views are wrapped by
``dashboard.access``)."""

from django.urls import include, path

from dashboard.views import accounts

urlpatterns = [
    path("switch/", accounts.tenant_switch, name="tenant-switch"),
    path("", include("dashboard.views.overview")),  # home and analytics
    path("", include("dashboard.views.agent")),  # search, shipment detail, ready reply
    path("", include("dashboard.views.shipments")),  # list, saved views, export, bulk
    path("", include("dashboard.views.attention")),  # needs-attention queue, cases, flow tester
    path("settings/", include("dashboard.views.settings_general")),  # branding, team, keys...
    path("settings/", include("dashboard.views.settings_integrations")),  # stores, carriers
    path("settings/audit/", include("dashboard.views.audit")),  # owners read the audit log
]
