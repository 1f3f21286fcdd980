"""A merchant's branding JSON becomes safe, readable values, CSS and a CSP (no database)."""

from __future__ import annotations

import pytest

from tracking_pages.branding import (
    AA_CONTRAST,
    DEFAULT_ACCENT,
    DEFAULT_PRIMARY,
    brand_from,
    branding_version,
    contrast,
    font_key,
    ink_on_white,
    readable_on,
    safe_origin,
    safe_url,
)
from tracking_pages.security import content_security_policy

HOSTILE = '"><script>alert(1)</script>'


def test_valid_colours_are_kept_and_expanded_to_six_digits():
    brand = brand_from({"primary_color": "#0A8", "accent_color": "#FFD23F"}, name="Shop")

    assert (brand.primary, brand.accent) == ("#00aa88", "#ffd23f")


@pytest.mark.parametrize(
    "value",
    [
        "red",
        "#12345",
        "#1234567",
        "rgb(0,0,0)",
        "#fff;}body{display:none",
        HOSTILE,
        None,
        12,
        ["#fff"],
    ],
)
def test_anything_but_a_hex_colour_falls_back_to_the_default(value):
    brand = brand_from({"primary_color": value, "accent_color": value}, name="Shop")

    assert (brand.primary, brand.accent) == (DEFAULT_PRIMARY, DEFAULT_ACCENT)


@pytest.mark.parametrize(
    "colour",
    ["#ffffff", "#ffff00", "#777777", "#1f4e79", "#000000", "#ff0000", "#00ff00", "#f2a900"],
)
def test_text_on_a_brand_colour_always_reaches_wcag_aa(colour):
    assert contrast(colour, readable_on(colour)) >= AA_CONTRAST


@pytest.mark.parametrize("colour", ["#ffff00", "#f2a900", "#00ff00", "#7fdbff", "#777777"])
def test_a_light_brand_colour_used_as_text_is_darkened_until_it_reads_on_white(colour):
    ink = ink_on_white(colour)

    assert contrast(ink, "#ffffff") >= AA_CONTRAST
    assert contrast(colour, "#ffffff") < AA_CONTRAST  # it really needed fixing


def test_a_dark_brand_colour_used_as_text_is_left_as_it_is():
    assert ink_on_white("#1f4e79") == "#1f4e79"


def test_the_generated_css_holds_only_validated_values():
    brand = brand_from(
        {"primary_color": "#ffff00", "accent_color": HOSTILE, "font": "x;}</style><script>"},
        name="Shop",
    )

    css = brand.css()

    assert css == (
        ":root{--brand:#ffff00;--on-brand:#111111;--brand-ink:#737300;"
        f"--accent:{DEFAULT_ACCENT};--on-accent:#111111;--accent-ink:{brand.accent_ink};"
        f"--font:{brand.font_stack}}}\n"
    )
    assert "<" not in css and "script" not in css


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("serif", "serif"),
        ("Georgia, 'Times New Roman', serif", "serif"),
        ("Helvetica", "sans"),
        ("MONO", "mono"),
        ("Comic Sans MS", "system"),
        ("url(https://fonts.example/evil.woff2)", "system"),
        (None, "system"),
    ],
)
def test_fonts_come_from_the_safe_list_only(value, key):
    assert font_key(value) == key


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "//evil.example/x",
        'https://evil.example/"onmouseover=alert(1)',
        "https://user:pass@evil.example/",
        "https://exa mple.com/",
        "ftp://example.com/file",
        "",
        None,
        42,
    ],
)
def test_unsafe_links_are_dropped(url):
    assert safe_url(url) == ""


def test_http_and_https_links_are_kept_and_mailto_only_where_allowed():
    assert safe_url("https://shop.example/help?x=1") == "https://shop.example/help?x=1"
    assert safe_url("mailto:help@shop.example") == ""
    assert safe_url("mailto:help@shop.example", allow_mailto=True) == "mailto:help@shop.example"


def test_images_must_be_https_except_on_a_loopback_host():
    brand = brand_from(
        {
            "logo_url": "http://cdn.shop.example/logo.png",
            "promo": {"title": "Sale", "image_url": "http://127.0.0.1:8000/promo.png"},
        },
        name="Shop",
    )

    assert brand.logo_url == ""
    assert brand.promo("en").image_url == "http://127.0.0.1:8000/promo.png"


def test_image_origins_feed_the_csp_and_nothing_else_does():
    brand = brand_from(
        {
            "logo_url": "https://cdn.shop.example/logo.png",
            "promo": {
                "title": "Sale",
                "image_url": "https://img.shop.example/a.jpg",
                "products": [
                    {
                        "title": "Mug",
                        "url": "https://shop.example/mug",
                        "image_url": "https://img.shop.example/m.jpg",
                    }
                ],
            },
            "help_url": "https://help.elsewhere.example/",
        },
        name="Shop",
    )

    csp = content_security_policy(brand)

    assert brand.image_origins == ("https://cdn.shop.example", "https://img.shop.example")
    assert "img-src 'self' https://cdn.shop.example https://img.shop.example;" in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "help.elsewhere.example" not in csp
    assert "frame-ancestors 'none'" in csp


def test_the_widget_may_be_framed_only_by_the_tenants_own_sites():
    brand = brand_from(
        {
            "allowed_origins": [
                "https://www.shop.example",
                "https://shop.example/path",
                "javascript:x",
                "*",
            ]
        },
        name="Shop",
        custom_domain="track.shop.example",
    )

    csp = content_security_policy(brand, embed=True)

    assert brand.allowed_origins == ("https://track.shop.example", "https://www.shop.example")
    assert csp.endswith(
        "frame-ancestors 'self' https://track.shop.example https://www.shop.example"
    )


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://shop.example", "https://shop.example"),
        ("https://Shop.Example:8443/", "https://shop.example:8443"),
        ("http://shop.example", ""),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://shop.example/page", ""),
        ("https://*.shop.example", ""),
    ],
)
def test_allowed_origins_are_exact_origins(value, origin):
    assert safe_origin(value) == origin


def test_texts_are_trimmed_and_localized_with_fallbacks():
    brand = brand_from(
        {
            "notice": {"en": "Peak season", "it": "Alta stagione"},
            "faq": {"it": [{"q": "Quando?", "a": "Presto."}], "en": [{"q": "When?", "a": "Soon."}]},
            "header_links": [
                {"label": "Shop", "url": "https://shop.example"},
                {"label": "x", "url": "javascript:1"},
            ],
        },
        name="Shop",
        default_language="it",
    )

    assert brand.notice("it") == "Alta stagione"
    assert brand.notice("de") == "Alta stagione"  # the tenant's default language
    assert [(f.q, f.a) for f in brand.faq("en")] == [("When?", "Soon.")]
    assert [(link.label, link.url) for link in brand.header_links] == [
        ("Shop", "https://shop.example")
    ]


def test_a_promotion_keeps_only_products_with_a_title_and_a_safe_link():
    brand = brand_from(
        {
            "promo": {
                "title": "Sale",
                "products": [
                    {"title": "Mug", "url": "https://shop.example/mug", "price": "€ 9"},
                    {"title": "Evil", "url": "javascript:alert(1)"},
                    {"title": "", "url": "https://shop.example/x"},
                ],
            }
        },
        name="Shop",
    )

    assert [(p.title, p.url, p.price) for p in brand.promo("en").products] == [
        ("Mug", "https://shop.example/mug", "€ 9")
    ]


def test_the_branding_version_changes_with_any_value_and_not_with_key_order():
    one = branding_version({"a": 1, "b": [1, 2]}, "Shop")

    assert one == branding_version({"b": [1, 2], "a": 1}, "Shop")
    assert one != branding_version({"a": 2, "b": [1, 2]}, "Shop")
    assert one != branding_version({"a": 1, "b": [1, 2]}, "Other name")
