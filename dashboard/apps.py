from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Merchant and support-agent web UI (built by the dashboard issue)."""

    name = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        # Merchants' status overrides (settings > status mapping) apply to new carrier events.
        from dashboard.services.settings_integrations import status_overrides_for
        from wismo.tracking.services.timeline import set_status_override_provider

        set_status_override_provider(status_overrides_for)

        # Agents' lookups and notes are part of a shopper's export and erasure.
        from dashboard.services.privacy import register_privacy_handler

        register_privacy_handler()
