"""Browser-side protection of the shopper pages: Content-Security-Policy, same-origin POSTs, IPs.

- Every page answers with a CSP that allows scripts, styles, fetches and forms from its own
  origin only (no inline script or style anywhere: merchant colours arrive as a generated
  stylesheet), images from its own origin plus the origins of the merchant's own logo and
  promotion images, and framing by nobody, or (widget pages) by the tenant's own sites.
- The lookup and proof forms are exempt from Django's CSRF token, because the pages that carry
  them are cached and shared between shoppers (a token is per browser) and the widget posts them
  from a third-party frame. They check instead that the browser says the POST came from this very
  origin (``Sec-Fetch-Site``, else ``Origin``), which a cross-site page cannot forge. The actions
  of a proven shopper (emails switch, problem report) keep Django's CSRF token as well.
- ``client_ip`` is the peer address, or the address a trusted proxy put in X-Forwarded-For when
  ``WISMO_TRUSTED_PROXY_COUNT`` says how many proxies stand in front.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from tracking_pages.branding import Brand


def content_security_policy(brand: Brand | None, *, embed: bool = False) -> str:
    return origins_policy(
        brand.image_origins if brand else (),
        (brand.allowed_origins if brand else ()) if embed else None,
    )


@lru_cache(maxsize=2048)
def origins_policy(images: tuple[str, ...], frames: tuple[str, ...] | None) -> str:
    """The page's policy: images from ``images`` too, framed by ``frames`` (None: by nobody).
    Pages ask for the same few again and again: each is built once per process."""
    sources = " ".join(["'self'", *images])
    ancestors = " ".join(["'self'", *frames]) if frames is not None else "'none'"
    return (
        "default-src 'none'; "
        "script-src 'self'; "
        "style-src 'self'; "
        f"img-src {sources}; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "base-uri 'none'; "
        f"frame-ancestors {ancestors}"
    )


def same_origin_post(request: HttpRequest) -> bool:
    """Whether the browser reports this POST as coming from a page of this very origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        # No browser of the last years omits both on a cross-origin POST: a script or an old
        # client, which a CSRF attack cannot be made of.
        return True
    return origin == f"{request.scheme}://{request.get_host()}"


def client_ip(request: HttpRequest) -> str:
    proxies = int(getattr(settings, "WISMO_TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0:
        hops = [
            h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()
        ]
        if len(hops) >= proxies:
            return hops[-proxies][:64]
    return str(request.META.get("REMOTE_ADDR", ""))[:64]
