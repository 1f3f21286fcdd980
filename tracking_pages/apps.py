from django.apps import AppConfig


class TrackingPagesConfig(AppConfig):
    """Public, branded shopper pages (built by the tracking pages issue)."""

    name = "tracking_pages"
    verbose_name = "Tracking pages"
