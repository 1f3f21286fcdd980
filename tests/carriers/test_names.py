"""Shop platforms' carrier names and codes mapped to our carrier slugs (carriers/names.py)."""

from __future__ import annotations

import pytest

from carriers import detection
from carriers.names import BRANDS, NAMES, slug_for_name

# What merchants and shop platforms write, and the slug it means.
KNOWN = [
    # UPS
    ("UPS", "ups"),
    ("ups", "ups"),
    ("United Parcel Service", "ups"),
    ("UPS®", "ups"),
    ("UPS Germany", "ups"),
    ("UPS Mail Innovations", "ups"),
    # FedEx
    ("FedEx", "fedex"),
    ("Fedex", "fedex"),
    ("Federal Express", "fedex"),
    ("FedEx Ground", "fedex"),
    ("FedEx Home Delivery", "fedex"),
    ("Fed Ex", "fedex"),
    ("FEDEX_GROUND", "fedex"),
    ("fedex-sameday", "fedex"),
    # USPS
    ("USPS", "usps"),
    ("usps", "usps"),
    ("US Postal Service", "usps"),
    ("U.S. Postal Service", "usps"),
    ("U.S.P.S.", "usps"),
    ("United States Postal Service", "usps"),
    ("USPS Priority Mail", "usps"),
    # DHL: the Unified API answers for all of DHL; Express has its own adapter
    ("DHL", "dhl"),
    ("dhl", "dhl"),
    ("DHL Paket", "dhl"),
    ("DHL Parcel", "dhl"),
    ("DHL Parcel UK", "dhl"),
    ("DHL eCommerce", "dhl"),
    ("DHL eCommerce Asia", "dhl"),
    ("DHL US", "dhl"),
    ("Deutsche Post", "dhl"),
    ("Deutsche Post (DE)", "dhl"),
    ("Deutsche Post DHL", "dhl"),
    ("DHL Intraship (DE)", "dhl"),
    ("DHL Express", "dhl_express"),
    ("DHL Express Worldwide", "dhl_express"),
    ("DHL EXPRESS (Italy)", "dhl_express"),
    ("dhl-express", "dhl_express"),
    # Italy
    ("Poste Italiane", "poste_italiane"),
    ("Poste Italiane Delivery", "poste_italiane"),
    ("poste-italiane", "poste_italiane"),
    ("SDA", "poste_italiane"),
    ("SDA Express Courier", "poste_italiane"),
    ("BRT", "brt"),
    ("BRT - Bartolini", "brt"),
    ("BRT (Bartolini)", "brt"),
    ("Bartolini", "brt"),
    ("brt-bartolini", "brt"),
    # Parcel networks
    ("GLS", "gls"),
    ("GLS Italy", "gls"),
    ("General Logistics Systems", "gls"),
    ("DPD", "dpd"),
    ("DPD UK", "dpd"),
    ("DPD.de", "dpd"),
    ("DPD Local", "dpd"),
    # Posts
    ("PostNL", "postnl"),
    ("Post NL", "postnl"),
    ("Royal Mail", "royal_mail"),
    ("royal-mail", "royal_mail"),
    ("ROYAL MAIL", "royal_mail"),
    ("Canada Post", "canada_post"),
    ("Canada Post (FR)", "canada_post"),
    ("Postes Canada", "canada_post"),
    ("Australia Post", "australia_post"),
    ("australia-post", "australia_post"),
    ("La Poste", "la_poste"),
    ("Colissimo", "la_poste"),
    ("Chronopost", "la_poste"),
    ("Correos", "correos"),
    ("Correos de España", "correos"),
]

# Carriers we know but no adapter tracks, and names that are no carrier at all.
NOT_OURS = [
    "Parcelforce",
    "ParcelForce",
    "Parcelforce Worldwide",
    "Correos Express",
    "correosexpress",
    "TNT",
    "TNT Express (consignment)",
    "Evri",
    "Hermes",
    "Amazon Logistics",
    "17TRACK",
    "AfterShip",
    "Other",
    "custom",
    "flatrate",
    "tablerate",
    "Poste",  # La Poste or Poste Italiane?
    "Express",
    "Upside Logistics",  # starts with "ups" but is another word
    "DHLX",
]


@pytest.mark.parametrize(("name", "slug"), KNOWN)
def test_a_carrier_name_maps_to_its_slug(name, slug):
    assert slug_for_name(name) == slug


@pytest.mark.parametrize("name", NOT_OURS)
def test_a_carrier_we_do_not_track_or_an_unknown_name_maps_to_none(name):
    assert slug_for_name(name) is None


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("  poste   italiane  ", "poste_italiane"),
        ("POSTE-ITALIANE", "poste_italiane"),
        ("Pöste Itäliane", "poste_italiane"),
        ("Royal\u00a0Mail", "royal_mail"),
        ("royal_mail", "royal_mail"),
        ("Royal Mail.", "royal_mail"),
        ("La Poste \u2013 Colissimo", "la_poste"),  # en dash
        ("Postes\u0301 Canada", "canada_post"),  # a combining accent
        ("\uff35\uff30\uff33", "ups"),  # full-width letters fold to ASCII
    ],
)
def test_case_accents_and_punctuation_do_not_matter(typed, slug):
    assert slug_for_name(typed) == slug


@pytest.mark.parametrize(
    ("key", "slug"),
    [
        # WooCommerce Shipment Tracking: the provider's name through sanitize_title.
        ("ups", "ups"),
        ("fedex", "fedex"),
        ("usps", "usps"),
        ("dhl-express", "dhl_express"),
        ("dhl-us", "dhl"),
        ("dhl-ecommerce", "dhl"),
        ("dhl-intraship-de", "dhl"),
        ("deutsche-post-dhl", "dhl"),
        ("royal-mail", "royal_mail"),
        ("parcelforce", None),
        ("poste-italiane", "poste_italiane"),
        ("brt-bartolini", "brt"),
        ("canada-post", "canada_post"),
        ("australia-post", "australia_post"),
        ("colissimo", "la_poste"),
        ("postnl", "postnl"),
        ("dpd-nl", "dpd"),
        ("dpd-co-uk", "dpd"),
        ("ups-netherlands", "ups"),
        ("evri", None),
        # BigCommerce tracking_carrier: AfterShip courier slugs.
        ("la-poste-colissimo", "la_poste"),
        ("chronopost-france", "la_poste"),
        ("correos-spain", "correos"),
        ("correosexpress", None),
        ("brt-it", "brt"),
        ("sda-it", "poste_italiane"),
        ("gls-italy", "gls"),
        ("postnl-3s", "postnl"),
        ("dpd-uk", "dpd"),
        ("dhl-germany", "dhl"),
        ("parcel-force", None),
        # Magento carrier_code.
        ("ups", "ups"),
        ("usps", "usps"),
        ("fedex", "fedex"),
        ("dhl", "dhl"),
        ("custom", None),
        ("flatrate", None),
    ],
)
def test_platform_carrier_keys_map_to_slugs(key, slug):
    assert slug_for_name(key) == slug


@pytest.mark.parametrize(
    ("company", "slug"),
    # Shopify tracking_company values (its supported-carrier list, language notes included).
    [
        ("4PX", None),
        ("Australia Post", "australia_post"),
        ("Canada Post", "canada_post"),
        ("Canada Post (FR)", "canada_post"),
        ("DHL eCommerce", "dhl"),
        ("DHL eCommerce Asia", "dhl"),
        ("DHL Express", "dhl_express"),
        ("DHL Parcel", "dhl"),
        ("Deutsche Post (DE)", "dhl"),
        ("Deutsche Post (EN)", "dhl"),
        ("DPD", "dpd"),
        ("DPD UK", "dpd"),
        ("DPD Local", "dpd"),
        ("FedEx", "fedex"),
        ("GLS", "gls"),
        ("La Poste", "la_poste"),
        ("Colissimo", "la_poste"),
        ("Chronopost", "la_poste"),
        ("PostNL", "postnl"),
        ("PostNord", None),
        ("Royal Mail", "royal_mail"),
        ("Parcelforce", None),
        ("UPS", "ups"),
        ("USPS", "usps"),
        ("Poste Italiane", "poste_italiane"),
        ("BRT", "brt"),
        ("Correos", "correos"),
        ("Correos Express", None),
        ("Yodel", None),
    ],
)
def test_shopify_tracking_companies(company, slug):
    assert slug_for_name(company) == slug


@pytest.mark.parametrize("nothing", ["", " ", "-", "()", "...", None, 42, b"UPS", "x" * 10_000])
def test_empty_or_odd_input_maps_to_none(nothing):
    assert slug_for_name(nothing) is None


def test_every_slug_named_is_a_carrier_with_detection_rules():
    slugs = {slug for slug in (*NAMES.values(), *BRANDS.values()) if slug is not None}
    assert slugs <= set(detection.RULES)
    assert "seventeen_track" not in slugs  # an aggregator is never the carrier a shop names
