from django.apps import AppConfig


class TrackingPagesConfig(AppConfig):
    """Public, branded shopper pages: tracking by token, lookup, proof, problem reports, widget."""

    name = "tracking_pages"
    verbose_name = "Tracking pages"

    def ready(self) -> None:
        from tracking_pages import services

        services.register_privacy_handler()
