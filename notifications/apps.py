from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Transactional emails on status changes (built by the notifications issue)."""

    name = "notifications"
    verbose_name = "Notifications"
