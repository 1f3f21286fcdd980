from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from wismo import health, metrics
from wismo.api import hooks

urlpatterns = [
    path("t/", include("tracking_pages.urls")),  # first: the hottest routes
    # Platforms and carriers send these at volume: resolved before the dashboard's many routes.
    path("hooks/carriers/<slug:slug>/<int:account_id>/", hooks.carrier_push, name="carrier-push"),
    path("hooks/shopify/<int:store_id>/", hooks.shopify_hook, name="shopify-hook"),
    path("hooks/woocommerce/<int:store_id>/", hooks.woocommerce_hook, name="woocommerce-hook"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),  # Prometheus; see wismo.metrics
    path("admin/", admin.site.urls),
    path("accounts/", include("dashboard.accounts_urls")),
    path("dashboard/", include("dashboard.urls")),
    path("api/v1/", include("wismo.api.urls")),
    path("n/", include("notifications.urls")),
]

if settings.ANYMAIL.get("WEBHOOK_SECRET"):
    # Email providers' tracking webhooks (bounces, complaints, opens, clicks), e.g.
    # /hooks/email/postmark/tracking/. Only with ANYMAIL_WEBHOOK_SECRET set: without it anymail
    # would take anyone's "bounced" and suppress real shoppers.
    urlpatterns.append(path("hooks/email/", include("anymail.urls")))

handler400 = "wismo.api.errors.bad_request"
handler404 = "wismo.api.errors.not_found"
handler500 = "wismo.api.errors.server_error"
