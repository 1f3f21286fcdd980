from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "wismo.tracking"
    label = "tracking"
    verbose_name = "Tracking"
