"""The URLconf of a tenant's custom domain (set per request by ``CustomDomainMiddleware``).

Only the shopper pages live there: ``/``, ``/<token>/`` and their companions; the admin, the API
and the dashboard answer 404 on a merchant's domain.
"""

from django.urls import include, path

from tracking_pages.urls import page_patterns

urlpatterns = [
    path("", include((page_patterns(""), "tracking_pages"), namespace="tracking_pages")),
]

handler404 = "tracking_pages.views.not_found_handler"
