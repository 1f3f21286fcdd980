"""Carrier names and codes as shop platforms write them, mapped to our carrier slugs.

Shopify's ``tracking_company`` ("DHL Express", "Canada Post (FR)"), WooCommerce Shipment Tracking's
``tracking_provider`` (its provider name through ``sanitize_title``: "royal-mail", "dhl-intraship-de"),
Magento's ``carrier_code`` ("ups", "usps", "fedex", "dhl"), BigCommerce's ``tracking_carrier``
(AfterShip courier slugs: "brt-it", "la-poste-colissimo") and what merchants type freely all go
through ``slug_for_name``. Names are compared without case, accents or punctuation, as a whole
("United States Postal Service") or by the brand they start with, whatever country or service
level follows ("FedEx Ground", "DPD UK", "GLS Italy", "Poste Italiane Delivery"); a bracketed
note is ignored when the whole name is not known ("BRT (Bartolini)", "Canada Post (FR)").

Some decisions:

- "DHL" alone, DHL Paket/Parcel/eCommerce and Deutsche Post go to ``dhl`` (DHL's Unified API
  answers for every business unit); anything called "DHL Express" goes to ``dhl_express``.
- Colissimo and Chronopost go to ``la_poste``: La Poste's tracking answers for both brands.
- SDA is Poste Italiane's courier, now sold as Poste Delivery Business: ``poste_italiane``.
- Correos Express is not Correos: a separate company (the former Chronoexprés) with its own
  numbers and tracking, so it is ``None`` like Parcelforce (Royal Mail group, own tracking) and
  TNT: no adapter of ours tracks them.
- Aggregators (17TRACK, AfterShip...) are not carriers a parcel travels with: ``None``.
"""

from __future__ import annotations

import re
import unicodedata

# Whole names (as compact lower-case letters and digits) -> slug; None marks a known carrier
# that no adapter of ours tracks, so that a longer brand prefix cannot claim it.
NAMES: dict[str, str | None] = {
    # UPS
    "ups": "ups",
    "unitedparcelservice": "ups",
    "unitedparcelserviceofamerica": "ups",
    # FedEx
    "fedex": "fedex",
    "federalexpress": "fedex",
    "fdx": "fedex",
    "fedexsmartpost": "fedex",
    # USPS
    "usps": "usps",
    "uspostalservice": "usps",
    "unitedstatespostalservice": "usps",
    "unitedstatespost": "usps",
    "uspostoffice": "usps",
    # DHL
    "dhl": "dhl",
    "dhlexpress": "dhl_express",
    "dhlexpressworldwide": "dhl_express",
    "dhlworldwideexpress": "dhl_express",
    "deutschepost": "dhl",
    "deutschepostdhl": "dhl",
    "dhlintraship": "dhl",
    "dhlintrashipde": "dhl",
    # Postal operators
    "canadapost": "canada_post",
    "postescanada": "canada_post",
    "royalmail": "royal_mail",
    "australiapost": "australia_post",
    "auspost": "australia_post",
    "lapostecolissimo": "la_poste",
    "laposte": "la_poste",
    "colissimo": "la_poste",
    "chronopost": "la_poste",
    "chronopostfrance": "la_poste",
    "posteitaliane": "poste_italiane",
    "posteitalianedelivery": "poste_italiane",
    "postedeliverybusiness": "poste_italiane",
    "sda": "poste_italiane",
    "sdaexpresscourier": "poste_italiane",
    "correos": "correos",
    "correosdeespana": "correos",
    "correosspain": "correos",
    "postnl": "postnl",
    # Parcel carriers
    "gls": "gls",
    "generallogisticssystems": "gls",
    "dpd": "dpd",
    "brt": "brt",
    "bartolini": "brt",
    "brtbartolini": "brt",
    "brtit": "brt",
    # Known carriers that none of our adapters tracks
    "correosexpress": None,
    "chronoexpres": None,
    "parcelforce": None,
    "parcelforceworldwide": None,
    "tnt": None,
    "tntexpress": None,
    "17track": None,
    "aftership": None,
    "other": None,
    "custom": None,
}

# Leading words that name a carrier whatever follows ("FedEx Home Delivery", "USPS Priority
# Mail", "DHL Parcel UK"); the longest prefix wins, so "correos express" beats "correos".
BRANDS: dict[tuple[str, ...], str | None] = {
    ("ups",): "ups",
    ("united", "parcel", "service"): "ups",
    ("fedex",): "fedex",
    ("fed", "ex"): "fedex",
    ("federal", "express"): "fedex",
    ("usps",): "usps",
    ("us", "postal"): "usps",
    ("united", "states", "postal"): "usps",
    ("dhl",): "dhl",
    ("dhl", "express"): "dhl_express",
    ("deutsche", "post"): "dhl",
    ("canada", "post"): "canada_post",
    ("postes", "canada"): "canada_post",
    ("royal", "mail"): "royal_mail",
    ("australia", "post"): "australia_post",
    ("la", "poste"): "la_poste",
    ("colissimo",): "la_poste",
    ("chronopost",): "la_poste",
    ("poste", "italiane"): "poste_italiane",
    ("sda",): "poste_italiane",
    ("correos",): "correos",
    ("correos", "express"): None,
    ("postnl",): "postnl",
    ("post", "nl"): "postnl",
    ("gls",): "gls",
    ("dpd",): "dpd",
    ("brt",): "brt",
    ("bartolini",): "brt",
    ("parcelforce",): None,
    ("parcel", "force"): None,
    ("tnt",): None,
}
_LONGEST_FIRST = sorted(BRANDS, key=len, reverse=True)

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _words(name: str) -> list[str]:
    """Lower-case ASCII words; single letters in a row join up ("U.S.P.S." -> "usps")."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    words: list[str] = []
    spelled = False  # whether the last word was built from single letters
    for word in _NOT_ALNUM.split(text.replace("&", " and ")):
        if not word:
            continue
        single = len(word) == 1 and word.isalpha()
        if single and spelled:
            words[-1] += word
        else:
            words.append(word)
            spelled = single
    return words


def _lookup(words: list[str]) -> tuple[bool, str | None]:
    """(found, slug) for the words: a whole name first, then the longest brand prefix."""
    compact = "".join(words)
    if compact in NAMES:
        return True, NAMES[compact]
    for brand in _LONGEST_FIRST:
        if tuple(words[: len(brand)]) == brand:
            return True, BRANDS[brand]
    return False, None


def slug_for_name(name: str) -> str | None:
    """Our carrier slug for a shop platform's carrier name or code, or None when none fits."""
    if not isinstance(name, str) or len(name) > 200:
        return None
    attempts = [name]
    without_notes = _BRACKETS.sub(" ", name)
    if without_notes != name:
        attempts.append(without_notes)
    for attempt in attempts:
        words = _words(attempt)
        if not words:
            continue
        found, slug = _lookup(words)
        if found:
            return slug
    return None
