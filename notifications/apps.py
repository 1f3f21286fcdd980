from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Transactional emails and outbound webhooks on status changes."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import receivers

        receivers.connect()
