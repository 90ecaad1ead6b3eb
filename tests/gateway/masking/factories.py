"""Builders shared by the masking tests: valid numbers of each kind, strategies."""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

# (brand prefix, total length) pairs that the brand tables accept
CARD_SHAPES: tuple[tuple[str, int], ...] = (
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 19),
    ("3528", 16),
    ("3589", 19),
    ("36", 14),
    ("300", 14),
    ("62", 17),
    ("6759", 18),
)

# real test numbers published by payment processors, per brand
TEST_CARDS: tuple[tuple[str, str], ...] = (
    ("visa", "4111111111111111"),
    ("visa", "4012888888881881"),
    ("visa", "4222222222222"),
    ("mastercard", "5555555555554444"),
    ("mastercard", "5105105105105100"),
    ("mastercard", "2223003122003222"),
    ("amex", "378282246310005"),
    ("amex", "371449635398431"),
    ("discover", "6011111111111117"),
    ("discover", "6011000990139424"),
    ("diners", "30569309025904"),
    ("diners", "38520000023237"),
    ("diners", "36227206271667"),
    ("jcb", "3530111333300000"),
    ("jcb", "3566002020360505"),
    ("unionpay", "6200000000000005"),
    ("unionpay", "6205500000000000004"),
    ("maestro", "6759649826438453"),
    ("maestro", "6304000000000000"),
)

# IBAN examples from the SWIFT registry, several countries and lengths
VALID_IBANS: tuple[str, ...] = (
    "GB82WEST12345698765432",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "CH9300762011623852957",
    "NO9386011117947",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "MT84MALT011000012345MTLCAST001S",
    "BR1800360305000010009795493C1",
)

JWT_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def luhn_complete(partial: str) -> str:
    """``partial`` plus the Luhn check digit that makes it valid."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


def iban_complete(country: str, bban: str) -> str:
    """An IBAN with correct ISO 7064 check digits for ``country`` and ``bban``."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def jwt_with_header(header: object) -> str:
    """A three-segment token whose header is ``header`` as JSON."""
    segment = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{segment}.eyJzdWIiOiJ4In0.c2ln"


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """Valid card numbers of every shape in CARD_SHAPES."""
    prefix, length = draw(st.sampled_from(CARD_SHAPES))
    size = length - len(prefix) - 1
    return luhn_complete(prefix + draw(st.text("0123456789", min_size=size, max_size=size)))


@st.composite
def ssns(draw: st.DrawFn) -> str:
    """Valid SSNs as 9 digits."""
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    return f"{area:03d}{group:02d}{serial:04d}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    """Valid German and British IBANs (numeric and alphanumeric BBANs)."""
    if draw(st.booleans()):
        return iban_complete("DE", draw(st.text("0123456789", min_size=18, max_size=18)))
    bank = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4))
    return iban_complete("GB", bank + draw(st.text("0123456789", min_size=14, max_size=14)))


emails = st.from_regex(r"[a-z][a-z0-9._]{2,15}@[a-z]{2,10}\.(com|org|io)", fullmatch=True)

# filler text around an entity: letters, spaces and punctuation that keep a word boundary
filler = st.text(st.sampled_from("abc XYZ,;:()\n\t"), max_size=20).map(lambda s: f" {s} ")
