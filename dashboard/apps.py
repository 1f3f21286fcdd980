from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Merchant and support-agent web UI (built by the dashboard issue)."""

    name = "dashboard"
    verbose_name = "Dashboard"
