"""Shopper pages under ``/t/`` (mounted by ``wismo.urls``): ``/t/<slug>/``, ``/t/<slug>/<token>/``.

The same views answer on a tenant's custom domain through ``tracking_pages.domain_urls``.
"""

from django.urls import path, register_converter

from tracking_pages import views


class TokenConverter:
    """A public token: URL-safe base64 of at least 128 bits (wismo's are 192)."""

    regex = r"[A-Za-z0-9_-]{22,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")

app_name = "tracking_pages"


def page_patterns(prefix: str) -> list:
    """The page routes below ``prefix`` ("<slug:tenant_slug>/" here, "" on a custom domain)."""
    # The tracking page first: it is by far the most asked for.
    return [
        path(f"{prefix}<token:token>/", views.page, name="page"),
        path(f"{prefix}", views.lookup, name="lookup"),
        path(f"{prefix}embed/", views.lookup_embed, name="lookup-embed"),
        path(f"{prefix}brand.css", views.brand_css, name="brand-css"),
        path(f"{prefix}<token:token>/embed/", views.page_embed, name="page-embed"),
        path(f"{prefix}<token:token>/json/", views.page_json, name="page-json"),
        path(f"{prefix}<token:token>/verify/", views.verify, name="verify"),
        path(f"{prefix}<token:token>/notify/", views.notify, name="notify"),
        path(f"{prefix}<token:token>/report/", views.report, name="report"),
    ]


urlpatterns = page_patterns("<slug:tenant_slug>/")
