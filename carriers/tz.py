"""Time zones for carriers that give local times without an offset.

The event's location decides: a country with one time zone, or a US state, Canadian province or
Australian state; otherwise the caller's fallback (usually the carrier's home zone).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

COUNTRY_TZ = {
    "IT": "Europe/Rome",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "ES": "Europe/Madrid",
    "GB": "Europe/London",
    "UK": "Europe/London",
    "IE": "Europe/Dublin",
    "NL": "Europe/Amsterdam",
    "BE": "Europe/Brussels",
    "LU": "Europe/Luxembourg",
    "AT": "Europe/Vienna",
    "CH": "Europe/Zurich",
    "PL": "Europe/Warsaw",
    "CZ": "Europe/Prague",
    "SK": "Europe/Bratislava",
    "HU": "Europe/Budapest",
    "SI": "Europe/Ljubljana",
    "HR": "Europe/Zagreb",
    "DK": "Europe/Copenhagen",
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "FI": "Europe/Helsinki",
    "EE": "Europe/Tallinn",
    "LV": "Europe/Riga",
    "LT": "Europe/Vilnius",
    "GR": "Europe/Athens",
    "RO": "Europe/Bucharest",
    "BG": "Europe/Sofia",
    "PT": "Europe/Lisbon",
    "MT": "Europe/Malta",
    "CY": "Asia/Nicosia",
    "SM": "Europe/San_Marino",
    "VA": "Europe/Vatican",
    "MC": "Europe/Monaco",
    "AD": "Europe/Andorra",
    "LI": "Europe/Vaduz",
    "IS": "Atlantic/Reykjavik",
    "TR": "Europe/Istanbul",
    "UA": "Europe/Kyiv",
    "RS": "Europe/Belgrade",
    "JP": "Asia/Tokyo",
    "KR": "Asia/Seoul",
    "CN": "Asia/Shanghai",
    "HK": "Asia/Hong_Kong",
    "TW": "Asia/Taipei",
    "SG": "Asia/Singapore",
    "IN": "Asia/Kolkata",
    "AE": "Asia/Dubai",
    "IL": "Asia/Jerusalem",
    "TH": "Asia/Bangkok",
    "VN": "Asia/Ho_Chi_Minh",
    "PH": "Asia/Manila",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "ZA": "Africa/Johannesburg",
    "EG": "Africa/Cairo",
    "MA": "Africa/Casablanca",
    "NG": "Africa/Lagos",
    "KE": "Africa/Nairobi",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "CO": "America/Bogota",
    "PE": "America/Lima",
    "PR": "America/Puerto_Rico",
}

US_STATE_TZ = {
    **dict.fromkeys(
        [
            "CT",
            "DE",
            "DC",
            "FL",
            "GA",
            "IN",
            "KY",
            "ME",
            "MD",
            "MA",
            "MI",
            "NH",
            "NJ",
            "NY",
            "NC",
            "OH",
            "PA",
            "RI",
            "SC",
            "VT",
            "VA",
            "WV",
        ],
        "America/New_York",
    ),
    **dict.fromkeys(
        [
            "AL",
            "AR",
            "IL",
            "IA",
            "KS",
            "LA",
            "MN",
            "MS",
            "MO",
            "NE",
            "ND",
            "OK",
            "SD",
            "TN",
            "TX",
            "WI",
        ],
        "America/Chicago",
    ),
    **dict.fromkeys(["CO", "ID", "MT", "NM", "UT", "WY"], "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(["CA", "NV", "OR", "WA"], "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
}

CA_PROVINCE_TZ = {
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NB": "America/Moncton",
    "PE": "America/Halifax",
    "QC": "America/Toronto",
    "ON": "America/Toronto",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
}

AU_STATE_TZ = {
    "NSW": "Australia/Sydney",
    "ACT": "Australia/Sydney",
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
}


# Countries with several zones, when no region is known: the most populous zone, at most a few
# hours off (a date is rarely wrong by it).
MULTI_ZONE_DEFAULT = {
    "US": "America/Chicago",
    "CA": "America/Toronto",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "RU": "Europe/Moscow",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
}


def zone_for(
    country: str | None = None, region: str | None = None, fallback: str = "UTC"
) -> ZoneInfo:
    """The time zone of a place: region first (US, CA, AU), then the country, then ``fallback``."""
    country = (country or "").strip().upper()
    region = (region or "").strip().upper()
    by_region = {"US": US_STATE_TZ, "CA": CA_PROVINCE_TZ, "AU": AU_STATE_TZ}.get(country)
    if by_region and region in by_region:
        return ZoneInfo(by_region[region])
    if country in COUNTRY_TZ:
        return ZoneInfo(COUNTRY_TZ[country])
    if country in MULTI_ZONE_DEFAULT:
        return ZoneInfo(MULTI_ZONE_DEFAULT[country])
    return ZoneInfo(fallback)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attach ``zone`` to a naive local time (an aware one is returned unchanged)."""
    if naive.tzinfo is not None and naive.utcoffset() is not None:
        return naive
    return naive.replace(tzinfo=zone)


# English country names as carriers print them in locations ("MILAN - ITALY").
COUNTRY_NAMES = {
    "ITALY": "IT",
    "GERMANY": "DE",
    "FRANCE": "FR",
    "SPAIN": "ES",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "IRELAND": "IE",
    "NETHERLANDS": "NL",
    "THE NETHERLANDS": "NL",
    "BELGIUM": "BE",
    "LUXEMBOURG": "LU",
    "AUSTRIA": "AT",
    "SWITZERLAND": "CH",
    "POLAND": "PL",
    "CZECH REPUBLIC": "CZ",
    "CZECHIA": "CZ",
    "SLOVAKIA": "SK",
    "HUNGARY": "HU",
    "SLOVENIA": "SI",
    "CROATIA": "HR",
    "DENMARK": "DK",
    "SWEDEN": "SE",
    "NORWAY": "NO",
    "FINLAND": "FI",
    "PORTUGAL": "PT",
    "GREECE": "GR",
    "ROMANIA": "RO",
    "BULGARIA": "BG",
    "TURKEY": "TR",
    "UNITED STATES": "US",
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "CANADA": "CA",
    "AUSTRALIA": "AU",
    "JAPAN": "JP",
    "CHINA": "CN",
    "HONG KONG": "HK",
    "SINGAPORE": "SG",
    "INDIA": "IN",
    "UNITED ARAB EMIRATES": "AE",
    "SOUTH KOREA": "KR",
    "KOREA, REPUBLIC OF": "KR",
    "ISRAEL": "IL",
    "MEXICO": "MX",
    "BRAZIL": "BR",
    "RUSSIA": "RU",
    "NEW ZEALAND": "NZ",
    "SOUTH AFRICA": "ZA",
    "ICELAND": "IS",
    "ESTONIA": "EE",
    "LATVIA": "LV",
    "LITHUANIA": "LT",
    "MALTA": "MT",
    "CYPRUS": "CY",
    "TAIWAN": "TW",
    "THAILAND": "TH",
    "VIETNAM": "VN",
    "PHILIPPINES": "PH",
    "MALAYSIA": "MY",
    "INDONESIA": "ID",
    "ARGENTINA": "AR",
    "CHILE": "CL",
    "COLOMBIA": "CO",
    "PERU": "PE",
    "EGYPT": "EG",
    "MOROCCO": "MA",
    "UKRAINE": "UA",
    "SERBIA": "RS",
}


def country_from_place(place: str) -> str | None:
    """The ISO country a place string names at its end, if any.

    "LEIPZIG - GERMANY" -> "DE", "Brisbane-AU" -> "AU", "Milano, IT" -> "IT".
    """
    text = place.strip().upper()
    if not text:
        return None
    tail = text.replace(",", " - ").split(" - ")[-1].strip()
    if tail in COUNTRY_NAMES:
        return COUNTRY_NAMES[tail]
    if len(tail) > 3 and "-" in tail:  # "BRISBANE-AU"
        tail = tail.rsplit("-", 1)[-1].strip()
    if len(tail) == 2 and tail.isalpha() and tail in _KNOWN_ISO:
        return tail
    return COUNTRY_NAMES.get(tail)


# Two-letter codes accepted at the end of a place.
_KNOWN_ISO = frozenset({*COUNTRY_TZ, *MULTI_ZONE_DEFAULT, *COUNTRY_NAMES.values()})
