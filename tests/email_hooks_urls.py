"""wismo's URLconf with the email providers' webhooks mounted, as ANYMAIL_WEBHOOK_SECRET does."""

from django.urls import include, path

from wismo.urls import handler400, handler404, handler500  # noqa: F401
from wismo.urls import urlpatterns as _wismo

urlpatterns = [*_wismo, path("hooks/email/", include("anymail.urls"))]
