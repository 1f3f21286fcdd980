"""A merchant's branding of the shopper pages: validated, made readable, turned into CSS and CSP.

``Tenant.branding`` is free JSON that a merchant edits; nothing in it reaches a page unchecked.
``brand_from`` reads it into a ``Brand`` whose every value is safe to print (templates escape it
again anyway). The keys the tracking pages read:

- ``logo_url``: https URL of the logo image (shown in the header; its origin joins ``img-src``).
- ``primary_color``, ``accent_color``: ``#rgb`` or ``#rrggbb``. The header uses the primary colour
  as background, buttons the accent colour; the text on them is black or white, whichever reads
  better, and when a colour is used as text on white it is darkened until it reaches the WCAG AA
  contrast of 4.5:1. Anything else falls back to the defaults.
- ``font``: a key of ``FONTS`` (``system``, ``sans``, ``serif``, ``rounded``, ``humanist``,
  ``geometric``, ``mono``) or a family name of the safe list (``Georgia``, ``Helvetica``...).
  Only font stacks installed on the shopper's device: no web font is ever fetched.
- ``header_links``: up to 6 ``{"label", "url"}`` shown in the header (http(s) links).
- ``notice``: a short text shown on every page (e.g. peak-season delays), at most 500 characters.
- ``help_url``: the help or contact page (http(s) or ``mailto:``).
- ``faq``: up to 20 ``{"q", "a"}`` (plain text, at most 200 / 1,000 characters).
- ``promo``: ``{"title", "text", "image_url", "link_url", "products": [{"title", "url",
  "image_url", "price"}]}`` (up to 4 products); a banner and recommendations, hidden while a
  parcel has a problem.
- ``allowed_origins``: origins (``https://shop.example``) allowed to embed the widget (CSP
  ``frame-ancestors``) and to read the JSON view (CORS); the custom domain is always allowed.

``notice``, ``faq`` and ``promo`` may also be a dict by language (``{"en": ..., "it": ...}``); the
page language is used, else the tenant's default language, else English, else the first one.
Image URLs must be https (http only on a loopback host, for development): their origins are the
only foreign origins the pages' Content-Security-Policy lets the browser load anything from.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_PRIMARY = "#1f4e79"
DEFAULT_ACCENT = "#f2a900"
WHITE = "#ffffff"
INK = "#111111"
BLACK = "#000000"
AA_CONTRAST = 4.5
# Bumped when the generated CSS changes shape, so that cached pages ask for the new one.
CSS_REVISION = "1"

FONTS: dict[str, str] = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    "sans": '"Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif',
    "serif": 'Georgia, Cambria, "Times New Roman", Times, serif',
    "rounded": 'ui-rounded, "SF Pro Rounded", "Nunito", system-ui, sans-serif',
    "humanist": '"Gill Sans", "Gill Sans MT", Seravek, "Trebuchet MS", Calibri, sans-serif',
    "geometric": 'Avenir, "Avenir Next", Montserrat, Futura, "Century Gothic", sans-serif',
    "mono": 'ui-monospace, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace',
}
# Family names merchants type, mapped onto the stack that holds them.
_FAMILIES = {
    "system-ui": "system",
    "arial": "sans",
    "helvetica": "sans",
    "helvetica neue": "sans",
    "sans-serif": "sans",
    "georgia": "serif",
    "times": "serif",
    "times new roman": "serif",
    "cambria": "serif",
    "serif": "serif",
    "gill sans": "humanist",
    "trebuchet ms": "humanist",
    "calibri": "humanist",
    "verdana": "humanist",
    "avenir": "geometric",
    "futura": "geometric",
    "montserrat": "geometric",
    "century gothic": "geometric",
    "nunito": "rounded",
    "menlo": "mono",
    "consolas": "mono",
    "monospace": "mono",
}

_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_LOOPBACK = {"localhost", "127.0.0.1"}
_UNSAFE_IN_URL = re.compile(r"[\s\"'<>`\\\x00-\x1f\x7f]")

MAX_LINKS = 6
MAX_FAQ = 20
MAX_PRODUCTS = 4


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Product:
    title: str
    url: str
    image_url: str
    price: str


@dataclass(frozen=True, slots=True)
class Promo:
    title: str
    text: str
    image_url: str
    link_url: str
    products: tuple[Product, ...]


@dataclass(frozen=True, slots=True)
class FaqItem:
    q: str
    a: str


@dataclass(slots=True)
class Brand:
    """Everything of a tenant's branding a page may print, already validated."""

    name: str
    version: str
    logo_url: str = ""
    primary: str = DEFAULT_PRIMARY
    on_primary: str = WHITE
    primary_ink: str = DEFAULT_PRIMARY
    accent: str = DEFAULT_ACCENT
    on_accent: str = INK
    accent_ink: str = DEFAULT_PRIMARY
    font_key: str = "system"
    header_links: tuple[Link, ...] = ()
    help_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    image_origins: tuple[str, ...] = ()
    raw: dict = field(default_factory=dict, repr=False)
    default_language: str = "en"
    # Per language: a brand is immutable once read, so its localized parts are worked out once.
    _memo: dict = field(default_factory=dict, repr=False)

    def _once(self, name: str, lang: str, make):
        key = (name, lang)
        if key not in self._memo:
            self._memo[key] = make(lang)
        return self._memo[key]

    def notice(self, lang: str) -> str:
        return self._once("notice", lang, self._notice)

    def faq(self, lang: str) -> list[FaqItem]:
        return self._once("faq", lang, self._faq)

    def promo(self, lang: str) -> Promo | None:
        return self._once("promo", lang, self._promo)

    def _notice(self, lang: str) -> str:
        return _text(_localized(self.raw.get("notice"), lang, self.default_language), 500)

    def _faq(self, lang: str) -> list[FaqItem]:
        items = _localized(self.raw.get("faq"), lang, self.default_language)
        found = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                q, a = _text(item.get("q"), 200), _text(item.get("a"), 1000)
                if q and a:
                    found.append(FaqItem(q, a))
        return found[:MAX_FAQ]

    def _promo(self, lang: str) -> Promo | None:
        value = _localized(self.raw.get("promo"), lang, self.default_language)
        if not isinstance(value, dict):
            return None
        products = []
        for item in value.get("products") or []:
            if not isinstance(item, dict):
                continue
            product = Product(
                title=_text(item.get("title"), 120),
                url=safe_url(item.get("url")),
                image_url=safe_image_url(item.get("image_url")),
                price=_text(item.get("price"), 40),
            )
            if product.title and product.url:
                products.append(product)
        promo = Promo(
            title=_text(value.get("title"), 120),
            text=_text(value.get("text"), 500),
            image_url=safe_image_url(value.get("image_url")),
            link_url=safe_url(value.get("link_url")),
            products=tuple(products[:MAX_PRODUCTS]),
        )
        return promo if (promo.title or promo.text or promo.products) else None

    @property
    def font_stack(self) -> str:
        return FONTS[self.font_key]

    def css(self) -> str:
        """The tenant's stylesheet: custom properties only, every value generated here."""
        return (
            ":root{"
            f"--brand:{self.primary};--on-brand:{self.on_primary};--brand-ink:{self.primary_ink};"
            f"--accent:{self.accent};--on-accent:{self.on_accent};--accent-ink:{self.accent_ink};"
            f"--font:{self.font_stack}"
            "}\n"
        )


# --- reading --------------------------------------------------------------------------------------


def branding_version(raw: object, name: str) -> str:
    """A short hash of everything that shapes a page's branding: any change gives a new one."""
    blob = json.dumps([CSS_REVISION, name, raw], sort_keys=True, default=str)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def brand_from(
    raw: object, *, name: str, custom_domain: str | None = None, default_language: str = "en"
) -> Brand:
    """Read a tenant's branding JSON; anything invalid falls back to a safe default."""
    data = raw if isinstance(raw, dict) else {}
    primary = _color(data.get("primary_color"), DEFAULT_PRIMARY)
    accent = _color(data.get("accent_color"), DEFAULT_ACCENT)
    logo = safe_image_url(data.get("logo_url"))
    links = []
    for item in data.get("header_links") or []:
        if isinstance(item, dict):
            label, url = _text(item.get("label"), 40), safe_url(item.get("url"))
            if label and url:
                links.append(Link(label, url))
    origins = []
    if custom_domain and _HOST.fullmatch(custom_domain):
        origins.append(f"https://{custom_domain.lower()}")
    for value in data.get("allowed_origins") or []:
        origin = safe_origin(value)
        if origin and origin not in origins:
            origins.append(origin)
    brand = Brand(
        name=_text(name, 200),
        version=branding_version(data, name),
        logo_url=logo,
        primary=primary,
        on_primary=readable_on(primary),
        primary_ink=ink_on_white(primary),
        accent=accent,
        on_accent=readable_on(accent),
        accent_ink=ink_on_white(accent),
        font_key=font_key(data.get("font")),
        header_links=tuple(links[:MAX_LINKS]),
        help_url=safe_url(data.get("help_url"), allow_mailto=True),
        allowed_origins=tuple(origins),
        raw=data,
        default_language=default_language,
    )
    brand.image_origins = tuple(_image_origins(brand))
    return brand


def _image_origins(brand: Brand) -> list[str]:
    urls = [brand.logo_url]
    promos = brand.raw.get("promo")
    candidates = promos.values() if isinstance(promos, dict) and "title" not in promos else []
    for promo in [promos, *candidates]:
        if isinstance(promo, dict):
            urls.append(safe_image_url(promo.get("image_url")))
            for item in promo.get("products") or []:
                if isinstance(item, dict):
                    urls.append(safe_image_url(item.get("image_url")))
    origins = []
    for url in urls:
        origin = origin_of(url) if url else ""
        if origin and origin not in origins:
            origins.append(origin)
    return origins


def _localized(value: object, lang: str, default: str) -> object:
    # A dict keyed by two-letter languages is a translation table; anything else is one value.
    if isinstance(value, dict) and value and all(isinstance(k, str) and len(k) == 2 for k in value):
        for key in (lang, default, "en"):
            if key in value:
                return value[key]
        return next(iter(value.values()))
    return value


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = " ".join(str(value).split())
    return text[:limit]


def _color(value: object, default: str) -> str:
    text = str(value or "").strip()
    if not _COLOR.fullmatch(text):
        return default
    digits = text[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits.lower()


def parse_color(value: object) -> str:
    """``#rrggbb`` (lower case) of a ``#rgb`` or ``#rrggbb`` value, or "" when it is not one
    (what the dashboard's branding form accepts is exactly what the pages read)."""
    return _color(value, "")


def font_key(value: object) -> str:
    text = str(value or "").strip().lower()
    if text in FONTS:
        return text
    first = text.split(",", 1)[0].strip().strip("'\"").strip()
    return _FAMILIES.get(first, "system")


# --- URLs and origins ---------------------------------------------------------------------------


def safe_url(value: object, *, allow_mailto: bool = False) -> str:
    """An http(s) (or mailto) URL fit for an ``href``, or "" (no javascript:, no data:...)."""
    text = str(value or "").strip() if isinstance(value, str) else ""
    if not text or len(text) > 2000 or _UNSAFE_IN_URL.search(text):
        return ""
    if allow_mailto and text.lower().startswith("mailto:"):
        address = text[7:]
        return text if re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+", address.split("?", 1)[0]) else ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    if not _HOST.fullmatch(parts.hostname) or parts.username or parts.password:
        return ""
    return text


def safe_image_url(value: object) -> str:
    """An image URL the page may load: https, or http on a loopback host (development)."""
    url = safe_url(value)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" or parts.hostname in _LOOPBACK:
        return url
    return ""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def safe_origin(value: object) -> str:
    """``scheme://host[:port]`` of an allowed embedding site, or "" when it is not one."""
    text = str(value or "").strip().rstrip("/") if isinstance(value, str) else ""
    url = safe_image_url(text)  # the same rule: https, http only on loopback
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.path or parts.query or parts.fragment:
        return ""
    return origin_of(url)


# --- colours ------------------------------------------------------------------------------------


def _channels(color: str) -> tuple[float, float, float]:
    digits = color[1:]
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def readable_on(background: str) -> str:
    """White or near-black text, whichever contrasts more with ``background``; pure black when
    neither reaches 4.5 (white or black always does: their better contrast is at least 4.58)."""
    best = WHITE if contrast(background, WHITE) >= contrast(background, INK) else INK
    if contrast(background, best) >= AA_CONTRAST:
        return best
    return WHITE if contrast(background, WHITE) >= contrast(background, BLACK) else BLACK


def ink_on_white(color: str) -> str:
    """``color`` darkened just enough to be read as text on white (contrast >= 4.5)."""
    r, g, b = _channels(color)
    for step in range(21):
        factor = 1 - step / 20
        candidate = "#" + "".join(f"{round(c * factor * 255):02x}" for c in (r, g, b))
        if contrast(candidate, WHITE) >= AA_CONTRAST:
            return candidate
    return INK
