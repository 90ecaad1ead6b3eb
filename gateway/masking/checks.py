"""Validation of candidate values: the arithmetic that separates an entity from a lookalike.

Pure functions over ASCII strings that the detectors' regexes already shaped; none of them
allocates more than a few small objects, so they are cheap on the rare candidate.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

__all__ = [
    "IBAN_LENGTHS",
    "Span",
    "card_brand",
    "card_number",
    "check_any",
    "check_card",
    "check_email",
    "check_iban",
    "check_jwt",
    "check_phone_context",
    "check_phone_intl",
    "check_phone_nanp",
    "check_phone_national",
    "check_ssn",
    "iban_valid",
    "is_card_number",
    "jwt_header_valid",
    "luhn_valid",
    "phone_number",
    "ssn_number",
    "ssn_valid",
]

_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check of an all-digit string (ISO/IEC 7812-1 annex B)."""
    total = 0
    odd = False
    for ch in reversed(digits):
        d = ord(ch) - 48
        total += _DOUBLED[d] if odd else d
        odd = not odd
    return total % 10 == 0


def _lengths(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


# (brand, lowest prefix, highest prefix, valid lengths). Prefixes of one row have equal width, so
# a string comparison of digits[:width] is a numeric range check. Sources: the brands' published
# IIN ranges as summarised in ISO/IEC 7812 registries (Mastercard 2-series 2221-2720 since 2017;
# Discover includes its 622126-622925 UnionPay co-brand; UnionPay 62 and 81).
_BRANDS: tuple[tuple[str, str, str, frozenset[int]], ...] = (
    ("visa", "4", "4", frozenset({13, 16, 19})),
    ("mastercard", "51", "55", frozenset({16})),
    ("mastercard", "2221", "2720", frozenset({16})),
    ("amex", "34", "34", frozenset({15})),
    ("amex", "37", "37", frozenset({15})),
    ("discover", "6011", "6011", _lengths(16, 19)),
    ("discover", "644", "649", _lengths(16, 19)),
    ("discover", "65", "65", _lengths(16, 19)),
    ("discover", "622126", "622925", _lengths(16, 19)),
    ("jcb", "3528", "3589", _lengths(16, 19)),
    ("diners", "300", "305", _lengths(14, 19)),
    ("diners", "3095", "3095", _lengths(14, 19)),
    ("diners", "36", "36", _lengths(14, 19)),
    ("diners", "38", "39", _lengths(14, 19)),
    ("unionpay", "62", "62", _lengths(16, 19)),
    ("unionpay", "8100", "8171", _lengths(16, 19)),
    ("maestro", "5018", "5018", _lengths(12, 19)),
    ("maestro", "5020", "5020", _lengths(12, 19)),
    ("maestro", "5038", "5038", _lengths(12, 19)),
    ("maestro", "5893", "5893", _lengths(12, 19)),
    ("maestro", "6304", "6304", _lengths(12, 19)),
    ("maestro", "6759", "6759", _lengths(12, 19)),
    ("maestro", "6761", "6763", _lengths(12, 19)),
    ("maestro", "676770", "676770", _lengths(12, 19)),
    ("maestro", "676774", "676774", _lengths(12, 19)),
)


def card_brand(digits: str) -> str | None:
    """Brand whose prefix range and length table fit ``digits`` (no Luhn check), or None."""
    n = len(digits)
    for brand, low, high, lengths in _BRANDS:
        if n in lengths and low <= digits[: len(low)] <= high:
            return brand
    return None


def is_card_number(digits: str) -> bool:
    """True for 13-19 digits with a known brand prefix/length and a valid Luhn check digit."""
    return (
        13 <= len(digits) <= 19
        and digits.isdigit()
        and digits.isascii()
        and card_brand(digits) is not None
        and luhn_valid(digits)
    )


def ssn_valid(digits: str) -> bool:
    """US SSN rules on 9 digits: area not 000/666/900-999, group not 00, serial not 0000."""
    if len(digits) != 9 or not (digits.isdigit() and digits.isascii()):
        return False
    area = digits[:3]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and digits[3:5] != "00"
        and digits[5:] != "0000"
    )


# IBAN length per country, SWIFT IBAN Registry (ISO 13616), 2024 release.
# fmt: off
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# fmt: on

# ISO 7064 MOD 97-10: letters become 10..35 before the remainder is taken.
_IBAN_DIGITS = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


def iban_valid(compact: str) -> bool:
    """Country length table plus ISO 7064 mod-97 == 1 on an IBAN without spaces, uppercase."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    if not (compact.isascii() and compact.isalnum() and compact[2:4].isdigit()):
        return False
    if compact != compact.upper():
        return False
    return int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 == 1


_MAX_JWT_HEADER = 4096


def jwt_header_valid(segment: str) -> bool:
    """True when a base64url JWT header segment decodes to a JSON object with "alg" (RFC 7515)."""
    if not segment or len(segment) > _MAX_JWT_HEADER or len(segment) % 4 == 1:
        return False
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and "alg" in header


Span = tuple[int, int]

# --- checks on candidates --------------------------------------------------------------------

_DIGIT_RUN = re.compile(r"[0-9]+", re.ASCII)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def _whole(ok: bool, text: str) -> Span | None:
    return (0, len(text)) if ok else None


def check_card(c: str) -> Span | None:
    if c.isdigit():
        return _whole(is_card_number(c), c)
    runs = [m.span() for m in _DIGIT_RUN.finditer(c)]
    n = len(runs)
    for size in range(n, 0, -1):  # longest grouping first, then left to right
        for i in range(n - size + 1):
            digits = "".join(c[s:e] for s, e in runs[i : i + size])
            if is_card_number(digits):
                return runs[i][0], runs[i + size - 1][1]
    return None


def check_ssn(c: str) -> Span | None:
    return _whole(ssn_valid(_digits(c)), c)


def check_email(c: str) -> Span | None:
    return _whole(len(c) <= 320, c)


def check_iban(c: str) -> Span | None:
    length = IBAN_LENGTHS.get(c[:2])
    if length is None:
        return None
    positions = [i for i, ch in enumerate(c) if ch != " "]
    if len(positions) < length:
        return None
    compact = "".join(c[i] for i in positions[:length])
    return (0, positions[length - 1] + 1) if iban_valid(compact) else None


def check_phone_intl(c: str) -> Span | None:
    n = len(_digits(c))
    dots = c.count(".")
    return _whole(8 <= n <= 15 and dots != 1, c)


def check_phone_nanp(c: str) -> Span | None:
    # area-exchange-line (415-555-0132): the separators before the exchange and before the
    # line number must agree
    return _whole("(" in c or c[-5] == c[-9], c)


def check_phone_national(c: str) -> Span | None:
    return _whole(10 <= len(_digits(c)) <= 12, c)


def check_phone_context(c: str) -> Span | None:
    return _whole(7 <= len(_digits(c)) <= 15, c)


def check_any(c: str) -> Span | None:
    return (0, len(c))


def check_jwt(c: str) -> Span | None:
    return _whole(jwt_header_valid(c.partition(".")[0]), c)


def card_number(digits: str, context: bool) -> bool:
    return is_card_number(digits)


def ssn_number(digits: str, context: bool) -> bool:
    return context and 7 <= len(digits) <= 9 and ssn_valid(digits.zfill(9))


def phone_number(digits: str, context: bool) -> bool:
    return context and 7 <= len(digits) <= 15
