"""Carrier detection from tracking-number formats and check digits.

``confidence(slug, number)`` says how likely a number is that carrier's (0..1). ``RULES`` holds one
tuple of ``Format`` per carrier slug, so that each can be read against the carrier's published
format; the check-digit algorithms are the small pure functions below.

How confident a format makes us (the merchant's carrier priority breaks ties in ``registry.detect``):

- 0.95: a distinctive shape (prefix, letters, length) *and* a check digit that passes;
- 0.7-0.9: a distinctive prefix whose check another format shares (a DHL NVE also passes the
  USPS 20 check), or a distinctive prefix with no check digit (3S..., JJD..., PQ...);
- 0.45-0.6: bare digits whose check digit passes, where other carriers use the same length;
- 0.2-0.35: bare digit runs with no check digit at all: a hint, no more (equal hints tie, and
  the merchant's priority decides);
- 0: nothing fits, or the check digit of the only fitting format fails (DESIGN.md §4: a number
  whose check digit fails is not a candidate for that carrier).

Sources (INTEGRATIONS.md section C): jkeen/tracking_number_data (couriers/*.json, s10 country list,
CHECKSUM_ALGORITHMS.md; test numbers), USPS Publication 199 (IMpb), UPU S10, ISO 7064 (DPD),
Correos' pre-registration API (annex XI, 23-character code), La Poste's Colissimo FAQ (13
characters). Formats tagged [S] come from secondary sources (client code, carrier sample
numbers) and get a low confidence for that reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# --- Check-digit algorithms ------------------------------------------------------------------


def char_value(char: str) -> int:
    """A character's value in the mod 10 checks: digits are themselves, letters (ord - 3) % 10."""
    if "0" <= char <= "9":
        return ord(char) - ord("0")
    return (ord(char) - 3) % 10


def mod10_check_digit(serial: str, *, evens: int, odds: int) -> int:
    """Weighted mod 10: characters at even 0-based positions (from the left) times ``evens``,
    odd ones times ``odds``; the check digit brings the sum to a multiple of 10 (UPS, FedEx)."""
    total = sum(char_value(char) * (evens if i % 2 == 0 else odds) for i, char in enumerate(serial))
    return (10 - total % 10) % 10


def gs1_check_digit(serial: str) -> int:
    """GS1 mod 10: from the right, the digit next to the check digit weighs 3, then 1, 3, 1...

    USPS (Pub. 199 section 4.6), SSCC/NVE barcodes and Canada Post use it; for a serial of odd
    length it equals ``mod10_check_digit(serial, evens=3, odds=1)``.
    """
    total = sum(char_value(char) * (3 if i % 2 == 0 else 1) for i, char in enumerate(serial[::-1]))
    return (10 - total % 10) % 10


def mod7_check_digit(serial: str) -> int:
    """DHL Express air waybill: the serial read as a number, modulo 7."""
    return int(serial) % 7


S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """UPU S10: weights 8,6,4,2,3,5,9,7 on the 8 digits; 11 - sum % 11, where 10 -> 0 and 11 -> 5."""
    remainder = sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    if remainder == 0:
        return 5
    if remainder == 1:
        return 0
    return 11 - remainder


FEDEX_12_WEIGHTS = (3, 1, 7)
FEDEX_34_WEIGHTS = (1, 7, 3)


def weighted_mod11_check_digit(serial: str, weights: tuple[int, ...]) -> int:
    """FedEx Express: digits times the repeating weights, from the left; sum % 11 % 10."""
    total = sum(int(d) * weights[i % len(weights)] for i, d in enumerate(serial))
    return total % 11 % 10


_ALNUM36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def mod37_36_check_char(serial: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system) check character, as DPD prints on parcel labels."""
    product = 36
    for char in serial:
        total = (product + _ALNUM36.index(char)) % 36 or 36
        product = total * 2 % 37
    return _ALNUM36[(37 - product) % 36]


# --- UPU S10: two letters, 8 digits, check digit, the ISO country of the issuing post ----------

# Country suffixes of the postal operators in the S10 lookup of jkeen/tracking_number_data (191).
_S10_COUNTRY_CODES = """
    AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CF
    CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FR GA GB GD
    GE GH GM GN GQ GR GT GW GY HK HN HR HT HU ID IE IL IN IQ IR IS IT JM JO JP KE KG KH KI KM
    KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MK ML MM MN MR MT MU MV MW
    MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PT PY QA RO RS RU RW SA SB SC SD
    SE SG SI SK SL SM SN SO SR SS ST SV SY SZ TD TG TH TJ TL TM TN TO TR TT TV TZ UA UG US UY
    UZ VA VC VE VN VU WS YE ZA ZM ZW
"""
S10_COUNTRIES = frozenset(_S10_COUNTRY_CODES.split())

# The postal operator (our adapter) that tracks S10 items of each country suffix.
S10_OPERATORS: dict[str, str] = {
    "US": "usps",
    "GB": "royal_mail",
    "FR": "la_poste",
    "IT": "poste_italiane",
    "ES": "correos",
    "NL": "postnl",
    "CA": "canada_post",
    "AU": "australia_post",
    "DE": "dhl",  # Deutsche Post, tracked through DHL's API
}

_S10 = re.compile(r"[A-Z]{2}(?P<serial>[0-9]{8})(?P<check>[0-9])(?P<country>[A-Z]{2})")


def s10_country(number: str) -> str | None:
    """The issuing country of a valid S10 number (check digit and known postal operator), or None."""
    match = _S10.fullmatch(number)
    if match is None or match["country"] not in S10_COUNTRIES:
        return None
    if s10_check_digit(match["serial"]) != int(match["check"]):
        return None
    return match["country"]


# --- Formats ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Format:
    """One tracking-number format: a full-match pattern, an optional check, a confidence."""

    name: str
    pattern: re.Pattern[str]
    confidence: float
    check: Callable[[re.Match[str]], bool] | None = None

    def score(self, number: str) -> float:
        match = self.pattern.fullmatch(number)
        if match is None or (self.check is not None and not self.check(match)):
            return 0.0
        return self.confidence


def _last_digit(match: re.Match[str]) -> int:
    return int(match["check"])


def _ups_check(match: re.Match[str]) -> bool:
    return mod10_check_digit(match["serial"], evens=1, odds=2) == _last_digit(match)


def _fedex_12_check(match: re.Match[str]) -> bool:
    return weighted_mod11_check_digit(match["serial"], FEDEX_12_WEIGHTS) == _last_digit(match)


def _fedex_34_check(match: re.Match[str]) -> bool:
    return weighted_mod11_check_digit(match["serial"], FEDEX_34_WEIGHTS) == _last_digit(match)


def _fedex_ground_check(match: re.Match[str]) -> bool:
    return mod10_check_digit(match["serial"], evens=1, odds=3) == _last_digit(match)


def _fedex_smartpost_check(match: re.Match[str]) -> bool:
    # FedEx Ground Economy (SmartPost) prints a USPS IMpb without its "92": check it with the 92.
    return gs1_check_digit("92" + match["serial"]) == _last_digit(match)


def _gs1_check(match: re.Match[str]) -> bool:
    return gs1_check_digit(match["serial"]) == _last_digit(match)


def _usps_20_check(match: re.Match[str]) -> bool:
    # A 20-digit number is either a plain USPS 20 or a legacy 91 barcode printed without its "91".
    serial, check = match["serial"], _last_digit(match)
    return check in (gs1_check_digit(serial), gs1_check_digit("91" + serial))


def _mod7_check(match: re.Match[str]) -> bool:
    return mod7_check_digit(match["serial"]) == _last_digit(match)


def _mod37_36_check(match: re.Match[str]) -> bool:
    return mod37_36_check_char(match["serial"]) == match["check"]


def _s10(country: str, confidence: float = 0.95) -> Format:
    return Format(
        f"UPU S10 ({country})",
        re.compile(rf"[A-Z]{{2}}[0-9]{{9}}{country}"),
        confidence,
        lambda match: s10_country(match.group()) == country,
    )


def _digits(count: str) -> re.Pattern[str]:
    return re.compile(rf"[0-9]{{{count}}}")


def _usps_readings(number: str) -> Iterator[tuple[str, bool]]:
    """(PIC, routed) readings: the number itself, or what follows a "420" + ZIP or ZIP+4 prefix
    (the routing code that label scans include, USPS Publication 199)."""
    yield number, False
    if number.startswith("420"):
        for zip_length in (9, 5):
            yield number[3 + zip_length :], True


_IMPB_PIC = re.compile(r"9[2-5][0-9]{20}(?:[0-9]{4})?")


def _usps_impb(number: str) -> bool:
    """An IMpb PIC (application identifier 92-95, 22 or 26 digits) whose GS1 check passes."""
    return any(
        _IMPB_PIC.fullmatch(pic) and gs1_check_digit(pic[:-1]) == int(pic[-1])
        for pic, _ in _usps_readings(number)
    )


def _usps_legacy(number: str) -> bool:
    """A legacy 91 PIC (22 digits), or a routed 20-digit one checked with its implied "91"."""
    for pic, routed in _usps_readings(number):
        if len(pic) == 22 and pic.startswith("91") and gs1_check_digit(pic[:-1]) == int(pic[-1]):
            return True
        if routed and len(pic) == 20 and gs1_check_digit("91" + pic[:-1]) == int(pic[-1]):
            return True
    return False


_DHL_EXPRESS_AWB_10 = re.compile(r"(?P<serial>[0-9]{9})(?P<check>[0-9])")
_DHL_EXPRESS_AWB_11 = re.compile(r"(?P<serial>[0-9]{10})(?P<check>[0-9])")
_DHL_PIECE_ID = re.compile(r"J[A-Z]{2,3}[0-9]{9,10}")
_DHL_LICENCE_PLATE_JD = re.compile(r"JD[0-9]{18}")
_DHL_LICENCE_PLATE_JJD = re.compile(r"JJD[0-9]{18,24}")

UPS: tuple[Format, ...] = (
    # jkeen ups.json: 1Z + shipper (6) + service (2) + package (7) + check; letters (ord-3)%10.
    Format(
        "UPS 1Z",
        re.compile(r"1Z(?P<serial>[0-9A-Z]{15})(?P<check>[0-9])"),
        0.95,
        _ups_check,
    ),
    # jkeen ups.json (UPS waybill): one of A H J K T V + 9 digits + check (same mod 10).
    Format(
        "UPS waybill",
        re.compile(r"[AHJKTV](?P<serial>[0-9]{9})(?P<check>[0-9])"),
        0.75,
        _ups_check,
    ),
)

FEDEX: tuple[Format, ...] = (
    # jkeen fedex.json, FedEx Express (12): weights 3,1,7 from the left, sum % 11 % 10.
    Format(
        "FedEx Express (12)",
        re.compile(r"(?P<serial>[0-9]{11})(?P<check>[0-9])"),
        0.6,
        _fedex_12_check,
    ),
    # FedEx Ground (15): 14 digits + mod 10 (odds x3).
    Format(
        "FedEx Ground (15)",
        re.compile(r"(?P<serial>[0-9]{14})(?P<check>[0-9])"),
        0.5,
        _fedex_ground_check,
    ),
    # FedEx Ground Economy / SmartPost (20): service (3) + 9-digit MID (starts with 9) + 7 + check.
    Format(
        "FedEx Ground Economy (20)",
        re.compile(r"(?P<serial>[0-9]{3}9[0-9]{15})(?P<check>[0-9])"),
        0.5,
        _fedex_smartpost_check,
    ),
    # FedEx Ground 96 (22): 96 + SCNC (2) + service (3) + shipper (7) + package (7) + check.
    Format(
        "FedEx Ground 96 (22)",
        re.compile(r"96[0-9]{5}(?P<serial>[0-9]{14})(?P<check>[0-9])"),
        0.9,
        _fedex_ground_check,
    ),
    # FedEx Ground GSN (34): 96 ... + 13-digit serial + check, weights 1,7,3 % 11 % 10.
    Format(
        "FedEx Ground GSN (34)",
        re.compile(r"96[0-9]{18}(?P<serial>[0-9]{13})(?P<check>[0-9])"),
        0.9,
        _fedex_34_check,
    ),
    # FedEx Express (34): 100 + 2 + 10 + destination ZIP (5) + 13-digit serial + check.
    Format(
        "FedEx Express (34)",
        re.compile(r"100[0-9]{17}(?P<serial>[0-9]{13})(?P<check>[0-9])"),
        0.85,
        _fedex_34_check,
    ),
)

USPS: tuple[Format, ...] = (
    # USPS Publication 199: IMpb (AI 92-95) and legacy (AI 91) PICs, with or without 420 + ZIP.
    Format("USPS IMpb", _digits("22,38"), 0.95, lambda match: _usps_impb(match.group())),
    Format("USPS legacy 91", _digits("22,38"), 0.9, lambda match: _usps_legacy(match.group())),
    # jkeen usps.json USPS 20: service (2) + mailer (9) + package (8) + check, GS1 mod 10; also
    # a 91 barcode printed without its "91" (checked with it).
    Format(
        "USPS 20",
        re.compile(r"(?P<serial>[0-9]{19})(?P<check>[0-9])"),
        0.6,
        _usps_20_check,
    ),
    _s10("US"),
)

DHL_EXPRESS: tuple[Format, ...] = (
    # jkeen dhl.json, DHL Express: 9 or 10 digits + check (the serial mod 7).
    Format("DHL Express air waybill (10)", _DHL_EXPRESS_AWB_10, 0.5, _mod7_check),
    Format("DHL Express air waybill (11)", _DHL_EXPRESS_AWB_11, 0.45, _mod7_check),
    # jkeen dhl.json, DHL Express piece ID: J + 2-3 letters + 9-10 digits (JJD00..., JVGL...).
    Format("DHL Express piece ID", _DHL_PIECE_ID, 0.7),
    # [S] JD + 18 digits: the licence plate printed on Express pieces (and on DHL Paket ones).
    Format("DHL licence plate (JD)", _DHL_LICENCE_PLATE_JD, 0.7),
    Format("DHL licence plate (JJD)", _DHL_LICENCE_PLATE_JJD, 0.5),
)

# DHL's Unified API answers for every DHL business unit, Express included: its own formats are
# DHL Paket / Parcel / eCommerce ones, and Express numbers are weaker candidates for it.
DHL: tuple[Format, ...] = (
    # DHL Paket NVE (SSCC with application identifier 00): 00 + 340... + GS1 check.
    Format(
        "DHL Paket NVE/SSCC (20)",
        re.compile(r"(?P<serial>00340[0-9]{14})(?P<check>[0-9])"),
        0.9,
        _gs1_check,
    ),
    # jkeen dhl.json, DHL eCommerce: a prefix + 10-39 digits.
    Format("DHL eCommerce (GM)", re.compile(r"GM[0-9]{10,39}"), 0.8),
    Format("DHL eCommerce (LX, RX, UV)", re.compile(r"(?:LX|RX|UV)[0-9]{10,39}"), 0.6),
    Format(
        "DHL eCommerce Asia (CN, SG, TH, IN, HK, MY)",
        re.compile(r"(?:CN|SG|TH|IN|HK|MY)[0-9]{10,39}"),
        0.4,
    ),
    Format("DHL eCommerce (JVGL)", re.compile(r"JVGL[0-9A-Z]{6,26}"), 0.8),
    # [S] DHL Paket licence plates.
    Format("DHL Paket licence plate (JJD)", _DHL_LICENCE_PLATE_JJD, 0.75),
    Format("DHL licence plate (JD)", _DHL_LICENCE_PLATE_JD, 0.7),
    Format("DHL Express piece ID", _DHL_PIECE_ID, 0.6),
    Format("DHL Express air waybill (10)", _DHL_EXPRESS_AWB_10, 0.3, _mod7_check),
    Format("DHL Express air waybill (11)", _DHL_EXPRESS_AWB_11, 0.25, _mod7_check),
    # [S] DHL Paket 12-digit numbers and DHL eCommerce 14-digit ones carry no check we know.
    Format("DHL Paket (12 digits)", _digits("12"), 0.2),
    Format("DHL eCommerce (14 digits)", _digits("14"), 0.2),
    _s10("DE"),  # Deutsche Post
)

CANADA_POST: tuple[Format, ...] = (
    # jkeen canadapost.json: origin (7) + 8 digits + check, mod 10 (evens x3).
    Format(
        "Canada Post (16)",
        re.compile(r"(?P<serial>[0-9]{15})(?P<check>[0-9])"),
        0.6,
        _gs1_check,
    ),
    _s10("CA"),
)

ROYAL_MAIL: tuple[Format, ...] = (
    # Royal Mail's tracked numbers (RB..GB, FQ..GB) are S10 numbers, check digit included.
    _s10("GB"),
)

AUSTRALIA_POST: tuple[Format, ...] = (
    # AusPost's domestic article ids have no public specification: S10 only.
    _s10("AU"),
)

LA_POSTE: tuple[Format, ...] = (
    _s10("FR"),  # also Chronopost's 13-character XX.........FR numbers
    # Colissimo FAQ: 13 characters, a product code (digit + letter: 6A, 8R, 8D...) + 11 digits.
    Format("Colissimo (13)", re.compile(r"[0-9][A-Z][0-9]{11}"), 0.7),
    Format("Colissimo (2 letters + 11 digits)", re.compile(r"[A-Z]{2}[0-9]{11}"), 0.35),
)

GLS: tuple[Format, ...] = (
    # Not in tracking_number_data: parcel numbers of 11-12 digits and 8-character TrackIDs,
    # no check digit we can verify.
    Format("GLS parcel number (11-12 digits)", _digits("11,12"), 0.2),
    Format(
        "GLS TrackID (8)",
        re.compile(r"(?=[A-Z]*[0-9])(?=[0-9]*[A-Z])[0-9A-Z]{8}"),
        0.2,
    ),
)

DPD: tuple[Format, ...] = (
    # jkeen dpd.json, DPD (28): ZIP (7) + parcel (14) + service (3) + country (3) + check char.
    Format(
        "DPD (28)",
        re.compile(r"(?P<serial>[0-9]{27})(?P<check>[0-9A-Z])"),
        0.95,
        _mod37_36_check,
    ),
    # DPD parcel number (14 digits) + its ISO 7064 MOD 37,36 check character.
    Format(
        "DPD (14 + check letter)",
        re.compile(r"(?P<serial>[0-9]{14})(?P<check>[A-Z])"),
        0.9,
        _mod37_36_check,
    ),
    Format(
        "DPD (14 + check digit)",
        re.compile(r"(?P<serial>[0-9]{14})(?P<check>[0-9])"),
        0.5,
        _mod37_36_check,
    ),
    # The 14-digit parcel number alone, as DPD's tracking pages show it.
    Format("DPD parcel number (14)", _digits("14"), 0.3),
)

POSTNL: tuple[Format, ...] = (
    # INTEGRATIONS B5/A2 [M]: 3S + customer code (up to 4 letters) + serial digits.
    Format("PostNL (3S)", re.compile(r"3S[A-Z]{1,4}[0-9]{6,11}"), 0.85),
    _s10("NL"),
)

BRT: tuple[Format, ...] = (
    # [S] BRT parcel IDs (``/tracking/parcelID/{id}``) seen in client code are 15 digits, barcodes
    # 18; no published format or check digit: a weak hint for any 12-19 digit number.
    Format("BRT parcel ID (12-19 digits)", _digits("12,19"), 0.2),
)

POSTE_ITALIANE: tuple[Format, ...] = (
    # Poste's domestic waybill formats are not published: S10 only.
    _s10("IT"),
)

CORREOS: tuple[Format, ...] = (
    _s10("ES"),
    # Correos pre-registration API, annex XI: product (2) + client (4) + channel (2) + sequence (7)
    # + package (2) + destination postcode (5) + control letter = 23 characters.
    Format(
        "Correos (PQ, 23)",
        re.compile(r"PQ[0-9A-Z]{4}[0-9]{9}[0-9A-Z]{2}[0-9A-Z]{5}[A-Z]"),
        0.85,
    ),
    Format(
        "Correos (23)",
        re.compile(r"[A-Z]{2}[0-9A-Z]{4}[0-9]{9}[0-9A-Z]{2}[0-9A-Z]{5}[A-Z]"),
        0.6,
    ),
)

# slug -> that carrier's formats, most distinctive first.
FORMATS: dict[str, tuple[Format, ...]] = {
    "ups": UPS,
    "fedex": FEDEX,
    "usps": USPS,
    "dhl_express": DHL_EXPRESS,
    "dhl": DHL,
    "canada_post": CANADA_POST,
    "royal_mail": ROYAL_MAIL,
    "australia_post": AUSTRALIA_POST,
    "la_poste": LA_POSTE,
    "gls": GLS,
    "dpd": DPD,
    "postnl": POSTNL,
    "brt": BRT,
    "poste_italiane": POSTE_ITALIANE,
    "correos": CORREOS,
    # An aggregator tracks whatever it is given: it is named, never detected.
    "seventeen_track": (),
}

# --- Entry point -----------------------------------------------------------------------------

# Longer than any format (USPS 420 + ZIP+4 + 26-digit PIC is 38): anything past it is not a number.
MAX_LENGTH = 40
# Separators people type or paste between groups: whitespace, ASCII and Unicode dashes, and
# dots (Swiss Post prints its numbers as 99.60.123456.12345678).
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.]+")
_ALNUM = re.compile(r"[0-9A-Z]+")


def compact(value: str) -> str:
    """A tracking number as stored and searched: separators dropped, upper case (not validated)."""
    return _SEPARATORS.sub("", value).upper()


def normalize(value: object) -> str:
    """The number as formats see it: separators dropped, upper case; "" if it cannot be one."""
    if not isinstance(value, str) or len(value) > 4 * MAX_LENGTH:
        return ""
    compact = _SEPARATORS.sub("", value)
    if not compact.isascii():  # before upper(): some non-ASCII letters upper-case to ASCII
        return ""
    compact = compact.upper()
    if len(compact) > MAX_LENGTH or not _ALNUM.fullmatch(compact):
        return ""
    return compact


def best_format(formats: tuple[Format, ...]) -> Callable[[str], float]:
    """A rule: the confidence of the best of ``formats`` that a number fits (0 when none does)."""

    def rule(tracking_number: str) -> float:
        number = normalize(tracking_number)
        if not number:
            return 0.0
        return max((fmt.score(number) for fmt in formats), default=0.0)

    return rule


# slug -> function(number) -> confidence.
RULES: dict[str, Callable[[str], float]] = {
    slug: best_format(formats) for slug, formats in FORMATS.items()
}


def confidence(slug: str, tracking_number: str) -> float:
    """How likely ``tracking_number`` is ``slug``'s (0..1); 0 for a slug with no rule."""
    rule = RULES.get(slug)
    if rule is None:
        return 0.0
    return rule(tracking_number)
