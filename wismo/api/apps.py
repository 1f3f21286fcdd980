from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "wismo.api"
    label = "api"
    verbose_name = "REST API"
